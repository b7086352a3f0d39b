//! Top-k collection with deterministic tie-breaking.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A scored document: `doc` is its position in the index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Document number in the index.
    pub doc: u32,
    /// Higher is better.
    pub score: f32,
}

impl Hit {
    /// Total order, best first: higher score, then lower doc. NaN scores
    /// rank below every number.
    pub fn rank_cmp(&self, other: &Hit) -> Ordering {
        let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
        key(other.score)
            .total_cmp(&key(self.score))
            .then(self.doc.cmp(&other.doc))
    }
}

/// Heap entry ordered so the heap's top is the *worst* kept hit.
#[derive(Clone, Copy)]
struct Worst(Hit);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.rank_cmp(&other.0)
    }
}

/// Keeps the `k` best hits seen. O(log k) per insert that enters the top k;
/// O(1) for one that does not.
#[derive(Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    /// Keeps at most `k` hits (none for 0).
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Hits kept so far (at most k).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no hit is kept.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The worst kept hit, once k are kept: a threshold for callers.
    pub fn threshold(&self) -> Option<Hit> {
        (self.heap.len() == self.k)
            .then(|| self.heap.peek().map(|w| w.0))
            .flatten()
    }

    /// Offers a hit; kept if it ranks among the k best so far.
    #[inline]
    pub fn push(&mut self, hit: Hit) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Worst(hit));
        } else if let Some(mut top) = self.heap.peek_mut() {
            if hit.rank_cmp(&top.0) == Ordering::Less {
                *top = Worst(hit);
            }
        }
    }

    /// Offers every hit `other` kept (the union's k best remain).
    pub fn merge(&mut self, other: TopK) {
        for w in other.heap {
            self.push(w.0);
        }
    }

    /// The kept hits, best first.
    pub fn into_sorted(self) -> Vec<Hit> {
        let mut hits: Vec<Hit> = self.heap.into_iter().map(|w| w.0).collect();
        hits.sort_by(Hit::rank_cmp);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny deterministic generator for test data.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn matches_full_sort_with_ties_and_nan() {
        let mut seed = 7;
        for trial in 0..200 {
            let n = (lcg(&mut seed) % 300) as usize;
            let k = (lcg(&mut seed) % 40) as usize;
            // Few distinct values, so ties are common.
            let hits: Vec<Hit> = (0..n)
                .map(|doc| {
                    let r = lcg(&mut seed) % 12;
                    let score = if r == 11 { f32::NAN } else { r as f32 * 0.5 };
                    Hit {
                        doc: doc as u32,
                        score,
                    }
                })
                .collect();
            let mut top = TopK::new(k);
            // Insert in a scrambled order: results must not depend on it.
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                order.swap(i, (lcg(&mut seed) % (i as u64 + 1)) as usize);
            }
            for &i in &order {
                top.push(hits[i]);
            }
            let mut want = hits.clone();
            want.sort_by(Hit::rank_cmp);
            want.truncate(k);
            let got = top.into_sorted();
            assert_eq!(got.len(), want.len(), "trial {trial}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.doc, w.doc, "trial {trial}");
            }
        }
    }
}
