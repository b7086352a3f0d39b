//! The engine: the one layer the CLI, the server and Python call, so each
//! of them only translates arguments and prints or serialises results.
//!
//! - [`Collection`]: an index opened for reading with its model (loaded
//!   and checked once, or given) and its ids; search with one request
//!   type, [`SearchParams`], and documents by id.
//! - [`build`]: documents encoded into a new index, resumable under one
//!   key; [`merge_indexes`] joins index folders; [`build_graph`] and
//!   [`build_lexical`] add parts to single and live indexes alike.
//! - [`Writer`]: the one writer of an index: add, delete, merge as the
//!   [`MergePolicy`] picks, optimize; every change one commit.
//! - [`tune`]: hybrid settings chosen on a user's judged queries, kept
//!   only when the gain holds up on held-out folds; the index records them
//!   ([`Writer::set_search_defaults`]) and [`Collection::defaults`] uses
//!   them under every request.
//! - A collection split over shards searched as one index:
//!   [`Collection::shard_stats`] and [`Collection::search_shard`] on each
//!   shard, [`combine_shards`] at the coordinator.
//! - [`Error`] with [`ErrorKind`]: what front ends choose statuses,
//!   exception classes and hints by.
//!
//! Modules depend one way: `error`, `progress` <- `model` <-
//! `collection` <- `tune`, `shard`; `model` <- `encode` <- `graph` <- `build`, `write` <-
//! `parts`.

mod build;
mod collection;
mod encode;
mod error;
mod graph;
mod model;
mod parts;
mod progress;
mod shard;
mod tune;
mod write;

pub use build::{build, merge_indexes, BuildOptions, Built};
pub use collection::{Collection, Document, Info};
pub use encode::{writer_config, Docs, CHUNK};
pub use error::{Error, ErrorKind, Result};
pub use graph::{Construction, GraphOptions, GraphReport, EXACT_BELOW, INSERT_EF};
pub use model::{check_model, load_model, open_model, OpenOptions};
pub use parts::{build_graph, build_lexical, single_segment};
pub use progress::{Progress, Quiet};
pub use shard::{combine_shards, ShardAnswer, ShardStats, ShardedFound, ShardedHit};
pub use tune::{tune, Decision, Grid, Setting, TuneOptions, TuneRow, Tuning, FOLDS, MIN_QUERIES};
pub use write::{Committed, MergePolicy, Merged, Writer};

pub use hypencoder_eval::{Metric, Qrels};
pub use hypencoder_index::{
    read_corpus, read_jsonl, unique_ids, unknown_fields_warning, Dtype, FieldRole, FieldSpec,
    FieldType, Fields, Filter, FilterError, IndexError, Manifest, Record, RecordError, Schema,
    SegmentWriter, Stored,
};
pub use hypencoder_model::{EncodePrecision, LoadOptions, Model, ModelError};
pub use hypencoder_search::{
    Found, FusionMethod, GraphMetric, Hit, Mode, NeuralSide, Overrides, Precision, SearchError,
    SearchParams, Walk,
};
