//! Q-net scoring throughput through `exhaustive`, and this machine's sgemm
//! rate for the same shapes (a reference rate; see "sgemm rate" below).
//!
//! Shapes: 768-d q-nets of 2 and 6 hidden layers and a 384-d one of 2, as the
//! official converter builds them (relu, LayerNorm before residual, residual
//! on every hidden layer but the last). Random q-nets; document vectors are
//! *sampled* (anisotropic Gaussian, L2-normalised, like sentence embeddings)
//! and written once as f32 indexes under `BENCH_WORK`. Speed does not depend
//! on the values (LayerNorm keeps activations O(1): no denormals).
//!
//! Figures: documents scored per second, counting one per (query, document)
//! pair, for 1 query over `BENCH_DOCS` documents and for a batch of 32
//! queries over `BENCH_BATCH_DOCS`; each the best of at least 2 runs
//! lasting at least `BENCH_MIN_TIME` s in all. FLOPs per (query, document) = 2 sum(in*out).
//! sgemm rate: the `gemm` crate through `hypencoder_kernels::sgemm` (the
//! kernels' fallback path, single-threaded, built with its `x86-v4`
//! feature), one (m x d)(d x d) product per rayon thread in parallel, best m
//! of 256..2048; "% crate" is the q-net's FLOP rate over it. MKL's rate,
//! measured by bench/qnet/qnet_vs_pytorch.py, is the other reference peak.
//!
//!   RAYON_NUM_THREADS=2 cargo bench -p hypencoder-search --bench qnet
//!
//! Environment: BENCH_DOCS (100000), BENCH_BATCH_DOCS (8192), BENCH_QUERIES
//! ("1,32"), BENCH_SHAPES ("768x2,768x6,384x2"), BENCH_PRECISIONS
//! ("f32,bf16": the q-net layers' number format), BENCH_MIN_TIME (3),
//! BENCH_WORK (target/bench-qnet), BENCH_OUT (JSON results, optional).
//! bench/qnet/run_speed.sh runs this and the PyTorch side and prints ratios.

use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;

use common::{env_or, official_config, random_qnet, write_sampled, Rng};
use hypencoder_index::Segment;
use hypencoder_kernels::sgemm;
use hypencoder_model::{QNet, QNetConfig};
use hypencoder_search::{exhaustive, DotScorer, Precision, QNetScorer, BLOCK};
use serde_json::{json, Value};

const TOP_K: usize = 100;

#[derive(Clone)]
struct Shape {
    name: String,
    dim: usize,
    hidden: usize,
}

impl Shape {
    fn parse(s: &str) -> Self {
        let (d, h) = s
            .split_once('x')
            .unwrap_or_else(|| panic!("shape '{s}': expected DxH, e.g. 768x6"));
        Shape {
            name: s.to_string(),
            dim: d.parse().expect("shape width"),
            hidden: h.parse().expect("shape hidden layers"),
        }
    }

    fn config(&self) -> QNetConfig {
        official_config(self.dim, self.hidden)
    }

    /// Multiply-adds x 2 per (query, document).
    fn flops(&self) -> f64 {
        let c = self.config();
        2.0 * c
            .weight_shapes()
            .iter()
            .map(|(i, o)| (i * o) as f64)
            .sum::<f64>()
    }
}

