//! A live index: immutable segments, each a complete segment folder (the
//! single-folder format), with tombstones for deleted documents, and one
//! commit point that names them.
//!
//! ```text
//! index/
//!   manifest.json            the commit point (format 2): generation, model,
//!                            dim, dtype, the segments in order with their
//!                            document and deletion counts, and the size and
//!                            CRC32 of every tombstone file
//!   seg-000001/              a complete format-1 index folder (its own
//!                            manifest, vectors, ids, texts, lexical part,
//!                            graph), never changed once written
//!   seg-000001.del-000004    tombstones of seg-000001 as of generation 4
//!   write.lock               held by the one writer (an advisory lock)
//! ```
//!
//! A change becomes visible and durable at once: its segment folders and
//! tombstone files are fsynced first, then the new manifest replaces the old
//! one atomically (temporary file, fsync, rename, fsync of the folder). A
//! reader reads the manifest once and opens what it names, so it sees one
//! whole generation; files no manifest names (a crash's leftovers, replaced
//! tombstones) are removed by the next writer. A document id is unique
//! among the live (not deleted) documents of all segments.
//!
//! Tombstone files (little-endian):
//!
//! ```text
//!   magic b"HYPDEL\0\x01" | u64 documents | u64 deleted |
//!   ceil(documents / 8) bytes, bit i of byte i/8 set = document i deleted
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IndexError, IoContext, Result};
use crate::format::{map_file, write_atomic, Dtype, FileEntry};
use crate::manifest::{LexicalInfo, Manifest, ModelInfo, LIVE_FORMAT_VERSION};
use crate::segment::Segment;

const DELETES_MAGIC: &[u8; 8] = b"HYPDEL\0\x01";
const DELETES_HEADER: usize = 24;

/// One segment as the commit point records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// Its folder's name, e.g. `seg-000001`.
    pub name: String,
    /// Documents it holds, deleted ones included.
    pub docs: usize,
    /// How many of them are deleted.
    pub deleted: usize,
    /// Its tombstone file, when any document is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes: Option<String>,
}

/// `manifest.json` of a live index: the commit point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveManifest {
    /// [`LIVE_FORMAT_VERSION`].
    pub format_version: u32,
    /// Counts commits: each one writes the next.
    pub generation: u64,
    /// The model every segment's vectors come from.
    pub model: ModelInfo,
    /// Values per vector.
    pub dim: usize,
    /// How vector values are stored.
    pub dtype: Dtype,
    /// Whether segments keep document texts.
    pub has_texts: bool,
    /// The lexical part's settings, when segments have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexical: Option<LexicalInfo>,
    /// Neighbours per document of each segment's graph, when segments have
    /// graphs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_degree: Option<usize>,
    /// The segments, oldest first: a document's position in the index is its
    /// segment's place in this list, then its row.
    pub segments: Vec<SegmentEntry>,
    /// Size and CRC32 of every tombstone file named above.
    pub files: BTreeMap<String, FileEntry>,
    /// Search settings recorded for this index (by `hypencoder tune`), by
    /// their request names: what a search that does not set them uses.
    /// Opaque here (the search layer reads them); kept by every commit.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub search_defaults: serde_json::Map<String, serde_json::Value>,
    /// CRC32 of this manifest as written with this field 0: a bit flip
    /// that leaves valid JSON is still caught.
    #[serde(default)]
    pub crc32: u32,
}

impl LiveManifest {
    /// Live documents (deleted ones excluded).
    pub fn live_docs(&self) -> usize {
        self.segments.iter().map(|s| s.docs - s.deleted).sum()
    }

    /// Replaces `dir/manifest.json` atomically: the commit.
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let mut sealed = self.clone();
        sealed.crc32 = sealed.own_crc();
        write_atomic(
            &dir.join(Manifest::FILE),
            &serde_json::to_vec_pretty(&sealed).expect("manifest serialises"),
        )
    }

    /// CRC32 of the manifest's JSON with `crc32` set to 0.
    fn own_crc(&self) -> u32 {
        let mut unsealed = self.clone();
        unsealed.crc32 = 0;
        crc32fast::hash(&serde_json::to_vec_pretty(&unsealed).expect("manifest serialises"))
    }
}

/// What `dir/manifest.json` holds: a single-folder index (format 1) or a
/// live one (format 2).
pub enum AnyManifest {
    /// Format 1: the folder is one index.
    Single(Box<Manifest>),
    /// Format 2: the folder holds segments.
    Live(Box<LiveManifest>),
}

