//! The neighbour graph: for every document, up to `degree` neighbour
//! document numbers, nearest first.
//!
//! ```text
//! graph.bin:
//!   0  magic  b"HYPGRF\0\x01"
//!   8  u64    count (documents; must equal the index's)
//!  16  u32    degree
//!  20  u32    reserved (0)
//!  24  count x degree u32 LE neighbour ids, u32::MAX = no neighbour
//! ```
//!
//! Adding a graph to an index writes `graph.bin.tmp`, fsyncs, renames it to
//! `graph.bin`, then replaces `manifest.json` atomically; until the manifest
//! lists it, a `graph.bin` is ignored, so a crash never leaves a graph the
//! manifest vouches for but that is incomplete.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use crate::error::{IndexError, IoContext, Result};
use crate::manifest::Manifest;
use crate::writer::Checksummed;

const GRAPH_MAGIC: &[u8; 8] = b"HYPGRF\0\x01";
const HEADER: usize = 24;
/// Marks an empty neighbour slot.
pub const NO_NEIGHBOUR: u32 = u32::MAX;

/// How a graph was built, recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphInfo {
    pub degree: usize,
    /// "ip" (inner product) or "l2".
    pub metric: String,
    /// "exact" or the approximate method's name.
    pub method: String,
    /// Recall of the neighbour lists against exact kNN, when measured.
    pub recall_vs_exact: Option<f64>,
}

/// A memory-mapped neighbour graph.
pub struct Graph {
    map: Mmap,
    count: usize,
    degree: usize,
}

impl Graph {
    pub(crate) fn open(path: &Path, count: usize, info: &GraphInfo) -> Result<Self> {
        let file = File::open(path).at(path)?;
        // SAFETY: graph files are replaced by rename, never modified in place.
        let map = unsafe { Mmap::map(&file) }.at(path)?;
        let corrupt = |message: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        if map.len() < HEADER || &map[..8] != GRAPH_MAGIC {
            return Err(corrupt("not a graph file (bad magic or truncated)".into()));
        }
        let file_count = u64::from_le_bytes(map[8..16].try_into().unwrap()) as usize;
        let degree = u32::from_le_bytes(map[16..20].try_into().unwrap()) as usize;
        if file_count != count || degree != info.degree {
            return Err(corrupt(format!(
                "graph of {file_count} documents with degree {degree}, but the index has {count} documents \
                 and the manifest says degree {}; rebuild it with `hypencoder graph`",
                info.degree
            )));
        }
        if map.len() != HEADER + count * degree * 4 {
            return Err(corrupt(format!(
                "{} bytes, expected {} (truncated?)",
                map.len(),
                HEADER + count * degree * 4
            )));
        }
        let graph = Graph { map, count, degree };
        for doc in 0..count {
            if let Some(&bad) = graph
                .row(doc)
                .iter()
                .find(|&&n| n != NO_NEIGHBOUR && n as usize >= count)
            {
                return Err(corrupt(format!(
                    "document {doc} has neighbour {bad}, beyond the {count} documents"
                )));
            }
        }
        Ok(graph)
    }

    fn row(&self, doc: usize) -> &[u32] {
        let bytes = &self.map[HEADER + doc * self.degree * 4..HEADER + (doc + 1) * self.degree * 4];
        // SAFETY: the map is page-aligned and rows start at byte 24 + 4k, so
        // they are 4-byte aligned; any bit pattern is a valid u32 (LE hosts).
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<u32>(), self.degree) }
    }

    /// Neighbours of `doc`, nearest first.
    pub fn neighbours(&self, doc: usize) -> impl Iterator<Item = u32> + '_ {
        self.row(doc)
            .iter()
            .copied()
            .take_while(|&n| n != NO_NEIGHBOUR)
    }

    pub fn degree(&self) -> usize {
        self.degree
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Adds (or replaces) the graph of the index in `dir`. `neighbours` holds
/// `count x info.degree` ids, `NO_NEIGHBOUR` for empty slots.
pub fn write_graph(dir: &Path, neighbours: &[u32], info: GraphInfo) -> Result<()> {
    let mut manifest = Manifest::read(dir)?;
    let count = manifest.count;
    if neighbours.len() != count * info.degree {
        return Err(IndexError::Invalid(format!(
            "graph has {} entries, expected {count} documents x degree {}",
            neighbours.len(),
            info.degree
        )));
    }
    if let Some(bad) = neighbours
        .iter()
        .find(|&&n| n != NO_NEIGHBOUR && n as usize >= count)
    {
        return Err(IndexError::Invalid(format!(
            "neighbour id {bad} is beyond the {count} documents"
        )));
    }
    let tmp = dir.join("graph.bin.tmp");
    let mut out = Checksummed::create(&tmp)?;
    let mut header = [0u8; HEADER];
    header[..8].copy_from_slice(GRAPH_MAGIC);
    header[8..16].copy_from_slice(&(count as u64).to_le_bytes());
    header[16..20].copy_from_slice(&(info.degree as u32).to_le_bytes());
    out.write_all(&header).at(&tmp)?;
    for n in neighbours {
        out.write_all(&n.to_le_bytes()).at(&tmp)?;
    }
    let entry = out.finish()?;
    let path = dir.join("graph.bin");
    std::fs::rename(&tmp, &path).at(&path)?;
    manifest.files.insert("graph.bin".into(), entry);
    manifest.graph = Some(info);
    manifest.write(dir)
}
