//! Graph search: walking the neighbour graph (built by `graph_build`),
//! scoring a small part of the corpus. Two walks, chosen by
//! [`GraphAlgorithm`]:
//!
//! [`graph_search`] is Hypencoder's approximate search (Killingback et al.,
//! 2025, and `approx_retrieve.py` of the official code, whose published
//! version does not run), for one query:
//!
//! 1. Score the entry points (the initial candidates).
//! 2. Take the best `max(ncandidates, k)` candidates just scored; offer each
//!    to the top-k result; add the unvisited neighbours of the best
//!    `ncandidates` to the next round's candidates.
//! 3. Repeat on the new candidates, at most `max_iter` rounds; with
//!    `early_stop`, stop after a round that improved no result.
//!
//! [`beam_search`] is ours: best-first with a bounded pool of `ef` results,
//! as HNSW's search layer, expanding a few candidates per step so each step
//! scores one GEMM-sized block.
//!
//! [`graph_search_many`] runs either for many queries in parallel.
//!
//! Scratch space (visited stamps, buffers) is owned by the caller and reused
//! across queries; no per-query cost grows with the corpus, because
//! visited marks are generation-stamped rather than cleared.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hypencoder_index::{Graph, RowSet, Vectors};

use crate::exhaustive::{exhaustive_rows, BLOCK};
use crate::kernel::prefetch;
use crate::scorer::{Scorer, ScratchSpace};
use crate::topk::{Hit, TopK};

/// The paper's search parameters (its defaults: 10 000 random entry points,
/// 50 candidates expanded per round, 16 rounds, early stop on).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphParams {
    /// Candidates whose neighbours are expanded per round.
    pub ncandidates: usize,
    /// Most rounds.
    pub max_iter: usize,
    /// Stop after a round that improved no result.
    pub early_stop: bool,
}

impl Default for GraphParams {
    fn default() -> Self {
        GraphParams {
            ncandidates: 50,
            max_iter: 16,
            early_stop: true,
        }
    }
}

/// Visited marks for one walk after another: generation-stamped, so
/// starting a walk costs nothing whatever the corpus's size.
#[derive(Default)]
pub(crate) struct Visited {
    marks: Vec<u32>,
    stamp: u32,
}

impl Visited {
    /// Starts a new walk over `count` documents: a fresh generation.
    pub(crate) fn begin(&mut self, count: usize) {
        if self.marks.len() != count {
            self.marks = vec![0; count];
            self.stamp = 0;
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Wrapped after 4 billion walks: clear once.
            self.marks.fill(0);
            self.stamp = 1;
        }
    }

    /// Marks `doc` visited; false if it already was.
    #[inline]
    pub(crate) fn visit(&mut self, doc: u32) -> bool {
        let slot = &mut self.marks[doc as usize];
        if *slot == self.stamp {
            false
        } else {
            *slot = self.stamp;
            true
        }
    }
}

/// Reusable per-thread state for graph search.
#[derive(Default)]
pub struct GraphScratch {
    visited: Visited,
    gathered: Vec<f32>,
    scores: Vec<f32>,
    candidates: Vec<u32>,
    next: Vec<u32>,
    order: Vec<usize>,
    scorer: ScratchSpace,
    beam: BeamHeaps,
}

impl GraphScratch {
    /// Starts a new query: a fresh visited generation.
    fn begin(&mut self, count: usize) {
        self.visited.begin(count);
    }

    /// Makes the unvisited documents of `entry` the first candidates (in
    /// order, duplicates dropped) and marks them visited.
    fn start_from(&mut self, entry: &[u32]) {
        self.candidates.clear();
        for &e in entry {
            if self.visit(e) {
                self.candidates.push(e);
            }
        }
    }

    /// Puts the indices of the best `take` scored candidates in `order`,
    /// best first (all of them if fewer).
    fn rank_round(&mut self, take: usize) {
        let take = take.min(self.candidates.len());
        let GraphScratch {
            order,
            scores,
            candidates,
            ..
        } = self;
        order.clear();
        order.extend(0..candidates.len());
        let rank = |&a: &usize, &b: &usize| {
            Hit {
                doc: candidates[a],
                score: scores[a],
            }
            .rank_cmp(&Hit {
                doc: candidates[b],
                score: scores[b],
            })
        };
        if take < order.len() {
            order.select_nth_unstable_by(take - 1, rank);
            order.truncate(take);
        }
        order.sort_unstable_by(rank);
    }

    /// Marks `doc` visited; false if it already was.
    #[inline]
    fn visit(&mut self, doc: u32) -> bool {
        self.visited.visit(doc)
    }
}