/// Sampled document vectors: a shared mean direction plus per-dimension
/// scales (real embeddings are anisotropic), L2-normalised.
fn write_docs(dir: &Path, n: usize, dim: usize) -> Segment {
    if let Ok(index) = Segment::open(dir) {
        if index.vectors().count() == n && index.vectors().dim() == dim {
            return index;
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    eprintln!("writing {n} sampled {dim}-d vectors to {}", dir.display());
    let mut rng = Rng(dim as u64 * 1_000_003 + n as u64);
    let mean: Vec<f32> = (0..dim).map(|_| rng.normal() * 0.5).collect();
    let scale: Vec<f32> = (0..dim).map(|_| (rng.normal() * 0.5).exp()).collect();
    write_sampled(dir, n, dim, &format!("sampled {n}x{dim}"), |v| {
        for ((x, m), s) in v.iter_mut().zip(&mean).zip(&scale) {
            *x = m + s * rng.normal();
        }
    });
    Segment::open(dir).expect("open bench index")
}

/// Best wall time of `f` over >= 2 runs and >= `min_time` seconds in all.
fn best_time(min_time: f64, mut f: impl FnMut()) -> (f64, usize) {
    let (mut best, mut total, mut reps) = (f64::INFINITY, 0.0, 0);
    while reps < 2 || total < min_time {
        let t = Instant::now();
        f();
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        total += s;
        reps += 1;
    }
    (best, reps)
}

/// The sgemm rate (FLOP/s) for (m x k)(k x n), row-major like the kernel's
/// calls, one product per rayon thread at a time, all threads in parallel.
fn sgemm_rate(m: usize, k: usize, n: usize, seconds: f64) -> f64 {
    let threads = rayon::current_num_threads();
    let counts = rayon::broadcast(|_| {
        let mut rng = Rng(7);
        let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
        let mut c = vec![0f32; m * n];
        // The kernels crate's `sgemm`: the `gemm` crate, single-threaded.
        let run = |c: &mut [f32]| sgemm(m, n, k, &a, &b, n, 1, c, false);
        run(&mut c); // warm-up
        let t = Instant::now();
        let mut count = 0usize;
        while t.elapsed().as_secs_f64() < seconds {
            run(&mut c);
            count += 1;
        }
        (count, t.elapsed().as_secs_f64())
    });
    assert_eq!(counts.len(), threads);
    counts
        .iter()
        .map(|&(c, s)| 2.0 * (m * k * n) as f64 * c as f64 / s)
        .sum()
}

/// Settings from the environment.
struct Opts {
    n_docs: usize,
    batch_docs: usize,
    min_time: f64,
    queries: Vec<usize>,
    shapes: Vec<Shape>,
    precisions: Vec<Precision>,
    work: PathBuf,
}

/// The gemm crate's rate at the q-nets' layer shapes, best over the rows
/// per call, per vector width.
fn sgemm_peaks(shapes: &[Shape]) -> serde_json::Map<String, Value> {
    let threads = rayon::current_num_threads();
    let mut peaks = serde_json::Map::new();
    let mut dims: Vec<usize> = shapes.iter().map(|s| s.dim).collect();
    dims.dedup();
    println!("\nsgemm (m x d)(d x d), one per thread, {threads} threads in parallel:");
    for &d in &dims {
        let mut best = 0f64;
        let mut rows = serde_json::Map::new();
        for m in [256, 512, 1024, 2048] {
            let rate = sgemm_rate(m, d, d, 1.0);
            println!("  d {d:4}  m {m:5}  {:7.1} GFLOP/s", rate / 1e9);
            rows.insert(m.to_string(), json!(rate / 1e9));
            best = best.max(rate);
        }
        let one = {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            pool.install(|| sgemm_rate(1024, d, d, 1.0))
        };
        println!(
            "  d {d:4}  m  1024  {:7.1} GFLOP/s on one thread",
            one / 1e9
        );
        peaks.insert(
            d.to_string(),
            json!({"gflops": best / 1e9, "by_rows": rows, "one_thread_gflops_m1024": one / 1e9}),
        );
    }

    peaks
}

/// Q-net throughput through `exhaustive` for every shape and query count.
fn bench_qnets(opts: &Opts, peaks: &serde_json::Map<String, Value>) -> Vec<Value> {
    let Opts {
        n_docs,
        batch_docs,
        min_time,
        ref queries,
        ref shapes,
        ref precisions,
        ref work,
    } = *opts;
    let mut results = Vec::new();
    println!(
        "\n{:<8} {:>5} {:>7} {:>8} {:>14} {:>14} {:>9} {:>8} {:>5}",
        "shape",
        "prec",
        "queries",
        "docs",
        "docs/s/query",
        "doc-scores/s",
        "GFLOP/s",
        "% crate",
        "runs"
    );
    for shape in shapes.iter() {
        for &precision in precisions {
            let config = shape.config();
            let peak = peaks[&shape.dim.to_string()]["gflops"].as_f64().unwrap();
            for &q in queries.iter() {
                let n = if q == 1 {
                    n_docs
                } else {
                    batch_docs.min(n_docs)
                };
                let index = write_docs(&work.join(format!("docs-{}x{n}", shape.dim)), n, shape.dim);
                let vectors = index.vectors();
                let mut rng = Rng(shape.hidden as u64 * 31 + shape.dim as u64);
                let qnets: Vec<QNet> = (0..q).map(|_| random_qnet(&config, &mut rng)).collect();
                let scorer = QNetScorer::with_precision(qnets, precision);
                // Page the vectors in and start the pool before timing.
                exhaustive(vectors, &DotScorer::new(vec![0.5; shape.dim], shape.dim), 1);
                let (secs, reps) = best_time(min_time, || {
                    let hits = exhaustive(vectors, &scorer, TOP_K);
                    assert_eq!(hits.len(), q);
                });
                let scores = (n * q) as f64 / secs;
                let gflops = scores * shape.flops() / 1e9;
                println!(
                    "{:<8} {:>5} {:>7} {:>8} {:>14.0} {:>14.0} {:>9.1} {:>7.1}% {:>5}",
                    shape.name,
                    precision.name(),
                    q,
                    n,
                    n as f64 / secs,
                    scores,
                    gflops,
                    100.0 * gflops / peak,
                    reps
                );
                results.push(json!({
                "kind": "qnet", "shape": shape.name, "dim": shape.dim, "hidden": shape.hidden,
                "precision": precision.name(),
                "queries": q, "docs": n, "seconds": secs, "runs": reps,
                "doc_scores_per_s": scores, "gflops": gflops, "pct_gemm_crate": 100.0 * gflops / peak,
            }));
            }
        }
    }

    results
}

/// The bi-encoder path: dot products through the same blocked GEMM.
fn bench_dots(opts: &Opts) -> Vec<Value> {
    let Opts {
        n_docs,
        min_time,
        ref queries,
        ref shapes,
        ref work,
        ..
    } = *opts;
    let mut results = Vec::new();
    let d = shapes[0].dim;
    for &q in queries.iter() {
        let index = write_docs(&work.join(format!("docs-{d}x{n_docs}")), n_docs, d);
        let mut rng = Rng(99);
        let scorer = DotScorer::new((0..q * d).map(|_| rng.normal()).collect(), d);
        let (secs, reps) = best_time(min_time.min(1.0), || {
            exhaustive(index.vectors(), &scorer, TOP_K);
        });
        let scores = (n_docs * q) as f64 / secs;
        println!(
            "{:<8} {:>7} {:>8} {:>14.0} {:>14.0} {:>9.1} {:>8} {:>5}",
            format!("dot{d}"),
            q,
            n_docs,
            n_docs as f64 / secs,
            scores,
            scores * 2.0 * d as f64 / 1e9,
            "-",
            reps
        );
        results.push(json!({
            "kind": "dot", "shape": format!("dot{d}"), "dim": d, "queries": q, "docs": n_docs,
            "seconds": secs, "runs": reps, "doc_scores_per_s": scores,
        }));
    }

    results
}

fn main() {
    let n_docs: usize = env_or("BENCH_DOCS", 100_000);
    let batch_docs: usize = env_or("BENCH_BATCH_DOCS", 8192);
    let min_time: f64 = env_or("BENCH_MIN_TIME", 3.0);
    let queries: Vec<usize> = env_or("BENCH_QUERIES", "1,32".to_string())
        .split(',')
        .map(|q| q.trim().parse().expect("BENCH_QUERIES"))
        .collect();
    let shapes: Vec<Shape> = env_or("BENCH_SHAPES", "768x2,768x6,384x2".to_string())
        .split(',')
        .map(|s| Shape::parse(s.trim()))
        .collect();
    let precisions: Vec<Precision> = env_or("BENCH_PRECISIONS", "f32,bf16".to_string())
        .split(',')
        .map(|p| Precision::parse(p.trim()).expect("BENCH_PRECISIONS: f32 or bf16"))
        .collect();
    let work: PathBuf = std::env::var("BENCH_WORK")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-qnet")
        });

    std::fs::create_dir_all(&work).expect("create BENCH_WORK");
    let threads = rayon::current_num_threads();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_string();
    println!("q-net scoring, {threads} rayon threads, block {BLOCK} docs, top-{TOP_K}, load average {load} at start");
    let opts = Opts {
        n_docs,
        batch_docs,
        min_time,
        queries,
        shapes,
        precisions,
        work,
    };
    let peaks = sgemm_peaks(&opts.shapes);
    let mut results = bench_qnets(&opts, &peaks);
    results.extend(bench_dots(&opts));
    let report: Value = json!({
        "threads": threads, "block": BLOCK, "top_k": TOP_K, "load_average_at_start": load,
        "sgemm_peak": peaks, "results": results,
    });
    if let Ok(out) = std::env::var("BENCH_OUT") {
        std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap())
            .expect("write BENCH_OUT");
        println!("\nresults: {out}");
    }
}
