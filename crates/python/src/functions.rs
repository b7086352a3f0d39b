//! The module's functions: building an index from texts, reading a corpus
//! file as the CLI does, merging index folders, naming the encode precision
//! "auto" stands for, ranking the answers of a search over shards.

use std::path::PathBuf;

use hypencoder_engine::{
    build, merge_indexes, read_corpus, unique_ids, BuildOptions, Docs, Fields, GraphOptions, Quiet,
    ShardAnswer, Stored,
};
use pyo3::prelude::*;

use crate::convert::{dtype, fields_of, positive, shard_answers};
use crate::errors::{bad_arg, engine};
use crate::model::Model;

/// The encode precision `name` stands for on this machine: "auto"
/// resolved (int8 where the SIMD kernels run, else f32), any other valid
/// name as it is.
#[pyfunction]
pub fn resolve_encode_precision(name: &str) -> PyResult<&'static str> {
    Ok(crate::convert::encode_precision(name)?.name())
}

/// Encodes `texts` with their `ids` into a new index at `path` (as
/// `hypencoder index`, resuming an interrupted build of the same
/// documents), optionally with a neighbour graph; returns its size.
#[pyfunction]
#[pyo3(signature = (ids, texts, path, model, batch_size=32, dtype="f32", store_texts=true, lexical=true, graph_degree=None, fields=None))]
#[allow(clippy::too_many_arguments)]
pub fn build_index_from(
    py: Python<'_>,
    ids: Vec<String>,
    texts: Vec<String>,
    path: PathBuf,
    model: &Bound<'_, Model>,
    batch_size: usize,
    dtype: &str,
    store_texts: bool,
    lexical: bool,
    graph_degree: Option<usize>,
    fields: Option<Vec<String>>,
) -> PyResult<usize> {
    let fields = fields_of(&ids, fields)?;
    if ids.len() != texts.len() {
        return Err(bad_arg(format!(
            "{} ids for {} texts",
            ids.len(),
            texts.len()
        )));
    }
    let options = BuildOptions {
        dtype: self::dtype(dtype)?,
        texts: store_texts,
        lexical,
        batch_size: positive("batch_size", batch_size)?,
        graph: graph_degree
            .map(|d| positive("graph_degree", d).map(GraphOptions::new))
            .transpose()?,
    };
    let model = model.get().inner.clone();
    py.detach(|| {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let docs = Docs::new(&ids, &refs).with_fields(&fields);
        let built = build(&path, &model, docs, &options, &Quiet).map_err(engine)?;
        Ok(built.manifest.count)
    })
}

/// Reads a corpus file (JSONL or TSV) as `hypencoder index` does: its ids
/// (checked: strings or numbers, unique), texts, and each document's
/// fields as JSON text (types checked; none at all when no document has
/// any).
#[pyfunction]
#[pyo3(signature = (path, id_field="id", text_field="text"))]
#[allow(clippy::type_complexity)]
pub fn read_corpus_file(
    py: Python<'_>,
    path: PathBuf,
    id_field: &str,
    text_field: &str,
) -> PyResult<(Vec<String>, Vec<String>, Option<Vec<String>>)> {
    py.detach(|| {
        let fields = Fields {
            id: id_field,
            text: text_field,
            require_id: true,
            stored: Stored::All,
        };
        let records = read_corpus(&path, &fields).map_err(engine)?;
        let ids = unique_ids(&records, &path).map_err(engine)?;
        let any = records.iter().any(|r| !r.fields.is_empty());
        let fields = any.then(|| {
            records
                .iter()
                .map(|r| serde_json::Value::Object(r.fields.clone()).to_string())
                .collect()
        });
        Ok((ids, records.into_iter().map(|r| r.text).collect(), fields))
    })
}

/// Merges index folders into one index at `output` (as `hypencoder
/// merge`); returns its document count.
#[pyfunction]
#[pyo3(signature = (pieces, output, lexical=true, graph_degree=None))]
pub fn merge(
    py: Python<'_>,
    pieces: Vec<PathBuf>,
    output: PathBuf,
    lexical: bool,
    graph_degree: Option<usize>,
) -> PyResult<usize> {
    let graph = graph_degree
        .map(|d| positive("graph_degree", d).map(GraphOptions::new))
        .transpose()?;
    py.detach(|| {
        let built =
            merge_indexes(&pieces, &output, lexical, graph.as_ref(), &Quiet).map_err(engine)?;
        Ok(built.manifest.count)
    })
}

/// One ranking of a search over shards from every shard's second-round
/// answer (JSON text from ``Index.search_shard``, in shard order): per
/// query ``(ids, scores, shards)``, best first, as one index holding the
/// shards one after another would rank; and the warnings (a filter's
/// field no shard has).
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn combine_shards(
    py: Python<'_>,
    answers: Vec<String>,
) -> PyResult<(Vec<(Vec<String>, Vec<f32>, Vec<usize>)>, Vec<String>)> {
    let answers: Vec<ShardAnswer> = shard_answers(&answers, "answer")?;
    let found = py
        .detach(|| hypencoder_engine::combine_shards(&answers))
        .map_err(engine)?;
    let hits = found
        .hits
        .into_iter()
        .map(|hits| {
            let ids = hits.iter().map(|h| h.id.clone()).collect();
            let scores = hits.iter().map(|h| h.score).collect();
            (ids, scores, hits.iter().map(|h| h.shard).collect())
        })
        .collect();
    Ok((hits, found.warnings))
}
