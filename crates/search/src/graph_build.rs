//! Building the neighbour graph, in three pieces that compose:
//!
//! - [`exact_knn`]: exact k-nearest neighbours by blocked GEMM. Every
//!   document is compared with every other: a block of rows against a block
//!   of columns is one matrix multiply, row blocks run in parallel, and each
//!   row keeps its `degree` best in a [`TopK`]. O(n^2 d) work: about 15 s
//!   for 60k 384-d vectors on two cores, minutes for a million.
//! - [`nn_descent`]: approximate k-nearest neighbours, O(n k^2 d) per round,
//!   for corpora where the exact graph costs too much.
//! - [`diversify`]: prunes either's candidate lists into a navigable graph
//!   (HNSW/NSG neighbour selection plus reverse edges).
//!
//! [`knn_recall`] measures an approximate graph against the exact one.

use std::borrow::Cow;
use std::sync::Mutex;

use hypencoder_index::{Segment, Vectors, NO_NEIGHBOUR};
use rayon::prelude::*;

use crate::kernel::sgemm;
use crate::topk::{Hit, TopK};

/// What "near" means for the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphMetric {
    /// Larger dot product is nearer (cosine for normalised vectors).
    InnerProduct,
    /// Smaller Euclidean distance is nearer.
    L2,
    /// Larger cosine is nearer: for unnormalised vectors scored by
    /// similarity rather than dot product (mean-pooled states under a q-net).
    Cosine,
}

impl GraphMetric {
    /// The metric that suits how `index`'s documents are scored: a
    /// Hypencoder's q-nets over unnormalised vectors score by direction
    /// more than length, so cosine (on debian-pkg with the default model an
    /// ip graph agreed with exhaustive search on ~86% of the top 10, a cos
    /// graph on 99.9%); a bi-encoder scores by inner product, and on unit
    /// vectors ip and cos agree, so ip.
    pub fn suited_to(index: &Segment) -> Self {
        if index.manifest().model.kind == "hypencoder" && !unit_vectors(index) {
            GraphMetric::Cosine
        } else {
            GraphMetric::InnerProduct
        }
    }

    /// The name recorded in the manifest and accepted by [`Self::parse`].
    pub fn name(self) -> &'static str {
        match self {
            GraphMetric::InnerProduct => "ip",
            GraphMetric::L2 => "l2",
            GraphMetric::Cosine => "cos",
        }
    }

    /// Parses "ip", "l2" or "cos".
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ip" => Some(GraphMetric::InnerProduct),
            "l2" => Some(GraphMetric::L2),
            "cos" => Some(GraphMetric::Cosine),
            _ => None,
        }
    }
}

/// The rows a metric compares, and the metric to compare them with: cosine
/// is the inner product of L2-normalised copies.
fn metric_rows(vectors: &Vectors, metric: GraphMetric) -> (Cow<'_, [f32]>, GraphMetric) {
    let all = vectors.rows(0, vectors.count());
    if metric != GraphMetric::Cosine {
        return (all, metric);
    }
    let mut owned = all.into_owned();
    for row in owned.chunks_exact_mut(vectors.dim().max(1)) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    (Cow::Owned(owned), GraphMetric::InnerProduct)
}

/// Documents as a graph compares them: [`Space::near`] is larger for nearer
/// documents under every metric.
pub(crate) struct Space<'a> {
    rows: Rows<'a>,
    dim: usize,
    metric: GraphMetric,
}

/// What a space compares: the rows, or int8 codes of them in their place
/// (a quarter of the bytes per comparison, for builds whose comparisons
/// wait on memory), each code row with its scale and, for L2, its squared
/// norm.
enum Rows<'a> {
    Floats(Cow<'a, [f32]>),
    Codes {
        codes: Vec<i8>,
        scales: Vec<f32>,
        norms: Vec<f32>,
    },
}

impl<'a> Space<'a> {
    /// `vectors` under `metric` (cosine as inner products of unit copies).
    pub(crate) fn new(vectors: &'a Vectors, metric: GraphMetric) -> Self {
        let (rows, metric) = metric_rows(vectors, metric);
        Space {
            rows: Rows::Floats(rows),
            dim: vectors.dim(),
            metric,
        }
    }

    /// This space comparing int8 codes of its rows, which replace them.
    pub(crate) fn with_codes(self) -> Self {
        let Rows::Floats(rows) = &self.rows else {
            return self;
        };
        let d = self.dim.max(1);
        let l2 = self.metric == GraphMetric::L2;
        let mut codes = vec![0i8; rows.len()];
        let (scales, norms): (Vec<f32>, Vec<f32>) = codes
            .par_chunks_mut(d)
            .zip(rows.par_chunks(d))
            .map(|(c, row)| {
                let scale = crate::kernel::quantize_codes(row, c);
                (
                    scale,
                    if l2 {
                        row.iter().map(|v| v * v).sum()
                    } else {
                        0.0
                    },
                )
            })
            .unzip();
        Space {
            rows: Rows::Codes {
                codes,
                scales,
                norms,
            },
            ..self
        }
    }