/// What one search cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraphStats {
    /// Documents the scorer evaluated.
    pub scored: usize,
    /// Rounds (paper) or expansion steps (beam) run.
    pub rounds: usize,
    /// A filtered walk gave way ([`Restrict`]): the rows the filter keeps
    /// were scored exhaustively instead.
    pub exact: bool,
}

/// What a filtered walk may return: the walk scores only `rows`
/// (stepping through the others to their neighbours, [`queue_neighbours`];
/// an entry point outside them is scored but never returned). Scoring
/// those rows is its way out: exact, and taken when the walk has scored
/// more documents than that would (which entry points outside the rows
/// can make happen) or has come back with fewer than k hits (its kept rows
/// were out of the graph's reach), as Lucene's filtered search falls back
/// to exact search.
#[derive(Debug, Clone, Copy)]
pub struct Restrict<'r> {
    /// The rows results may come from.
    pub rows: &'r RowSet,
    /// How many they are.
    pub count: usize,
}

/// `count` entry points drawn uniformly without replacement from `n`
/// documents (all of them if `count >= n`), deterministically from `seed`
/// (the paper samples 10 000 with Python's `random`, seed 43).
pub fn random_entry_points(count: usize, n: usize, seed: u64) -> Vec<u32> {
    let n_pick = n.min(count);
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // SplitMix64.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    // Partial Fisher-Yates over a virtual permutation (sparse swaps).
    let mut swapped = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(n_pick);
    for i in 0..n_pick {
        let j = i + (next() % (n - i) as u64) as usize;
        let vj = *swapped.get(&j).unwrap_or(&j);
        let vi = *swapped.get(&i).unwrap_or(&i);
        swapped.insert(j, vi);
        out.push(vj as u32);
    }
    out
}

/// Searches `graph` for the `k` best documents of a one-query `scorer`,
/// starting from `entry`. Results best first, ties to the lower document.
// Each argument is a different thing a walk needs; bundling them would
// only rename them.
#[allow(clippy::too_many_arguments)]
pub fn graph_search(
    vectors: &Vectors,
    graph: &Graph,
    scorer: &dyn Scorer,
    entry: &[u32],
    k: usize,
    params: &GraphParams,
    restrict: Option<Restrict>,
    scratch: &mut GraphScratch,
) -> (Vec<Hit>, GraphStats) {
    assert_eq!(
        scorer.num_queries(),
        1,
        "graph search takes one query at a time"
    );
    let dim = vectors.dim();
    scratch.begin(vectors.count());
    let mut stats = GraphStats::default();
    let mut top = TopK::new(k);
    scratch.start_from(entry);
    let expand = params.ncandidates;
    while stats.rounds < params.max_iter && !scratch.candidates.is_empty() {
        stats.rounds += 1;
        score_candidates(vectors, scorer, dim, scratch);
        stats.scored += scratch.candidates.len();
        if restrict.is_some_and(|r| stats.scored > r.count) {
            stats.exact = true;
            break;
        }
        scratch.rank_round(expand.max(k));
        let rows = restrict.map(|r| r.rows);
        let improved = offer_and_expand(graph, &mut top, expand, rows, scratch);
        std::mem::swap(&mut scratch.candidates, &mut scratch.next);
        if params.early_stop && !improved {
            break;
        }
    }
    (top.into_sorted(), stats)
}

/// One round of the paper's walk after scoring: offers the ranked
/// candidates (`scratch.order`; only those in `rows` when given) to `top`,
/// and queues the unvisited neighbours of the best `expand` in
/// `scratch.next`. True if any candidate entered `top`.
fn offer_and_expand(
    graph: &Graph,
    top: &mut TopK,
    expand: usize,
    rows: Option<&RowSet>,
    scratch: &mut GraphScratch,
) -> bool {
    let mut improved = false;
    scratch.next.clear();
    for (i, &c) in scratch.order.iter().enumerate() {
        let hit = Hit {
            doc: scratch.candidates[c],
            score: scratch.scores[c],
        };
        let enters = rows.is_none_or(|r| r.contains(hit.doc as usize))
            && top
                .threshold()
                .is_none_or(|worst| hit.rank_cmp(&worst).is_lt());
        if enters {
            top.push(hit);
            improved = true;
        }
        if i < expand {
            let GraphScratch { visited, next, .. } = scratch;
            queue_neighbours(graph, hit.doc, rows, visited, next);
        }
    }
    improved
}

