//! Graph search on a bi-encoder index: recall@10 against time per query, in
//! the shape hnswlib's benchmarks use, so bench/graph/hnswlib_compare.py can match
//! operating points at equal recall.
//!
//! For every (entries, expand, ef) setting, the test queries are searched
//! one at a time on one thread (like hnswlib's `knn_query` with
//! `num_threads=1`) with `beam_search` and `DotScorer`; recall@10 is against
//! `exhaustive` with `DotScorer`. Time: the best of at least 2 passes over
//! all queries lasting `BENCH_MIN_TIME` s in all; scorers are built before
//! timing (copying a query vector is not search). Also: throughput of the
//! same setting as a batch through `graph_search_many` on a pool of
//! `BENCH_THREADS` threads.
//!
//! A second implementation, "direct", lives only in this file: the same
//! best-first walk (one candidate expanded per step, as HNSW's base layer)
//! scoring each neighbour with a direct SIMD dot product on the mapped row,
//! no gather and no GEMM call, f32-keyed heaps. It measured how much of the
//! gap to hnswlib was the scoring path rather than the graph; the library's
//! walk has since taken its ideas (scoring in place, prefetching) and now
//! runs faster than it (see bench/graph/hnswlib.md). It stays as a
//! reference point and is not used by the library.
//!
//!   BENCH_INDEX=data/indexes/debian-pkg-minilm BENCH_QUERY_VECTORS=q.f32 \
//!     cargo bench -p hypencoder-search --bench graph
//!
//! Environment: BENCH_INDEX (required), BENCH_QUERY_VECTORS (required; raw
//! little-endian f32, queries x dim of the index), BENCH_EF
//! ("16,32,64,128,256,512"), BENCH_ENTRIES ("8,16,64"), BENCH_EXPAND ("1,4"),
//! BENCH_IMPLS ("beam,direct"), BENCH_MIN_TIME (1.0), BENCH_THREADS (2; 0
//! skips the batch run), BENCH_K (10), BENCH_SEED (43), BENCH_OUT (JSON lines
//! appended, optional). Prints one JSON line per setting.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hypencoder_index::{Graph, Segment, Vectors};
use hypencoder_search::{
    beam_search, exhaustive, graph_search_many, random_entry_points, BeamParams, DotScorer,
    GraphAlgorithm, GraphScratch, Scorer,
};
use serde_json::json;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: cannot parse")),
        _ => default,
    }
}

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: '{s}' is not a number"))
        })
        .collect()
}

/// Times `pass` (one pass over all queries): best of >= 2 passes, at least
/// `min_time` s in all. Seconds of the best pass.
fn best_pass(min_time: f64, mut pass: impl FnMut()) -> f64 {
    pass(); // warm-up: page in the mapped rows, size the scratch
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut runs = 0;
    while runs < 2 || start.elapsed().as_secs_f64() < min_time {
        let t = Instant::now();
        pass();
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    best
}

fn recall(got: &[Vec<u32>], truth: &[Vec<u32>], k: usize) -> f64 {
    let hits: usize = got
        .iter()
        .zip(truth)
        .map(|(g, t)| {
            g.iter()
                .take(k)
                .filter(|d| t[..k.min(t.len())].contains(d))
                .count()
        })
        .sum();
    hits as f64 / (truth.len() * k) as f64
}

// ---------------------------------------------------------------------------
// "direct": a bench-local best-first search with per-neighbour dot products.

/// Dot product, the widest SIMD the CPU has (hnswlib's pip build compiles
/// with -march=native, so this is the like-for-like kernel).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: feature checked at run time (the result is cached).
            return unsafe { dot_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: AVX2 and FMA checked at run time just above.
            return unsafe { dot_avx2(a, b) };
        }
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// # Safety
///
/// The CPU must support AVX-512F (checked by [`dot`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY: every load reads 16 floats at an offset i with i + 16 <= n
    // (the loops' bounds), and every scalar read is at i < n, so all reads
    // stay inside both slices; the caller vouches for AVX-512F.
    unsafe {
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut i = 0;
        while i + 32 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm512_fmadd_ps(
                _mm512_loadu_ps(pa.add(i + 16)),
                _mm512_loadu_ps(pb.add(i + 16)),
                acc1,
            );
            i += 32;
        }
        while i + 16 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
            i += 16;
        }
        let mut s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
        while i < n {
            s += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        s
    }
}

