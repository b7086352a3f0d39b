//! Lexical and neural candidates made one ranking: hybrid fusion of both
//! sides' lists, and scoring given rows (rerank's, and the neural scores
//! of rows only BM25 found).
//!
//! Hybrid search takes the union of both sides' candidates and gives every
//! candidate both scores (the BM25 score of every row is at hand; the
//! neural score of a row only BM25 found is computed by the plan), so no
//! candidate is fused with a missing score. The fusions:
//! - reciprocal rank fusion: `1/(k + rank_lexical) + 1/(k + rank_neural)`,
//!   ranks 1-based over the candidates, by each side's score;
//! - linear: each side min-max normalised over the candidates, then
//!   `alpha * neural + (1 - alpha) * lexical` (Bruch, Gai and Ingber, TOIS
//!   2023, find this convex combination ahead of RRF in and out of domain);
//! - zscore and dbsf: the same combination of each side standardised, or
//!   mapped from its mean +- 3 sd onto 0..1 (Qdrant's distribution-based
//!   score fusion), which a few outlying scores move less than min-max;
//! - adaptive: z-scores combined with a weight per query, each side's top
//!   z-score (how far its best candidate stands out) over both sides'.
//!
//! Ties, on any side and in the fused ranking, go to the lower row.

use std::cmp::Ordering;

use hypencoder_index::Vectors;

use crate::scorer::{Scorer, ScratchSpace};
use crate::topk::Hit;

/// How the two sides' scores become one.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Fusion {
    /// Reciprocal rank fusion with constant `k` (60 is the usual value).
    Rrf {
        /// Added to each 1-based rank.
        k: f32,
    },
    /// Min-max-normalised convex combination.
    Linear {
        /// Weight of the neural side, in 0..=1.
        alpha: f32,
    },
    /// Each side standardised (z-scores over the candidates), then the
    /// convex combination.
    Zscore {
        /// Weight of the neural side, in 0..=1.
        alpha: f32,
    },
    /// Distribution-based score fusion (Qdrant's DBSF): each side mapped
    /// from mean - 3 sd .. mean + 3 sd over the candidates onto 0..1
    /// (clipped), then the convex combination.
    Dbsf {
        /// Weight of the neural side, in 0..=1.
        alpha: f32,
    },
    /// Z-scores weighted per query by how far each side's best candidate
    /// stands out from its others (its top z-score): the side that is sure
    /// of one answer counts more.
    Adaptive,
}

/// A document with both sides' scores.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// Row in the index.
    pub doc: u32,
    /// Its BM25 score (0 when no query term occurs in it).
    pub lexical: f32,
    /// Its neural score.
    pub neural: f32,
}

fn by_score_then_doc(a: (f32, u32), b: (f32, u32)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// The scores of `rows` for a one-query `scorer`, in the order given.
pub fn score_rows(vectors: &Vectors, rows: &[u32], scorer: &dyn Scorer) -> Vec<f32> {
    assert_eq!(
        scorer.num_queries(),
        1,
        "score_rows takes a one-query scorer"
    );
    let dim = vectors.dim();
    let mut block = Vec::with_capacity(rows.len() * dim);
    for &row in rows {
        block.extend_from_slice(&vectors.rows(row as usize, 1));
    }
    let mut out = vec![0f32; rows.len()];
    if !rows.is_empty() {
        scorer.score_block(&block, rows.len(), &mut out, &mut ScratchSpace::default());
    }
    out
}

/// The candidates fusion ranks: BM25's top, then the neural side's top
/// rows BM25's did not hold (each list best first), so one index and a
/// coordinator over shards fuse the same list in the same order.
pub fn union(lexical: &[Candidate], neural: &[Candidate]) -> Vec<Candidate> {
    let mut seen = std::collections::HashSet::with_capacity(lexical.len() + neural.len());
    lexical
        .iter()
        .chain(neural)
        .filter(|c| seen.insert(c.doc))
        .copied()
        .collect()
}

/// 1-based rank of each candidate by `score`, ties to the lower row.
fn ranks(candidates: &[Candidate], score: impl Fn(&Candidate) -> f32) -> Vec<f32> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| {
        let (ca, cb) = (&candidates[a], &candidates[b]);
        by_score_then_doc((score(ca), ca.doc), (score(cb), cb.doc))
    });
    let mut rank = vec![0f32; candidates.len()];
    for (r, i) in order.into_iter().enumerate() {
        rank[i] = (r + 1) as f32;
    }
    rank
}

