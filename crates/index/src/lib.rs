//! The on-disk index: document vectors, ids, optional document text and
//! manifests. Knows nothing of text models; it stores what it is given.
//!
//! As in tantivy, an [`Index`] is made of segments and an [`IndexWriter`]
//! commits. A [`Segment`] is one folder, never changed once written but
//! for the parts added to it later (a graph, a lexical part), each under
//! an atomically replaced manifest:
//!
//! ```text
//! segment/
//!   manifest.json   format version, model fingerprint, dim, count, dtype,
//!                   build statistics, and size + CRC32 of every file below
//!   vectors.bin     64-byte header, then count x dim values, row-major, LE
//!   ids.bin         string table: document ids, in index order
//!   texts.bin       string table: document texts (optional)
//!   graph.bin       neighbour graph (optional)
//!   lexical/        tantivy index over the texts, for BM25 (optional)
//!   fields.bin      the documents' fields, one typed column each (optional)
//! ```
//!
//! The byte layouts of the `.bin` files are drawn in `format.rs`.
//!
//! A [`SegmentWriter`] builds one in `<segment>.partial/` in chunks; a
//! crash loses at most the chunk in progress and a rerun resumes after the
//! last complete one. `finish` joins the chunks, fsyncs, writes the
//! manifest last and renames the folder into place, so a segment folder is
//! either absent or complete. Readers mmap the vectors and check every
//! file's size and checksum against the manifest.
//!
//! An index is either one segment folder (format 1: what `hypencoder
//! index` writes) or a *live* index (`live.rs`: format 2), a folder of
//! segment folders with tombstones for deleted documents and one commit
//! point; the [`IndexWriter`] (`live_writer.rs`) adds segments, deletes,
//! replaces merged segments and commits. [`merge_folders`] merges segment
//! folders written apart (one per worker) into one.
//!
//! Modules depend only on those to their left (lower layers):
//! `error` <- `format` <- `fields` <- `manifest`, `strings`, `filter` <-
//! `graph`, `lexical` <- `segment`, `segment_writer` <- `merge`, `live` <-
//! `live_writer`; `records` (corpus and query files, on `fields`) stands
//! apart.

mod error;
mod fields;
mod filter;
mod format;
mod graph;
mod lexical;
mod live;
mod live_writer;
mod manifest;
mod merge;
mod records;
mod segment;
mod segment_writer;
mod strings;

pub use error::{IndexError, Result};
pub use fields::{
    classify, union_schema, ColumnRef, FieldSpec, FieldStore, FieldType, FieldValue, Schema,
    SchemaBuilder, FIELDS_FILE,
};
pub use filter::{unknown_fields_warning, Condition, Filter, FilterError, Literal, RowSet};
pub use format::{sync_dir, write_atomic, Dtype, FileEntry};
pub use graph::{write_graph, Graph, NO_NEIGHBOUR};
pub use lexical::{
    analyze, write_lexical, Bm25, Bm25Stats, Lexical, LexicalHit, B, K1, LEXICAL_DIR,
};
pub use live::{AnyManifest, Index, LiveManifest, LiveSegment, SegmentEntry, Tombstones};
pub use live_writer::{AddReport, DeleteReport, IndexWriter, LOCK_FILE};
pub use manifest::{
    BuildStats, GraphInfo, LexicalInfo, Manifest, ModelInfo, FORMAT_VERSION, LIVE_FORMAT_VERSION,
};
pub use merge::merge_folders;
pub use records::{
    read_corpus, read_jsonl, unique_ids, FieldRole, Fields, Record, RecordError, Stored,
};
pub use segment::{Segment, Vectors};
pub use segment_writer::{SegmentWriter, WriterConfig};
pub use strings::StringTable;
