//! Search, read-only: scoring blocks of document vectors and collecting
//! the best, over an index's segments.
//!
//! - [`Scorer`] scores a block of document vectors for a batch of queries.
//!   [`QNetScorer`] runs Hypencoder q-nets, [`DotScorer`] dot products; the
//!   dense kernels under both come from `hypencoder-kernels` (`kernel.rs`).
//! - [`TopK`] keeps the k best hits with deterministic tie-breaking: equal
//!   scores rank the earlier document (lower index) first.
//! - [`exhaustive`] scores every document of a segment, blocks in parallel
//!   on the process's one rayon pool.
//! - Neighbour graphs: [`exact_knn`] (blocked GEMM) or [`nn_descent`]
//!   (approximate, for large corpora) find neighbours, [`diversify`] prunes
//!   them and adds reverse edges; [`GrowingGraph`] grows one by insertion
//!   (HNSW-style, the same pruning), as merges do.
//! - [`fuse`] makes one ranking of lexical (BM25) and neural candidates,
//!   each with both scores: reciprocal rank fusion or a
//!   min-max-normalised convex combination.
//! - Walks over a graph, scoring a small fraction of the documents:
//!   [`graph_search`] (the paper's algorithm) and [`beam_search`] (ours).
//! - [`SearchParams`] is every setting a request may give, defaults in one
//!   place; [`Plan`] runs one request end to end (query texts to hits, in
//!   any [`Mode`]) over a [`Searcher`], which reads an index's segments
//!   through [`SegmentReader`]s.
//! - A search split over shards answers as one index would: each shard
//!   plans with [`Plan::for_shard`] and answers with
//!   [`Plan::search_shard`] (its candidates, scored with the whole
//!   collection's BM25 statistics), and [`combine`] ranks them once.
//!
//! Modules depend one way: `topk`, `kernel` <- `scorer` <- `exhaustive`,
//! `fusion`, `graph_build` <- `graph_insert`, `graph_search` <- `request`
//! <- `searcher` <- `error` <- `shard` <- `plan`. Writes (adding, merging) live in
//! the engine crate.

mod error;
mod exhaustive;
mod fusion;
mod graph_build;
mod graph_insert;
mod graph_search;
mod kernel;
mod plan;
mod request;
mod scorer;
mod searcher;
mod shard;
mod topk;

pub use error::SearchError;
pub use exhaustive::{exhaustive, exhaustive_rows, BLOCK};
pub use fusion::{fuse, score_rows, Candidate, Fusion};
pub use graph_build::{diversify, exact_knn, knn_recall, nn_descent, unit_vectors, GraphMetric};
pub use graph_insert::GrowingGraph;
pub use graph_search::{
    beam_search, graph_search, graph_search_many, random_entry_points, BeamParams, GraphAlgorithm,
    GraphParams, GraphScratch, GraphStats, Restrict,
};
pub use plan::{Found, Plan, Pools};
pub use request::{FusionMethod, Mode, NeuralSide, Overrides, SearchParams, Walk};
pub use scorer::{
    batch_scorer, query_scorers, DotScorer, Precision, QNetScorer, Scorer, ScratchSpace,
};
pub use searcher::{sort_hits, Searcher, SegmentReader};
pub use shard::{combine, ShardCandidates, ShardHit, ShardHits};
pub use topk::{Hit, TopK};
