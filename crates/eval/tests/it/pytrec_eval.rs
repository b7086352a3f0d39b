//! Our metrics against trec_eval's, as computed by pytrec_eval on the
//! committed data (tests/data/make_expected.py wrote expected.json).

use std::collections::BTreeMap;
use std::path::PathBuf;

use hypencoder_eval::{evaluate, evaluate_with, EvalOptions, Evaluation, Metric, Qrels, Run};
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn expected() -> Value {
    let text = std::fs::read_to_string(data("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn metrics(expected: &Value) -> Vec<Metric> {
    let names = expected["metrics"].as_array().unwrap();
    names
        .iter()
        .map(|n| Metric::parse(n.as_str().unwrap()).unwrap())
        .collect()
}

fn assert_close(what: &str, ours: f64, theirs: &Value) {
    let theirs = theirs
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no expected value"));
    assert!(
        (ours - theirs).abs() < 1e-12,
        "{what}: ours {ours}, pytrec_eval {theirs}"
    );
}

fn assert_matches(mode: &str, ours: &Evaluation, expected: &Value) {
    let expected = &expected[mode];
    let queries = expected["per_query"].as_object().unwrap();
    let our_queries: Vec<&String> = ours.per_query.keys().collect();
    let their_queries: Vec<&String> = queries.keys().collect();
    assert_eq!(our_queries, their_queries, "{mode}: evaluated queries");
    for (qid, values) in &ours.per_query {
        assert_eq!(values.len(), queries[qid].as_object().unwrap().len());
        for (metric, value) in values {
            let what = format!("{mode} {qid} {metric}");
            assert_close(&what, *value, &queries[qid][metric.to_string()]);
        }
    }
    for (metric, value) in &ours.mean {
        assert_close(
            &format!("{mode} mean {metric}"),
            *value,
            &expected["mean"][metric.to_string()],
        );
    }
}

fn inputs() -> (Qrels, Run) {
    (
        Qrels::read(data("qrels.txt")).unwrap(),
        Run::read(data("run.txt")).unwrap(),
    )
}

#[test]
fn plain_trec_eval() {
    let expected = expected();
    let (qrels, run) = inputs();
    let ours = evaluate(&qrels, &run, &metrics(&expected)).unwrap();
    assert_matches("plain", &ours, &expected);
}

/// `evaluate_with(options)` on the committed data against pytrec_eval's
/// figures for `mode`.
fn check_with_options(mode: &str, options: EvalOptions) {
    let expected = expected();
    let (qrels, run) = inputs();
    let ours = evaluate_with(&qrels, &run, &metrics(&expected), options).unwrap();
    assert_matches(mode, &ours, &expected);
}

#[test]
fn complete_like_trec_eval_c() {
    let options = EvalOptions {
        complete: true,
        ..Default::default()
    };
    check_with_options("complete", options);
}

#[test]
fn skipping_queries_without_relevant_documents() {
    let options = EvalOptions {
        skip_without_relevant: true,
        ..Default::default()
    };
    check_with_options("skip_without_relevant", options);
}

#[test]
fn committed_run_is_ranked_like_trec_eval() {
    let (_, run) = inputs();
    let ids = |qid| -> Vec<&str> {
        run.ranking(qid)
            .unwrap()
            .iter()
            .map(|d| d.docid.as_str())
            .collect()
    };
    // Ties by decreasing docid; "6" ties "6.0"; the rank column is ignored.
    assert_eq!(
        ids("q1"),
        [
            "d2", "d9", "d1", "d3", "d6", "d5", "d4", "d8", "d7", "d11", "d100", "d10", "d12",
            "d14", "d13", "d16", "e1", "e2", "d15"
        ]
    );
    assert_eq!(ids("q2").first(), Some(&"a12"));
    assert_eq!(ids("q2").last(), Some(&"a01"));
    assert_eq!(ids("q6").len(), 150);
}

#[test]
fn evaluation_serializes_with_metric_names() {
    let (qrels, run) = inputs();
    let metrics = [
        Metric::parse("mrr@10").unwrap(),
        Metric::parse("ndcg@10").unwrap(),
    ];
    let ours = evaluate(&qrels, &run, &metrics).unwrap();
    let json = serde_json::to_value(&ours).unwrap();
    let mean: BTreeMap<String, f64> = serde_json::from_value(json["mean"].clone()).unwrap();
    assert_eq!(
        mean.keys().collect::<Vec<_>>(),
        ["ndcg_cut_10", "recip_rank_cut_10"]
    );
}
