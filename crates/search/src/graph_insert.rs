//! Growing a neighbour graph by insertion (HNSW's construction, one layer):
//! each new document searches the graph as it stands for its nearest,
//! keeps a diverse few with the build's own rule ([`Space::select`]) and
//! fills its free slots with the next nearest, then offers itself to the
//! ones it kept, each of which re-selects its list with the same rule.
//!
//! Merges use it to carry the largest segment's graph over (repairing the
//! links of deleted documents) and insert only the other segments'
//! documents: O(new) searches instead of rebuilding O(n^2).
//!
//! Documents are inserted in chunks: a chunk searches the graph as it
//! stood before it (in parallel), compares its members with each other
//! exactly, then links them. Every step is a function of the graph before
//! the chunk, so the result does not depend on the thread count.
//!
//! Rows are compared through int8 codes ([`Space::with_codes`]): an
//! insertion's search compares ~2,000 rows scattered over the corpus and
//! waits on memory, and codes are a quarter of the bytes. Measured on 50k
//! sampled 384-d vectors, the search phase took 0.44x the time with
//! recall@10 of the finished graph unchanged (bench/scale/README.md).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use hypencoder_index::{Graph, Vectors, NO_NEIGHBOUR};
use rayon::prelude::*;

use crate::graph_build::{diversify_in, GraphMetric, Space};
use crate::graph_search::{random_entry_points, Visited};

/// Documents inserted per chunk.
const CHUNK: usize = 128;
/// Room in each list while growing, over the degree: a full list takes
/// newcomers until it overflows this, then re-selects back down to the
/// degree (DiskANN's slack). Re-selecting on every offer, as a list kept
/// at the degree must, was most of the build's distance computations.
const SLACK_NUM: usize = 3;
const SLACK_DEN: usize = 2;
/// Entry points of each insertion's search.
const ENTRY: usize = 16;

/// A neighbour graph being grown over the rows of one set of vectors, some
/// of them in it ("present"), the rest still to insert.
pub struct GrowingGraph<'a> {
    space: Space<'a>,
    degree: usize,
    /// Slots per list while growing (the degree and its slack).
    slots: usize,
    /// Pool of each insertion's search (HNSW's `ef_construction`).
    ef: usize,
    /// The lists walked while inserting.
    lists: Vec<u32>,
    /// Each row's candidate neighbours for the final selection: its own
    /// search's nearest and the rows that found it among theirs.
    candidates: Vec<Vec<u32>>,
    present: Vec<bool>,
    entry: Vec<u32>,
}

/// A candidate during an insertion's search; orders nearest first, ties to
/// the lower row.
#[derive(Clone, Copy, PartialEq)]
struct Near(f32, u32);

impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Near {
    /// Greater is nearer.
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

impl<'a> GrowingGraph<'a> {
    /// An empty graph of `degree` over `vectors` compared by `metric`; each
    /// insertion searches with a pool of `ef` (at least `2 x degree`).
    pub fn new(vectors: &'a Vectors, degree: usize, metric: GraphMetric, ef: usize) -> Self {
        let n = vectors.count();
        let slots = degree * SLACK_NUM / SLACK_DEN;
        GrowingGraph {
            space: Space::new(vectors, metric).with_codes(),
            degree,
            slots,
            ef: ef.max(2 * degree),
            lists: vec![NO_NEIGHBOUR; n * slots],
            candidates: vec![Vec::new(); n],
            present: vec![false; n],
            entry: Vec::new(),
        }
    }

    /// Takes in `old`, a graph over other rows: old row `r` becomes row
    /// `map[r]` (`None`: deleted, dropped). A document that loses
    /// neighbours re-selects from the rest and their neighbours, so the
    /// graph stays connected around the hole.
    pub fn carry(&mut self, old: &Graph, map: &[Option<u32>]) {
        assert_eq!(old.len(), map.len(), "one new row (or none) per old row");
        let degree = self.degree;
        let moved: Vec<(u32, Vec<u32>)> = (0..old.len())
            .into_par_iter()
            .filter_map(|r| map[r].map(|u| (r, u)))
            .map(|(r, u)| {
                let mut list = Vec::with_capacity(degree);
                let mut lost = false;
                for nb in old.neighbours(r) {
                    match map[nb as usize] {
                        Some(v) => list.push(v),
                        None => {
                            lost = true;
                            // Two hops through the deleted neighbour.
                            let around = old.neighbours(nb as usize);
                            list.extend(around.filter_map(|w| map[w as usize]));
                        }
                    }
                }
                if lost || list.len() > degree {
                    list = self.reselect(u, list);
                }
                (u, list)
            })
            .collect();
        for (u, list) in moved {
            self.set(u, &list);
            self.candidates[u as usize] = list;
            self.present[u as usize] = true;
        }
        self.top_up_entry();
    }

    /// Inserts `rows` (not yet present) in order; `progress` is told how
    /// many are in so far.
    pub fn insert(&mut self, rows: &[u32], progress: &dyn Fn(usize)) {
        for (i, chunk) in rows.chunks(CHUNK).enumerate() {
            debug_assert!(chunk.iter().all(|&u| !self.present[u as usize]));
            let pools: Vec<Vec<u32>> = chunk
                .par_iter()
                .map_init(Visited::default, |visited, &u| self.pool(u, chunk, visited))
                .collect();
            let linked: Vec<(Vec<u32>, Vec<u32>)> = chunk
                .par_iter()
                .zip(&pools)
                .map(|(&u, pool)| {
                    let kept = self.space.select(u, pool, self.degree);
                    let list = fill(kept.clone(), pool, self.degree);
                    (kept, list)
                })
                .collect();
            let mut offers: Vec<(u32, u32)> = Vec::new();
            for ((&u, (kept, list)), pool) in chunk.iter().zip(&linked).zip(pools) {
                self.set(u, list);
                for &v in &pool {
                    self.candidates[v as usize].push(u);
                }
                self.candidates[u as usize].extend(pool);
                self.present[u as usize] = true;
                offers.extend(kept.iter().map(|&v| (v, u)));
            }
            self.link_back(offers);
            self.top_up_entry();
            progress((i * CHUNK + chunk.len()).min(rows.len()));
        }
    }

    /// The finished graph, `count x degree` (`NO_NEIGHBOUR` in free slots):
    /// every row's nearest `2 x degree` candidates pruned by the build's
    /// own [`diversify`](crate::diversify), reverse edges and all, so a
    /// grown graph is shaped as a built one.
    pub fn finish(self) -> Vec<u32> {
        let pool = 2 * self.degree;
        let mut flat = vec![NO_NEIGHBOUR; self.candidates.len() * pool];
        flat.par_chunks_mut(pool)
            .zip(&self.candidates)
            .enumerate()
            .for_each(|(u, (slots, candidates))| {
                let sorted = self.nearest_first(u as u32, candidates.clone());
                let take = sorted.len().min(pool);
                slots[..take].copy_from_slice(&sorted[..take]);
            });
        diversify_in(&self.space, &flat, pool, self.degree)
    }

    /// `u`'s candidates, nearest first: a best-first search of the graph as
    /// it stands (pool `ef`), with its own chunk's members beside them.
    fn pool(&self, u: u32, chunk: &[u32], visited: &mut Visited) -> Vec<u32> {
        let mut found = self.search(u, visited);
        found.extend(
            chunk
                .iter()
                .filter(|&&v| v != u)
                .map(|&v| Near(self.space.near(u, v), v)),
        );
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.truncate(self.ef);
        found.into_iter().map(|Near(_, v)| v).collect()
    }

    /// Best-first search for `u`'s nearest present rows, HNSW's search
    /// layer: stops when the nearest unexpanded candidate is farther than
    /// every row in the pool.
    fn search(&self, u: u32, visited: &mut Visited) -> Vec<Near> {
        visited.begin(self.present.len());
        let mut pool: BinaryHeap<std::cmp::Reverse<Near>> = BinaryHeap::new();
        let mut frontier: BinaryHeap<Near> = BinaryHeap::new();
        let offer = |v: u32, pool: &mut BinaryHeap<_>, frontier: &mut BinaryHeap<_>| {
            let c = Near(self.space.near(u, v), v);
            let worst = pool.peek().map(|std::cmp::Reverse(w)| *w);
            if pool.len() < self.ef || worst.is_some_and(|w| c > w) {
                pool.push(std::cmp::Reverse(c));
                frontier.push(c);
                if pool.len() > self.ef {
                    pool.pop();
                }
            }
        };
        for &e in &self.entry {
            if visited.visit(e) {
                offer(e, &mut pool, &mut frontier);
            }
        }
        let mut fresh = Vec::with_capacity(self.slots);
        while let Some(c) = frontier.pop() {
            if pool.len() == self.ef && pool.peek().is_some_and(|w| c < w.0) {
                break;
            }
            // Every unvisited neighbour's vector is requested before the
            // first is compared: the comparisons wait on memory, not on
            // arithmetic, once the vectors outgrow the cache.
            fresh.clear();
            for &nb in self.row(c.1) {
                if nb == NO_NEIGHBOUR {
                    break;
                }
                if visited.visit(nb) {
                    self.space.prefetch(nb);
                    fresh.push(nb);
                }
            }
            for &nb in &fresh {
                offer(nb, &mut pool, &mut frontier);
            }
        }
        pool.into_iter().map(|std::cmp::Reverse(c)| c).collect()
    }

    /// Offers each `(v, u)`: `u` asks to join `v`'s list. A list with room
    /// (its slack included) takes it; a full one re-selects among its own
    /// and the newcomers, down to the degree.
    /// Lists change in parallel, one task per `v`.
    fn link_back(&mut self, mut offers: Vec<(u32, u32)>) {
        offers.sort_unstable();
        offers.dedup();
        let groups: Vec<&[(u32, u32)]> = offers.chunk_by(|a, b| a.0 == b.0).collect();
        let updated: Vec<(u32, Vec<u32>)> = groups
            .par_iter()
            .map(|group| {
                let v = group[0].0;
                let mut list: Vec<u32> = self
                    .row(v)
                    .iter()
                    .copied()
                    .take_while(|&w| w != NO_NEIGHBOUR)
                    .collect();
                for &(_, u) in *group {
                    if !list.contains(&u) {
                        list.push(u);
                    }
                }
                if list.len() > self.slots {
                    list = self.reselect(v, list);
                }
                (v, list)
            })
            .collect();
        for (v, list) in updated {
            self.set(v, &list);
        }
    }

    /// `u`'s list chosen afresh from `candidates`: sorted nearest first,
    /// selected by the build's rule, free slots filled with the nearest left.
    fn reselect(&self, u: u32, candidates: Vec<u32>) -> Vec<u32> {
        let sorted = self.nearest_first(u, candidates);
        let kept = self.space.select(u, &sorted, self.degree);
        fill(kept, &sorted, self.degree)
    }

    /// `candidates` without repeats or `u`, nearest to `u` first (ties to
    /// the lower row).
    fn nearest_first(&self, u: u32, mut candidates: Vec<u32>) -> Vec<u32> {
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&v| v != u);
        candidates.iter().for_each(|&v| self.space.prefetch(v));
        let mut near: Vec<Near> = candidates
            .iter()
            .map(|&v| Near(self.space.near(u, v), v))
            .collect();
        near.sort_unstable_by(|a, b| b.cmp(a));
        near.into_iter().map(|Near(_, v)| v).collect()
    }

    fn row(&self, u: u32) -> &[u32] {
        &self.lists[u as usize * self.slots..][..self.slots]
    }

    fn set(&mut self, u: u32, list: &[u32]) {
        let slots = &mut self.lists[u as usize * self.slots..][..self.slots];
        slots.fill(NO_NEIGHBOUR);
        slots[..list.len()].copy_from_slice(list);
    }

    /// Draws [`ENTRY`] entry points from the present rows while there are
    /// fewer (a graph grown from nothing gets them after its first chunk).
    fn top_up_entry(&mut self) {
        if self.entry.len() >= ENTRY {
            return;
        }
        let present: Vec<u32> = (0..self.present.len() as u32)
            .filter(|&u| self.present[u as usize])
            .collect();
        self.entry = random_entry_points(ENTRY, present.len(), 17)
            .into_iter()
            .map(|i| present[i as usize])
            .collect();
    }
}

/// `kept`, then the rest of `sorted` in order, up to `degree` without
/// repeats.
fn fill(mut kept: Vec<u32>, sorted: &[u32], degree: usize) -> Vec<u32> {
    for &v in sorted {
        if kept.len() == degree {
            break;
        }
        if !kept.contains(&v) {
            kept.push(v);
        }
    }
    kept
}
