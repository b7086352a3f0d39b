//! Neighbour graphs for graph search, one builder for every caller: a
//! segment's graph built from exact or nn-descent neighbour lists (pruned
//! into diversified lists by default) or grown by insertion, and a merged
//! segment's grown from its largest part's (a whole index's: `parts.rs`).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use hypencoder_index::{write_graph, GraphInfo, Segment};
use hypencoder_search::{
    diversify, exact_knn, knn_recall, nn_descent, unit_vectors, GraphMetric, GrowingGraph,
};

use crate::error::{Error, Result};
use crate::progress::Progress;

/// Pool of each insertion's search when a graph is grown (HNSW's
/// `ef_construction`).
pub const INSERT_EF: usize = 128;

/// nn-descent's most rounds and seed.
const NN_DESCENT_ROUNDS: usize = 12;
const NN_DESCENT_SEED: u64 = 43;

/// Below this many documents `Construction::Auto` finds neighbours
/// exactly; from here on insertion is faster (on debian-pkg's 60k vectors
/// it took 10-11 s against exact's 20 s, bench/graph/build.md) and exact's
/// n^2 runs away (over an hour at a million, against insertion's 13 min).
pub const EXACT_BELOW: usize = 50_000;

/// How neighbour lists are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Construction {
    /// Exact below `EXACT_BELOW` documents (or for plain kNN lists),
    /// insertion from there on.
    Auto,
    /// All pairs by GEMM: exact, O(n^2 d).
    Exact,
    /// nn-descent: approximate, for large corpora.
    NnDescent,
    /// Every document inserted into a growing graph (HNSW-style), linear in
    /// the documents.
    Insert,
}

impl Construction {
    /// The name the CLI takes and the manifest records.
    pub fn name(self) -> &'static str {
        match self {
            Construction::Auto => "auto",
            Construction::Exact => "exact",
            Construction::NnDescent => "nn-descent",
            Construction::Insert => "insert",
        }
    }

    /// The construction used for `n` documents (`Auto` resolved).
    pub fn for_documents(self, n: usize, plain_knn: bool) -> Construction {
        match self {
            Construction::Auto if n < EXACT_BELOW || plain_knn => Construction::Exact,
            Construction::Auto => Construction::Insert,
            chosen => chosen,
        }
    }
}

/// What graph to build.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphOptions {
    /// Neighbours per document.
    pub degree: usize,
    /// The metric; `None` is the one that suits the index
    /// ([`GraphMetric::suited_to`]).
    pub metric: Option<GraphMetric>,
    /// How neighbour lists are found.
    pub construction: Construction,
    /// nn-descent: measure the lists' recall against exact ones.
    pub measure_recall: bool,
    /// Keep the plain k nearest neighbours instead of diversified lists.
    pub plain_knn: bool,
}

impl GraphOptions {
    /// The default graph of `degree`: diversified neighbour lists, exact
    /// ones for small indexes and grown by insertion for large ones, in the
    /// metric that suits the index.
    pub fn new(degree: usize) -> Self {
        GraphOptions {
            degree,
            metric: None,
            construction: Construction::Auto,
            measure_recall: false,
            plain_knn: false,
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.degree == 0 {
            return Err(Error::Invalid {
                field: "degree",
                message: "must be at least 1".into(),
            });
        }
        if self.construction == Construction::Insert && (self.plain_knn || self.measure_recall) {
            return Err(Error::Invalid {
                field: "construction",
                message: "insert builds pruned lists only: it measures no recall and keeps no plain kNN lists".into(),
            });
        }
        Ok(())
    }
}

/// What a build made.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphReport {
    /// The method the manifest records (e.g. "exact-diversified").
    pub method: String,
    /// How the neighbour lists were found (`Auto` resolved).
    pub construction: Construction,
    /// The metric used.
    pub metric: GraphMetric,
    /// Recall of the neighbour lists against exact ones, where known.
    pub recall: Option<f64>,
    /// Segments given a graph.
    pub segments: usize,
    /// A metric was asked for that may mislead search over this index.
    pub warning: Option<String>,
}

/// Builds the graph of one segment folder.
pub(crate) fn segment_graph(
    dir: &Path,
    options: &GraphOptions,
    progress: &dyn Progress,
) -> Result<GraphReport> {
    let index = Segment::open(dir)?;
    let (metric, warning) = choose_metric(&index, options.metric);
    let construction = options
        .construction
        .for_documents(index.len(), options.plain_knn);
    if construction == Construction::Insert {
        let neighbours = grow(&index, options.degree, metric, progress);
        drop(index);
        return write(
            dir,
            (options.degree, metric, construction),
            "inserted",
            None,
            &neighbours,
            warning,
        );
    }
    // Diversified graphs choose among twice as many candidates.
    let pool = if options.plain_knn {
        options.degree
    } else {
        2 * options.degree
    };
    // One step from the neighbour lists to the pruned graph.
    progress.start("graph", index.len());
    let knn = neighbour_lists(&index, pool, metric, construction, progress);
    let recall = match construction {
        Construction::Exact => Some(1.0),
        Construction::NnDescent if options.measure_recall => {
            let exact = exact_knn(index.vectors(), pool, metric, &|_| {});
            Some(knn_recall(&knn, &exact, pool))
        }
        _ => None,
    };
    let name = construction.name();
    let (neighbours, method, recall) = if options.plain_knn {
        (knn, name.to_string(), recall)
    } else {
        let diverse = diversify(index.vectors(), &knn, pool, options.degree, metric);
        // Pruned lists are not meant to equal the exact ones: keep only a
        // measured recall, which describes the candidate lists pruned from.
        let recall = recall.filter(|_| construction == Construction::NnDescent);
        (diverse, format!("{name}-diversified"), recall)
    };
    progress.finish();
    drop(index);
    write(
        dir,
        (options.degree, metric, construction),
        &method,
        recall,
        &neighbours,
        warning,
    )
}

