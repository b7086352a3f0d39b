//! Graph construction against brute force, and graph search recall against
//! exhaustive search (not timed).

use hypencoder_index::{write_graph, Dtype, GraphInfo, Segment};
use hypencoder_search::{
    exact_knn, exhaustive, graph_search, random_entry_points, DotScorer, GraphMetric, GraphParams,
    GraphScratch, Hit,
};
use hypencoder_test_support::{Rng, Scratch};

use crate::write_index;

/// Clustered unit vectors, like real embeddings: topics plus noise.
pub(crate) fn clustered(n: usize, dim: usize, rng: &mut Rng) -> Vec<Vec<f32>> {
    let centres: Vec<Vec<f32>> = (0..20).map(|_| rng.f32s(dim)).collect();
    (0..n)
        .map(|i| {
            let c = &centres[i % centres.len()];
            let mut v: Vec<f32> = c.iter().map(|x| x + 0.6 * rng.f32()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            v
        })
        .collect()
}

/// An f32 index of `vectors` in a new scratch folder, which must outlive it.
pub(crate) fn index_of(tag: &str, vectors: &[Vec<f32>]) -> (Scratch, Segment) {
    let scratch = Scratch::new(tag);
    let index = write_index(&scratch.join("idx"), vectors, Dtype::F32);
    (scratch, index)
}

/// Writes `neighbours` (`degree` per document, inner product) as the
/// index's graph and reopens the index to read it.
pub(crate) fn with_graph(
    index: &Segment,
    neighbours: &[u32],
    degree: usize,
    method: &str,
) -> Segment {
    let info = GraphInfo {
        degree,
        metric: "ip".into(),
        method: method.into(),
        recall_vs_exact: None,
    };
    write_graph(index.dir(), neighbours, info).unwrap();
    Segment::open(index.dir()).unwrap()
}

#[test]
fn exact_knn_matches_brute_force() {
    let mut rng = Rng::new(3);
    let vectors = clustered(700, 12, &mut rng);
    let (_s, index) = index_of("knn", &vectors);
    for metric in [
        GraphMetric::InnerProduct,
        GraphMetric::L2,
        GraphMetric::Cosine,
    ] {
        let degree = 8;
        let graph = exact_knn(index.vectors(), degree, metric, &|_| {});
        for (i, x) in vectors.iter().enumerate().step_by(37) {
            let mut hits: Vec<Hit> = vectors
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(j, y)| {
                    let score = match metric {
                        GraphMetric::InnerProduct => x.iter().zip(y).map(|(a, b)| a * b).sum(),
                        GraphMetric::L2 => {
                            -x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>()
                        }
                        GraphMetric::Cosine => {
                            let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
                            x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>() / (norm(x) * norm(y))
                        }
                    };
                    Hit {
                        doc: j as u32,
                        score,
                    }
                })
                .collect();
            hits.sort_by(Hit::rank_cmp);
            let want: Vec<u32> = hits[..degree].iter().map(|h| h.doc).collect();
            let got = &graph[i * degree..(i + 1) * degree];
            let overlap = got.iter().filter(|d| want.contains(d)).count();
            assert!(
                overlap >= degree - 1,
                "{metric:?} row {i}: {got:?} vs {want:?}"
            );
            assert!(
                !got.contains(&(i as u32)),
                "a document is not its own neighbour"
            );
        }
    }
}

#[test]
fn graph_search_recall_against_exhaustive() {
    let mut rng = Rng::new(11);
    let (n, dim, degree, k) = (4000, 16, 16, 10);
    let vectors = clustered(n, dim, &mut rng);
    let (_s, index) = index_of("recall", &vectors);
    let neighbours = exact_knn(index.vectors(), degree, GraphMetric::InnerProduct, &|_| {});
    let index = with_graph(&index, &neighbours, degree, "exact");
    let graph = index.graph().unwrap();

    let entry = random_entry_points(200, n, 43);
    let params = GraphParams::default();
    let mut scratch = GraphScratch::default();
    let (mut found, mut total, mut scored) = (0, 0, 0);
    for q in 0..50 {
        let query: Vec<f32> = rng.f32s(dim);
        let scorer = DotScorer::new(query, dim);
        let exact = exhaustive(index.vectors(), &scorer, k).remove(0);
        let (hits, stats) = graph_search(
            index.vectors(),
            graph,
            &scorer,
            &entry,
            k,
            &params,
            None,
            &mut scratch,
        );
        assert_eq!(hits.len(), k, "query {q}");
        for w in hits.windows(2) {
            assert!(w[0].rank_cmp(&w[1]).is_lt());
        }
        found += exact
            .iter()
            .filter(|e| hits.iter().any(|h| h.doc == e.doc))
            .count();
        total += k;
        scored += stats.scored;
        // Scratch reuse must not change results.
        let (fresh, _) = graph_search(
            index.vectors(),
            graph,
            &scorer,
            &entry,
            k,
            &params,
            None,
            &mut GraphScratch::default(),
        );
        assert_eq!(fresh, hits, "query {q}: reused scratch changed the result");
    }
    let recall = found as f64 / total as f64;
    let fraction = scored as f64 / (50 * n) as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
    assert!(fraction < 0.6, "scored {fraction} of the corpus per query");
}

