//! `manifest.json`: what an index holds and how to check it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IndexError, IoContext, Result};
use crate::graph::GraphInfo;

/// The format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    F16,
}

impl Dtype {
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 => 2,
        }
    }

    pub(crate) fn code(self) -> u32 {
        match self {
            Dtype::F32 => 0,
            Dtype::F16 => 1,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Dtype::F32),
            1 => Some(Dtype::F16),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "f32" => Some(Dtype::F32),
            "f16" => Some(Dtype::F16),
            _ => None,
        }
    }
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
}

/// What happened while building.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildStats {
    /// Documents with empty text (indexed; their vector is the model's
    /// encoding of the empty string).
    pub empty_texts: u64,
    /// Documents cut at `max_length` tokens.
    pub truncated: u64,
    pub max_length: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub bytes: u64,
    pub crc32: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub model: ModelInfo,
    pub dim: usize,
    pub count: usize,
    pub dtype: Dtype,
    pub has_texts: bool,
    pub stats: BuildStats,
    /// Every data file of the index with its size and checksum.
    pub files: BTreeMap<String, FileEntry>,
    /// The neighbour graph, if one was built (`graph.bin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<GraphInfo>,
}

impl Manifest {
    pub const FILE: &'static str = "manifest.json";

    /// Replaces `dir/manifest.json` atomically (temp file, fsync, rename).
    pub fn write(&self, dir: &Path) -> Result<()> {
        crate::writer::write_atomic(
            &dir.join(Self::FILE),
            &serde_json::to_vec_pretty(self).expect("manifest serialises"),
        )
    }

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
