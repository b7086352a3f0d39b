//! The neighbour graph: for every document, up to `degree` neighbour
//! document numbers, nearest first (byte layout in `format.rs`). How it was
//! built (degree, metric `ip`, `l2` or `cos`, method) is recorded in the
//! manifest as a [`GraphInfo`].
//!
//! Adding a graph to an index writes `graph.bin.tmp`, fsyncs, renames it to
//! `graph.bin`, then replaces `manifest.json` atomically; until the manifest
//! lists it, a `graph.bin` is ignored, so a crash never leaves a graph the
//! manifest vouches for but that is incomplete.

use std::io::Write;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{IndexError, IoContext, Result};
use crate::format::{
    graph_header, map_file, sync_dir, u32_at, u64_at, Checksummed, GRAPH_HEADER, GRAPH_MAGIC,
};
use crate::manifest::{GraphInfo, Manifest};

/// Marks an empty neighbour slot.
pub const NO_NEIGHBOUR: u32 = u32::MAX;

/// A memory-mapped neighbour graph.
pub struct Graph {
    map: Mmap,
    count: usize,
    degree: usize,
}

impl Graph {
    /// Maps `path` and checks it against the index: `count` documents, the
    /// manifest's degree, the exact size, every neighbour in range.
    pub(crate) fn open(path: &Path, count: usize, info: &GraphInfo) -> Result<Self> {
        if cfg!(target_endian = "big") {
            // Rows are read in place as native u32s (see `row`).
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "graph files are little-endian and read in place; this big-endian host cannot",
            ))
            .at(path);
        }
        let map = map_file(path)?;
        let corrupt = |message: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        if map.len() < GRAPH_HEADER || &map[..8] != GRAPH_MAGIC {
            return Err(corrupt("not a graph file (bad magic or truncated)".into()));
        }
        let file_count = u64_at(&map, 8) as usize;
        let degree = u32_at(&map, 16) as usize;
        if file_count != count || degree != info.degree {
            return Err(corrupt(format!(
                "graph of {file_count} documents with degree {degree}, but the index has {count} documents \
                 and the manifest says degree {}; rebuild the graph",
                info.degree
            )));
        }
        if map.len() != GRAPH_HEADER + count * degree * 4 {
            return Err(corrupt(format!(
                "{} bytes, expected {} (truncated?)",
                map.len(),
                GRAPH_HEADER + count * degree * 4
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

    /// `doc`'s neighbour slots as stored (`degree` of them, unused ones
    /// `u32::MAX`); [`Self::neighbours`] is the list.
    #[inline]
    pub fn row(&self, doc: usize) -> &[u32] {
        let row_bytes = self.degree * 4;
        let bytes = &self.map[GRAPH_HEADER + doc * row_bytes..][..row_bytes];
        // SAFETY: `bytes` is `degree` x 4 bytes inside the map, which lives
        // as long as `self`. The map is page-aligned and rows start at byte
        // 24 + 4k, so the pointer is 4-byte aligned. Any bit pattern is a
        // valid u32, and it is the value stored because `open` refused
        // big-endian hosts.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<u32>(), self.degree) }
    }

    /// Neighbours of `doc`, nearest first.
    #[inline]
    pub fn neighbours(&self, doc: usize) -> impl Iterator<Item = u32> + '_ {
        self.row(doc)
            .iter()
            .copied()
            .take_while(|&n| n != NO_NEIGHBOUR)
    }

    /// Neighbour slots per document.
    pub fn degree(&self) -> usize {
        self.degree
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the graph has no documents.
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
        return Err(IndexError::Contract(format!(
            "graph has {} entries, expected {count} documents x degree {}",
            neighbours.len(),
            info.degree
        )));
    }
    if let Some(bad) = neighbours
        .iter()
        .find(|&&n| n != NO_NEIGHBOUR && n as usize >= count)
    {
        return Err(IndexError::Contract(format!(
            "neighbour id {bad} is beyond the {count} documents"
        )));
    }
    let tmp = dir.join("graph.bin.tmp");
    let mut out = Checksummed::create(&tmp)?;
    out.write_all(&graph_header(count, info.degree)).at(&tmp)?;
    for n in neighbours {
        out.write_all(&n.to_le_bytes()).at(&tmp)?;
    }
    let entry = out.finish()?;
    let path = dir.join("graph.bin");
    std::fs::rename(&tmp, &path).at(&path)?;
    // The rename must be durable before a manifest that vouches for the new
    // file can be.
    sync_dir(dir)?;
    manifest.files.insert("graph.bin".into(), entry);
    manifest.graph = Some(info);
    manifest.write(dir)
}
