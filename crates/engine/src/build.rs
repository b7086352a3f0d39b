//! Building indexes: documents encoded into a new index folder (resumable,
//! under one key whichever front end started it), and index folders
//! merged into one.

use std::path::Path;

use hypencoder_index::{merge_folders, Dtype, Manifest, SegmentWriter};
use hypencoder_model::Model;
use sha2::{Digest, Sha256};

use crate::encode::{encode_into, writer_config, Docs};
use crate::error::{Error, Result};
use crate::graph::{segment_graph, GraphOptions, GraphReport};
use crate::progress::Progress;

/// How an index is built.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildOptions {
    /// How vectors are stored.
    pub dtype: Dtype,
    /// Keep the documents' texts.
    pub texts: bool,
    /// Build the lexical part (BM25 over the texts).
    pub lexical: bool,
    /// Documents per forward pass.
    pub batch_size: usize,
    /// Also build a neighbour graph.
    pub graph: Option<GraphOptions>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            dtype: Dtype::F32,
            texts: true,
            lexical: true,
            batch_size: 32,
            graph: None,
        }
    }
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The index's manifest.
    pub manifest: Manifest,
    /// Documents a resumed build found already encoded.
    pub resumed: usize,
    /// The graph built, if asked for.
    pub graph: Option<GraphReport>,
}

/// Encodes `docs` into a new index at `dir`, resuming an interrupted
/// build of the same documents with the same model and settings (from any
/// front end: the key is the documents' hash).
pub fn build(
    dir: &Path,
    model: &Model,
    docs: Docs,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<Built> {
    docs.check(None)?;
    if options.batch_size == 0 {
        return Err(Error::Invalid {
            field: "batch_size",
            message: "must be at least 1".into(),
        });
    }
    let config = writer_config(
        model,
        options.dtype,
        options.texts,
        options.lexical,
        corpus_key(docs),
    )?;
    let mut writer = SegmentWriter::create(dir, config)?;
    let resumed = writer.resumed_docs();
    if resumed > docs.len() {
        return Err(Error::Invalid {
            field: "texts",
            message: format!(
                "the partial build in {}.partial holds more documents than given; remove it",
                dir.display()
            ),
        });
    }
    progress.start("encode", docs.len());
    progress.set(resumed);
    encode_into(
        model,
        &mut writer,
        docs.skip(resumed),
        options.batch_size,
        &|done| progress.set(resumed + done),
    )?;
    progress.finish();
    progress.start("write", 0);
    let manifest = writer.finish()?;
    progress.finish();
    let graph = match &options.graph {
        Some(graph) => Some(graph_of(dir, graph, progress)?),
        None => None,
    };
    Ok(Built {
        manifest,
        resumed,
        graph,
    })
}

/// What identifies a build's input: a hash of every id and text, so a
/// rerun resumes only the same documents.
/// Fields count where given (documents without any hash as before
/// fields existed, so such builds still resume).
fn corpus_key(docs: Docs) -> String {
    let mut hash = Sha256::new();
    for (i, (id, text)) in docs.ids.iter().zip(docs.texts).enumerate() {
        let fields = docs
            .fields
            .get(i)
            .map(|f| serde_json::to_string(f).expect("JSON"));
        for part in [Some(id.as_str()), Some(*text), fields.as_deref()]
            .into_iter()
            .flatten()
        {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
    }
    let digest: String = hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{} documents, sha256 {digest}", docs.len())
}

/// Merges index folders (e.g. one per worker of a distributed encoding)
/// into a new index at `output`: one document encoder, unique ids, rows in
/// the order given; then the graph, if asked for.
pub fn merge_indexes(
    folders: &[std::path::PathBuf],
    output: &Path,
    lexical: bool,
    graph: Option<&GraphOptions>,
    progress: &dyn Progress,
) -> Result<Built> {
    let total = folders
        .iter()
        .map(|p| Manifest::read(p).map(|m| m.count))
        .sum::<std::result::Result<usize, _>>()?;
    progress.start("merge", total);
    let manifest = merge_folders(folders, output, lexical, &|done| progress.set(done))?;
    progress.finish();
    let graph = match graph {
        Some(graph) => Some(graph_of(output, graph, progress)?),
        None => None,
    };
    Ok(Built {
        manifest,
        resumed: 0,
        graph,
    })
}

/// The graph of a newly built folder.
fn graph_of(dir: &Path, options: &GraphOptions, progress: &dyn Progress) -> Result<GraphReport> {
    options.check()?;
    segment_graph(dir, options, progress)
}