/// Writes a segment's graph, built as `(degree, metric, construction)`.
fn write(
    dir: &Path,
    (degree, metric, construction): (usize, GraphMetric, Construction),
    method: &str,
    recall: Option<f64>,
    neighbours: &[u32],
    warning: Option<String>,
) -> Result<GraphReport> {
    let info = GraphInfo {
        degree,
        metric: metric.name().to_string(),
        method: method.to_string(),
        recall_vs_exact: recall,
    };
    write_graph(dir, neighbours, info)?;
    Ok(GraphReport {
        method: method.to_string(),
        construction,
        metric,
        recall,
        segments: 1,
        warning,
    })
}

/// Every document inserted into a graph grown from nothing, then pruned as
/// built graphs are.
fn grow(index: &Segment, degree: usize, metric: GraphMetric, progress: &dyn Progress) -> Vec<u32> {
    progress.start("graph", index.len());
    let mut graph = GrowingGraph::new(index.vectors(), degree, metric, INSERT_EF);
    let rows: Vec<u32> = (0..index.len() as u32).collect();
    graph.insert(&rows, &|done| progress.set(done));
    progress.finish();
    graph.finish()
}

/// The metric asked for, or the one that suits the index; an explicit
/// choice that differs comes with a warning.
fn choose_metric(index: &Segment, asked: Option<GraphMetric>) -> (GraphMetric, Option<String>) {
    let suited = GraphMetric::suited_to(index);
    let Some(asked) = asked else {
        return (suited, None);
    };
    if asked == suited || (unit_vectors(index) && asked == GraphMetric::Cosine) {
        return (asked, None);
    }
    let why = if index.manifest().model.kind == "hypencoder" {
        "its Hypencoder's q-nets score unnormalised vectors by direction"
    } else {
        "its bi-encoder scores by inner product"
    };
    let warning = format!(
        "a {} graph may mislead search over {}: {why}; {} suits it (the default)",
        asked.name(),
        index.dir().display(),
        suited.name()
    );
    (asked, Some(warning))
}

/// The `pool` nearest neighbours of every document (row-major).
fn neighbour_lists(
    index: &Segment,
    pool: usize,
    metric: GraphMetric,
    construction: Construction,
    progress: &dyn Progress,
) -> Vec<u32> {
    let done = AtomicUsize::new(0);
    let knn = match construction {
        Construction::NnDescent => nn_descent(
            index.vectors(),
            pool,
            metric,
            NN_DESCENT_ROUNDS,
            NN_DESCENT_SEED,
            &|_| {},
        ),
        Construction::Exact => exact_knn(index.vectors(), pool, metric, &|rows| {
            progress.set(done.fetch_add(rows, Ordering::Relaxed) + rows)
        }),
        Construction::Insert | Construction::Auto => unreachable!("resolved, and grown by grow"),
    };
    knn
}

/// The graph of a merged segment in `dir`: the graph of its largest part
/// carried over and every other document inserted into it, or, when no
/// part has a graph of this kind, one built from scratch. `maps[p]` gives
/// each row of `parts[p]` its row in the merged segment (`None`: dropped).
pub(crate) fn merged_graph(
    dir: &Path,
    degree: usize,
    parts: &[&Segment],
    maps: &[Vec<Option<u32>>],
) -> Result<()> {
    let index = Segment::open(dir)?;
    let metric = GraphMetric::suited_to(&index);
    let base = (0..parts.len())
        .filter(|&p| {
            parts[p].graph().is_some_and(|g| g.degree() == degree)
                && parts[p]
                    .manifest()
                    .graph
                    .as_ref()
                    .is_some_and(|info| info.metric == metric.name())
        })
        .max_by_key(|&p| maps[p].iter().flatten().count());
    let Some(base) = base else {
        drop(index);
        segment_graph(dir, &GraphOptions::new(degree), &crate::progress::Quiet)?;
        return Ok(());
    };
    let mut graph = GrowingGraph::new(index.vectors(), degree, metric, INSERT_EF);
    graph.carry(
        parts[base].graph().expect("chosen for its graph"),
        &maps[base],
    );
    let rest: Vec<u32> = (0..maps.len())
        .filter(|&p| p != base)
        .flat_map(|p| maps[p].iter().flatten().copied())
        .collect();
    graph.insert(&rest, &|_| {});
    let neighbours = graph.finish();
    drop(index);
    let info = GraphInfo {
        degree,
        metric: metric.name().to_string(),
        method: "exact-diversified+inserted".to_string(),
        recall_vs_exact: None,
    };
    write_graph(dir, &neighbours, info)?;
    Ok(())
}
