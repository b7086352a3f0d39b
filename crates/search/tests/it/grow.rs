//! Graphs grown by insertion (as merges grow them) against graphs built
//! from scratch.

use hypencoder_index::NO_NEIGHBOUR;
use hypencoder_search::{diversify, exact_knn, GraphMetric, GrowingGraph};
use hypencoder_test_support::Rng;

use crate::graph::{beam_recall, clustered, index_of, with_graph};

/// The build's graph: exact neighbours, diversified.
fn built(vectors: &hypencoder_index::Vectors, degree: usize) -> Vec<u32> {
    let knn = exact_knn(vectors, 2 * degree, GraphMetric::InnerProduct, &|_| {});
    diversify(vectors, &knn, 2 * degree, degree, GraphMetric::InnerProduct)
}

/// Every row has neighbours, none twice, none itself, all in range.
fn assert_well_formed(graph: &[u32], n: usize, degree: usize) {
    assert_eq!(graph.len(), n * degree);
    for u in 0..n {
        let row: Vec<u32> = graph[u * degree..(u + 1) * degree]
            .iter()
            .copied()
            .take_while(|&v| v != NO_NEIGHBOUR)
            .collect();
        assert!(!row.is_empty(), "row {u} has no neighbour");
        assert!(
            row.iter().all(|&v| (v as usize) < n && v as usize != u),
            "row {u}: {row:?}"
        );
        let mut dedup = row.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), row.len(), "row {u} lists a neighbour twice");
    }
}

#[test]
fn a_graph_grown_by_half_searches_as_one_built_from_scratch() {
    let (n, dim, degree) = (4000, 16, 16);
    let vectors = clustered(n, dim, &mut Rng::new(21));
    // The first half with its built graph; every tenth of it then deleted.
    let (_a, base) = index_of("grow-base", &vectors[..n / 2]);
    let base_graph = built(base.vectors(), degree);
    let base = with_graph(&base, &base_graph, degree, "exact-diversified");
    let map: Vec<Option<u32>> = {
        let mut next = 0;
        (0..n / 2)
            .map(|r| {
                (r % 10 != 3).then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect()
    };
    let kept: Vec<Vec<f32>> = (0..n / 2)
        .filter(|r| map[*r].is_some())
        .chain(n / 2..n)
        .map(|r| vectors[r].clone())
        .collect();
    let (_b, merged) = index_of("grow-merged", &kept);
    let carried = map.iter().flatten().count() as u32;
    let grow = || {
        let mut graph = GrowingGraph::new(merged.vectors(), degree, GraphMetric::InnerProduct, 64);
        graph.carry(base.graph().unwrap(), &map);
        graph.insert(&(carried..kept.len() as u32).collect::<Vec<_>>(), &|_| {});
        graph.finish()
    };
    let grown = grow();
    assert_well_formed(&grown, kept.len(), degree);
    // The same on one thread: chunks make the result independent of the
    // thread count.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert_eq!(one.install(grow), grown, "grown differently on one thread");

    let scratch = built(merged.vectors(), degree);
    let (recall_built, cost_built) = beam_recall(
        &with_graph(&merged, &scratch, degree, "exact-diversified"),
        &kept,
        &mut Rng::new(5),
    );
    let (recall_grown, cost_grown) = beam_recall(
        &with_graph(&merged, &grown, degree, "grown"),
        &kept,
        &mut Rng::new(5),
    );
    println!("built {recall_built} at {cost_built}, grown {recall_grown} at {cost_grown}");
    assert!(
        recall_grown >= recall_built - 0.01,
        "grown {recall_grown}, built {recall_built}"
    );
    assert!(
        cost_grown <= cost_built * 1.1,
        "grown scores {cost_grown}, built {cost_built}"
    );
}

#[test]
fn a_graph_grown_from_nothing_is_navigable() {
    let (n, dim, degree) = (1500, 12, 12);
    let vectors = clustered(n, dim, &mut Rng::new(4));
    let (_s, index) = index_of("grow-empty", &vectors);
    let mut graph = GrowingGraph::new(index.vectors(), degree, GraphMetric::InnerProduct, 48);
    let done = std::sync::atomic::AtomicUsize::new(0);
    graph.insert(&(0..n as u32).collect::<Vec<_>>(), &|d| {
        done.store(d, std::sync::atomic::Ordering::Relaxed)
    });
    assert_eq!(done.into_inner(), n, "progress reaches every row");
    let grown = graph.finish();
    assert_well_formed(&grown, n, degree);
    let (recall, _) = beam_recall(
        &with_graph(&index, &grown, degree, "grown"),
        &vectors,
        &mut Rng::new(9),
    );
    assert!(recall >= 0.95, "recall@10 {recall}");
}
