//! `hypencoder tune` and the settings an index records: the CLI's table
//! and JSON, a dry run that records nothing, `--reset`; `search` and
//! `serve` answering with the recorded settings where a request sets none,
//! and `POST /v1/indexes/{name}/tune` with its errors.

use hypencoder_engine::{Overrides, Writer};
use hypencoder_test_support::{fixture, repo_root, stdout, Scratch};
use serde_json::{json, Value};

use crate::serve::Served;
use crate::HYPENCODER;

/// debian-hard (1,169 package descriptions) indexed with tiny-2layer, and
/// its 100 held-out queries and their qrels.
fn debian_hard(s: &Scratch) -> (String, String, String) {
    let data = repo_root().join("crates/cli/tests/data/debian-hard");
    let index = s.arg("idx");
    let model = fixture("tiny-2layer").display().to_string();
    let corpus = data.join("corpus.jsonl").display().to_string();
    HYPENCODER.ok(&[
        "index", "--model", &model, "--corpus", &corpus, "--index", &index,
    ]);
    let queries = data.join("queries.heldout.jsonl").display().to_string();
    let qrels = data.join("qrels.heldout.tsv").display().to_string();
    (index, queries, qrels)
}

fn search(index: &str, queries: &str, flags: &[&str]) -> String {
    let mut args = vec![
        "search",
        "--index",
        index,
        "--queries",
        queries,
        "--k",
        "10",
        "--format",
        "jsonl",
    ];
    args.extend_from_slice(flags);
    stdout(&HYPENCODER.ok(&args))
}