#[test]
fn every_document_as_entry_point_is_exhaustive() {
    let mut rng = Rng::new(5);
    let vectors = clustered(300, 8, &mut rng);
    let (_s, index) = index_of("all-entry", &vectors);
    let neighbours = exact_knn(index.vectors(), 4, GraphMetric::InnerProduct, &|_| {});
    let index = with_graph(&index, &neighbours, 4, "exact");
    let entry: Vec<u32> = (0..300).collect();
    let scorer = DotScorer::new(vec![0.3; 8], 8);
    let params = GraphParams {
        ncandidates: 50,
        max_iter: 1,
        early_stop: true,
    };
    let (hits, stats) = graph_search(
        index.vectors(),
        index.graph().unwrap(),
        &scorer,
        &entry,
        10,
        &params,
        None,
        &mut GraphScratch::default(),
    );
    assert_eq!(stats.scored, 300);
    assert_eq!(hits, exhaustive(index.vectors(), &scorer, 10).remove(0));
}

#[test]
fn entry_points_are_distinct_and_deterministic() {
    let a = random_entry_points(1000, 5000, 43);
    assert_eq!(a, random_entry_points(1000, 5000, 43));
    let mut sorted = a.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 1000);
    assert!(sorted.iter().all(|&d| d < 5000));
    let mut all = random_entry_points(10_000, 50, 1);
    all.sort_unstable();
    assert_eq!(
        all,
        (0..50).collect::<Vec<u32>>(),
        "more than the corpus asked: every document once"
    );
}

/// Beam search (ef 128, 32 random entries) for 50 queries near the data, as
/// real queries are near their documents: (recall@10 against exhaustive,
/// fraction of the corpus scored per query).
pub(crate) fn beam_recall(index: &Segment, vectors: &[Vec<f32>], rng: &mut Rng) -> (f64, f64) {
    use hypencoder_search::{beam_search, BeamParams};
    let (n, dim, k) = (vectors.len(), vectors[0].len(), 10);
    let entry = random_entry_points(32, n, 43);
    let params = BeamParams { ef: 128, expand: 4 };
    let mut scratch = GraphScratch::default();
    let (mut found, mut scored) = (0, 0);
    for _ in 0..50 {
        let near = &vectors[(rng.f32().abs() * (n - 1) as f32) as usize];
        let query: Vec<f32> = near.iter().map(|x| x + 0.3 * rng.f32()).collect();
        let scorer = DotScorer::new(query, dim);
        let exact = exhaustive(index.vectors(), &scorer, k).remove(0);
        let (hits, stats) = beam_search(
            index.vectors(),
            index.graph().unwrap(),
            &scorer,
            &entry,
            k,
            &params,
            None,
            &mut scratch,
        );
        assert_eq!(hits.len(), k);
        found += exact
            .iter()
            .filter(|e| hits.iter().any(|h| h.doc == e.doc))
            .count();
        scored += stats.scored;
    }
    (
        found as f64 / (50 * k) as f64,
        scored as f64 / (50 * n) as f64,
    )
}

#[test]
fn beam_search_recall_and_cost() {
    let mut rng = Rng::new(21);
    let (n, dim, degree) = (4000, 16, 16);
    let vectors = clustered(n, dim, &mut rng);
    let (_s, index) = index_of("beam", &vectors);
    let neighbours = exact_knn(index.vectors(), degree, GraphMetric::InnerProduct, &|_| {});
    let index = with_graph(&index, &neighbours, degree, "exact");
    let (recall, fraction) = beam_recall(&index, &vectors, &mut rng);
    // Measured: 0.888 while scoring 8.9% of the documents (the paper's walk
    // above needs ~half the corpus for 0.95 on this data; a kNN graph of
    // clustered data has few links between clusters).
    assert!(recall >= 0.85, "recall@10 {recall}");
    assert!(fraction < 0.15, "scored {fraction} of the corpus per query");
}

