//! A filtered plan over a bi-encoder index with a field, searched by query
//! vectors: exhaustive search is exact on the kept rows, graph search
//! returns only kept rows with the recall of the exact answer, and a
//! filter keeping fewer rows than a walk would score is answered by
//! scoring them.

use hypencoder_index::{Dtype, Filter, RowSet, Segment};
use hypencoder_search::{
    diversify, exact_knn, Found, GraphMetric, Mode, Plan, SearchError, SearchParams, Searcher,
};
use hypencoder_test_support::{Rng, Scratch};
use serde_json::json;

use crate::graph::{clustered, with_graph};
use crate::write_index_as;

/// A document's bucket, 0..100, unrelated to its cluster (`clustered`
/// takes the cluster from the row modulo 20).
fn bucket(row: usize) -> u64 {
    (row as u64).wrapping_mul(2_654_435_761) % 1009 % 100
}

fn plan_search(searcher: &Searcher, mode: Mode, filter: Option<&Filter>, q: &[f32]) -> Found {
    let params = SearchParams {
        k: 10,
        mode: Some(mode),
        ..SearchParams::default()
    };
    let mut plan = Plan::new(searcher, &params).unwrap();
    if let Some(f) = filter {
        assert!(plan.filter(f).unwrap().is_empty(), "bucket is a field");
    }
    plan.search_vectors(q, 16).unwrap()
}

/// `n` clustered 16-d vectors with a bucket each, as a bi-encoder index
/// with an exact, diversified graph of degree 16.
fn bucketed_index(scratch: &Scratch, n: usize, rng: &mut Rng) -> (Vec<Vec<f32>>, Segment) {
    let degree = 16;
    let vectors = clustered(n, 16, rng);
    let index = write_index_as(
        &scratch.join("idx"),
        &vectors,
        Dtype::F32,
        "bi-encoder",
        |row| json!({"bucket": bucket(row)}).as_object().unwrap().clone(),
    );
    let knn = exact_knn(index.vectors(), degree, GraphMetric::InnerProduct, &|_| {});
    let graph = diversify(
        index.vectors(),
        &knn,
        degree,
        degree,
        GraphMetric::InnerProduct,
    );
    let index = with_graph(&index, &graph, degree, "exact-diversified");
    (vectors, index)
}

/// The best 10 of `rows` for `q` by dot product, ties to the lower row.
fn best_kept(vectors: &[Vec<f32>], rows: &RowSet, q: &[f32]) -> Vec<u32> {
    let mut scored: Vec<(f32, u32)> = rows
        .to_rows()
        .into_iter()
        .map(|r| {
            let d: f32 = vectors[r as usize].iter().zip(q).map(|(a, b)| a * b).sum();
            (d, r)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.iter().take(10).map(|s| s.1).collect()
}

#[test]
fn a_filtered_plan_answers_from_kept_rows_in_every_neural_mode() {
    let mut rng = Rng::new(11);
    let (n, dim) = (3000, 16);
    let scratch = Scratch::new("filtered-plan");
    let (vectors, index) = bucketed_index(&scratch, n, &mut rng);
    let searcher = Searcher::single(&index);
    let queries: Vec<f32> = (0..30)
        .flat_map(|_| {
            let near = &vectors[(rng.f32().abs() * (n - 1) as f32) as usize];
            near.iter().map(|x| x + 0.3 * rng.f32()).collect::<Vec<_>>()
        })
        .collect();
    // The walk's own recall here, unfiltered: the bar a filtered walk
    // should keep.
    let unfiltered = {
        let exact = plan_search(&searcher, Mode::Exhaustive, None, &queries);
        let walked = plan_search(&searcher, Mode::Graph, None, &queries);
        let hit: usize = (exact.hits.iter().zip(&walked.hits))
            .map(|(want, got)| {
                got.iter()
                    .filter(|h| want.iter().any(|w| w.doc == h.doc))
                    .count()
            })
            .sum();
        hit as f64 / (10 * exact.hits.len()) as f64
    };
    for (filter, min_recall) in [
        (json!({"bucket": {"lt": 50}}), 0.95f64),
        (json!({"bucket": {"in": [3, 77, 78]}}), 0.95),
        (json!({"bucket": 5}), 1.0),
    ] {
        let parsed = Filter::parse(&filter).unwrap();
        let rows = RowSet::from_fn(n, |r| {
            let b = bucket(r);
            match &filter["bucket"] {
                serde_json::Value::Number(x) => Some(b) == x.as_u64(),
                v if v.get("lt").is_some() => b < 50,
                _ => [3, 77, 78].contains(&b),
            }
        });
        let exact = plan_search(&searcher, Mode::Exhaustive, Some(&parsed), &queries);
        let walked = plan_search(&searcher, Mode::Graph, Some(&parsed), &queries);
        let (mut hit, mut total) = (0, 0);
        for (q, (want, got)) in queries.chunks(dim).zip(exact.hits.iter().zip(&walked.hits)) {
            let best = best_kept(&vectors, &rows, q);
            assert_eq!(
                want.iter().map(|h| h.doc).collect::<Vec<_>>(),
                best,
                "{filter}"
            );
            assert!(
                got.iter().all(|h| rows.contains(h.doc as usize)),
                "{filter}: {got:?}"
            );
            hit += got.iter().filter(|h| best.contains(&h.doc)).count();
            total += best.len();
        }
        let recall = hit as f64 / total as f64;
        assert!(
            recall >= min_recall.min(unfiltered - 0.03),
            "{filter}: recall@10 {recall}, unfiltered {unfiltered}"
        );
        if rows.count() < 100 {
            // Fewer rows than a walk scores: they are scored, every one.
            assert_eq!(
                walked.scored,
                rows.count() * queries.len() / dim,
                "{filter}"
            );
        }
    }
}

#[test]
fn query_vectors_are_checked_against_the_index() {
    let mut rng = Rng::new(3);
    let vectors = clustered(50, 8, &mut rng);
    let scratch = Scratch::new("vectors-checked");
    let none = |_| serde_json::Map::new();
    let bi = write_index_as(
        &scratch.join("bi"),
        &vectors,
        Dtype::F32,
        "bi-encoder",
        none,
    );
    let hyper = write_index_as(
        &scratch.join("hyper"),
        &vectors,
        Dtype::F32,
        "hypencoder",
        none,
    );
    let params = SearchParams {
        mode: Some(Mode::Exhaustive),
        ..SearchParams::default()
    };
    let message = |searcher: &Searcher, q: &[f32], dim: usize| match Plan::new(searcher, &params)
        .unwrap()
        .search_vectors(q, dim)
    {
        Err(SearchError::Invalid { field, message }) => {
            assert_eq!(field, "queries");
            message
        }
        other => panic!("expected an invalid query, got {other:?}"),
    };
    let bi = Searcher::single(&bi);
    assert!(message(&bi, &[0.0; 12], 6).contains("8-d"), "dim differs");
    assert!(
        message(&bi, &[0.0; 12], 8).contains("whole"),
        "not whole vectors"
    );
    let hyper = Searcher::single(&hyper);
    assert!(message(&hyper, &[0.0; 8], 8).contains("bi-encoder"));
    let found = Plan::new(&bi, &params)
        .unwrap()
        .search_vectors(&vectors[7], 8)
        .unwrap();
    assert_eq!(found.hits[0][0].doc, 7, "a document is its own best match");
}