fn manifest(index: &str) -> Value {
    let text = std::fs::read_to_string(std::path::Path::new(index).join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn tune_prints_its_table_and_a_dry_run_records_nothing() {
    let s = Scratch::new("tune-cli");
    let (index, queries, qrels) = debian_hard(&s);
    let before = manifest(&index);

    // A dry run prints every setting's score and records nothing.
    let args = |extra: &[&'static str]| {
        let mut args = vec![
            "tune",
            "--index",
            &index,
            "--queries",
            &queries,
            "--qrels",
            &qrels,
        ];
        args.extend_from_slice(extra);
        args
    };
    let tune = |extra: &[&'static str]| stdout(&HYPENCODER.ok(&args(extra)));
    let out = tune(&["--json", "--dry-run"]);
    let tuning: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(tuning["queries"], 100);
    let rows = tuning["rows"].as_array().unwrap();
    assert!(rows.len() > 100);
    let shipped = &tuning["shipped"];
    assert_eq!(shipped["setting"]["fusion"], "linear");
    assert!(rows.iter().any(|r| r == shipped));
    assert!(rows[0]["score"].as_f64() >= shipped["score"].as_f64());
    assert_eq!(manifest(&index), before);
    let table = tune(&["--dry-run", "--top", "3"]);
    assert!(table.contains("shipped defaults"), "{table}");
    assert!(table.lines().count() >= 5, "{table}");

    let err = HYPENCODER.fails(&args(&["--metric", "map"]));
    assert!(err.contains("cutoff"), "{err}");
}

#[test]
fn recorded_settings_are_what_search_and_serve_use_until_reset() {
    let s = Scratch::new("tune-record");
    let (index, queries, _) = debian_hard(&s);
    // Recorded settings are every search's where it sets none: the CLI's
    // and the server's, and a flag given still wins.
    let recorded: Overrides = serde_json::from_value(json!({
        "fusion": "rrf", "rrf_k": 5.0, "candidates": 30, "bm25_k1": 1.2, "bm25_b": 0.4
    }))
    .unwrap();
    let explicit = [
        "--fusion",
        "rrf",
        "--rrf-k",
        "5",
        "--candidates",
        "30",
        "--bm25-k1",
        "1.2",
        "--bm25-b",
        "0.4",
    ];
    let shipped_run = search(&index, &queries, &[]);
    let wanted = search(&index, &queries, &explicit);
    assert_ne!(shipped_run, wanted);
    Writer::open(std::path::Path::new(&index))
        .unwrap()
        .set_search_defaults(recorded.clone())
        .unwrap();
    assert_eq!(search(&index, &queries, &[]), wanted);
    assert_eq!(
        search(
            &index,
            &queries,
            &[
                "--fusion",
                "linear",
                "--alpha",
                "0.7",
                "--candidates",
                "100",
                "--bm25-k1",
                "0.5",
                "--bm25-b",
                "0.75"
            ]
        ),
        shipped_run
    );

    let served = Served::start(&["--index", &format!("pkg={index}")]);
    let first: Value = serde_json::from_str(wanted.lines().next().unwrap()).unwrap();
    let query = std::fs::read_to_string(&queries).unwrap();
    let query: Value = serde_json::from_str(query.lines().next().unwrap()).unwrap();
    let api = served.post_ok(
        "/v1/indexes/pkg/search",
        &json!({"query": query["text"], "k": 10}),
    );
    let ids = |hits: &Value| -> Vec<String> {
        hits.as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&api["hits"]), ids(&first["hits"]));
    let (status, listed) = served.call("GET", "/v1/indexes", None, &[]);
    assert_eq!(status, 200);
    assert_eq!(listed["indexes"][0]["search_defaults"], json!(recorded));
    drop(served);

    // --reset forgets them.
    HYPENCODER.ok(&["tune", "--index", &index, "--reset"]);
    assert_eq!(search(&index, &queries, &[]), shipped_run);
}

#[test]
fn serve_tunes_from_a_body_of_judged_queries() {
    let s = Scratch::new("tune-serve");
    let (index, queries, qrels) = debian_hard(&s);
    let served = Served::start(&["--index", &format!("pkg={index}")]);
    let mut body_queries = serde_json::Map::new();
    for line in std::fs::read_to_string(&queries).unwrap().lines() {
        let q: Value = serde_json::from_str(line).unwrap();
        body_queries.insert(q["id"].as_str().unwrap().into(), q["text"].clone());
    }
    let mut body_qrels = serde_json::Map::new();
    for line in std::fs::read_to_string(&qrels).unwrap().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        body_qrels.insert(f[0].into(), json!({ f[2]: f[3].parse::<i32>().unwrap() }));
    }
    let dry = served.post_ok(
        "/v1/indexes/pkg/tune",
        &json!({"queries": body_queries, "qrels": body_qrels, "metric": "ndcg@10", "dry_run": true}),
    );
    assert_eq!(dry["generation"], Value::Null);
    assert_eq!(dry["queries"], 100);
    assert_eq!(dry["metric"], "ndcg_cut_10");
    assert!(dry["rows"].as_array().unwrap().len() > 100);
    assert_eq!(dry["search_defaults"], json!({}));

    let done = served.post_ok(
        "/v1/indexes/pkg/tune",
        &json!({"queries": body_queries, "qrels": body_qrels}),
    );
    assert!(done["generation"].as_u64().unwrap() >= 1);
    let expected = if done["decision"] == "tuned" {
        let mut setting = done["rows"][0]["setting"].clone();
        setting.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        setting
    } else {
        json!({})
    };
    assert_eq!(done["search_defaults"], expected);
    assert_eq!(
        manifest(&index)
            .get("search_defaults")
            .cloned()
            .unwrap_or(json!({})),
        expected
    );

    for (body, field) in [
        (
            json!({"queries": body_queries, "qrels": body_qrels, "metric": "map"}),
            "metric",
        ),
        (
            json!({"queries": body_queries, "qrels": {"nobody": {"x": 1}}}),
            "qrels",
        ),
        (json!({"queries": body_queries}), "qrels"),
    ] {
        let (status, err) =
            served.call("POST", "/v1/indexes/pkg/tune", Some(&body.to_string()), &[]);
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    let (status, _) = served.call("POST", "/v1/indexes/nope/tune", Some("{}"), &[]);
    assert_eq!(status, 404);
}
