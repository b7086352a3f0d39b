//! Search: scoring blocks of document vectors and collecting the best.
//!
//! - [`Scorer`] scores a block of document vectors for a batch of queries.
//!   [`QNetScorer`] runs Hypencoder q-nets, [`DotScorer`] dot products; the
//!   dense kernels under both come from `hypencoder-kernels` (`kernel.rs`).
//! - [`TopK`] keeps the k best hits with deterministic tie-breaking: equal
//!   scores rank the earlier document (lower index) first.
//! - [`exhaustive`] scores every document of an index, blocks in parallel on
//!   the process's one rayon pool.
//! - Neighbour graphs: [`exact_knn`] (blocked GEMM) or [`nn_descent`]
//!   (approximate, for large corpora) find neighbours, [`diversify`] prunes
//!   them and adds reverse edges; [`GrowingGraph`] grows one by insertion
//!   (HNSW-style, the same pruning), as merges do.
//! - [`fuse`] makes one ranking of lexical (BM25) and neural candidates,
//!   each with both scores ([`candidates`]): reciprocal rank fusion or a
//!   min-max-normalised convex combination; [`rerank`] orders BM25's
//!   candidates by the neural scorer.
//! - Walks over a graph, scoring a small fraction of the documents:
//!   [`graph_search`] (the paper's algorithm) and [`beam_search`] (ours).
//! - [`add_documents`] and [`merge_segments`] change a live index from a
//!   model (new segments, merges; [`merge_policy`] says when).
//! - [`Plan`] runs one search request end to end (query texts to hits, in
//!   any [`Mode`]) as the CLI and the server both do; [`open_model`] loads
//!   an index's own model, checked by fingerprint.

mod corpus;
mod exhaustive;
mod fusion;
mod graph_build;
mod graph_insert;
mod graph_search;
mod ingest;
mod kernel;
mod plan;
mod scorer;
mod topk;

pub use corpus::{sort_hits, Corpus, Part};
pub use exhaustive::{exhaustive, BLOCK};
pub use fusion::{candidates, fuse, rerank, score_rows, Candidate, Fusion};
pub use graph_build::{diversify, exact_knn, knn_recall, nn_descent, unit_vectors, GraphMetric};
pub use graph_insert::GrowingGraph;
pub use graph_search::{
    beam_search, graph_search, graph_search_many, random_entry_points, BeamParams, GraphAlgorithm,
    GraphParams, GraphScratch, GraphStats,
};
pub use ingest::{
    add_documents, build_segment_graph, encode_into, index_config, merge_policy, merge_segments,
    MAX_SEGMENTS, SLICE,
};
pub use plan::{
    batch_scorer, check_model, open_model, open_model_for, query_scorers, Found, Mode, NeuralSide,
    Plan, SearchError, SearchParams, Walk,
};
pub use scorer::{DotScorer, Precision, QNetScorer, Scorer, ScratchSpace};
pub use topk::{Hit, TopK};