    /// How near documents `a` and `b` are: larger is nearer (from the
    /// codes, if [`Space::with_codes`] made them: the same order up to
    /// their rounding).
    #[inline]
    pub(crate) fn near(&self, a: u32, b: u32) -> f32 {
        let (a, b, d) = (a as usize, b as usize, self.dim);
        match &self.rows {
            Rows::Floats(rows) => {
                let (x, y) = (&rows[a * d..][..d], &rows[b * d..][..d]);
                match self.metric {
                    GraphMetric::InnerProduct | GraphMetric::Cosine => {
                        crate::kernel::dot_wide(x, y)
                    }
                    GraphMetric::L2 => {
                        -x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum::<f32>()
                    }
                }
            }
            Rows::Codes {
                codes,
                scales,
                norms,
            } => {
                let dot = crate::kernel::dot_codes(&codes[a * d..][..d], &codes[b * d..][..d])
                    as f32
                    * scales[a]
                    * scales[b];
                match self.metric {
                    GraphMetric::InnerProduct | GraphMetric::Cosine => dot,
                    GraphMetric::L2 => 2.0 * dot - norms[a] - norms[b],
                }
            }
        }
    }

    /// Starts loading what [`Space::near`] reads of document `a`, to be
    /// compared soon.
    #[inline]
    pub(crate) fn prefetch(&self, a: u32) {
        let at = a as usize * self.dim..(a as usize + 1) * self.dim;
        match &self.rows {
            Rows::Floats(rows) => crate::kernel::prefetch(&rows[at]),
            Rows::Codes { codes, .. } => crate::kernel::prefetch(&codes[at]),
        }
    }

    /// Neighbour selection (HNSW's heuristic, NSG's rule): from
    /// `candidates`, nearest to `u` first, keep each one nearer to `u` than
    /// to every one kept before it, up to `degree`, so near-duplicates do
    /// not crowd out links to other regions.
    pub(crate) fn select(&self, u: u32, candidates: &[u32], degree: usize) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(degree);
        for &v in candidates.iter().take_while(|&&v| v != NO_NEIGHBOUR) {
            if kept.len() == degree {
                break;
            }
            let to_u = self.near(u, v);
            if kept.iter().all(|&w| self.near(v, w) <= to_u) {
                kept.push(v);
            }
        }
        kept
    }
}

const ROWS: usize = 128;
const COLS: usize = 2048;