/// Queues the unvisited neighbours of `doc` in `out`, marking them
/// visited. Under a filter (`rows`) only kept documents are queued: a
/// neighbour the filter leaves out is stepped through to its own kept
/// neighbours (ACORN-1's two-hop expansion, Patel et al., SIGMOD 2024), so
/// the walk crosses left-out documents without scoring what it cannot
/// return. As in ACORN, the expanded list stops at `degree` kept documents
/// (visited or not), so a step costs about what an unfiltered one does.
#[inline]
fn queue_neighbours(
    graph: &Graph,
    doc: u32,
    rows: Option<&RowSet>,
    visited: &mut Visited,
    out: &mut Vec<u32>,
) {
    let mut visit = |nb: u32| {
        if visited.visit(nb) {
            out.push(nb);
        }
    };
    let Some(rows) = rows else {
        graph.neighbours(doc as usize).for_each(visit);
        return;
    };
    let cap = graph.degree();
    let mut listed = 0;
    for nb in graph.neighbours(doc as usize) {
        if rows.contains(nb as usize) {
            listed += 1;
            visit(nb);
        }
    }
    for nb in graph.neighbours(doc as usize) {
        if listed >= cap {
            return;
        }
        if rows.contains(nb as usize) {
            continue;
        }
        for second in graph.neighbours(nb as usize) {
            if rows.contains(second as usize) {
                listed += 1;
                visit(second);
                if listed >= cap {
                    return;
                }
            }
        }
    }
}

/// Scores `scratch.candidates` into `scratch.scores`: in place where the
/// scorer can (dot products on f32 vectors), else in GEMM-sized blocks of
/// gathered vectors.
fn score_candidates(
    vectors: &Vectors,
    scorer: &dyn Scorer,
    dim: usize,
    scratch: &mut GraphScratch,
) {
    let GraphScratch {
        candidates,
        gathered,
        scores,
        scorer: space,
        ..
    } = scratch;
    scores.resize(candidates.len(), 0.0);
    if let Some(table) = vectors.as_f32() {
        if scorer.score_in_place(table, candidates, scores) {
            return;
        }
    }
    for (chunk, out) in candidates.chunks(BLOCK).zip(scores.chunks_mut(BLOCK)) {
        gathered.clear();
        for &doc in chunk {
            gathered.extend_from_slice(&vectors.rows(doc as usize, 1));
        }
        debug_assert_eq!(gathered.len(), chunk.len() * dim);
        scorer.score_block(gathered, chunk.len(), out, space);
    }
}

/// Which graph walk to run.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphAlgorithm {
    /// The paper's rounds of candidate expansion.
    Paper(GraphParams),
    /// Our best-first search with a bounded frontier.
    Beam(BeamParams),
}

/// Graph search for many one-query scorers, queries in parallel on the
/// rayon pool with one scratch space per worker. Results in input order.
/// With `restrict`, only its rows are returned, and a walk that scores
/// more than they are, or finds fewer than k of them, is replaced by
/// scoring them exhaustively.
pub fn graph_search_many(
    vectors: &Vectors,
    graph: &Graph,
    scorers: &[Box<dyn Scorer>],
    entry: &[u32],
    k: usize,
    algorithm: &GraphAlgorithm,
    restrict: Option<Restrict>,
) -> Vec<(Vec<Hit>, GraphStats)> {
    use rayon::prelude::*;
    let count = restrict.map_or(0, |r| r.count);
    scorers
        .par_iter()
        .map_init(GraphScratch::default, |scratch, scorer| {
            let (hits, mut stats) = match algorithm {
                GraphAlgorithm::Paper(p) => graph_search(
                    vectors,
                    graph,
                    scorer.as_ref(),
                    entry,
                    k,
                    p,
                    restrict,
                    scratch,
                ),
                GraphAlgorithm::Beam(p) => beam_search(
                    vectors,
                    graph,
                    scorer.as_ref(),
                    entry,
                    k,
                    p,
                    restrict,
                    scratch,
                ),
            };
            let short = restrict.is_some() && hits.len() < k.min(count);
            let Some(r) = restrict.filter(|_| stats.exact || short) else {
                return (hits, stats);
            };
            stats.exact = true;
            stats.scored += count;
            let mut exact = exhaustive_rows(vectors, scorer.as_ref(), k, &r.rows.to_rows());
            (exact.remove(0), stats)
        })
        .collect()
}

/// Best-first search parameters (ours): a bounded frontier, as in HNSW's
/// search layer, with several candidates expanded per step so each step
/// scores one GEMM-sized block.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamParams {
    /// Size of the result pool kept while searching (>= k); larger finds
    /// more at more cost.
    pub ef: usize,
    /// Candidates expanded per step; their unvisited neighbours are scored
    /// together.
    pub expand: usize,
}

impl Default for BeamParams {
    fn default() -> Self {
        BeamParams { ef: 128, expand: 4 }
    }
}

/// A scored document as the beam keeps it: ordered so greater is better
/// (higher score, then lower doc: [`Hit::rank_cmp`]'s order), with NaN
/// already mapped to minus infinity so each comparison is two integer-like
/// compares. The walk compares on every offer and every pop, so this is
/// cheaper than `rank_cmp`'s own NaN handling per comparison. (So a NaN
/// score, which only a broken model gives, comes out as minus infinity.)
#[derive(Clone, Copy, PartialEq)]
struct Ranked(f32, u32);