impl AnyManifest {
    /// Reads `dir/manifest.json` of either format (a newer one is an error
    /// naming both versions).
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(Manifest::FILE);
        if !path.is_file() {
            return Err(IndexError::NotAnIndex(dir.to_path_buf()));
        }
        let text = std::fs::read_to_string(&path).at(&path)?;
        let corrupt = |message: String| IndexError::Corrupt {
            path: path.clone(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| corrupt(format!("invalid JSON: {e}")))?;
        let found = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| corrupt("no format_version".into()))? as u32;
        match found {
            LIVE_FORMAT_VERSION => {
                let manifest: LiveManifest = serde_json::from_value(value)
                    .map_err(|e| corrupt(format!("invalid manifest: {e}")))?;
                if manifest.crc32 != manifest.own_crc() {
                    return Err(corrupt(format!(
                        "its CRC32 is {:08x}, its contents give {:08x} (damaged)",
                        manifest.crc32,
                        manifest.own_crc()
                    )));
                }
                Ok(AnyManifest::Live(Box::new(manifest)))
            }
            v if v > LIVE_FORMAT_VERSION => Err(IndexError::NewerFormat {
                path,
                found: v,
                supported: LIVE_FORMAT_VERSION,
            }),
            _ => Manifest::read(dir).map(|m| AnyManifest::Single(Box::new(m))),
        }
    }
}

/// Which documents of a segment are deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstones {
    bits: Vec<u8>,
    docs: usize,
    deleted: usize,
}

impl Tombstones {
    /// None of `docs` documents deleted.
    pub fn none(docs: usize) -> Self {
        Tombstones {
            bits: vec![0; docs.div_ceil(8)],
            docs,
            deleted: 0,
        }
    }

    /// Whether document `row` is deleted.
    pub fn is_deleted(&self, row: usize) -> bool {
        self.bits[row / 8] & (1 << (row % 8)) != 0
    }

    /// Marks `row` deleted; false if it already was.
    pub fn delete(&mut self, row: usize) -> bool {
        if self.is_deleted(row) {
            return false;
        }
        self.bits[row / 8] |= 1 << (row % 8);
        self.deleted += 1;
        true
    }

    /// How many are deleted.
    pub fn deleted(&self) -> usize {
        self.deleted
    }

    /// The file's bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DELETES_HEADER + self.bits.len());
        out.extend_from_slice(DELETES_MAGIC);
        out.extend_from_slice(&(self.docs as u64).to_le_bytes());
        out.extend_from_slice(&(self.deleted as u64).to_le_bytes());
        out.extend_from_slice(&self.bits);
        out
    }

    /// Reads `path`, checked against its manifest entry and the segment's
    /// document count.
    pub(crate) fn read(path: &Path, entry: &FileEntry, docs: usize) -> Result<Self> {
        let bytes = map_file(path)?;
        let corrupt = |message: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        if bytes.len() as u64 != entry.bytes || crc32fast::hash(&bytes) != entry.crc32 {
            return Err(corrupt(format!(
                "{} bytes with CRC32 {:08x}; the manifest says {} bytes with {:08x} \
                 (truncated or damaged)",
                bytes.len(),
                crc32fast::hash(&bytes),
                entry.bytes,
                entry.crc32
            )));
        }
        if bytes.len() != DELETES_HEADER + docs.div_ceil(8) || &bytes[..8] != DELETES_MAGIC {
            return Err(corrupt(format!(
                "not a tombstone file for {docs} documents"
            )));
        }
        let count = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        let bits = bytes[DELETES_HEADER..].to_vec();
        let deleted = bits.iter().map(|b| b.count_ones() as usize).sum();
        if count(8) != docs || count(16) != deleted {
            return Err(corrupt("its counts disagree with its bits".into()));
        }
        Ok(Tombstones {
            bits,
            docs,
            deleted,
        })
    }
}

/// One open segment: its index and its tombstones.
pub struct LiveSegment {
    /// The segment's folder name.
    pub name: String,
    /// The segment, a format-1 index.
    pub segment: Segment,
    /// Its deleted documents.
    pub tombstones: Tombstones,
}

/// An open live index: one generation's segments.
pub struct Index {
    dir: PathBuf,
    manifest: LiveManifest,
    segments: Vec<LiveSegment>,
}

