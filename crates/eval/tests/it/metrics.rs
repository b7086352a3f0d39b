//! Metric names, query selection, and every metric against a naive
//! implementation on random rankings full of ties.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hypencoder_eval::{evaluate, evaluate_with, EvalError, EvalOptions, Metric, Qrels, Run};
use hypencoder_test_support::Rng;

#[test]
fn metric_names_parse_in_both_styles() {
    let cases = [
        ("map", Metric::Map),
        ("AP", Metric::Map),
        ("recip_rank", Metric::RecipRank(None)),
        ("MRR", Metric::RecipRank(None)),
        ("mrr@10", Metric::RecipRank(Some(10))),
        ("RR@10", Metric::RecipRank(Some(10))),
        ("recip_rank_cut_10", Metric::RecipRank(Some(10))),
        ("ndcg", Metric::Ndcg(None)),
        ("ndcg_cut_10", Metric::Ndcg(Some(10))),
        ("ndcg_cut.10", Metric::Ndcg(Some(10))),
        ("nDCG@10", Metric::Ndcg(Some(10))),
        ("recall_100", Metric::Recall(100)),
        ("recall@1000", Metric::Recall(1000)),
        ("R@5", Metric::Recall(5)),
        ("P_10", Metric::Precision(10)),
        ("p@10", Metric::Precision(10)),
        (" precision@3 ", Metric::Precision(3)),
    ];
    for (name, metric) in cases {
        assert_eq!(Metric::parse(name).unwrap(), metric, "{name}");
        let canonical = metric.to_string();
        assert_eq!(canonical.parse::<Metric>().unwrap(), metric, "{canonical}");
    }
    assert_eq!(Metric::RecipRank(Some(10)).to_string(), "recip_rank_cut_10");
    assert_eq!(Metric::Precision(5).to_string(), "P_5");
}

#[test]
fn unknown_metrics_list_the_supported_ones() {
    for name in [
        "bpref", "ndcg@0", "recall", "recall@", "recall@x", "ndcg_cut", "map@10", "mrr@-1",
    ] {
        let error = Metric::parse(name).unwrap_err();
        assert!(matches!(error, EvalError::UnknownMetric(_)), "{name}");
        let message = error.to_string();
        assert!(message.contains(&format!("'{name}'")), "{message}");
        for supported in [
            "map",
            "recip_rank",
            "mrr@K",
            "ndcg_cut_K",
            "ndcg@K",
            "recall@K",
            "P_K",
        ] {
            assert!(message.contains(supported), "{message}");
        }
    }
}

#[test]
fn no_common_query_is_an_error() {
    let qrels = Qrels::from_reader("q1 0 a 1\n".as_bytes(), "q").unwrap();
    let mut run = Run::new();
    run.add_query("q2", [("a", 1.0)]).unwrap();
    let error = evaluate(&qrels, &run, &[Metric::Map]).unwrap_err();
    assert!(matches!(error, EvalError::NoQueries));
    // With -c the judged query counts, scoring 0.
    let complete = EvalOptions {
        complete: true,
        ..Default::default()
    };
    let eval = evaluate_with(&qrels, &run, &[Metric::Map], complete).unwrap();
    assert_eq!(eval.mean[&Metric::Map], 0.0);
}

/// trec_eval's order written out the long way: repeatedly take the best.
fn naive_ranking(docs: &[(String, f64)]) -> Vec<String> {
    let better = |a: &(String, f64), b: &(String, f64)| a.1 > b.1 || (a.1 == b.1 && a.0 > b.0);
    let mut left = docs.to_vec();
    let mut ranking = Vec::new();
    while !left.is_empty() {
        let mut best = 0;
        for i in 1..left.len() {
            if better(&left[i], &left[best]) {
                best = i;
            }
        }
        ranking.push(left.remove(best).0);
    }
    ranking
}

fn naive(judgments: &HashMap<String, i32>, docs: &[(String, f64)], metric: Metric) -> f64 {
    let ranking = naive_ranking(docs);
    let rel = |i: usize| judgments.get(&ranking[i]).copied().unwrap_or(0);
    let relevant_total = judgments.values().filter(|&&r| r > 0).count() as f64;
    let relevant_in_top =
        |k: usize| (0..k.min(ranking.len())).filter(|&i| rel(i) > 0).count() as f64;
    let n = ranking.len();
    match metric {
        Metric::Map => {
            if relevant_total == 0.0 {
                return 0.0;
            }
            let mut sum = 0.0;
            for i in 0..n {
                if rel(i) > 0 {
                    sum += relevant_in_top(i + 1) / (i + 1) as f64;
                }
            }
            sum / relevant_total
        }
        Metric::RecipRank(cutoff) => {
            let k = cutoff.unwrap_or(n);
            for i in 0..k.min(n) {
                if rel(i) > 0 {
                    return 1.0 / (i + 1) as f64;
                }
            }
            0.0
        }
        Metric::Ndcg(cutoff) => {
            let k = cutoff.unwrap_or(usize::MAX);
            let discount = |i: usize| (i as f64 + 2.0).log2();
            let mut dcg = 0.0;
            for i in 0..k.min(n) {
                dcg += f64::from(rel(i).max(0)) / discount(i);
            }
            let mut grades: Vec<i32> = judgments.values().copied().filter(|&r| r > 0).collect();
            grades.sort_by(|a, b| b.cmp(a));
            let mut ideal = 0.0;
            for (i, &g) in grades.iter().enumerate().take(k) {
                ideal += f64::from(g) / discount(i);
            }
            if ideal == 0.0 {
                0.0
            } else {
                dcg / ideal
            }
        }
        Metric::Recall(k) => {
            if relevant_total == 0.0 {
                0.0
            } else {
                relevant_in_top(k) / relevant_total
            }
        }
        Metric::Precision(k) => relevant_in_top(k) / k as f64,
    }
}