/// `(s - min) / (max - min)` over the candidates; all 0 when they are equal.
fn min_max(candidates: &[Candidate], score: impl Fn(&Candidate) -> f32) -> Vec<f32> {
    let (lo, hi) = candidates
        .iter()
        .map(&score)
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s), hi.max(s))
        });
    candidates
        .iter()
        .map(|c| {
            if hi > lo {
                (score(c) - lo) / (hi - lo)
            } else {
                0.0
            }
        })
        .collect()
}

/// Mean and (population) standard deviation of one side over the
/// candidates.
fn moments(candidates: &[Candidate], score: &impl Fn(&Candidate) -> f32) -> (f32, f32) {
    let n = candidates.len().max(1) as f32;
    let mean = candidates.iter().map(score).sum::<f32>() / n;
    let var = candidates
        .iter()
        .map(|c| (score(c) - mean).powi(2))
        .sum::<f32>()
        / n;
    (mean, var.sqrt())
}

/// `(s - mean) / sd` over the candidates; all 0 when they are equal.
fn z_scores(candidates: &[Candidate], score: impl Fn(&Candidate) -> f32) -> Vec<f32> {
    let (mean, sd) = moments(candidates, &score);
    candidates
        .iter()
        .map(|c| {
            if sd > 0.0 {
                (score(c) - mean) / sd
            } else {
                0.0
            }
        })
        .collect()
}

/// `(s - (mean - 3 sd)) / 6 sd` over the candidates, clipped to 0..1; all
/// 0.5 when they are equal.
fn three_sigma(candidates: &[Candidate], score: impl Fn(&Candidate) -> f32) -> Vec<f32> {
    let (mean, sd) = moments(candidates, &score);
    candidates
        .iter()
        .map(|c| {
            if sd > 0.0 {
                ((score(c) - (mean - 3.0 * sd)) / (6.0 * sd)).clamp(0.0, 1.0)
            } else {
                0.5
            }
        })
        .collect()
}

/// `alpha * neural + (1 - alpha) * lexical`, element by element.
fn convex(alpha: f32, lexical: &[f32], neural: &[f32]) -> Vec<f32> {
    lexical
        .iter()
        .zip(neural)
        .map(|(l, n)| alpha * n + (1.0 - alpha) * l)
        .collect()
}