#[test]
fn diversified_graph_is_well_formed_and_searches_better() {
    use hypencoder_search::diversify;
    let mut rng = Rng::new(21);
    let (n, dim, degree) = (4000, 16, 16);
    let vectors = clustered(n, dim, &mut rng);
    let (_s, index) = index_of("diverse", &vectors);
    let pool = 2 * degree;
    let knn = exact_knn(index.vectors(), pool, GraphMetric::InnerProduct, &|_| {});
    let graph = diversify(
        index.vectors(),
        &knn,
        pool,
        degree,
        GraphMetric::InnerProduct,
    );
    assert_eq!(graph.len(), n * degree);
    for u in 0..n {
        let row: Vec<u32> = graph[u * degree..(u + 1) * degree]
            .iter()
            .copied()
            .take_while(|&v| v != u32::MAX)
            .collect();
        assert!(!row.is_empty(), "document {u} has no neighbour");
        assert!(!row.contains(&(u as u32)), "document {u} links to itself");
        let mut dedup = row.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(
            dedup.len(),
            row.len(),
            "document {u} lists a neighbour twice"
        );
    }
    let index = with_graph(&index, &graph, degree, "exact-diversified");
    // The same queries as `beam_search_recall_and_cost` on the plain kNN
    // graph (0.888 there). Measured: 0.98 scoring 9.7%.
    let (recall, fraction) = beam_recall(&index, &vectors, &mut rng);
    assert!(recall >= 0.95, "recall@10 {recall}");
    assert!(fraction < 0.15, "scored {fraction} of the corpus per query");
}

#[test]
fn nn_descent_recall_against_exact() {
    use hypencoder_search::{knn_recall, nn_descent};
    let mut rng = Rng::new(8);
    let vectors = clustered(3000, 16, &mut rng);
    let (_s, index) = index_of("nnd", &vectors);
    for metric in [GraphMetric::InnerProduct, GraphMetric::L2] {
        let exact = exact_knn(index.vectors(), 16, metric, &|_| {});
        let approx = nn_descent(index.vectors(), 16, metric, 12, 7, &|_| {});
        let recall = knn_recall(&approx, &exact, 16);
        println!("{metric:?}: nn-descent recall {recall}");
        assert!(recall >= 0.9, "{metric:?}: recall {recall}");
        for u in 0..3000 {
            assert!(!approx[u * 16..(u + 1) * 16].contains(&(u as u32)));
        }
    }
    // Degenerate sizes do not panic.
    let (_s2, tiny) = index_of("nnd-tiny", &vectors[..1]);
    assert_eq!(
        nn_descent(tiny.vectors(), 4, GraphMetric::InnerProduct, 3, 1, &|_| {}),
        vec![u32::MAX; 4]
    );
}

/// A `DotScorer` that refuses to score rows in place, so the walk copies
/// them into blocks and scores those by GEMM: the path before
/// `Scorer::score_in_place`, and still the q-nets' path.
struct Gathered(DotScorer);

impl hypencoder_search::Scorer for Gathered {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn num_queries(&self) -> usize {
        self.0.num_queries()
    }
    fn score_block(
        &self,
        docs: &[f32],
        n: usize,
        out: &mut [f32],
        scratch: &mut hypencoder_search::ScratchSpace,
    ) {
        self.0.score_block(docs, n, out, scratch)
    }
}

/// Dot products scored in place (the kernels' prefetching `dots_at`) walk
/// exactly as gathered blocks do, at HNSW-like settings (one candidate per
/// step) and the q-nets' (four), with scores equal to rounding.
#[test]
fn in_place_dot_scoring_walks_as_gathered_blocks() {
    use hypencoder_search::{beam_search, BeamParams, Scorer};
    let mut rng = Rng::new(5);
    let (n, dim, degree) = (3000, 40, 12);
    let vectors = clustered(n, dim, &mut rng);
    let (_s, index) = index_of("in-place", &vectors);
    let neighbours = exact_knn(index.vectors(), degree, GraphMetric::InnerProduct, &|_| {});
    let index = with_graph(&index, &neighbours, degree, "exact");
    let entry = random_entry_points(16, n, 43);
    let (mut a, mut b) = (GraphScratch::default(), GraphScratch::default());
    for expand in [1, 4] {
        let params = BeamParams { ef: 64, expand };
        for q in 0..20 {
            let query: Vec<f32> = vectors[q * 97]
                .iter()
                .map(|x| x + 0.3 * rng.f32())
                .collect();
            let direct = DotScorer::new(query.clone(), dim);
            let mut probe = [0.0; 2];
            assert!(direct.score_in_place(index.vectors().as_f32().unwrap(), &[3, 1], &mut probe));
            let gathered = Gathered(DotScorer::new(query, dim));
            let graph = index.graph().unwrap();
            let run = |s: &dyn Scorer, scratch: &mut GraphScratch| {
                beam_search(
                    index.vectors(),
                    graph,
                    s,
                    &entry,
                    10,
                    &params,
                    None,
                    scratch,
                )
            };
            let (hits, stats) = run(&direct, &mut a);
            let (want, want_stats) = run(&gathered, &mut b);
            assert_eq!(stats, want_stats, "expand {expand}, query {q}: the walk");
            let docs = |h: &[Hit]| h.iter().map(|h| h.doc).collect::<Vec<_>>();
            assert_eq!(docs(&hits), docs(&want), "expand {expand}, query {q}");
            for (h, w) in hits.iter().zip(&want) {
                assert!((h.score - w.score).abs() <= 1e-5, "{h:?} vs {w:?}");
            }
        }
    }
}

