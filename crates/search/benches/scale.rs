//! How cost grows with the corpus: for each size, sampled 384-d vectors
//! (near a 32-dimensional surface, as embeddings are; see [`write_index`])
//! written as an f32 index, a 32-degree graph grown by insertion
//! (`GrowingGraph`: O(n), where exact kNN is O(n^2) and NN-descent's local
//! joins cost minutes per round at a million), then exhaustive and graph
//! search with random 2- and 6-layer q-nets, in f32 and bf16.
//!
//! Figures per size: index write time, graph build time, bytes per
//! document on disk (vectors for each dtype: f32 measured, f16/bf16 are
//! half of it; graph; ids), resident memory after the searches, exhaustive
//! ms/query (one query at a time on all cores, the best of
//! `BENCH_EXH_QUERIES`), graph ms/query (beam, ef 128, 64 entry points; a
//! batch of queries in parallel on the pool, as the CLI runs one) and the
//! graph's recall@10 against exhaustive on the exhaustive queries.
//!
//!   RAYON_NUM_THREADS=2 cargo bench -p hypencoder-search --bench scale
//!
//! Environment: BENCH_SIZES ("100000,300000,1000000"), BENCH_DIM (384),
//! BENCH_EXH_QUERIES (10), BENCH_GRAPH_QUERIES (200; 0 skips the graph,
//! its build and its searches, for sizes where growing it takes hours, such
//! as 768-d at a million), BENCH_WORK
//! (target/bench-scale), BENCH_OUT (JSON, optional).
//! bench/scale/run.sh runs it and draws bench/scale/scale.png.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{
    env_or, grow_graph, official_config, random_qnet, write_sampled, Rng, Surface, LATENT,
};
use hypencoder_index::Segment;
use hypencoder_model::QNet;
use hypencoder_search::{
    exhaustive, graph_search_many, random_entry_points, BeamParams, GraphAlgorithm, Precision,
    QNetScorer, Scorer,
};
use serde_json::{json, Value};

const DEGREE: usize = 32;
const K: usize = 10;

/// Writes `n` sampled vectors ([`Surface`]) as an f32 index at `dir`;
/// returns seconds.
fn write_index(dir: &Path, n: usize, dim: usize) -> f64 {
    let _ = std::fs::remove_dir_all(dir);
    let started = Instant::now();
    let surface = Surface::new(dim);
    let mut rng = Rng(dim as u64 * 7 + 1);
    // The surface's map took the generator's first draws before.
    (0..dim * LATENT).for_each(|_| {
        rng.normal();
    });
    write_sampled(
        dir,
        n,
        dim,
        &format!("sampled {n}x{dim}, {LATENT} latent dimensions"),
        |v| surface.sample(&mut rng, v),
    );
    started.elapsed().as_secs_f64()
}

fn file_bytes(dir: &Path, name: &str) -> u64 {
    std::fs::metadata(dir.join(name)).map_or(0, |m| m.len())
}

/// (resident, peak resident) MiB of this process, from /proc.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Best wall time of single-query exhaustive searches, in ms, and each
/// query's top-k docs.
fn time_exhaustive(index: &Segment, qnets: &[QNet], precision: Precision) -> (f64, Vec<Vec<u32>>) {
    let mut best = f64::INFINITY;
    let mut tops = Vec::new();
    for qnet in qnets {
        let scorer = QNetScorer::with_precision(vec![qnet.clone()], precision);
        let t = Instant::now();
        let hits = exhaustive(index.vectors(), &scorer, K);
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        tops.push(hits[0].iter().map(|h| h.doc).collect());
    }
    (best, tops)
}

/// Graph search over all `qnets` as one batch on the pool: ms per query,
/// documents scored per query, and each query's top-k docs.
fn time_graph(index: &Segment, qnets: &[QNet], precision: Precision) -> (f64, f64, Vec<Vec<u32>>) {
    let scorers: Vec<Box<dyn Scorer>> = qnets
        .iter()
        .map(|q| {
            Box::new(QNetScorer::with_precision(vec![q.clone()], precision)) as Box<dyn Scorer>
        })
        .collect();
    let entry = random_entry_points(64, index.len(), 43);
    let walk = GraphAlgorithm::Beam(BeamParams { ef: 128, expand: 4 });
    let graph = index.graph().expect("graph written");
    let t = Instant::now();
    let found = graph_search_many(index.vectors(), graph, &scorers, &entry, K, &walk, None);
    let ms = t.elapsed().as_secs_f64() * 1e3 / qnets.len() as f64;
    let scored = found.iter().map(|(_, s)| s.scored).sum::<usize>() as f64 / qnets.len() as f64;
    let tops = found
        .into_iter()
        .map(|(hits, _)| hits.iter().map(|h| h.doc).collect())
        .collect();
    (ms, scored, tops)
}