/// For each document, its `degree` nearest other documents, nearest first,
/// as a flat `count x degree` array (`NO_NEIGHBOUR` pads short rows). Ties
/// go to the lower document number. `progress` is called with rows done.
pub fn exact_knn(
    vectors: &Vectors,
    degree: usize,
    metric: GraphMetric,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<u32> {
    let (n, d) = (vectors.count(), vectors.dim());
    let (all, metric) = metric_rows(vectors, metric);
    // For L2, ranking by 2 x.y - |y|^2 equals ranking by -|x - y|^2 per row.
    let col_bias: Vec<f32> = match metric {
        GraphMetric::InnerProduct | GraphMetric::Cosine => vec![0.0; n],
        GraphMetric::L2 => all
            .chunks_exact(d)
            .map(|y| -y.iter().map(|v| v * v).sum::<f32>())
            .collect(),
    };
    let scale = if metric == GraphMetric::L2 { 2.0 } else { 1.0 };
    let mut out = vec![NO_NEIGHBOUR; n * degree];
    out.par_chunks_mut(ROWS * degree)
        .enumerate()
        .for_each(|(block, out_rows)| {
            let start = block * ROWS;
            let rows = ROWS.min(n - start);
            let x = &all[start * d..(start + rows) * d];
            let mut tops = vec![TopK::new(degree); rows];
            let mut sims = vec![0f32; rows * COLS];
            for cstart in (0..n).step_by(COLS) {
                let cols = COLS.min(n - cstart);
                let y = &all[cstart * d..(cstart + cols) * d];
                // sims (rows x cols) = x . y^T
                sgemm(rows, cols, d, x, y, 1, d, &mut sims[..rows * cols], false);
                for (r, top) in tops.iter_mut().enumerate() {
                    let row = &sims[r * cols..(r + 1) * cols];
                    for (c, &s) in row.iter().enumerate() {
                        let doc = cstart + c;
                        if doc != start + r {
                            top.push(Hit {
                                doc: doc as u32,
                                score: scale * s + col_bias[doc],
                            });
                        }
                    }
                }
            }
            for (r, top) in tops.into_iter().enumerate() {
                for (slot, hit) in out_rows[r * degree..(r + 1) * degree]
                    .iter_mut()
                    .zip(top.into_sorted())
                {
                    *slot = hit.doc;
                }
            }
            progress(rows);
        });
    out
}

/// Prunes candidate lists into a navigable graph (the neighbour selection of
/// HNSW and NSG): a candidate is kept only if it is nearer to the document
/// than to every neighbour kept before it, so near-duplicates do not crowd
/// out links to other regions; then every kept edge is also added in
/// reverse, and free slots are filled from the remaining candidates.
///
/// `candidates`: `count x pool` ids nearest first (from [`exact_knn`] or
/// [`nn_descent`]);
/// returns `count x degree`.
pub fn diversify(
    vectors: &Vectors,
    candidates: &[u32],
    pool: usize,
    degree: usize,
    metric: GraphMetric,
) -> Vec<u32> {
    diversify_in(&Space::new(vectors, metric), candidates, pool, degree)
}

/// [`diversify`] in a [`Space`] already made.
pub(crate) fn diversify_in(
    space: &Space,
    candidates: &[u32],
    pool: usize,
    degree: usize,
) -> Vec<u32> {
    let n = candidates.len() / pool.max(1);
    let near = |a: u32, b: u32| space.near(a, b);
    let kept: Vec<Vec<u32>> = (0..n)
        .into_par_iter()
        .map(|u| space.select(u as u32, &candidates[u * pool..(u + 1) * pool], degree))
        .collect();
    let mut reverse: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (u, list) in kept.iter().enumerate() {
        for &v in list {
            reverse[v as usize].push(u as u32);
        }
    }
    let mut out = vec![NO_NEIGHBOUR; n * degree];
    out.par_chunks_mut(degree)
        .enumerate()
        .for_each(|(u, slots)| {
            let mut list: Vec<u32> = kept[u].clone();
            let add = |v: u32, list: &mut Vec<u32>| {
                if list.len() < degree && v as usize != u && !list.contains(&v) {
                    list.push(v);
                }
            };
            // Reverse edges nearest first, then the rest of the candidates.
            let mut rev = reverse[u].clone();
            rev.sort_by(|&a, &b| {
                near(u as u32, b)
                    .total_cmp(&near(u as u32, a))
                    .then(a.cmp(&b))
            });
            for v in rev {
                add(v, &mut list);
            }
            for &v in candidates[u * pool..(u + 1) * pool]
                .iter()
                .take_while(|&&v| v != NO_NEIGHBOUR)
            {
                add(v, &mut list);
            }
            slots[..list.len()].copy_from_slice(&list);
        });
    out
}

/// One document's neighbour list during NN-descent: nearest first.
struct Candidates {
    ids: Vec<u32>,
    near: Vec<f32>,
    /// Whether each entry arrived since the last round (only new pairs are
    /// compared again).
    fresh: Vec<bool>,
}

impl Candidates {
    /// Offers `id` at nearness `s`; true if the list changed.
    fn offer(&mut self, id: u32, s: f32, cap: usize) -> bool {
        if cap == 0
            || self.ids.contains(&id)
            || (self.ids.len() == cap && s <= *self.near.last().unwrap())
        {
            return false;
        }
        let at = self.near.partition_point(|&x| x >= s);
        self.ids.insert(at, id);
        self.near.insert(at, s);
        self.fresh.insert(at, true);
        if self.ids.len() > cap {
            self.ids.pop();
            self.near.pop();
            self.fresh.pop();
        }
        true
    }
}

/// Approximate k-nearest neighbours by NN-descent (Dong, Charikar, Li 2011):
/// start from random lists, then repeatedly compare each document's
/// neighbours with each other ("a neighbour of a neighbour is likely a
/// neighbour"), until a round changes fewer than 0.1% of the entries or
/// `max_rounds` pass. O(n k^2 d) per round instead of exact search's
/// O(n^2 d). Output as [`exact_knn`]'s. The random start follows `seed`;
/// rounds run in parallel, so runs may differ in which of two near-equal
/// candidates a list keeps.
pub fn nn_descent(
    vectors: &Vectors,
    degree: usize,
    metric: GraphMetric,
    max_rounds: usize,
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<u32> {
    let n = vectors.count();
    let space = Space::new(vectors, metric);
    let near = |a: u32, b: u32| space.near(a, b);
    let k = degree.min(n.saturating_sub(1));
    let lists = random_lists(n, k, seed, &near);
    for _ in 0..max_rounds {
        let (fresh, old) = split_fresh_old(&lists);
        let updates = local_join(&lists, &fresh, &old, k, &near);
        progress(n);
        if (updates as f64) < 0.001 * (n * k) as f64 {
            break;
        }
    }
    let mut out = vec![NO_NEIGHBOUR; n * degree];
    for (u, list) in lists.into_iter().enumerate() {
        let l = list.into_inner().unwrap();
        // Ties by lower id, as exact_knn.
        let mut pairs: Vec<(u32, f32)> = l.ids.into_iter().zip(l.near).collect();
        pairs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (slot, (id, _)) in out[u * degree..].iter_mut().zip(pairs) {
            *slot = id;
        }
    }
    out
}

/// NN-descent's start: for each of `n` documents, up to `k` others drawn by
/// a per-document LCG seeded from `seed` (bounded tries, so tiny corpora
/// terminate).
fn random_lists(
    n: usize,
    k: usize,
    seed: u64,
    near: &(impl Fn(u32, u32) -> f32 + Sync),
) -> Vec<Mutex<Candidates>> {
    (0..n)
        .into_par_iter()
        .map(|u| {
            let mut c = Candidates {
                ids: Vec::new(),
                near: Vec::new(),
                fresh: Vec::new(),
            };
            let mut state = seed ^ (u as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let mut tries = 0;
            while c.ids.len() < k && tries < 4 * k + 16 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let v = ((state >> 33) % n as u64) as u32;
                if v as usize != u {
                    c.offer(v, near(u as u32, v), k);
                }
                tries += 1;
            }
            Mutex::new(c)
        })
        .collect()
}

/// Splits each list into new and old entries (marking the new ones old) and
/// adds reverse edges: per document, the `(fresh, old)` ids to join.
fn split_fresh_old(lists: &[Mutex<Candidates>]) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let n = lists.len();
    let mut fresh: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut old: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (u, list) in lists.iter().enumerate() {
        let mut l = list.lock().unwrap();
        for i in 0..l.ids.len() {
            let v = l.ids[i];
            if l.fresh[i] {
                fresh[u].push(v);
                fresh[v as usize].push(u as u32);
                l.fresh[i] = false;
            } else {
                old[u].push(v);
                old[v as usize].push(u as u32);
            }
        }
    }
    (fresh, old)
}

/// One NN-descent round: around each document, compares every new
/// neighbour with every other new and old one (at most `2k` of each) and
/// offers each pair to both lists. Returns how many offers changed a list.
fn local_join(
    lists: &[Mutex<Candidates>],
    fresh: &[Vec<u32>],
    old: &[Vec<u32>],
    k: usize,
    near: &(impl Fn(u32, u32) -> f32 + Sync),
) -> usize {
    (0..lists.len())
        .into_par_iter()
        .map(|u| {
            let mut new_u = fresh[u].clone();
            new_u.sort_unstable();
            new_u.dedup();
            new_u.truncate(2 * k);
            let mut old_u = old[u].clone();
            old_u.sort_unstable();
            old_u.dedup();
            old_u.truncate(2 * k);
            let mut changed = 0;
            for (i, &a) in new_u.iter().enumerate() {
                for &b in new_u[i + 1..].iter().chain(old_u.iter()) {
                    if a == b {
                        continue;
                    }
                    let s = near(a, b);
                    changed += usize::from(lists[a as usize].lock().unwrap().offer(b, s, k));
                    changed += usize::from(lists[b as usize].lock().unwrap().offer(a, s, k));
                }
            }
            changed
        })
        .sum()
}

/// Mean fraction of each document's exact neighbours that `approx` lists too.
pub fn knn_recall(approx: &[u32], exact: &[u32], degree: usize) -> f64 {
    let rows = exact.len() / degree.max(1);
    let mut total = 0.0;
    for r in 0..rows {
        let e: Vec<u32> = exact[r * degree..(r + 1) * degree]
            .iter()
            .copied()
            .filter(|&x| x != NO_NEIGHBOUR)
            .collect();
        let a = &approx[r * degree..(r + 1) * degree];
        total += e.iter().filter(|x| a.contains(x)).count() as f64 / e.len().max(1) as f64;
    }
    total / rows.max(1) as f64
}

/// Whether the index's vectors have unit length (checked on up to 1000
/// rows spread over the index).
pub fn unit_vectors(index: &Segment) -> bool {
    let n = index.len();
    let step = n.div_ceil(1000).max(1);
    (0..n).step_by(step).all(|row| {
        let v = index.vectors().rows(row, 1);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        (norm - 1.0).abs() < 1e-3
    })
}
