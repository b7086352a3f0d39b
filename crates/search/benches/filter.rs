//! Filtered search at scale: a sampled index of `BENCH_N` embedding-like
//! vectors ([`Surface`], bi-encoder, inner product) whose documents carry
//! a field `bucket`, uniform in 0..1000 and independent of the vector, so
//! `bucket < t` keeps a controlled share of the rows (50%, 10%, 1%, 0.1%).
//! A 32-degree graph is grown by insertion. For each filter, through
//! [`Plan`] as every front end runs it:
//!
//! - filtered exhaustive search (the exact answer; the whole batch as one
//!   scorer, the fastest way to score the kept rows);
//! - filtered graph search (beam, the defaults): recall@10 against the
//!   exact answer, documents scored, ms/query for the batch on the pool
//!   (as `search --queries` runs it) and one query per call on one thread
//!   (as a server answers a request; the first 100 queries), and the time
//!   to evaluate the filter;
//! - the anchors: the same without a filter.
//!
//!   RAYON_NUM_THREADS=2 cargo bench -p hypencoder-search --bench filter
//!
//! Environment: BENCH_N (1000000), BENCH_DIM (384), BENCH_QUERIES (500),
//! BENCH_WORK (target/bench-filter; the index is kept there and reused),
//! BENCH_OUT (JSON, optional), BENCH_BUILD_ONLY (1: build and stop).
//! Writes `queries.f32`, `buckets.u16` and `truth.json` beside the index for
//! bench/filter/hnswlib_filtered.py. bench/filter/run_synthetic.sh runs both.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{env_or, grow_graph, write_sampled_as, Rng, Surface};
use hypencoder_index::{Filter, Segment};
use hypencoder_search::{Found, Hit, Mode, Plan, SearchParams, Searcher};
use serde_json::{json, Map, Value};

const DEGREE: usize = 32;
const K: usize = 10;
const BUCKETS: u64 = 1000;
/// Queries timed one at a time.
const SINGLE: usize = 100;

/// The filters run, by the share of buckets they keep.
const FILTERS: [(&str, Option<u64>); 5] = [
    ("none", None),
    ("50%", Some(500)),
    ("10%", Some(100)),
    ("1%", Some(10)),
    ("0.1%", Some(1)),
];

