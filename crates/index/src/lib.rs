//! The on-disk index: document vectors, ids, optional document text and a
//! manifest. Knows nothing of text models; it stores what it is given.
//!
//! An index is a folder:
//!
//! ```text
//! index/
//!   manifest.json   format version, model fingerprint, dim, count, dtype,
//!                   build statistics, and size + CRC32 of every file below
//!   vectors.bin     64-byte header, then count x dim values, row-major, LE
//!   ids.bin         string table: document ids, in index order
//!   texts.bin       string table: document texts (optional)
//!   graph.bin       neighbour graph (optional; layout in `graph.rs`)
//! ```
//!
//! `vectors.bin` header (little-endian):
//!
//! ```text
//!   0  magic  b"HYPVEC\0\x01"
//!   8  u32    dtype (0 = f32, 1 = f16)
//!  12  u32    reserved (0)
//!  16  u64    count
//!  24  u64    dim
//!  32  ...    zero padding to 64 (rows start 64-byte aligned for mmap)
//! ```
//!
//! String tables (`ids.bin`, `texts.bin`):
//!
//! ```text
//!   magic b"HYPSTR\0\x01" | UTF-8 bytes of every string, back to back |
//!   (count + 1) x u64 offsets into those bytes | u64 count | magic
//! ```
//!
//! Writers build in `<index>.partial/` in segments; a crash loses at most the
//! segment in progress and a rerun resumes after the last complete one.
//! `finish` merges, fsyncs, writes the manifest last and renames the folder
//! into place, so an index folder is either absent or complete. Readers mmap
//! the vectors and check every file's size and checksum against the manifest.

mod error;
mod graph;
mod manifest;
mod reader;
mod strings;
mod writer;

pub use error::{IndexError, Result};
pub use graph::{write_graph, Graph, GraphInfo, NO_NEIGHBOUR};
pub use manifest::{BuildStats, Dtype, FileEntry, Manifest, ModelInfo, FORMAT_VERSION};
pub use reader::{Index, Vectors};
pub use strings::StringTable;
pub use writer::{IndexWriter, WriterConfig};
