//! Building an index's neighbour graph: k nearest neighbours found exactly
//! (all pairs by GEMM) or approximately (nn-descent), then by default pruned
//! into diversified lists with reverse edges; written into the index folder.

use std::path::Path;

use anyhow::{bail, Result};
use hypencoder_index::{write_graph, GraphInfo, Index};
use hypencoder_search::{
    diversify, exact_knn, knn_recall, nn_descent, unit_vectors, GraphMetric, GrowingGraph,
};

use super::choices::{ConstructionArg, MetricArg};
use super::flags::GraphBuildArgs;
use super::progress::progress_bar;

/// Builds the neighbour graph of the index in `dir` as `args` ask and adds
/// it to the index, replacing any graph it had.
pub fn build_graph(dir: &Path, args: &GraphBuildArgs) -> Result<()> {
    if args.degree == 0 {
        bail!("--degree must be at least 1");
    }
    let index = super::index::open_index(dir)?;
    let metric = choose_metric(&index, args.metric);
    let started = std::time::Instant::now();
    if args.construction == ConstructionArg::Insert {
        if args.plain_knn || args.measure_recall {
            bail!("--construction insert builds pruned lists only: drop --plain-knn and --measure-recall");
        }
        return grow_graph(index, dir, args.degree, metric, started);
    }
    // Diversified graphs choose among twice as many candidates.
    let pool = if args.plain_knn {
        args.degree
    } else {
        2 * args.degree
    };
    let knn = neighbour_lists(&index, pool, metric, args.construction);
    let recall = recall_vs_exact(&index, &knn, pool, metric, args);
    let construction = args.construction.name();
    let (neighbours, method, recall) = if args.plain_knn {
        (knn, construction.to_string(), recall)
    } else {
        let diverse = diversify(index.vectors(), &knn, pool, args.degree, metric);
        // Pruned lists are not meant to equal the exact ones: keep only a
        // measured recall, which describes the candidate lists pruned from.
        let recall = recall.filter(|_| args.construction == ConstructionArg::NnDescent);
        (diverse, format!("{construction}-diversified"), recall)
    };
    let info = GraphInfo {
        degree: args.degree,
        metric: metric.name().to_string(),
        method: method.clone(),
        recall_vs_exact: recall,
    };
    drop(index);
    write_graph(dir, &neighbours, info)?;
    eprintln!(
        "built the {method} {}-NN graph ({}) of {} in {:.1} s",
        args.degree,
        metric.name(),
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `--construction insert`: every document inserted into a graph grown from
/// nothing, then pruned as built graphs are (`GrowingGraph`).
fn grow_graph(
    index: Index,
    dir: &Path,
    degree: usize,
    metric: GraphMetric,
    started: std::time::Instant,
) -> Result<()> {
    let progress = progress_bar(index.len());
    let mut graph = GrowingGraph::new(index.vectors(), degree, metric, 128);
    let rows: Vec<u32> = (0..index.len() as u32).collect();
    graph.insert(&rows, &|done| progress.set_position(done as u64));
    progress.finish_and_clear();
    let neighbours = graph.finish();
    drop(index);
    let info = GraphInfo {
        degree,
        metric: metric.name().to_string(),
        method: "inserted".to_string(),
        recall_vs_exact: None,
    };
    write_graph(dir, &neighbours, info)?;
    eprintln!(
        "grew the {degree}-NN graph ({}) of {} by insertion in {:.1} s",
        metric.name(),
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The metric asked for, or the one that suits the index
/// (`GraphMetric::suited_to`); an explicit choice that differs gets a
/// warning.
fn choose_metric(index: &Index, asked: Option<MetricArg>) -> GraphMetric {
    let hypencoder = index.manifest().model.kind == "hypencoder";
    let suited = GraphMetric::suited_to(index);
    let Some(asked) = asked.map(GraphMetric::from) else {
        return suited;
    };
    if asked != suited && !(unit_vectors(index) && asked == GraphMetric::Cosine) {
        let why = if hypencoder {
            "its Hypencoder's q-nets score unnormalised vectors by direction"
        } else {
            "its bi-encoder scores by inner product"
        };
        eprintln!(
            "warning: a {} graph may mislead search over {}: {why}; {} suits it (the default)",
            asked.name(),
            index.dir().display(),
            suited.name()
        );
    }
    asked
}

/// The `pool` nearest neighbours of every document (row-major), with a
/// progress bar.
fn neighbour_lists(
    index: &Index,
    pool: usize,
    metric: GraphMetric,
    construction: ConstructionArg,
) -> Vec<u32> {
    let progress = progress_bar(index.len());
    let knn = match construction {
        ConstructionArg::NnDescent => {
            nn_descent(index.vectors(), pool, metric, 12, 43, &|_| progress.tick())
        }
        ConstructionArg::Exact => exact_knn(index.vectors(), pool, metric, &|rows| {
            progress.inc(rows as u64)
        }),
        ConstructionArg::Insert => unreachable!("grown by grow_graph"),
    };
    progress.finish_and_clear();
    knn
}

/// Recall of the neighbour lists against exact kNN: 1 for exact lists,
/// measured on request for nn-descent (and reported on stderr), else
/// unknown.
fn recall_vs_exact(
    index: &Index,
    knn: &[u32],
    pool: usize,
    metric: GraphMetric,
    args: &GraphBuildArgs,
) -> Option<f64> {
    match args.construction {
        ConstructionArg::Exact => Some(1.0),
        ConstructionArg::Insert => None,
        ConstructionArg::NnDescent => args.measure_recall.then(|| {
            let exact = exact_knn(index.vectors(), pool, metric, &|_| {});
            let r = knn_recall(knn, &exact, pool);
            eprintln!("nn-descent neighbour lists: recall {r:.4} against exact kNN");
            r
        }),
    }
}