/// Run documents per query id, as given to [`Run::add_query`].
type RunDocs = BTreeMap<String, Vec<(String, f64)>>;

#[test]
fn metrics_match_a_naive_implementation_on_random_rankings() {
    let mut rng = Rng::new(7);
    let cutoffs = [1, 2, 3, 5, 10, 20, 100];
    for trial in 0..400 {
        let metrics = [
            Metric::Map,
            Metric::RecipRank(None),
            Metric::RecipRank(Some(rng.pick(&cutoffs))),
            Metric::Ndcg(None),
            Metric::Ndcg(Some(rng.pick(&cutoffs))),
            Metric::Recall(rng.pick(&cutoffs)),
            Metric::Precision(rng.pick(&cutoffs)),
        ];
        let (qrels, run, run_docs) = random_case(&mut rng);
        for complete in [false, true] {
            for skip_without_relevant in [false, true] {
                let options = EvalOptions {
                    complete,
                    skip_without_relevant,
                };
                let what = format!("trial {trial} {options:?}");
                check_against_naive(&qrels, &run, &run_docs, &metrics, options, &what);
            }
        }
    }
}

/// Five queries, each judged (or not) and retrieved (or not) at random,
/// with grades and scores full of ties.
fn random_case(rng: &mut Rng) -> (Qrels, Run, RunDocs) {
    let grades = [-1, 0, 0, 1, 1, 2, 3];
    let scores = [0.0, 0.5, 1.0, 1.0, 2.5, -1.0];
    let mut qrels = Qrels::new();
    let mut run = Run::new();
    let mut run_docs = RunDocs::new();
    for q in 0..5 {
        let qid = format!("q{q}");
        let universe = 1 + rng.below(40);
        // Ids of mixed length so byte order differs from numeric order.
        let ids: Vec<String> = (0..universe).map(|d| format!("d{}", d * 7 % 53)).collect();
        let ids: BTreeSet<String> = ids.into_iter().collect();
        if rng.below(5) > 0 {
            for id in &ids {
                if rng.below(2) == 0 {
                    qrels.insert(qid.clone(), id.clone(), rng.pick(&grades));
                }
            }
        }
        if rng.below(5) > 0 {
            let mut docs = Vec::new();
            for id in &ids {
                if rng.below(10) < 6 {
                    let score = if rng.below(2) == 0 {
                        rng.pick(&scores)
                    } else {
                        rng.below(1000) as f64 / 7.0
                    };
                    docs.push((id.clone(), score));
                }
            }
            if !docs.is_empty() {
                run.add_query(qid.clone(), docs.iter().cloned()).unwrap();
                run_docs.insert(qid, docs);
            }
        }
    }
    (qrels, run, run_docs)
}

/// Per-query values and means of `evaluate_with` against [`naive`] over the
/// queries `options` selects.
fn check_against_naive(
    qrels: &Qrels,
    run: &Run,
    run_docs: &RunDocs,
    metrics: &[Metric],
    options: EvalOptions,
    what: &str,
) {
    let expected: BTreeMap<String, BTreeMap<Metric, f64>> = qrels
        .queries()
        .filter(|(qid, _)| options.complete || run_docs.contains_key(*qid))
        .filter(|(_, j)| !options.skip_without_relevant || j.values().any(|&r| r > 0))
        .map(|(qid, judgments)| {
            let docs = run_docs.get(qid).map_or(&[][..], Vec::as_slice);
            let values = metrics
                .iter()
                .map(|&m| (m, naive(judgments, docs, m)))
                .collect();
            (qid.to_owned(), values)
        })
        .collect();
    let result = evaluate_with(qrels, run, metrics, options);
    if expected.is_empty() {
        assert!(matches!(result, Err(EvalError::NoQueries)), "{what}");
        return;
    }
    let ours = result.unwrap();
    assert_eq!(
        ours.per_query.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (qid, values) in &expected {
        for (metric, value) in values {
            let got = ours.per_query[qid][metric];
            assert!(
                (got - value).abs() < 1e-12,
                "{what} {qid} {metric}: {got} vs naive {value}"
            );
        }
    }
    for metric in metrics {
        let mean = expected.values().map(|v| v[metric]).sum::<f64>() / expected.len() as f64;
        assert!(
            (ours.mean[metric] - mean).abs() < 1e-12,
            "{what} mean {metric}"
        );
    }
}