/// Documents scored per query.
fn mean_scored(found: &[(Vec<Hit>, hypencoder_search::GraphStats)]) -> f64 {
    found.iter().map(|(_, s)| s.scored).sum::<usize>() as f64 / found.len() as f64
}

#[test]
fn a_filtered_walk_returns_only_kept_rows_and_keeps_its_recall() {
    use hypencoder_index::RowSet;
    use hypencoder_search::{
        exhaustive_rows, graph_search_many, BeamParams, GraphAlgorithm, Restrict, Scorer,
    };
    let mut rng = Rng::new(5);
    let (n, dim, degree, k) = (4000, 16, 16, 10);
    let vectors = clustered(n, dim, &mut rng);
    let (_s, index) = index_of("filtered-beam", &vectors);
    let neighbours = exact_knn(index.vectors(), degree, GraphMetric::InnerProduct, &|_| {});
    let diversified = hypencoder_search::diversify(
        index.vectors(),
        &neighbours,
        degree,
        degree,
        GraphMetric::InnerProduct,
    );
    let index = with_graph(&index, &diversified, degree, "exact-diversified");
    let scorers: Vec<Box<dyn Scorer>> = (0..40)
        .map(|_| {
            let near = &vectors[(rng.f32().abs() * (n - 1) as f32) as usize];
            let q: Vec<f32> = near.iter().map(|x| x + 0.3 * rng.f32()).collect();
            Box::new(DotScorer::new(q, dim)) as Box<dyn Scorer>
        })
        .collect();
    let entry = random_entry_points(32, n, 43);
    let walk = GraphAlgorithm::Beam(BeamParams { ef: 128, expand: 4 });
    let unfiltered = graph_search_many(
        index.vectors(),
        index.graph().unwrap(),
        &scorers,
        &entry,
        k,
        &walk,
        None,
    );
    // Every third row, every 20th, and a handful.
    for (every, min_recall) in [(3usize, 0.9), (20, 0.9), (400, 1.0)] {
        let rows = RowSet::from_fn(n, |r| r % every == 1);
        let kept = rows.to_rows();
        let restrict = Restrict {
            rows: &rows,
            count: kept.len(),
        };
        let found = graph_search_many(
            index.vectors(),
            index.graph().unwrap(),
            &scorers,
            &entry,
            k,
            &walk,
            Some(restrict),
        );
        let (mut hit, mut total) = (0, 0);
        for (scorer, (hits, _)) in scorers.iter().zip(&found) {
            assert!(
                hits.iter().all(|h| rows.contains(h.doc as usize)),
                "every {every}: {hits:?}"
            );
            let exact = exhaustive_rows(index.vectors(), scorer.as_ref(), k, &kept).remove(0);
            assert_eq!(hits.len(), exact.len());
            hit += exact
                .iter()
                .filter(|e| hits.iter().any(|h| h.doc == e.doc))
                .count();
            total += exact.len();
        }
        let recall = hit as f64 / total as f64;
        assert!(recall >= min_recall, "every {every}: recall@10 {recall}");
        // Only kept rows are scored (the others are stepped through), so
        // the walk costs about what an unfiltered one does, not 1/share
        // times as much.
        if every < 400 {
            let (filtered, all) = (mean_scored(&found), mean_scored(&unfiltered));
            assert!(
                filtered <= 1.25 * all,
                "every {every}: {filtered} scored per query against {all} unfiltered"
            );
        }
        // The random entry points, scored though not kept, outnumber a
        // handful of kept rows: scoring those rows is what makes it exact.
        if every == 400 {
            assert!(found.iter().any(|(_, stats)| stats.exact));
        }
    }
}
