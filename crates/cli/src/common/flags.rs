//! Flag groups that several commands flatten into their own flags; each
//! flag's help text is its doc comment here. The structs carry `//` comments
//! because clap would print a struct's doc comment as its command's about.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use super::choices::{ConstructionArg, MetricArg};
use hypencoder_engine::{read_corpus, read_jsonl, Fields, GraphOptions, Record, Stored};

use super::hints::records_hinted;

// The model that encodes texts (`score`, `embed`, `index`); loading it,
// with the default model, is `ModelArgs::load` in `model.rs`.
#[derive(Args)]
pub struct ModelArgs {
    /// Model folder: a HypencoderDualEncoder checkpoint, a sentence-transformers
    /// folder, or a BERT folder [default: $HYPENCODER_MODEL, else the shipped
    /// Hypencoder in assets/default-model].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Documents are truncated to this many tokens [default: the model's own
    /// limit (sentence-transformers max_seq_length) or 512].
    #[arg(long, value_name = "N")]
    pub max_length: Option<usize>,
    /// Queries are truncated to this many tokens [default: 64].
    #[arg(long, value_name = "N")]
    pub query_max_length: Option<usize>,
    /// Documents encoded per forward pass.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub batch_size: usize,
    /// Arithmetic of the document encoder's linear layers: f32; int8
    /// (weights per column, activations per row; document vectors within
    /// ~0.99 cosine of f32's, retrieval within 0.003 MRR@10); bf16 (both
    /// sides rounded to bfloat16, sums in f32; fast only on CPUs with
    /// AVX512_BF16); or auto: int8 on CPUs with AVX2 or AVX-512 (2.2x
    /// f32's documents/s with VNNI, 1.3x without), else f32. An index
    /// records the one it used and encodes added documents the same way.
    /// [default: auto for `index`; f32 for `embed` and `score`, which
    /// reproduce the checkpoint's own numbers]
    #[arg(long, value_name = "PRECISION", value_enum)]
    pub encode_precision: Option<EncodePrecisionArg>,
}

/// `--encode-precision`'s values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EncodePrecisionArg {
    Auto,
    F32,
    Int8,
    Bf16,
}

impl From<EncodePrecisionArg> for hypencoder_engine::EncodePrecision {
    fn from(p: EncodePrecisionArg) -> Self {
        match p {
            EncodePrecisionArg::Auto => Self::fastest(),
            EncodePrecisionArg::F32 => Self::F32,
            EncodePrecisionArg::Int8 => Self::Int8,
            EncodePrecisionArg::Bf16 => Self::Bf16,
        }
    }
}

// Which JSON fields of the input records hold the id and the text. A
// command whose records are queries rewords the help with
// `#[command(mut_arg(...))]`.
#[derive(Args)]
pub struct FieldArgs {
    /// JSON field holding each record's id.
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub id_field: String,
    /// JSON field holding each record's text.
    #[arg(long, value_name = "NAME", default_value = "text")]
    pub text_field: String,
}

impl FieldArgs {
    /// The fields for `hypencoder_index::read_jsonl`; `require_id` rejects records
    /// without an id.
    pub fn fields<'a>(&'a self, require_id: bool, stored: Stored<'a>) -> Fields<'a> {
        Fields {
            id: &self.id_field,
            text: &self.text_field,
            require_id,
            stored,
        }
    }

    /// Reads a JSONL file's records (queries, texts) through these
    /// fields; other keys are ignored.
    pub fn read(&self, path: &Path, require_id: bool) -> Result<Vec<Record>> {
        read_jsonl(path, &self.fields(require_id, Stored::Nothing)).map_err(records_hinted)
    }

    /// Reads a corpus (JSONL, or TSV by its name) through these fields;
    /// every record needs an id. `keep`: the other keys stored as the
    /// documents' fields (all of them when not given).
    pub fn corpus(&self, path: &Path, keep: Option<&[String]>) -> Result<Vec<Record>> {
        let stored = keep.map_or(Stored::All, Stored::Only);
        read_corpus(path, &self.fields(true, stored)).map_err(records_hinted)
    }
}

// How the neighbour graph of an index is built (`graph`; `index
// --graph-degree` builds one with the defaults and its own metric).
#[derive(Args)]
pub struct GraphBuildArgs {
    /// Neighbours per document.
    #[arg(long, value_name = "K", default_value_t = 32)]
    pub degree: usize,
    /// Nearness for the graph: ip (inner product; cosine for normalised
    /// vectors), l2, or cos (cosine of unnormalised vectors: the right one
    /// for a Hypencoder over mean-pooled states, whose q-nets score by
    /// direction more than length) [default: follows the index: cos for a
    /// Hypencoder over unnormalised vectors, else ip].
    #[arg(long, value_name = "METRIC", value_enum)]
    pub metric: Option<MetricArg>,
    /// How neighbours are found: exact (all pairs by GEMM, O(n^2): ~20 s at
    /// 60k documents, over an hour at a million), nn-descent (approximate),
    /// insert (each document inserted HNSW-style, then pruned as the
    /// others are: ~10 s at 60k, 13 min for a million 384-d on 2 cores,
    /// 0.6-0.8x hnswlib's build time, bench/graph/build.md), or auto
    /// (exact below 50,000 documents per segment, insert from there on).
    #[arg(long, value_name = "METHOD", value_enum, default_value = "auto")]
    pub construction: ConstructionArg,
    /// With nn-descent: also compute the exact graph and report the recall
    /// of the approximate neighbour lists against it.
    #[arg(long)]
    pub measure_recall: bool,
    /// Plain k-nearest-neighbour lists instead of pruned, diversified ones
    /// with reverse edges (the default, which keeps links between regions).
    #[arg(long)]
    pub plain_knn: bool,
}

impl GraphBuildArgs {
    /// The engine's graph settings these flags ask for.
    pub fn options(&self) -> GraphOptions {
        GraphOptions {
            degree: self.degree,
            metric: self.metric.map(Into::into),
            construction: self.construction.into(),
            measure_recall: self.measure_recall,
            plain_knn: self.plain_knn,
        }
    }
}

/// The corpus records' fields, one map per record; none at all when no
/// record has any (an index without fields).
pub fn record_fields(records: &[Record]) -> Vec<serde_json::Map<String, serde_json::Value>> {
    if records.iter().all(|r| r.fields.is_empty()) {
        return Vec::new();
    }
    records.iter().map(|r| r.fields.clone()).collect()
}