/// # Safety
///
/// The CPU must support AVX2 and FMA (checked by [`dot`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY: every load reads 8 floats at an offset i with i + 8 <= n (the
    // loops' bounds), every scalar read is at i < n, and the store writes
    // the 8 floats of `lanes`; the caller vouches for AVX2 and FMA.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i + 8 * j)),
                    _mm256_loadu_ps(pb.add(i + 8 * j)),
                    *a,
                );
            }
            i += 32;
        }
        let mut v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        while i + 8 <= n {
            v = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), v);
            i += 8;
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), v);
        let mut s: f32 = lanes.iter().sum();
        while i < n {
            s += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        s
    }
}

#[inline]
fn prefetch(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; the address is inside `row`.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = row.as_ptr().cast::<i8>();
        // A 384-d row is 1536 bytes = 24 lines; the first few are enough to
        // start the hardware prefetcher on the rest.
        for line in 0..4.min(row.len() * 4 / 64) {
            _mm_prefetch(p.add(line * 64), _MM_HINT_T0);
        }
    }
}

/// (score, doc) ordered by score, then lower doc first (as `Hit::rank_cmp`).
#[derive(Clone, Copy, PartialEq)]
struct Cand(f32, u32);
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cand {
    /// Greater = better.
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

#[derive(Default)]
struct DirectScratch {
    visited: Vec<u32>,
    stamp: u32,
    frontier: BinaryHeap<Cand>,
    /// Min-heap of the pool via Reverse: top = worst kept.
    pool: BinaryHeap<std::cmp::Reverse<Cand>>,
    nbrs: Vec<u32>,
}

/// What "direct" walks: the mapped rows (`dim` values each) and the graph.
#[derive(Clone, Copy)]
struct Direct<'a> {
    all: &'a [f32],
    dim: usize,
    graph: &'a Graph,
}

/// HNSW's base-layer search (searchBaseLayerST) with our entry points:
/// returns the k best doc numbers and the documents scored.
fn direct_search(
    index: Direct<'_>,
    query: &[f32],
    entry: &[u32],
    k: usize,
    ef: usize,
    s: &mut DirectScratch,
) -> (Vec<u32>, usize) {
    let Direct { all, dim, graph } = index;
    let ef = ef.max(k);
    let n = all.len() / dim;
    if s.visited.len() != n {
        s.visited = vec![0; n];
        s.stamp = 0;
    }
    s.stamp = s.stamp.wrapping_add(1);
    if s.stamp == 0 {
        s.visited.fill(0);
        s.stamp = 1;
    }
    let stamp = s.stamp;
    s.frontier.clear();
    s.pool.clear();
    let row = |d: u32| &all[d as usize * dim..(d as usize + 1) * dim];
    let mut scored = 0;
    let offer = |c: Cand, s: &mut DirectScratch| {
        if s.pool.len() < ef {
            s.pool.push(std::cmp::Reverse(c));
            s.frontier.push(c);
        } else if c > s.pool.peek().unwrap().0 {
            s.frontier.push(c);
            *s.pool.peek_mut().unwrap() = std::cmp::Reverse(c);
        }
    };
    for (i, &e) in entry.iter().enumerate() {
        if let Some(&next) = entry.get(i + 1) {
            prefetch(row(next));
        }
        if s.visited[e as usize] == stamp {
            continue;
        }
        s.visited[e as usize] = stamp;
        scored += 1;
        offer(Cand(dot(query, row(e)), e), s);
    }
    while let Some(c) = s.frontier.pop() {
        if s.pool.len() >= ef && c < s.pool.peek().unwrap().0 {
            break;
        }
        s.nbrs.clear();
        for nb in graph.neighbours(c.1 as usize) {
            if s.visited[nb as usize] != stamp {
                s.visited[nb as usize] = stamp;
                s.nbrs.push(nb);
            }
        }
        let nbrs = std::mem::take(&mut s.nbrs);
        if let Some(&first) = nbrs.first() {
            prefetch(row(first));
        }
        for (i, &nb) in nbrs.iter().enumerate() {
            if let Some(&next) = nbrs.get(i + 1) {
                prefetch(row(next));
            }
            scored += 1;
            offer(Cand(dot(query, row(nb)), nb), s);
        }
        s.nbrs = nbrs;
    }
    let mut hits: Vec<Cand> = s.pool.drain().map(|r| r.0).collect();
    hits.sort_unstable_by(|a, b| b.cmp(a));
    (hits.into_iter().take(k).map(|c| c.1).collect(), scored)
}

