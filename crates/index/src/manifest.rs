//! `manifest.json`: what an index holds and how to check it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IndexError, IoContext, Result};
use crate::fields::Schema;
use crate::format::{write_atomic, Dtype, FileEntry};

/// The format of single-folder indexes (and of each segment of a live one).
pub const FORMAT_VERSION: u32 = 1;

/// The live format's version: a folder of segments (`live.rs`).
pub const LIVE_FORMAT_VERSION: u32 = 2;

/// How a graph was built, recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphInfo {
    /// Neighbour slots per document; shorter lists are padded with
    /// `NO_NEIGHBOUR`.
    pub degree: usize,
    /// "ip" (inner product), "l2" (Euclidean) or "cos" (cosine).
    pub metric: String,
    /// "exact" or the approximate method's name.
    pub method: String,
    /// Recall of the neighbour lists against exact kNN, when measured.
    pub recall_vs_exact: Option<f64>,
}

/// Which model made the vectors: searching with another is an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Folder the model was loaded from (as given, made absolute).
    pub path: String,
    /// "hypencoder" or "bi-encoder".
    pub kind: String,
    /// SHA-256 over the model's config and weight files.
    pub fingerprint: String,
    /// SHA-256 over what makes the document vectors (transformer, pooling,
    /// max length): any model with the same one may search this index.
    /// Absent in indexes written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_encoder: Option<String>,
    /// The precision of the encoder's linear layers the documents were
    /// encoded at ("int8"); absent means f32. Documents added later are
    /// encoded at the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_precision: Option<String>,
}

/// What happened while building.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildStats {
    /// Documents with empty text (indexed; their vector is the model's
    /// encoding of the empty string).
    pub empty_texts: u64,
    /// Documents cut at `max_length` tokens.
    pub truncated: u64,
    /// The model's token limit the documents were encoded with.
    pub max_length: u64,
}

/// What the manifest records of the lexical part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LexicalInfo {
    /// The text analysis both documents and queries go through.
    pub analyzer: String,
    /// BM25's term-frequency saturation.
    pub k1: f32,
    /// BM25's length normalisation (0: none, 1: full).
    pub b: f32,
}

/// Contents of `manifest.json`: written last, so a folder with a manifest
/// is a complete index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format the index was written in (at most [`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The model that made the vectors.
    pub model: ModelInfo,
    /// Values per vector.
    pub dim: usize,
    /// Documents (vectors, ids, texts).
    pub count: usize,
    /// How vector values are stored.
    pub dtype: Dtype,
    /// Whether `texts.bin` holds the document texts.
    pub has_texts: bool,
    /// What happened while building.
    pub stats: BuildStats,
    /// Every data file of the index with its size and checksum.
    pub files: BTreeMap<String, FileEntry>,
    /// The neighbour graph, if one was built (`graph.bin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<GraphInfo>,
    /// The lexical part (BM25 over the texts), if one was built (`lexical/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexical: Option<LexicalInfo>,
    /// The documents' fields and their types (`fields.bin`); none in
    /// indexes written before fields existed.
    #[serde(default, skip_serializing_if = "Schema::is_empty")]
    pub fields: Schema,
}

impl Manifest {
    /// The manifest's file name inside an index folder.
    pub const FILE: &'static str = "manifest.json";

    /// Replaces `dir/manifest.json` atomically (temp file, fsync, rename).
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_atomic(
            &dir.join(Self::FILE),
            &serde_json::to_vec_pretty(self).expect("manifest serialises"),
        )
    }

    /// Reads `dir/manifest.json`, refusing a newer format version before
    /// anything else.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(Self::FILE);
        if !path.is_file() {
            return Err(IndexError::NotAnIndex(dir.to_path_buf()));
        }
        let text = std::fs::read_to_string(&path).at(&path)?;
        // Check the version before the rest, so a newer format is reported
        // as such rather than as a parse error.
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| IndexError::Corrupt {
                path: path.clone(),
                message: format!("invalid JSON: {e}"),
            })?;
        let found = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| IndexError::Corrupt {
                path: path.clone(),
                message: "no format_version".into(),
            })? as u32;
        if found == LIVE_FORMAT_VERSION {
            return Err(IndexError::WrongFormat {
                path: dir.to_path_buf(),
                found,
                expected: FORMAT_VERSION,
            });
        }
        if found > FORMAT_VERSION {
            return Err(IndexError::NewerFormat {
                path,
                found,
                supported: FORMAT_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| IndexError::Corrupt {
            path,
            message: format!("invalid manifest: {e}"),
        })
    }
}
