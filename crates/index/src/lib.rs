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
//!   graph.bin       neighbour graph (optional)
//!   lexical/        tantivy index over the texts, for BM25 (optional)
//! ```
//!
//! The byte layouts of the `.bin` files are drawn in `format.rs`.
//!
//! Writers build in `<index>.partial/` in segments; a crash loses at most the
//! segment in progress and a rerun resumes after the last complete one.
//! `finish` merges, fsyncs, writes the manifest last and renames the folder
//! into place, so an index folder is either absent or complete. Readers mmap
//! the vectors and check every file's size and checksum against the manifest.
//!
//! A live index (`live.rs`: format 2) is a folder of such folders, its
//! segments, with tombstones for deleted documents and one commit point;
//! `LiveWriter` adds segments, deletes and commits.
//!
//! Modules depend only on those to their left (lower layers):
//! `error` <- `format` <- `manifest`, `strings` <- `graph`, `lexical` <-
//! `reader`, `writer` <- `live` <- `live_writer`.

mod combine;
mod error;
mod format;
mod graph;
mod lexical;
mod live;
mod live_writer;
mod manifest;
mod reader;
mod records;
mod strings;
mod writer;

pub use combine::combine;
pub use error::{IndexError, Result};
pub use format::{sync_dir, write_atomic, Dtype, FileEntry};
pub use graph::{write_graph, Graph, NO_NEIGHBOUR};
pub use lexical::{analyze, write_lexical, Bm25Stats, Lexical, LexicalHit, B, K1, LEXICAL_DIR};
pub use live::{AnyManifest, LiveIndex, LiveManifest, Segment, SegmentEntry, Tombstones};
pub use live_writer::{AddReport, DeleteReport, LiveWriter, LOCK_FILE};
pub use manifest::{
    BuildStats, GraphInfo, LexicalInfo, Manifest, ModelInfo, FORMAT_VERSION, LIVE_FORMAT_VERSION,
};
pub use reader::{Index, Vectors};
pub use records::{read_corpus, read_jsonl, unique_ids, Fields, Record, RecordError};
pub use strings::StringTable;
pub use writer::{IndexWriter, WriterConfig};