/// The best `k` candidates by the fused score, ties to the lower row.
pub fn fuse(candidates: &[Candidate], fusion: Fusion, k: usize) -> Vec<Hit> {
    let fused: Vec<f32> = match fusion {
        Fusion::Rrf { k: rrf_k } => {
            let lexical = ranks(candidates, |c| c.lexical);
            let neural = ranks(candidates, |c| c.neural);
            lexical
                .iter()
                .zip(&neural)
                .map(|(l, n)| 1.0 / (rrf_k + l) + 1.0 / (rrf_k + n))
                .collect()
        }
        Fusion::Linear { alpha } => convex(
            alpha,
            &min_max(candidates, |c| c.lexical),
            &min_max(candidates, |c| c.neural),
        ),
        Fusion::Zscore { alpha } => convex(
            alpha,
            &z_scores(candidates, |c| c.lexical),
            &z_scores(candidates, |c| c.neural),
        ),
        Fusion::Adaptive => {
            let lexical = z_scores(candidates, |c| c.lexical);
            let neural = z_scores(candidates, |c| c.neural);
            let top = |z: &[f32]| z.iter().copied().fold(0f32, f32::max);
            let (l, n) = (top(&lexical), top(&neural));
            let alpha = if l + n > 0.0 { n / (l + n) } else { 0.5 };
            convex(alpha, &lexical, &neural)
        }
        Fusion::Dbsf { alpha } => convex(
            alpha,
            &three_sigma(candidates, |c| c.lexical),
            &three_sigma(candidates, |c| c.neural),
        ),
    };
    let mut hits: Vec<Hit> = candidates
        .iter()
        .zip(fused)
        .map(|(c, score)| Hit { doc: c.doc, score })
        .collect();
    hits.sort_by(|a, b| by_score_then_doc((a.score, a.doc), (b.score, b.doc)));
    hits.truncate(k);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(doc: u32, lexical: f32, neural: f32) -> Candidate {
        Candidate {
            doc,
            lexical,
            neural,
        }
    }

    /// Lexical order: 7, 3, 5, 9 (9 has no term: 0); neural order: 5, 9, 3, 7.
    fn fixed() -> Vec<Candidate> {
        vec![
            c(7, 4.0, 0.1),
            c(3, 2.0, 0.5),
            c(5, 1.0, 0.9),
            c(9, 0.0, 0.7),
        ]
    }

    #[test]
    fn rrf_matches_a_hand_computation() {
        let hits = fuse(&fixed(), Fusion::Rrf { k: 60.0 }, 4);
        // doc: lexical rank, neural rank -> 1/(60+l) + 1/(60+n)
        let expected: [(u32, f64); 4] = [
            (5, 1.0 / 63.0 + 1.0 / 61.0), // 3, 1
            (3, 1.0 / 62.0 + 1.0 / 63.0), // 2, 3
            (7, 1.0 / 61.0 + 1.0 / 64.0), // 1, 4
            (9, 1.0 / 64.0 + 1.0 / 62.0), // 4, 2
        ];
        // 5: .032266, 3: .032002, 7: .032018, 9: .031754 -> 5, 7, 3, 9
        let mut expected = expected.to_vec();
        expected.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (hit, (doc, score)) in hits.iter().zip(&expected) {
            assert_eq!(hit.doc, *doc);
            assert!(
                (hit.score - *score as f32).abs() < 1e-7,
                "{hit:?} vs {score}"
            );
        }
        assert_eq!(hits.iter().map(|h| h.doc).collect::<Vec<_>>(), [5, 7, 3, 9]);
    }

    #[test]
    fn zscore_and_dbsf_match_a_hand_computation() {
        // lexical [4, 2, 1, 0]: mean 1.75, sd sqrt(2.1875) = 1.47902;
        // neural [.1, .5, .9, .7]: mean .55, sd sqrt(.0875) = .29580.
        let (ls, ns) = (2.1875f32.sqrt(), 0.0875f32.sqrt());
        let z = |l: f32, n: f32| 0.5 * (n - 0.55) / ns + 0.5 * (l - 1.75) / ls;
        let d = |l: f32, n: f32| {
            let m =
                |s: f32, mean: f32, sd: f32| ((s - mean + 3.0 * sd) / (6.0 * sd)).clamp(0.0, 1.0);
            0.5 * m(n, 0.55, ns) + 0.5 * m(l, 1.75, ls)
        };
        for (fusion, f) in [
            (
                Fusion::Zscore { alpha: 0.5 },
                &z as &dyn Fn(f32, f32) -> f32,
            ),
            (Fusion::Dbsf { alpha: 0.5 }, &d),
        ] {
            let hits = fuse(&fixed(), fusion, 4);
            let mut expected: Vec<(u32, f32)> = fixed()
                .iter()
                .map(|c| (c.doc, f(c.lexical, c.neural)))
                .collect();
            expected.sort_by(|a, b| by_score_then_doc((a.1, a.0), (b.1, b.0)));
            for (hit, (doc, score)) in hits.iter().zip(&expected) {
                assert_eq!(hit.doc, *doc, "{fusion:?}");
                assert!(
                    (hit.score - score).abs() < 1e-6,
                    "{fusion:?} {hit:?} {score}"
                );
            }
        }
    }

    #[test]
    fn adaptive_weighs_the_side_whose_best_stands_out() {
        // Neural: one clear answer (doc 2); lexical: three near-equal.
        let sure_neural = vec![
            c(1, 3.0, 0.1),
            c(2, 2.9, 0.9),
            c(3, 3.1, 0.1),
            c(4, 0.0, 0.1),
        ];
        assert_eq!(fuse(&sure_neural, Fusion::Adaptive, 1)[0].doc, 2);
        // Lexical: one clear answer (doc 4); neural: spread evenly.
        let sure_lexical = vec![
            c(1, 0.1, 0.4),
            c(2, 0.1, 0.5),
            c(3, 0.1, 0.6),
            c(4, 9.0, 0.3),
        ];
        assert_eq!(fuse(&sure_lexical, Fusion::Adaptive, 1)[0].doc, 4);
    }

    #[test]
    fn score_normalising_fusions_ignore_a_sides_scale_and_offset() {
        let scaled: Vec<Candidate> = fixed()
            .iter()
            .map(|x| c(x.doc, 10.0 * x.lexical + 5.0, 0.5 * x.neural - 2.0))
            .collect();
        for fusion in [
            Fusion::Linear { alpha: 0.6 },
            Fusion::Zscore { alpha: 0.6 },
            Fusion::Dbsf { alpha: 0.6 },
            Fusion::Adaptive,
        ] {
            let order = |cs: &[Candidate]| {
                fuse(cs, fusion, 4)
                    .iter()
                    .map(|h| h.doc)
                    .collect::<Vec<_>>()
            };
            assert_eq!(order(&fixed()), order(&scaled), "{fusion:?}");
        }
    }

    #[test]
    fn linear_matches_a_hand_computation() {
        let hits = fuse(&fixed(), Fusion::Linear { alpha: 0.25 }, 3);
        // lexical min-max over [4, 2, 1, 0]: 1, .5, .25, 0;
        // neural over [.1, .5, .9, .7]: 0, .5, 1, .75.
        // 0.25 * neural + 0.75 * lexical: 7 .75, 3 .5, 5 .4375, 9 .1875.
        let got: Vec<(u32, f32)> = hits.iter().map(|h| (h.doc, h.score)).collect();
        let expected = [(7, 0.75), (3, 0.5), (5, 0.4375)];
        for ((doc, score), (edoc, escore)) in got.iter().zip(expected) {
            assert_eq!(*doc, edoc);
            assert!((score - escore).abs() < 1e-6, "{doc}: {score} vs {escore}");
        }
        assert_eq!(got.len(), 3, "top k only");
    }

    #[test]
    fn ties_go_to_the_lower_row_and_equal_sides_normalise_to_zero() {
        let same = vec![c(8, 1.0, 2.0), c(2, 1.0, 2.0), c(5, 1.0, 2.0)];
        for fusion in [Fusion::Rrf { k: 60.0 }, Fusion::Linear { alpha: 0.5 }] {
            let hits = fuse(&same, fusion, 3);
            assert_eq!(
                hits.iter().map(|h| h.doc).collect::<Vec<_>>(),
                [2, 5, 8],
                "{fusion:?}"
            );
        }
        assert!(fuse(&same, Fusion::Linear { alpha: 0.5 }, 3)
            .iter()
            .all(|h| h.score == 0.0));
        assert!(fuse(&[], Fusion::Rrf { k: 60.0 }, 10).is_empty());
    }
}