fn recall(found: &[Vec<u32>], exact: &[Vec<u32>]) -> f64 {
    let hit: usize = found
        .iter()
        .zip(exact)
        .map(|(f, e)| e.iter().filter(|d| f.contains(d)).count())
        .sum();
    hit as f64 / exact.iter().map(Vec::len).sum::<usize>().max(1) as f64
}

/// Every figure for one corpus size.
fn measure(work: &Path, n: usize, dim: usize, exh_queries: usize, graph_queries: usize) -> Value {
    let dir = work.join(format!("sampled-{dim}x{n}"));
    eprintln!("{n} x {dim}: writing");
    let write_s = write_index(&dir, n, dim);
    let with_graph = graph_queries > 0;
    let graph_s = with_graph.then(|| {
        eprintln!("{n} x {dim}: growing the graph");
        grow_graph(&dir, DEGREE)
    });
    let index = Segment::open(&dir).expect("open bench index");
    let per_doc = |bytes: u64| bytes as f64 / n as f64;
    let vectors = per_doc(file_bytes(&dir, "vectors.bin"));
    let mut row = json!({
        "docs": n, "dim": dim, "index_write_s": write_s, "graph_build_s": graph_s,
        "bytes_per_doc": {
            "vectors_f32": vectors, "vectors_f16_bf16": vectors / 2.0,
            "graph": with_graph.then(|| per_doc(file_bytes(&dir, "graph.bin"))),
            "ids": per_doc(file_bytes(&dir, "ids.bin") + file_bytes(&dir, "ids.idx")),
        },
    });
    for hidden in [2usize, 6] {
        let mut rng = Rng(hidden as u64 * 1000 + n as u64);
        let qnets: Vec<QNet> = (0..graph_queries.max(exh_queries))
            .map(|_| random_qnet(&official_config(dim, hidden), &mut rng))
            .collect();
        for precision in [Precision::F32, Precision::Bf16] {
            let name = format!("{hidden}layer_{}", precision.name());
            // The first queries searched exhaustively: timed, and the
            // reference for the graph's recall.
            let (exh_ms, exact) = time_exhaustive(&index, &qnets[..exh_queries], precision);
            if !with_graph {
                eprintln!("{n} x {dim} {name}: exhaustive {exh_ms:.1} ms");
                row[name] = json!({ "exhaustive_ms": exh_ms });
                continue;
            }
            let (graph_ms, scored, found) = time_graph(&index, &qnets[..graph_queries], precision);
            let r = recall(&found[..exact.len()], &exact);
            eprintln!(
                "{n} x {dim} {name}: exhaustive {exh_ms:.1} ms, graph {graph_ms:.2} ms ({scored:.0} scored, recall@10 {r:.3})"
            );
            row[name] = json!({"exhaustive_ms": exh_ms, "graph_ms": graph_ms, "graph_scored": scored, "graph_recall_at_10": r});
        }
    }
    let (rss, peak) = rss_mib();
    row["rss_mib"] = json!(rss);
    row["peak_rss_mib"] = json!(peak);
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
    row
}

fn main() {
    let sizes: Vec<usize> = env_or("BENCH_SIZES", "100000,300000,1000000".to_string())
        .split(',')
        .map(|s| s.trim().parse().expect("BENCH_SIZES"))
        .collect();
    let dim: usize = env_or("BENCH_DIM", 384);
    let exh_queries: usize = env_or("BENCH_EXH_QUERIES", 10);
    let graph_queries: usize = env_or("BENCH_GRAPH_QUERIES", 200);
    let work: PathBuf = std::env::var("BENCH_WORK")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-scale")
        });
    std::fs::create_dir_all(&work).expect("create BENCH_WORK");
    let threads = rayon::current_num_threads();
    let rows: Vec<Value> = sizes
        .iter()
        .map(|&n| measure(&work, n, dim, exh_queries, graph_queries))
        .collect();
    let report = json!({"threads": threads, "dim": dim, "degree": DEGREE, "k": K, "rows": rows});
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    if let Ok(out) = std::env::var("BENCH_OUT") {
        std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap())
            .expect("write BENCH_OUT");
    }
}
