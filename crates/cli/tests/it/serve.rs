//! `hypencoder serve` over loopback: the same answers as `hypencoder
//! search`, clear 4xx for bad requests, overload and deadlines, reload,
//! metrics, OpenAPI and a graceful stop. Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hypencoder_engine::SearchParams;
use hypencoder_test_support::{fixture, fixture_texts, jsonl, stdout, Scratch};
use serde_json::{json, Value};

use crate::HYPENCODER;

/// A `hypencoder serve` child process on a free loopback port; killed on
/// drop if still running.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    agent: ureq::Agent,
}

impl Served {
    /// Starts `serve` with `args` (after `--addr 127.0.0.1:0`) and waits
    /// (at most a minute) for it to print its address.
    pub fn start(args: &[&str]) -> Self {
        let mut all = vec!["serve", "--addr", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut child = HYPENCODER
            .command(&all)
            .env_remove("HYPENCODER_API_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let out = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve prints its address within a minute");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        Served { child, url, agent }
    }

    /// `method path` with an optional JSON body and headers: the status,
    /// the body as JSON (Null if it is not JSON) and the response headers
    /// asked for.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self.agent.request(method, &format!("{}{path}", self.url));
        for (k, v) in headers {
            request = request.set(k, v);
        }
        let response = match body {
            Some(b) => request
                .set("content-type", "application/json")
                .send_string(b),
            None => request.call(),
        };
        let response = match response {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let text = response.into_string().expect("a readable body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A POST that must answer 200.
    pub fn post_ok(&self, path: &str, body: &Value) -> Value {
        let (status, value) = self.call("POST", path, Some(&body.to_string()), &[]);
        assert_eq!(status, 200, "POST {path} {body}: {value}");
        value
    }

    /// The raw text of a GET.
    fn text(&self, path: &str) -> String {
        self.agent
            .get(&format!("{}{path}", self.url))
            .call()
            .expect("GET answers 200")
            .into_string()
            .expect("a readable body")
    }

    /// Sends SIGTERM and waits (at most a minute) for the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs")
            .success());
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("serve did not stop within a minute of SIGTERM");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 12-passage tiny-2layer index (vectors, texts, lexical part, and a
/// graph when `graph`) in `dir`.
pub fn tiny_index(s: &Scratch, dir: &str, graph: bool) -> String {
    let model = fixture("tiny-2layer").display().to_string();
    let docs = s.write_arg(
        "docs.jsonl",
        jsonl("d", &fixture_texts("tiny-2layer", "passages")),
    );
    let index = s.arg(dir);
    let mut args = vec![
        "index", "--model", &model, "--corpus", &docs, "--index", &index,
    ];
    if graph {
        args.extend_from_slice(&["--graph-degree", "4"]);
    }
    HYPENCODER.ok(&args);
    index
}

/// Ids and scores (f32, as computed) of a hit list.
fn ranking(hits: &Value) -> Vec<(String, f32)> {
    hits.as_array()
        .expect("hits is a list")
        .iter()
        .map(|h| {
            (
                h["id"].as_str().expect("an id").to_string(),
                h["score"].as_f64().expect("a score") as f32,
            )
        })
        .collect()
}

#[test]
fn serve_answers_as_search_does() {
    let s = Scratch::new("serve-parity");
    let index = tiny_index(&s, "idx", true);
    let served = Served::start(&["--index", &format!("tiny={index}")]);
    // The server refuses empty queries (tested below); the CLI takes them.
    let queries: Vec<String> = fixture_texts("tiny-2layer", "queries")
        .into_iter()
        .filter(|q| !q.trim().is_empty())
        .collect();
    let modes: [(&str, &[&str]); 8] = [
        ("exhaustive", &[]),
        ("exhaustive", &["--precision", "bf16"]),
        ("graph", &["--precision", "bf16"]),
        ("graph", &["--entry-points", "2", "--ef", "4"]),
        ("bm25", &[]),
        ("rerank", &["--candidates", "5"]),
        ("hybrid", &[]),
        (
            "hybrid",
            &["--fusion", "rrf", "--rrf-k", "10", "--neural", "exhaustive"],
        ),
    ];
    for (mode, flags) in modes {
        for query in &queries {
            let mut args = vec![
                "search", "--index", &index, "--query", query, "--mode", mode, "--k", "5",
                "--format", "jsonl",
            ];
            args.extend_from_slice(flags);
            let cli: Value = serde_json::from_str(stdout(&HYPENCODER.ok(&args)).trim()).unwrap();
            // The same flags as JSON fields: `--rrf-k 10` is "rrf_k": 10.
            let mut body = json!({"query": query, "k": 5, "mode": mode});
            for pair in flags.chunks(2) {
                let field = pair[0].trim_start_matches("--").replace('-', "_");
                body[field] = if let Ok(n) = pair[1].parse::<u64>() {
                    json!(n)
                } else if let Ok(x) = pair[1].parse::<f64>() {
                    json!(x)
                } else {
                    json!(pair[1])
                };
            }
            let api = served.post_ok("/v1/indexes/tiny/search", &body);
            assert_eq!(api["mode"], mode);
            assert_eq!(
                ranking(&api["hits"]),
                ranking(&cli["hits"]),
                "{mode} {flags:?} {query}"
            );
            let ranks: Vec<u64> = api["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["rank"].as_u64().unwrap())
                .collect();
            assert_eq!(ranks, (1..=ranks.len() as u64).collect::<Vec<_>>());
        }
    }
    check_batch_get_and_texts(&served, &queries);
}

/// A batch answers each query as a single request does, in input order; a
/// GET as a POST; texts as the documents endpoint.
fn check_batch_get_and_texts(served: &Served, queries: &[String]) {
    let batch = served.post_ok(
        "/v1/indexes/tiny/search",
        &json!({"queries": queries, "k": 3}),
    );
    let results = batch["results"].as_array().expect("results");
    assert_eq!(results.len(), queries.len());
    for (query, result) in queries.iter().zip(results) {
        let one = served.post_ok(
            "/v1/indexes/tiny/search",
            &json!({"query": query, "k": 3, "include_text": true}),
        );
        assert_eq!(ranking(&result["hits"]), ranking(&one["hits"]));
        assert_eq!(one["mode"], "hybrid", "the default with a lexical part");
        let q: String = form_urlencoded_query(query);
        let (status, got) = served.call(
            "GET",
            &format!("/v1/indexes/tiny/search?q={q}&k=3"),
            None,
            &[],
        );
        assert_eq!(status, 200);
        assert_eq!(ranking(&got["hits"]), ranking(&one["hits"]));
        for hit in one["hits"].as_array().unwrap() {
            let id = hit["id"].as_str().unwrap();
            let (status, doc) = served.call(
                "GET",
                &format!("/v1/indexes/tiny/documents/{id}"),
                None,
                &[],
            );
            assert_eq!(status, 200);
            assert_eq!(doc["text"], hit["text"]);
            assert!(hit["text"].as_str().is_some_and(|t| !t.is_empty()));
        }
    }
}

/// `text` encoded for a URL query string.
fn form_urlencoded_query(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Bad requests and their answers: method, path, status, error code, the
/// field named ("-": none) and the body (LONG: a 101-character query, BIG:
/// a body over the 2000-byte limit).
const BAD_REQUESTS: &str = r#"
POST /v1/indexes/idx/search 400 malformed_json - {"query": "a",
POST /v1/indexes/idx/search 400 invalid_field - "a bare string"
POST /v1/indexes/idx/search 400 invalid_field colour {"query": "a", "colour": 1}
POST /v1/indexes/idx/search 400 invalid_field query {"k": 3}
POST /v1/indexes/idx/search 400 invalid_field query {"query": "  "}
POST /v1/indexes/idx/search 400 invalid_field query {"query": "a", "queries": ["b"]}
POST /v1/indexes/idx/search 400 invalid_field k {"query": "a", "k": 0}
POST /v1/indexes/idx/search 400 invalid_field k {"query": "a", "k": 51}
POST /v1/indexes/idx/search 400 invalid_field k {"query": "a", "k": -1}
POST /v1/indexes/idx/search 400 invalid_field k {"query": "a", "k": "ten"}
POST /v1/indexes/idx/search 400 invalid_field query {"query": "LONG"}
POST /v1/indexes/idx/search 400 invalid_field mode {"query": "a", "mode": "fuzzy"}
POST /v1/indexes/idx/search 400 unsupported_mode mode {"query": "a", "mode": "graph"}
POST /v1/indexes/idx/search 400 invalid_field alpha {"query": "a", "alpha": 2}
POST /v1/indexes/idx/search 400 invalid_field ef {"query": "a", "ef": 100000000}
POST /v1/indexes/idx/search 400 invalid_field queries {"queries": []}
POST /v1/indexes/idx/search 400 invalid_field queries[1] {"queries": ["a", ""]}
POST /v1/indexes/idx/search 413 body_too_large - BIG
POST /v1/indexes/nope/search 404 unknown_index name {"query": "a"}
GET /v1/indexes/idx/search?q=a&k=zero 400 invalid_field k
GET /v1/indexes/idx/search?q=a&shoe=1 400 invalid_field shoe
GET /v1/indexes/idx/search 400 invalid_field query
GET /v1/indexes/idx/documents/d999 404 unknown_document id
GET /v1/indexes/..%2Fetc/search?q=a 404 unknown_index name
GET /nowhere 404 not_found -
DELETE /v1/indexes/idx/search 405 method_not_allowed -
"#;

#[test]
fn serve_refuses_bad_requests_with_clear_errors() {
    let s = Scratch::new("serve-bad");
    let index = tiny_index(&s, "idx", false);
    let served = Served::start(&[
        "--index",
        &index,
        "--max-k",
        "50",
        "--max-query-chars",
        "100",
        "--max-body-bytes",
        "2000",
    ]);
    let long = "x".repeat(101);
    let big = format!("{{\"query\": \"{}\"}}", "y ".repeat(1500));
    for line in BAD_REQUESTS.lines().filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.splitn(6, ' ').collect();
        let (method, path, status, code, field) =
            (parts[0], parts[1], parts[2], parts[3], parts[4]);
        let body = parts.get(5).map(|b| match *b {
            "BIG" => big.clone(),
            b => b.replace("LONG", &long),
        });
        let (got, value) = served.call(method, path, body.as_deref(), &[]);
        assert_eq!(got.to_string(), status, "{line}: {value}");
        assert_eq!(value["error"]["code"], code, "{line}: {value}");
        assert!(value["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        let field = (field != "-").then_some(field);
        assert_eq!(value["error"]["field"].as_str(), field, "{line}: {value}");
    }
    // Still serving after all of that.
    served.post_ok("/v1/indexes/idx/search", &json!({"query": "a question"}));
}

#[test]
fn serve_with_a_key_needs_it_everywhere_but_healthz() {
    let s = Scratch::new("serve-key");
    let index = tiny_index(&s, "idx", false);
    let served = Served::start(&["--index", &index, "--api-key", "s3cret"]);
    let body = Some("{\"query\": \"a\"}");
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/v1/indexes"),
        ("POST", "/v1/indexes/idx/search"),
        ("GET", "/metrics"),
        ("GET", "/readyz"),
    ] {
        let (status, value) = served.call(method, path, body.filter(|_| method == "POST"), &[]);
        assert_eq!(status, 401, "{path}");
        assert_eq!(value["error"]["code"], "unauthorized");
        let (status, _) = served.call(
            method,
            path,
            body.filter(|_| method == "POST"),
            &[("Authorization", "Bearer wrong")],
        );
        assert_eq!(status, 401, "{path}");
        let (status, _) = served.call(
            method,
            path,
            body.filter(|_| method == "POST"),
            &[("Authorization", "Bearer s3cret")],
        );
        assert_eq!(status, 200, "{path}");
    }
    assert_eq!(served.call("GET", "/healthz", None, &[]).0, 200);
}

#[test]
fn serve_refuses_past_its_queue_and_its_deadline() {
    let s = Scratch::new("serve-load");
    let index = tiny_index(&s, "idx", false);
    // One request waiting at most; each batch one query at a time.
    let served = Served::start(&["--index", &index, "--max-queue", "1", "--max-batch", "1"]);
    let queries: Vec<String> = (0..1000)
        .map(|i| format!("question number {i} about a city"))
        .collect();
    let body = json!({"queries": queries, "mode": "exhaustive"}).to_string();
    let statuses: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                scope.spawn(|| served.call("POST", "/v1/indexes/idx/search", Some(&body), &[]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<&Value> = statuses
        .iter()
        .filter(|(s, _)| *s == 503)
        .map(|(_, v)| v)
        .collect();
    assert!(
        ok >= 1 && !refused.is_empty(),
        "{:?}",
        statuses.iter().map(|s| s.0).collect::<Vec<_>>()
    );
    assert_eq!(ok + refused.len(), statuses.len(), "only 200 and 503");
    assert!(refused.iter().all(|v| v["error"]["code"] == "overloaded"));
    let metrics = served.text("/metrics");
    assert!(metrics.contains("status=\"503\""), "{metrics}");
    drop(served);

    let served = Served::start(&["--index", &index, "--timeout-ms", "1"]);
    let (status, value) = served.call("POST", "/v1/indexes/idx/search", Some(&body), &[]);
    assert_eq!(status, 504, "{value}");
    assert_eq!(value["error"]["code"], "timeout");
}

#[test]
fn serve_reloads_in_place_reports_metrics_and_stops_gracefully() {
    let s = Scratch::new("serve-reload");
    let index = tiny_index(&s, "idx", false);
    let served = Served::start(&["--index", &format!("docs={index}")]);
    let (status, list) = served.call("GET", "/v1/indexes", None, &[]);
    assert_eq!(status, 200);
    let info = &list["indexes"][0];
    assert_eq!(info["name"], "docs");
    assert_eq!(info["documents"], 12);
    assert_eq!(
        info["modes"],
        json!(["exhaustive", "bm25", "rerank", "hybrid"])
    );
    assert_eq!(served.call("GET", "/readyz", None, &[]).0, 200);
    let query = json!({"query": "the capital city of Australia", "k": 12, "mode": "exhaustive"});
    let before = served.post_ok("/v1/indexes/docs/search", &query);

    // A damaged folder: the reload fails, the old index stays.
    std::fs::rename(&index, s.join("old")).unwrap();
    std::fs::create_dir(&index).unwrap();
    std::fs::write(s.join("idx/manifest.json"), "{ not json").unwrap();
    let (status, value) = served.call("POST", "/v1/indexes/docs/reload", None, &[]);
    assert_eq!(status, 500, "{value}");
    assert_eq!(value["error"]["code"], "reload_failed");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("manifest.json"),
        "{value}"
    );
    assert_eq!(
        served.post_ok("/v1/indexes/docs/search", &query)["hits"],
        before["hits"]
    );

    // Rebuilt with the passages' ids renamed: served once reloaded.
    std::fs::remove_dir_all(&index).unwrap();
    let model = fixture("tiny-2layer").display().to_string();
    let docs = s.write_arg(
        "docs2.jsonl",
        jsonl("e", &fixture_texts("tiny-2layer", "passages")[..6]),
    );
    HYPENCODER.ok(&[
        "index", "--model", &model, "--corpus", &docs, "--index", &index,
    ]);
    let (status, info) = served.call("POST", "/v1/indexes/docs/reload", None, &[]);
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["documents"], 6);
    let after = served.post_ok("/v1/indexes/docs/search", &query);
    let ids: Vec<String> = ranking(&after["hits"])
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids.len(), 6);
    assert!(ids.iter().all(|id| id.starts_with('e')), "{ids:?}");

    check_metrics_and_openapi(&served);
    drop(served);
    check_graceful_stop(&index);
}

/// SIGTERM while a request is in flight (held by a one-second batch
/// wait): it is answered, then the server exits 0.
fn check_graceful_stop(index: &str) {
    let served = Served::start(&["--index", index, "--batch-wait-ms", "1000"]);
    let url = format!("{}/v1/indexes/idx/search", served.url);
    let in_flight = std::thread::spawn(move || {
        ureq::post(&url)
            .send_string(r#"{"query": "a question in flight"}"#)
            .map(|r| r.status())
            .map_err(|e| e.to_string())
    });
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let status = served.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(in_flight.join().unwrap().expect("answered"), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it waited for the request"
    );
}

/// Metrics count what was asked; the OpenAPI document lists every endpoint.
fn check_metrics_and_openapi(served: &Served) {
    let metrics = served.text("/metrics");
    let search_ok = "hypencoder_http_requests_total{endpoint=\"/v1/indexes/{name}/search\",method=\"POST\",status=\"200\"} 3";
    assert!(metrics.contains(search_ok), "{metrics}");
    for name in [
        "hypencoder_http_request_duration_seconds_bucket",
        "hypencoder_queue_depth{index=\"docs\"}",
        "hypencoder_batch_size_queries_count{index=\"docs\"} 3",
        "hypencoder_queries_total{index=\"docs\",mode=\"exhaustive\"} 3",
        "hypencoder_documents_scored_total{index=\"docs\"} 30",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    let (status, api) = served.call("GET", "/openapi.json", None, &[]);
    assert_eq!(status, 200);
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/indexes/{name}/search",
        "/v1/indexes",
        "/v1/indexes/{name}/documents/{id}",
        "/v1/indexes/{name}/reload",
        "/v1/indexes/{name}/tune",
        "/v1/indexes/{name}/documents",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            api["paths"][path].is_object(),
            "{path} not in the OpenAPI document"
        );
    }
    // The request's own fields and every search setting, by the engine's
    // names, whether utoipa inlines the embedded settings or refers to them.
    let schemas = &api["components"]["schemas"];
    let mut fields: Vec<String> = Vec::new();
    let request = &schemas["SearchRequest"];
    let parts = request["allOf"].as_array().cloned().unwrap_or_default();
    for part in parts.iter().chain([request]) {
        let part = match part["$ref"].as_str() {
            Some(r) => &schemas[r.rsplit('/').next().unwrap()],
            None => part,
        };
        if let Some(props) = part["properties"].as_object() {
            fields.extend(props.keys().cloned());
        }
    }
    for field in ["query", "queries", "include_text"]
        .into_iter()
        .chain(SearchParams::NAMES)
    {
        assert!(
            fields.iter().any(|f| f == field),
            "SearchRequest.{field}: {fields:?}"
        );
    }
}

#[test]
fn serve_adds_replaces_and_deletes_documents() {
    let s = Scratch::new("serve-write");
    let index = tiny_index(&s, "idx", true);
    let served = Served::start(&["--index", &index]);
    let docs = "/v1/indexes/idx/documents";
    let put = json!({"documents": [
        {"id": "d0", "text": "volcanoes and geysers of Iceland"},
        {"id": "n1", "text": "the capital city of Australia is Canberra"},
    ]});
    let (status, answer) = served.call("PUT", docs, Some(&put.to_string()), &[]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["added"].as_u64(), answer["replaced"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(answer["documents"], 13);
    let generation = answer["generation"].as_u64().unwrap();
    let (_, doc) = served.call("GET", &format!("{docs}/d0"), None, &[]);
    assert_eq!(doc["text"], "volcanoes and geysers of Iceland");
    let hits = served.post_ok(
        "/v1/indexes/idx/search",
        &json!({"query": "Canberra", "mode": "bm25"}),
    );
    let ids: Vec<&str> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"n1"), "{ids:?}");

    // While the server holds the index's writer, another process cannot write.
    let more = s.write_arg("more.jsonl", "{\"id\": \"m\", \"text\": \"t\"}\n");
    let e = HYPENCODER.fails(&["add", "--index", &index, "--corpus", &more]);
    assert!(e.contains("another process"), "{e}");

    let (status, answer) = served.call("DELETE", docs, Some(r#"{"ids": ["n1", "nope"]}"#), &[]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["deleted"], 1);
    assert_eq!(answer["unknown"], json!(["nope"]));
    assert_eq!(answer["documents"], 12);
    assert!(answer["generation"].as_u64().unwrap() > generation);
    assert_eq!(served.call("GET", &format!("{docs}/n1"), None, &[]).0, 404);
    let all = served.post_ok(
        "/v1/indexes/idx/search",
        &json!({"query": "Canberra capital", "k": 20}),
    );
    assert!(all["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["id"] != "n1"));
    assert_eq!(
        served.call("GET", "/v1/indexes", None, &[]).1["indexes"][0]["documents"],
        12
    );

    for (body, field) in [
        (r#"{"documents": []}"#, "documents"),
        (
            r#"{"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}"#,
            "documents[1].id",
        ),
        (r#"{"documents": [{"id": "a"}]}"#, "text"),
        (r#"{"ids": []}"#, "ids"),
    ] {
        let method = if body.contains("ids") {
            "DELETE"
        } else {
            "PUT"
        };
        let (status, value) = served.call(method, docs, Some(body), &[]);
        assert_eq!(status, 400, "{body}: {value}");
        assert_eq!(value["error"]["field"], field, "{body}: {value}");
    }
}

#[test]
fn serve_keeps_answering_searches_while_a_write_runs() {
    let s = Scratch::new("serve-write-load");
    let index = tiny_index(&s, "idx", true);
    let served = Served::start(&["--index", &index]);
    let documents: Vec<Value> = (0..1000)
        .map(|i| json!({"id": format!("w{i}"), "text": format!("written document number {i} about rivers")}))
        .collect();
    let body = json!({"documents": documents}).to_string();
    std::thread::scope(|scope| {
        let writing = scope.spawn(|| {
            let (status, answer) =
                served.call("PUT", "/v1/indexes/idx/documents", Some(&body), &[]);
            (status, answer, std::time::Instant::now())
        });
        let mut answered = Vec::new();
        while !writing.is_finished() {
            let (status, _) = served.call(
                "POST",
                "/v1/indexes/idx/search",
                Some(r#"{"query": "capital of Australia", "mode": "bm25"}"#),
                &[],
            );
            answered.push((status, std::time::Instant::now()));
        }
        let (status, answer, done) = writing.join().unwrap();
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["added"], 1000);
        let during = answered.iter().filter(|(_, at)| *at < done).count();
        assert!(answered.iter().all(|(s, _)| *s == 200));
        assert!(during >= 1, "no search was answered while the write ran");
    });
    // Two segments now (12 and 1,000 documents). A second 1,000 makes
    // three, which the merge policy merges in the background: the write is
    // answered first, and searches go on meanwhile.
    let documents: Vec<Value> = (1000..2000)
        .map(|i| json!({"id": format!("w{i}"), "text": format!("written document number {i} about lakes")}))
        .collect();
    let body = json!({"documents": documents}).to_string();
    let (status, answer) = served.call("PUT", "/v1/indexes/idx/documents", Some(&body), &[]);
    assert_eq!(status, 200, "{answer}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let merged = loop {
        let (status, _) = served.call(
            "POST",
            "/v1/indexes/idx/search",
            Some(r#"{"query": "written document rivers", "mode": "hybrid"}"#),
            &[],
        );
        assert_eq!(status, 200);
        let info = served.call("GET", "/v1/indexes", None, &[]).1["indexes"][0].clone();
        assert_eq!(info["documents"], 2012, "{info}");
        if info["segments"] == 1 || std::time::Instant::now() > deadline {
            break info;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(merged["segments"], 1, "not merged in time: {merged}");
    let hits = served.post_ok(
        "/v1/indexes/idx/search",
        &json!({"query": "written document rivers", "mode": "bm25"}),
    );
    assert!(hits["hits"][0]["id"].as_str().unwrap().starts_with('w'));
    // The next write waits for the merge's writer, then lands after it.
    let (status, answer) = served.call(
        "PUT",
        "/v1/indexes/idx/documents",
        Some(r#"{"documents": [{"id": "last", "text": "the last one"}]}"#),
        &[],
    );
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["generation"].as_u64() > merged["generation"].as_u64(),
        "{answer}"
    );
}