/// One measured operating point.
struct Point {
    /// Doc numbers found per query, best first.
    results: Vec<Vec<u32>>,
    /// Documents scored over all queries (best pass).
    scored: usize,
    /// Seconds of the best single-thread pass over all queries.
    secs: f64,
    /// Queries per second as a batch on the pool, if there is one.
    batch_qps: Option<f64>,
}

/// What every timed run shares.
struct Bench<'a> {
    vectors: &'a Vectors,
    graph: &'a Graph,
    direct: Direct<'a>,
    queries: Vec<&'a [f32]>,
    /// One scorer per query, built before timing.
    scorers: Vec<DotScorer>,
    boxed: Vec<Box<dyn Scorer>>,
    pool: Option<rayon::ThreadPool>,
    k: usize,
    min_time: f64,
}

impl Bench<'_> {
    fn run_beam(&self, entry: &[u32], params: BeamParams) -> Point {
        let (vectors, graph, k) = (self.vectors, self.graph, self.k);
        let mut scratch = GraphScratch::default();
        let mut results = vec![Vec::new(); self.queries.len()];
        let mut scored = 0usize;
        let secs = best_pass(self.min_time, || {
            scored = 0;
            for (q, s) in self.scorers.iter().enumerate() {
                let (hits, stats) =
                    beam_search(vectors, graph, s, entry, k, &params, None, &mut scratch);
                scored += stats.scored;
                results[q] = hits.iter().map(|h| h.doc).collect();
            }
        });
        let batch_qps = self.pool.as_ref().map(|p| {
            let alg = GraphAlgorithm::Beam(params.clone());
            let secs = best_pass(self.min_time.min(0.5), || {
                p.install(|| graph_search_many(vectors, graph, &self.boxed, entry, k, &alg, None));
            });
            self.queries.len() as f64 / secs
        });
        Point {
            results,
            scored,
            secs,
            batch_qps,
        }
    }

    fn run_direct(&self, entry: &[u32], ef: usize) -> Point {
        let (direct, k) = (self.direct, self.k);
        let mut scratch = DirectScratch::default();
        let mut results = vec![Vec::new(); self.queries.len()];
        let mut scored = 0usize;
        let secs = best_pass(self.min_time, || {
            scored = 0;
            for (q, query) in self.queries.iter().enumerate() {
                let (docs, sc) = direct_search(direct, query, entry, k, ef, &mut scratch);
                scored += sc;
                results[q] = docs;
            }
        });
        let batch_qps = self.pool.as_ref().map(|p| {
            use rayon::prelude::*;
            let secs = best_pass(self.min_time.min(0.5), || {
                p.install(|| {
                    let _: Vec<Vec<u32>> = self
                        .queries
                        .par_iter()
                        .map_init(DirectScratch::default, |s, q| {
                            direct_search(direct, q, entry, k, ef, s).0
                        })
                        .collect();
                });
            });
            self.queries.len() as f64 / secs
        });
        Point {
            results,
            scored,
            secs,
            batch_qps,
        }
    }
}

/// Raw little-endian f32 query vectors, `dim` values each.
fn read_queries(path: &Path, dim: usize) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len().is_multiple_of(4 * dim),
        "query file is not a multiple of {dim} f32 values"
    );
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Opens `BENCH_OUT` for appending, if set.
fn out_file() -> Option<std::fs::File> {
    std::env::var("BENCH_OUT").ok().map(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
    })
}

/// The settings read from the environment (see the module docs).
struct Settings {
    index_dir: PathBuf,
    qpath: PathBuf,
    efs: Vec<usize>,
    entries_list: Vec<usize>,
    expands: Vec<usize>,
    impls: Vec<String>,
    min_time: f64,
    threads: usize,
    k: usize,
    seed: u64,
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            index_dir: std::env::var("BENCH_INDEX")
                .expect("set BENCH_INDEX to an index folder")
                .into(),
            qpath: std::env::var("BENCH_QUERY_VECTORS")
                .expect("set BENCH_QUERY_VECTORS to a raw f32 file (queries x dim)")
                .into(),
            efs: env_list("BENCH_EF", "16,32,64,128,256,512"),
            entries_list: env_list("BENCH_ENTRIES", "8,16,64"),
            expands: env_list("BENCH_EXPAND", "1,4"),
            impls: std::env::var("BENCH_IMPLS")
                .unwrap_or_else(|_| "beam,direct".into())
                .split(',')
                .map(|s| s.trim().to_string())
                .collect(),
            min_time: env_or("BENCH_MIN_TIME", 1.0),
            threads: env_or("BENCH_THREADS", 2),
            k: env_or("BENCH_K", 10),
            seed: env_or("BENCH_SEED", 43),
        }
    }
}