impl Index {
    /// Opens the generation `dir/manifest.json` names, checking every
    /// segment (sizes, checksums, versions) and tombstone file. A
    /// single-folder index opens as one segment with nothing deleted.
    pub fn open(dir: &Path) -> Result<Self> {
        match AnyManifest::read(dir)? {
            AnyManifest::Single(_) => {
                let index = Segment::open(dir)?;
                let manifest = single_as_live(&index);
                let tombstones = Tombstones::none(index.len());
                Ok(Index {
                    dir: dir.to_path_buf(),
                    manifest,
                    segments: vec![LiveSegment {
                        name: String::new(),
                        segment: index,
                        tombstones,
                    }],
                })
            }
            AnyManifest::Live(manifest) => {
                let mut manifest = *manifest;
                // A writer's commit may remove the files of the generation
                // just read; then the next one is read and opened instead.
                loop {
                    let opened = manifest
                        .segments
                        .iter()
                        .map(|entry| open_segment(dir, &manifest, entry))
                        .collect::<Result<Vec<_>>>();
                    match (opened, AnyManifest::read(dir)?) {
                        (Ok(segments), _) => {
                            return Ok(Index {
                                dir: dir.to_path_buf(),
                                manifest,
                                segments,
                            })
                        }
                        (Err(_), AnyManifest::Live(newer))
                            if newer.generation != manifest.generation =>
                        {
                            manifest = *newer;
                        }
                        (Err(err), _) => return Err(err),
                    }
                }
            }
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The commit point this view was opened at.
    pub fn manifest(&self) -> &LiveManifest {
        &self.manifest
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> &[LiveSegment] {
        &self.segments
    }

    /// Live documents.
    pub fn live_docs(&self) -> usize {
        self.manifest.live_docs()
    }
}

/// A format-1 index described as a one-segment generation 0.
fn single_as_live(index: &Segment) -> LiveManifest {
    let m = index.manifest();
    LiveManifest {
        format_version: LIVE_FORMAT_VERSION,
        generation: 0,
        model: m.model.clone(),
        dim: m.dim,
        dtype: m.dtype,
        has_texts: m.has_texts,
        lexical: m.lexical.clone(),
        graph_degree: m.graph.as_ref().map(|g| g.degree),
        segments: vec![SegmentEntry {
            name: String::new(),
            docs: m.count,
            deleted: 0,
            deletes: None,
        }],
        files: BTreeMap::new(),
        search_defaults: serde_json::Map::new(),
        crc32: 0,
    }
}

fn open_segment(dir: &Path, manifest: &LiveManifest, entry: &SegmentEntry) -> Result<LiveSegment> {
    let index = Segment::open(&dir.join(&entry.name))?;
    let seg_manifest = index.manifest();
    let disagree = |what: &str| IndexError::Corrupt {
        path: dir.join(&entry.name).join(Manifest::FILE),
        message: format!(
            "its {what} disagrees with the commit point {}",
            dir.join(Manifest::FILE).display()
        ),
    };
    if seg_manifest.count != entry.docs {
        return Err(disagree("document count"));
    }
    if seg_manifest.dim != manifest.dim || seg_manifest.dtype != manifest.dtype {
        return Err(disagree("vector shape"));
    }
    if seg_manifest.model.doc_encoder != manifest.model.doc_encoder
        || (manifest.model.doc_encoder.is_none()
            && seg_manifest.model.fingerprint != manifest.model.fingerprint)
    {
        return Err(disagree("model"));
    }
    let tombstones = match &entry.deletes {
        None => Tombstones::none(entry.docs),
        Some(file) => {
            let path = dir.join(file);
            let recorded = manifest
                .files
                .get(file)
                .ok_or_else(|| IndexError::Corrupt {
                    path: dir.join(Manifest::FILE),
                    message: format!("names {file} but records no size or checksum for it"),
                })?;
            Tombstones::read(&path, recorded, entry.docs)?
        }
    };
    if tombstones.deleted() != entry.deleted {
        return Err(IndexError::Corrupt {
            path: dir.join(Manifest::FILE),
            message: format!(
                "says {} of {} is deleted, its tombstones say {}",
                entry.deleted,
                entry.name,
                tombstones.deleted()
            ),
        });
    }
    Ok(LiveSegment {
        name: entry.name.clone(),
        segment: index,
        tombstones,
    })
}
