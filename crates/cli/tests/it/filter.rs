//! Fields and filters through the front ends: `index` stores a corpus's
//! other keys as fields (`--fields` keeps some), `search --filter` (JSON
//! or @file) returns only matching documents with their fields in JSONL,
//! and bad filters name the path inside them; the server takes `filter`
//! per request and per query of a batch, `filter=` in GET,
//! `include_fields`, and documents PUT with fields.

use hypencoder_test_support::{fixture, stdout, stdout_jsonl, Scratch};
use serde_json::{json, Value};

use crate::serve::Served;
use crate::HYPENCODER;

const TOPICS: [&str; 4] = [
    "volcanoes and geysers of Iceland",
    "package manager for Debian systems",
    "bread baking with sourdough starter",
    "orbital mechanics of comets",
];

/// 24 documents: topic `i % 4`, section `i % 3` (a string), year 2000 + i,
/// tags on even ones.
fn corpus(s: &Scratch) -> String {
    let lines: Vec<String> = (0..24)
        .map(|i| {
            let mut doc = json!({
                "id": format!("d{i}"),
                "text": format!("{} (note {i})", TOPICS[i % 4]),
                "section": (i % 3).to_string(),
                "year": 2000 + i,
            });
            if i % 2 == 0 {
                doc["tags"] = json!(["even", format!("t{}", i % 4)]);
            }
            doc.to_string()
        })
        .collect();
    s.write_arg("corpus.jsonl", lines.join("\n") + "\n")
}

fn index(s: &Scratch, extra: &[&str]) -> String {
    let model = fixture("tiny-2layer").display().to_string();
    let corpus = corpus(s);
    let index = s.arg("idx");
    let mut args = vec![
        "index",
        "--model",
        &model,
        "--corpus",
        &corpus,
        "--index",
        &index,
        "--graph-degree",
        "6",
    ];
    args.extend_from_slice(extra);
    HYPENCODER.ok(&args);
    index
}

fn n_of(id: &str) -> usize {
    id[1..].parse().unwrap()
}