/// Writes the index with its buckets and grows its graph, unless a
/// previous run left it complete; returns the buckets.
fn build(dir: &Path, n: usize, dim: usize) -> Vec<u16> {
    let buckets_file = dir.join("buckets.u16");
    let ready = Segment::open(dir).is_ok_and(|s| s.graph().is_some() && s.len() == n);
    if ready && buckets_file.exists() {
        eprintln!("reusing {}", dir.display());
        let raw = std::fs::read(&buckets_file).expect("read buckets");
        return raw
            .chunks(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
    }
    let _ = std::fs::remove_dir_all(dir);
    let surface = Surface::new(dim);
    let mut rng = Rng(0xF11_7E2);
    let mut buckets = Vec::with_capacity(n);
    let started = Instant::now();
    write_sampled_as(
        dir,
        n,
        dim,
        &format!("sampled {n}x{dim} with a uniform bucket field"),
        "bi-encoder",
        |v, _| {
            surface.sample(&mut rng, v);
            let bucket = rng.next_u64() % BUCKETS;
            buckets.push(bucket as u16);
            let mut fields = Map::new();
            fields.insert("bucket".into(), json!(bucket));
            fields
        },
    );
    eprintln!("index written in {:.1} s", started.elapsed().as_secs_f64());
    let secs = grow_graph(dir, DEGREE);
    eprintln!("graph grown in {secs:.1} s");
    let raw: Vec<u8> = buckets.iter().flat_map(|b| b.to_le_bytes()).collect();
    std::fs::write(&buckets_file, raw).expect("write buckets");
    buckets
}

/// `count` query vectors from the corpus's surface (not its documents).
fn queries(dim: usize, count: usize) -> Vec<f32> {
    let surface = Surface::new(dim);
    let mut rng = Rng(0x0E_2157);
    let mut out = vec![0f32; dim * count];
    for q in out.chunks_mut(dim) {
        surface.sample(&mut rng, q);
        let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt();
        q.iter_mut().for_each(|x| *x /= norm);
    }
    out
}

/// Timings of one plan of `mode` and `filter` over `queries`.
struct Run {
    found: Found,
    /// The first queries' hits searched one at a time (a filtered graph
    /// search may take another path for one query than for a batch).
    alone: Vec<Vec<Hit>>,
    /// Evaluating the filter into rows, ms (once per request; the best of
    /// three).
    filter_ms: f64,
    /// The whole batch in one call on the global pool, ms per query.
    batch_ms: f64,
    /// One query per call on one thread, ms per query (a server's
    /// request; hnswlib's `knn_query` with one thread).
    single_ms: f64,
}

fn run(
    searcher: &Searcher,
    mode: Mode,
    filter: Option<&Filter>,
    queries: &[f32],
    dim: usize,
) -> Run {
    let params = SearchParams {
        k: K,
        mode: Some(mode),
        ..SearchParams::default()
    };
    let mut plan = Plan::new(searcher, &params).expect("plan");
    // The best of three evaluations.
    let mut filter_ms = 0.0;
    if let Some(f) = filter {
        filter_ms = f64::INFINITY;
        for _ in 0..3 {
            let started = Instant::now();
            plan.filter(f).expect("filter suits the index");
            filter_ms = filter_ms.min(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    let count = (queries.len() / dim) as f64;
    let started = Instant::now();
    let found = plan.search_vectors(queries, dim).expect("search");
    let batch_ms = started.elapsed().as_secs_f64() * 1e3 / count;
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool");
    // The first SINGLE queries: unfiltered exhaustive search scans the
    // whole index per call.
    let single = (queries.len() / dim).min(SINGLE);
    let started = Instant::now();
    let alone = one.install(|| {
        (queries.chunks(dim).take(single))
            .map(|q| plan.search_vectors(q, dim).expect("search").hits.remove(0))
            .collect()
    });
    let single_ms = started.elapsed().as_secs_f64() * 1e3 / single as f64;
    Run {
        found,
        alone,
        filter_ms,
        batch_ms,
        single_ms,
    }
}

fn recall(found: &[Vec<Hit>], truth: &Found) -> f64 {
    let mut hit = 0usize;
    let mut all = 0usize;
    for (got, want) in found.iter().zip(&truth.hits) {
        let got: std::collections::HashSet<u32> = got.iter().map(|h| h.doc).collect();
        hit += want.iter().filter(|h| got.contains(&h.doc)).count();
        all += want.len();
    }
    hit as f64 / all.max(1) as f64
}

fn main() {
    let n: usize = env_or("BENCH_N", 1_000_000);
    let dim: usize = env_or("BENCH_DIM", 384);
    let count: usize = env_or("BENCH_QUERIES", 500);
    let work = PathBuf::from(env_or("BENCH_WORK", "target/bench-filter".to_string()));
    let dir = work.join(format!("sampled-{n}x{dim}"));
    std::fs::create_dir_all(&work).expect("bench work folder");
    let buckets = build(&dir, n, dim);
    if env_or("BENCH_BUILD_ONLY", 0) == 1 {
        return;
    }
    let queries = queries(dim, count);
    let raw: Vec<u8> = queries.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(dir.join("queries.f32"), raw).expect("write queries");
    let segment = Segment::open(&dir).expect("open bench index");
    let searcher = Searcher::single(&segment);
    let mut rows = Vec::new();
    let mut truths = Map::new();
    let mut anchor = (f64::NAN, f64::NAN);
    println!("| filter | share kept | batch: graph recall@10 | ms/query | x unfiltered | scored/query | one at a time: graph recall@10 | ms/query | x unfiltered | filter ms | exhaustive batch ms/query | exhaustive one at a time ms/query |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, below) in FILTERS {
        let filter =
            below.map(|t| Filter::parse(&json!({"bucket": {"lt": t}})).expect("a valid filter"));
        let kept = below.map_or(n, |t| buckets.iter().filter(|&&b| u64::from(b) < t).count());
        let exact = run(&searcher, Mode::Exhaustive, filter.as_ref(), &queries, dim);
        let walk = run(&searcher, Mode::Graph, filter.as_ref(), &queries, dim);
        let r = recall(&walk.found.hits, &exact.found);
        let r_alone = recall(&walk.alone, &exact.found);
        if below.is_none() {
            anchor = (walk.batch_ms, walk.single_ms);
        }
        let scored = walk.found.scored as f64 / count as f64;
        println!(
            "| {name} | {:.2}% | {r:.4} | {:.3} | {:.2} | {scored:.0} | {r_alone:.4} | {:.3} | {:.2} | {:.2} | {:.3} | {:.3} |",
            100.0 * kept as f64 / n as f64,
            walk.batch_ms,
            walk.batch_ms / anchor.0,
            walk.single_ms,
            walk.single_ms / anchor.1,
            walk.filter_ms,
            exact.batch_ms,
            exact.single_ms,
        );
        let ids: Vec<Vec<u32>> = (exact.found.hits.iter())
            .map(|h| h.iter().map(|x| x.doc).collect())
            .collect();
        truths.insert(name.into(), json!({"below": below, "top": ids}));
        rows.push(json!({
            "filter": name, "below": below, "kept": kept, "recall_at_10": r,
            "recall_at_10_single": r_alone,
            "graph_batch_ms": walk.batch_ms, "graph_single_ms": walk.single_ms,
            "scored_per_query": scored, "filter_ms": walk.filter_ms,
            "exhaustive_batch_ms": exact.batch_ms, "exhaustive_single_ms": exact.single_ms,
            "unfiltered_graph_batch_ms": anchor.0, "unfiltered_graph_single_ms": anchor.1,
        }));
    }
    let truth_file = dir.join("truth.json");
    std::fs::write(&truth_file, Value::Object(truths).to_string()).expect("write truth");
    let report =
        json!({"n": n, "dim": dim, "queries": count, "degree": DEGREE, "k": K, "rows": rows});
    if let Ok(out) = std::env::var("BENCH_OUT") {
        std::fs::write(&out, format!("{report:#}\n")).expect("write BENCH_OUT");
    }
}