impl Ranked {
    fn new(doc: u32, score: f32) -> Self {
        Ranked(
            if score.is_nan() {
                f32::NEG_INFINITY
            } else {
                score
            },
            doc,
        )
    }
}

impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

/// The beam's heaps, kept in the scratch space so a query allocates
/// nothing: the pool of the best `ef` (its top is the worst kept) and the
/// frontier of candidates to expand (its top is the best).
#[derive(Default)]
struct BeamHeaps {
    pool: BinaryHeap<Reverse<Ranked>>,
    frontier: BinaryHeap<Ranked>,
}

impl BeamHeaps {
    /// Keeps `c` if it ranks among the best `ef` so far, and then queues it
    /// for expansion; true if it was kept.
    #[inline]
    fn offer(&mut self, c: Ranked, ef: usize) -> bool {
        if self.pool.len() < ef {
            self.pool.push(Reverse(c));
        } else {
            match self.pool.peek_mut() {
                Some(mut worst) if c > worst.0 => *worst = Reverse(c),
                _ => return false,
            }
        }
        self.frontier.push(c);
        true
    }

    /// Queues `c` (a document a filter leaves out of the results) for
    /// expansion if it ranks above the pool's worst; true if queued.
    #[inline]
    fn pass(&mut self, c: Ranked, ef: usize) -> bool {
        let full = self.pool.len() >= ef;
        if full && self.pool.peek().is_some_and(|worst| c < worst.0) {
            return false;
        }
        self.frontier.push(c);
        true
    }

    /// The best queued candidate that can still improve the pool.
    #[inline]
    fn next(&mut self, ef: usize) -> Option<Ranked> {
        let c = self.frontier.pop()?;
        let full = self.pool.len() >= ef;
        if full && self.pool.peek().is_some_and(|worst| c < worst.0) {
            self.frontier.clear();
            return None;
        }
        Some(c)
    }
}

/// Best-first graph search: keep the `ef` best documents seen; repeatedly
/// expand the best unexpanded candidates; stop when the best remaining
/// candidate is worse than every kept document. Returns the `k` best.
// Each argument is a different thing a walk needs; bundling them would
// only rename them.
#[allow(clippy::too_many_arguments)]
pub fn beam_search(
    vectors: &Vectors,
    graph: &Graph,
    scorer: &dyn Scorer,
    entry: &[u32],
    k: usize,
    params: &BeamParams,
    restrict: Option<Restrict>,
    scratch: &mut GraphScratch,
) -> (Vec<Hit>, GraphStats) {
    assert_eq!(
        scorer.num_queries(),
        1,
        "graph search takes one query at a time"
    );
    let dim = vectors.dim();
    let ef = params.ef.max(k);
    scratch.begin(vectors.count());
    let mut stats = GraphStats::default();
    let mut heaps = std::mem::take(&mut scratch.beam);
    heaps.pool.clear();
    heaps.frontier.clear();
    scratch.start_from(entry);
    loop {
        if !scratch.candidates.is_empty() {
            score_candidates(vectors, scorer, dim, scratch);
            stats.scored += scratch.candidates.len();
            if restrict.is_some_and(|r| stats.scored > r.count) {
                stats.exact = true;
                break;
            }
            for (&doc, &score) in scratch.candidates.iter().zip(&scratch.scores) {
                let c = Ranked::new(doc, score);
                let queued = match restrict {
                    Some(r) if !r.rows.contains(doc as usize) => heaps.pass(c, ef),
                    _ => heaps.offer(c, ef),
                };
                if queued {
                    // Likely expanded soon: start loading its neighbour list.
                    prefetch(graph.row(doc as usize));
                }
            }
        }
        stats.rounds += 1;
        // Expand the best few candidates that can still improve the pool.
        scratch.candidates.clear();
        let mut expanded = 0;
        while expanded < params.expand.max(1) {
            let Some(c) = heaps.next(ef) else { break };
            expanded += 1;
            let GraphScratch {
                visited,
                candidates,
                ..
            } = scratch;
            queue_neighbours(graph, c.1, restrict.map(|r| r.rows), visited, candidates);
        }
        if expanded == 0 {
            break;
        }
    }
    let mut hits: Vec<Hit> = heaps
        .pool
        .drain()
        .map(|Reverse(c)| Hit {
            doc: c.1,
            score: c.0,
        })
        .collect();
    scratch.beam = heaps;
    hits.sort_unstable_by(Hit::rank_cmp);
    hits.truncate(k);
    (hits, stats)
}