#[test]
fn search_filters_in_every_mode_and_prints_fields() {
    let s = Scratch::new("cli-filter");
    let index = index(&s, &[]);
    let search = |filter: &str, mode: &str| -> Vec<Value> {
        let out = HYPENCODER.ok(&[
            "search",
            "--index",
            &index,
            "--query",
            "Debian package manager",
            "--k",
            "5",
            "--format",
            "jsonl",
            "--mode",
            mode,
            "--filter",
            filter,
        ]);
        stdout_jsonl(&out)[0]["hits"].as_array().unwrap().clone()
    };
    for mode in ["exhaustive", "graph", "bm25", "rerank", "hybrid"] {
        let hits = search(r#"{"section": "1", "year": {"gte": 2010}}"#, mode);
        assert!(!hits.is_empty(), "{mode}");
        for hit in &hits {
            let n = n_of(hit["id"].as_str().unwrap());
            assert!(n % 3 == 1 && n >= 10, "{mode}: {hit}");
            assert_eq!(hit["fields"]["section"], "1", "{mode}: {hit}");
            assert_eq!(hit["fields"]["year"], json!(2000 + n), "{mode}: {hit}");
        }
    }
    // From a file, an array field by containment.
    let file = s.write_arg("f.json", r#"{"tags": "t2"}"#);
    let hits = search(&format!("@{file}"), "exhaustive");
    assert_eq!(hits.len(), 5);
    assert!(hits
        .iter()
        .all(|h| n_of(h["id"].as_str().unwrap()) % 4 == 2));
    assert_eq!(hits[0]["fields"]["tags"][0], "even");
}

#[test]
fn bad_filters_name_the_path_and_unknown_fields_are_warned_of() {
    let s = Scratch::new("cli-filter-errors");
    let index = index(&s, &[]);
    let fails = |filter: &str| {
        HYPENCODER.fails(&[
            "search", "--index", &index, "--query", "x", "--filter", filter,
        ])
    };
    let err = fails(r#"{"year": {"after": 2010}}"#);
    assert!(err.contains("--filter is not a filter"), "{err}");
    assert!(
        err.contains("filter at $.year.after: unknown operator 'after'"),
        "{err}"
    );
    let err = fails(r#"{"section": {"lt": 2}}"#);
    assert!(
        err.contains("--filter does not fit the index's fields"),
        "{err}"
    );
    assert!(
        err.contains("filter at $.section: a range needs a number field"),
        "{err}"
    );
    let out = HYPENCODER.ok(&[
        "search",
        "--index",
        &index,
        "--query",
        "x",
        "--filter",
        r#"{"colour": "red"}"#,
        "--format",
        "jsonl",
    ]);
    assert_eq!(stdout_jsonl(&out)[0]["hits"], json!([]));
    let err = hypencoder_test_support::stderr(&out);
    assert!(
        err.contains("warning: --filter: no document has the field 'colour'"),
        "{err}"
    );
}

#[test]
fn index_fields_keeps_only_the_fields_named() {
    let s = Scratch::new("cli-filter-some");
    let index = self::index(&s, &["--fields", "year"]);
    let out = HYPENCODER.ok(&[
        "search", "--index", &index, "--query", "comets", "--k", "1", "--format", "jsonl",
    ]);
    let fields = &stdout_jsonl(&out)[0]["hits"][0]["fields"];
    assert!(
        fields["year"].is_number() && fields.get("section").is_none(),
        "{fields}"
    );
    let text = stdout(&HYPENCODER.ok(&["search", "--index", &index, "--query", "comets"]));
    assert!(text.contains("d3"), "{text}");
}

/// The corpus indexed and served as `docs`.
fn served(s: &Scratch) -> Served {
    let index = index(s, &[]);
    let spec = format!("docs={index}");
    Served::start(&["--index", &spec])
}

#[test]
fn the_server_filters_per_request_and_per_query() {
    let s = Scratch::new("serve-filter");
    let served = served(&s);
    let body = json!({
        "query": "Debian package manager", "k": 4, "mode": "exhaustive",
        "filter": {"section": {"in": ["0", "2"]}}, "include_fields": ["section"],
    });
    let hits = served.post_ok("/v1/indexes/docs/search", &body)["hits"].clone();
    assert_eq!(hits.as_array().unwrap().len(), 4);
    for hit in hits.as_array().unwrap() {
        let n = n_of(hit["id"].as_str().unwrap());
        assert!(n % 3 != 1, "{hit}");
        assert_eq!(
            hit["fields"],
            json!({"section": (n % 3).to_string()}),
            "{hit}"
        );
    }

    // A batch: one query with its own filter, one with the request's.
    let body = json!({
        "queries": [
            {"query": "comets", "filter": {"year": {"lt": 2004}}},
            "comets",
        ],
        "k": 3, "mode": "hybrid", "filter": {"tags": "even"}, "include_fields": true,
    });
    let results = served.post_ok("/v1/indexes/docs/search", &body)["results"].clone();
    let ids = |i: usize| -> Vec<usize> {
        results[i]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| n_of(h["id"].as_str().unwrap()))
            .collect()
    };
    assert!(ids(0).iter().all(|&n| n < 4), "{results}");
    assert!(ids(1).iter().all(|&n| n % 2 == 0), "{results}");
    assert!(results[1]["hits"][0]["fields"]["tags"].is_array());

    // GET takes the filter as JSON text.
    let path = "/v1/indexes/docs/search?q=comets&k=2&mode=bm25&filter=%7B%22section%22%3A%222%22%7D&include_fields=year";
    let (status, got) = served.call("GET", path, None, &[]);
    assert_eq!(status, 200, "{got}");
    for hit in got["hits"].as_array().unwrap() {
        assert_eq!(n_of(hit["id"].as_str().unwrap()) % 3, 2, "{got}");
        assert!(hit["fields"]["year"].is_number());
    }
}

#[test]
fn the_server_names_where_a_bad_filter_was_given() {
    let s = Scratch::new("serve-filter-errors");
    let served = served(&s);
    for (body, field, message) in [
        (
            json!({"query": "x", "filter": {"year": {"gte": "2010"}}}),
            "filter",
            "filter at $.year.gte: 'gte' takes a number",
        ),
        (
            json!({"queries": ["x", {"query": "y", "filter": {"section": {"gt": 1}}}]}),
            "queries[1].filter",
            "filter at $.section: a range needs a number field",
        ),
        (
            json!({"queries": [{"query": "y", "filters": {}}]}),
            "queries[0].filters",
            "unknown field",
        ),
    ] {
        let (status, err) = served.call(
            "POST",
            "/v1/indexes/docs/search",
            Some(&body.to_string()),
            &[],
        );
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(message),
            "{err}"
        );
    }
    let (status, got) = served.call(
        "POST",
        "/v1/indexes/docs/search",
        Some(&json!({"query": "x", "filter": {"colour": "red"}}).to_string()),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(got["hits"], json!([]));
    assert_eq!(
        got["warnings"][0],
        "no document has the field 'colour': it matches nothing"
    );
}

#[test]
fn documents_put_with_fields_replace_the_old_ones_fields() {
    let s = Scratch::new("serve-filter-put");
    let served = served(&s);
    let put = json!({"documents": [
        {"id": "d1", "text": TOPICS[3], "fields": {"section": "9", "year": 1999}},
        {"id": "new", "text": TOPICS[3], "fields": {"section": "9", "tags": ["x"]}},
    ]});
    let (status, out) = served.call(
        "PUT",
        "/v1/indexes/docs/documents",
        Some(&put.to_string()),
        &[],
    );
    assert_eq!(status, 200, "{out}");
    let body =
        json!({"query": "comets", "k": 10, "mode": "exhaustive", "filter": {"section": "9"}});
    let mut got: Vec<String> = served.post_ok("/v1/indexes/docs/search", &body)["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, ["d1", "new"]);
    let (_, doc) = served.call("GET", "/v1/indexes/docs/documents/d1", None, &[]);
    assert_eq!(doc["fields"], json!({"section": "9", "year": 1999}));
    let bad = json!({"documents": [{"id": "z", "text": "t", "fields": {"year": "soon"}}]});
    let (status, err) = served.call(
        "PUT",
        "/v1/indexes/docs/documents",
        Some(&bad.to_string()),
        &[],
    );
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("field 'year' is a string here but an integer"),
        "{err}"
    );
    let (_, list) = served.call("GET", "/v1/indexes", None, &[]);
    assert_eq!(
        list["indexes"][0]["fields"]["year"]["type"], "integer",
        "{list}"
    );
}
