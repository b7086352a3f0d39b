//! `hypencoder graph`: build the neighbour graph of an existing index.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use hypencoder_index::{write_graph, GraphInfo, Index};
use hypencoder_search::{diversify, exact_knn, knn_recall, nn_descent, GraphMetric};

use crate::progress_bar;

#[derive(clap::Args)]
pub struct GraphArgs {
    /// Index folder made by `hypencoder index`.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    #[command(flatten)]
    pub graph: GraphBuildArgs,
}

#[derive(clap::Args)]
pub struct GraphBuildArgs {
    /// Neighbours per document.
    #[arg(long, value_name = "K", default_value_t = 32)]
    pub degree: usize,
    /// Nearness for the graph: ip (inner product; cosine for normalised
    /// vectors), l2, or cos (cosine of unnormalised vectors: the right one
    /// for a Hypencoder over mean-pooled states, whose q-nets score by
    /// direction more than length).
    #[arg(long, value_name = "METRIC", default_value = "ip", value_parser = ["ip", "l2", "cos"])]
    pub metric: String,
    /// How neighbours are found: exact (all pairs by GEMM; fine to a few
    /// hundred thousand documents) or nn-descent (approximate, scales).
    #[arg(long, value_name = "METHOD", default_value = "exact", value_parser = ["exact", "nn-descent"])]
    pub construction: String,
    /// With nn-descent: also compute the exact graph and report the recall
    /// of the approximate neighbour lists against it.
    #[arg(long)]
    pub measure_recall: bool,
    /// Plain k-nearest-neighbour lists instead of pruned, diversified ones
    /// with reverse edges (the default, which keeps links between regions).
    #[arg(long)]
    pub plain_knn: bool,
}

/// Builds the exact kNN graph of the index in `dir` and adds it to the index.
pub fn build_graph(dir: &Path, args: &GraphBuildArgs) -> Result<()> {
    if args.degree == 0 {
        bail!("--degree must be at least 1");
    }
    let index = Index::open(dir)?;
    let metric = GraphMetric::parse(&args.metric).expect("clap checked the value");
    let started = std::time::Instant::now();
    let progress = progress_bar(index.len());
    // Diversified graphs choose among twice as many exact candidates.
    let pool = if args.plain_knn {
        args.degree
    } else {
        2 * args.degree
    };
    let knn = if args.construction == "nn-descent" {
        nn_descent(index.vectors(), pool, metric, 12, 43, &|_| progress.tick())
    } else {
        exact_knn(index.vectors(), pool, metric, &|rows| {
            progress.inc(rows as u64)
        })
    };
    progress.finish_and_clear();
    // Recall against exact kNN: 1 for exact lists, measured on request for
    // nn-descent; pruned lists are not meant to equal the exact ones.
    let recall = if args.construction == "nn-descent" {
        args.measure_recall.then(|| {
            let r = knn_recall(
                &knn,
                &exact_knn(index.vectors(), pool, metric, &|_| {}),
                pool,
            );
            eprintln!("nn-descent neighbour lists: recall {r:.4} against exact kNN");
            r
        })
    } else {
        Some(1.0)
    };
    let (neighbours, method, recall) = if args.plain_knn {
        (knn, args.construction.clone(), recall)
    } else {
        let diverse = diversify(index.vectors(), &knn, pool, args.degree, metric);
        let recall = recall.filter(|_| args.construction == "nn-descent");
        (
            diverse,
            format!("{}-diversified", args.construction),
            recall,
        )
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

pub fn run(args: &GraphArgs) -> Result<()> {
    build_graph(&args.index, &args.graph)
}