/// Exhaustive top-k doc numbers per query, and the seconds the batch took.
fn ground_truth(vectors: &Vectors, qflat: &[f32], dim: usize, k: usize) -> (Vec<Vec<u32>>, f64) {
    let t = Instant::now();
    let truth = exhaustive(vectors, &DotScorer::new(qflat.to_vec(), dim), k)
        .into_iter()
        .map(|hits| hits.into_iter().map(|h| h.doc).collect())
        .collect();
    (truth, t.elapsed().as_secs_f64())
}

fn main() {
    let cfg = Settings::from_env();
    let mut out_file = out_file();
    let index = Segment::open(&cfg.index_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", cfg.index_dir.display()));
    let vectors: &Vectors = index.vectors();
    let graph = index
        .graph()
        .expect("the index has no graph: run `hypencoder graph --index ...`");
    let (n, dim) = (vectors.count(), vectors.dim());
    let all = vectors.rows(0, n);
    let qflat = read_queries(&cfg.qpath, dim);
    let nq = qflat.len() / dim;
    let queries: Vec<&[f32]> = qflat.chunks_exact(dim).collect();

    let (truth, exhaustive_s) = ground_truth(vectors, &qflat, dim, cfg.k);
    let header = json!({
        "kind": "setup", "docs": n, "dim": dim, "queries": nq, "k": cfg.k, "graph_degree": graph.degree(),
        "exhaustive_batch_ms": exhaustive_s * 1e3,
        "rayon_threads": rayon::current_num_threads(),
    });
    println!("{header}");

    let bench = Bench {
        vectors,
        graph,
        direct: Direct {
            all: &all,
            dim,
            graph,
        },
        scorers: queries
            .iter()
            .map(|q| DotScorer::new(q.to_vec(), dim))
            .collect(),
        boxed: queries
            .iter()
            .map(|q| Box::new(DotScorer::new(q.to_vec(), dim)) as Box<dyn Scorer>)
            .collect(),
        queries,
        pool: (cfg.threads > 0).then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(cfg.threads)
                .build()
                .unwrap()
        }),
        k: cfg.k,
        min_time: cfg.min_time,
    };
    let mut emit = |v: serde_json::Value| {
        println!("{v}");
        if let Some(f) = out_file.as_mut() {
            writeln!(f, "{v}").unwrap();
        }
    };

    sweep(&bench, &cfg, &truth, &mut emit);
}

/// Measures every (entries, impl, expand, ef) point and emits one JSON line
/// each.
fn sweep(
    bench: &Bench<'_>,
    cfg: &Settings,
    truth: &[Vec<u32>],
    emit: &mut impl FnMut(serde_json::Value),
) {
    let (n, nq) = (bench.vectors.count(), bench.queries.len());
    for &entries in &cfg.entries_list {
        let entry = random_entry_points(entries, n, cfg.seed);
        for imp in &cfg.impls {
            let expand_set: &[usize] = if imp == "beam" { &cfg.expands } else { &[1] };
            for &expand in expand_set {
                for &ef in &cfg.efs {
                    let point = match imp.as_str() {
                        "beam" => bench.run_beam(&entry, BeamParams { ef, expand }),
                        "direct" => bench.run_direct(&entry, ef),
                        other => panic!("BENCH_IMPLS: unknown '{other}' (beam, direct)"),
                    };
                    emit(json!({
                        "kind": "point",
                        "impl": imp,
                        "ef": ef,
                        "entries": entries,
                        "expand": expand,
                        "recall10": recall(&point.results, truth, cfg.k),
                        "us_per_query": point.secs * 1e6 / nq as f64,
                        "scored": point.scored as f64 / nq as f64,
                        "batch_threads": cfg.threads,
                        "batch_qps": point.batch_qps,
                    }));
                }
            }
        }
    }
}
