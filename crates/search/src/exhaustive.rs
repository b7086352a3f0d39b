//! Exhaustive search: every document scored, blocks in parallel.

use hypencoder_index::Vectors;
use rayon::prelude::*;

use crate::scorer::{Scorer, ScratchSpace};
use crate::topk::{Hit, TopK};

/// Documents per block: big enough for efficient GEMMs, small enough that a
/// block's activations stay in cache.
pub const BLOCK: usize = 256;

/// The `k` best documents of `vectors` for every query of `scorer`, best
/// first; equal scores rank the earlier document first. Deterministic
/// whatever the thread count.
pub fn exhaustive(vectors: &Vectors, scorer: &dyn Scorer, k: usize) -> Vec<Vec<Hit>> {
    assert_eq!(
        vectors.dim(),
        scorer.dim(),
        "scorer and index disagree on vector width"
    );
    let queries = scorer.num_queries();
    let blocks = vectors.count().div_ceil(BLOCK);
    let empty = || vec![TopK::new(k); queries];
    let tops = (0..blocks)
        .into_par_iter()
        .fold(
            || (empty(), ScratchSpace::default(), Vec::new()),
            |(mut tops, mut scratch, mut out), block| {
                let start = block * BLOCK;
                let n = BLOCK.min(vectors.count() - start);
                let docs = vectors.rows(start, n);
                out.resize(queries * n, 0.0);
                scorer.score_block(&docs, n, &mut out, &mut scratch);
                for (q, top) in tops.iter_mut().enumerate() {
                    for (i, &score) in out[q * n..(q + 1) * n].iter().enumerate() {
                        top.push(Hit {
                            doc: (start + i) as u32,
                            score,
                        });
                    }
                }
                (tops, scratch, out)
            },
        )
        .map(|(tops, _, _)| tops)
        .reduce(empty, |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.merge(y);
            }
            a
        });
    tops.into_iter().map(TopK::into_sorted).collect()
}

/// [`exhaustive`] over the listed `rows` only (ascending): what a filter
/// keeps is scored, nothing else, each block of `BLOCK` rows gathered into
/// one contiguous buffer. Hits are rows of `vectors`.
pub fn exhaustive_rows(
    vectors: &Vectors,
    scorer: &dyn Scorer,
    k: usize,
    rows: &[u32],
) -> Vec<Vec<Hit>> {
    assert_eq!(
        vectors.dim(),
        scorer.dim(),
        "scorer and index disagree on vector width"
    );
    let queries = scorer.num_queries();
    let empty = || vec![TopK::new(k); queries];
    let tops = rows
        .par_chunks(BLOCK)
        .fold(
            || (empty(), ScratchSpace::default(), Vec::new(), Vec::new()),
            |(mut tops, mut scratch, mut out, mut docs), block| {
                let n = block.len();
                docs.clear();
                for &row in block {
                    docs.extend_from_slice(&vectors.rows(row as usize, 1));
                }
                out.resize(queries * n, 0.0);
                scorer.score_block(&docs, n, &mut out, &mut scratch);
                for (q, top) in tops.iter_mut().enumerate() {
                    for (&row, &score) in block.iter().zip(&out[q * n..(q + 1) * n]) {
                        top.push(Hit { doc: row, score });
                    }
                }
                (tops, scratch, out, docs)
            },
        )
        .map(|(tops, ..)| tops)
        .reduce(empty, |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.merge(y);
            }
            a
        });
    tops.into_iter().map(TopK::into_sorted).collect()
}
