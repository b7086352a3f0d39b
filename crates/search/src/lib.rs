//! Search: scoring blocks of document vectors and collecting the best.
//!
//! - [`Scorer`] scores a block of document vectors for a batch of queries.
//!   [`QNetScorer`] runs Hypencoder q-nets, [`DotScorer`] dot products; both
//!   go through the same blocked-GEMM kernel path.
//! - [`TopK`] keeps the k best hits with deterministic tie-breaking: equal
//!   scores rank the earlier document (lower index) first.
//! - [`exhaustive`] scores every document of an index, blocks in parallel on
//!   the process's one rayon pool.

mod exhaustive;
mod kernel;
mod scorer;
mod topk;

pub use exhaustive::{exhaustive, BLOCK};
pub use scorer::{DotScorer, QNetScorer, Scorer, ScratchSpace};
pub use topk::{Hit, TopK};
