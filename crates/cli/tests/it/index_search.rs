//! `hypencoder index` and `hypencoder search` end to end: exhaustive search
//! agrees with brute-force scoring, and bad input is reported by file and line.

use std::path::Path;

use hypencoder_test_support::{
    fixture, fixture_texts, jsonl, read_json, repo_root, stderr, stdout, stdout_json, stdout_jsonl,
    Scratch,
};

use crate::{floats, HYPENCODER};

#[test]
fn search_agrees_with_brute_force_scoring() {
    for name in ["tiny-2layer", "tiny-mean-unshared"] {
        let s = Scratch::new(&format!("agree-{name}"));
        let model = fixture(name).display().to_string();
        let docs = s.write_arg("docs.jsonl", jsonl("d", &fixture_texts(name, "passages")));
        let queries = s.write_arg("queries.jsonl", jsonl("q", &fixture_texts(name, "queries")));
        let index = s.arg("idx");
        // f32, as `score` encodes: the brute force is the same arithmetic.
        let out = HYPENCODER.ok(&index_args(
            &model,
            &docs,
            &index,
            &["--batch-size", "5", "--encode-precision", "f32"],
        ));
        let log = stderr(&out);
        assert!(
            log.contains("indexed 12 documents") && log.contains("1 empty"),
            "{log}"
        );
        // stderr is a pipe here: each phase is logged with its time.
        for line in ["encode: 12 docs", "encode: done in ", "write: done in "] {
            assert!(log.contains(line), "{line:?} not in {log}");
        }
        let brute = stdout_json(&HYPENCODER.ok(&[
            "score",
            "--model",
            &model,
            "--queries",
            &queries,
            "--docs",
            &docs,
        ]));
        check_jsonl_ranking(name, &index, &queries, &brute["scores"]);
        check_trec_and_text_output(&index, &queries);
    }
}

/// `search --format jsonl` ranks all 12 documents of each of the 8 queries
/// with `score`'s scores (`brute`), best first, ties by document order.
fn check_jsonl_ranking(name: &str, index: &str, queries: &str, brute: &serde_json::Value) {
    let lines = stdout_jsonl(&HYPENCODER.ok(&[
        "search",
        "--mode",
        "exhaustive",
        "--index",
        index,
        "--queries",
        queries,
        "--k",
        "12",
        "--format",
        "jsonl",
    ]));
    assert_eq!(lines.len(), 8);
    for (qi, line) in lines.iter().enumerate() {
        assert_eq!(line["qid"], format!("q{qi}"));
        let row = floats(&brute[qi]);
        let hits = line["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 12);
        let mut prev: Option<(f64, usize)> = None;
        for (rank, h) in hits.iter().enumerate() {
            assert_eq!(h["rank"], rank + 1);
            let doc: usize = h["id"].as_str().unwrap()[1..].parse().unwrap();
            let score = h["score"].as_f64().unwrap();
            let want = row[doc];
            assert!(
                (score - want).abs() <= 1e-4 + 1e-3 * want.abs(),
                "{name} q{qi} d{doc}: {score} vs {want}"
            );
            if let Some((ps, pd)) = prev {
                assert!(
                    ps > score || (ps == score && pd < doc),
                    "{name} q{qi}: order at rank {}",
                    rank + 1
                );
            }
            prev = Some((score, doc));
        }
    }
}

/// TREC lines by default, and a text view with snippets for `--query`.
fn check_trec_and_text_output(index: &str, queries: &str) {
    let trec =
        stdout(&HYPENCODER.ok(&["search", "--index", index, "--queries", queries, "--k", "3"]));
    let first: Vec<&str> = trec.lines().next().unwrap().split(' ').collect();
    assert_eq!(
        (first.len(), first[0], first[1], first[3], first[5]),
        (6, "q0", "Q0", "1", "hypencoder")
    );
    assert_eq!(trec.lines().count(), 24);
    let text = stdout(&HYPENCODER.ok(&[
        "search",
        "--index",
        index,
        "--query",
        "capital of australia",
        "--k",
        "2",
    ]));
    assert!(
        text.contains("query: capital of australia") && text.contains("   1. "),
        "{text}"
    );
}

/// `hypencoder index` of `corpus` with `model` into `index`, then `extra`.
fn index_args<'a>(
    model: &'a str,
    corpus: &'a str,
    index: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "index", "--model", model, "--corpus", corpus, "--index", index,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn index_reports_empty_and_truncated_documents_and_reads_tsv() {
    let s = Scratch::new("counts");
    let model = fixture("tiny-2layer").display().to_string();
    let long = "word ".repeat(100);
    let tsv = s.write_arg("c.tsv", format!("a\tfirst text\nb\t\nc\t{long}\n"));
    let out = HYPENCODER.ok(&index_args(
        &model,
        &tsv,
        &s.arg("idx"),
        &["--max-length", "32"],
    ));
    let log = stderr(&out);
    assert!(
        log.contains("indexed 3 documents") && log.contains("1 empty, 1 truncated at 32 tokens"),
        "{log}"
    );
    let manifest = read_json(&s.join("idx/manifest.json"));
    assert_eq!(manifest["stats"]["truncated"], 1);
    assert_eq!(manifest["count"], 3);

    let bad = s.write_arg("bad.tsv", "a\tfine\nno tab here\n");
    let e = HYPENCODER.fails(&index_args(&model, &bad, &s.arg("idx2"), &[]));
    assert!(e.contains("bad.tsv:2: expected id<TAB>text"), "{e}");
}

#[test]
fn bad_corpus_and_query_input() {
    let s = Scratch::new("bad-input");
    let model = fixture("tiny-2layer").display().to_string();
    let dup = s.write_arg("dup.jsonl", "{\"id\": \"x\", \"text\": \"a\"}\n{\"id\": \"y\", \"text\": \"b\"}\n\n{\"id\": \"x\", \"text\": \"c\"}\n");
    let e = HYPENCODER.fails(&index_args(&model, &dup, &s.arg("i1"), &[]));
    assert!(
        e.contains("dup.jsonl: duplicate id 'x' on lines 1 and 4"),
        "{e}"
    );
    assert!(
        !s.join("i1").exists() && !s.join("i1.partial").exists(),
        "nothing is written for bad input"
    );

    let space = s.write_arg("space.jsonl", "{\"id\": \"has space\", \"text\": \"a\"}\n");
    let e = HYPENCODER.fails(&index_args(&model, &space, &s.arg("i2"), &[]));
    assert!(
        e.contains("space.jsonl:1: id \"has space\" is empty or contains whitespace"),
        "{e}"
    );

    let docs = s.write_arg("docs.jsonl", "{\"id\": \"d1\", \"text\": \"a document\"}\n");
    HYPENCODER.ok(&index_args(&model, &docs, &s.arg("idx"), &[]));
    let e = HYPENCODER.fails(&index_args(&model, &docs, &s.arg("idx"), &[]));
    // The library's message names no flag; the CLI adds it.
    assert!(e.contains("already exists") && e.contains("--index"), "{e}");
    let e = HYPENCODER.fails(&["search", "--index", &s.arg("i1"), "--query", "x"]);
    assert!(
        e.contains("not an index folder") && e.contains("build one with `hypencoder index`"),
        "{e}"
    );
    let q = s.write_arg(
        "q.jsonl",
        "{\"id\": \"q1\", \"text\": \"ok\"}\n{\"id\": \"q2\" \"text\": \"bad\"}\n",
    );
    let e = HYPENCODER.fails(&["search", "--index", &s.arg("idx"), "--queries", &q]);
    assert!(e.contains("q.jsonl:2: not a JSON object"), "{e}");
}

#[test]
fn a_bf16_index_is_searched_at_bf16_where_the_cpu_has_it_unless_asked_otherwise() {
    let s = Scratch::new("bf16");
    let model = fixture("tiny-2layer").display().to_string();
    let docs = s.write_arg(
        "docs.jsonl",
        jsonl("d", &fixture_texts("tiny-2layer", "passages")),
    );
    let (f32_dir, bf16_dir) = (s.arg("f32"), s.arg("bf16"));
    HYPENCODER.ok(&index_args(&model, &docs, &f32_dir, &[]));
    HYPENCODER.ok(&index_args(&model, &docs, &bf16_dir, &["--dtype", "bf16"]));
    let manifest = read_json(&Path::new(&bf16_dir).join("manifest.json"));
    assert_eq!(manifest["dtype"], "bf16");
    let scores = exhaustive_scores;
    // bf16 by default where the CPU multiplies bf16; elsewhere that product
    // is portable code, and f32 is the default.
    let (default, other) = if hypencoder_kernels::Isa::detect().has_bf16() {
        ("bf16", "f32")
    } else {
        ("f32", "bf16")
    };
    let bf16_default = scores(&bf16_dir, &[]);
    assert_eq!(bf16_default, scores(&bf16_dir, &["--precision", default]));
    assert_ne!(bf16_default, scores(&bf16_dir, &["--precision", other]));
    assert_eq!(
        scores(&f32_dir, &[]),
        scores(&f32_dir, &["--precision", "f32"])
    );
    assert_ne!(
        scores(&f32_dir, &[]),
        scores(&f32_dir, &["--precision", "bf16"])
    );
}

/// "id score" of the top 12 of an exhaustive search for one query.
fn exhaustive_scores(index: &str, extra: &[&str]) -> Vec<String> {
    hits_of(index, "12", extra)
        .iter()
        .map(|h| format!("{} {}", h["id"], h["score"]))
        .collect()
}

/// The top `k` hits of an exhaustive search for one query.
fn hits_of(index: &str, k: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec![
        "search",
        "--index",
        index,
        "--query",
        "capital of Australia",
        "--mode",
        "exhaustive",
        "--k",
        k,
        "--format",
        "jsonl",
    ];
    args.extend_from_slice(extra);
    let line: serde_json::Value =
        serde_json::from_str(stdout(&HYPENCODER.ok(&args)).trim()).unwrap();
    line["hits"].as_array().unwrap().clone()
}

/// `optimize --dtype int8` stores an f32 index's vectors as int8 without
/// re-encoding: the same vectors as an index built at int8, scores within
/// the codes' rounding of f32's, later adds stored alike.
#[test]
fn optimize_converts_an_index_to_int8_as_if_built_so() {
    let s = Scratch::new("int8-store");
    let model = fixture("tiny-2layer").display().to_string();
    let docs = s.write_arg(
        "docs.jsonl",
        jsonl("d", &fixture_texts("tiny-2layer", "passages")),
    );
    let (f32_dir, built, converted) = (s.arg("f32"), s.arg("built"), s.arg("converted"));
    HYPENCODER.ok(&index_args(&model, &docs, &f32_dir, &[]));
    HYPENCODER.ok(&index_args(&model, &docs, &converted, &[]));
    HYPENCODER.ok(&index_args(&model, &docs, &built, &["--dtype", "int8"]));
    let out = stderr(&HYPENCODER.ok(&["optimize", "--index", &converted, "--dtype", "int8"]));
    assert!(out.contains("into one storing int8"), "{out}");
    let manifest = |dir: &str| read_json(&Path::new(dir).join("manifest.json"));
    assert_eq!(manifest(&converted)["dtype"], "int8");
    assert_eq!(
        exhaustive_scores(&converted, &[]),
        exhaustive_scores(&built, &[])
    );
    let (exact, coded) = (hits_of(&f32_dir, "12", &[]), hits_of(&converted, "12", &[]));
    let score = |h: &serde_json::Value| h["score"].as_f64().unwrap();
    let spread = score(&exact[0]) - score(&exact[exact.len() - 1]);
    for h in &coded {
        let twin = exact.iter().find(|e| e["id"] == h["id"]);
        if let Some(e) = twin {
            assert!((score(e) - score(h)).abs() < 0.05 * spread, "{e} vs {h}");
        }
    }
    assert_eq!(exact[0]["id"], coded[0]["id"]);
    let again = stderr(&HYPENCODER.ok(&["optimize", "--index", &converted, "--dtype", "int8"]));
    assert!(again.contains("stored as int8: nothing to do"), "{again}");
    let extra = s.write_arg(
        "extra.jsonl",
        "{\"id\": \"new\", \"text\": \"Canberra is the capital of Australia\"}\n",
    );
    HYPENCODER.ok(&["add", "--index", &converted, "--corpus", &extra]);
    let segments = manifest(&converted)["segments"].as_array().unwrap().len();
    assert_eq!(segments, 2);
    assert!(hits_of(&converted, "12", &[])
        .iter()
        .any(|h| h["id"] == "new"));
}

fn small_index(s: &Scratch) -> String {
    let model = fixture("tiny-2layer").display().to_string();
    let docs = s.write_arg(
        "docs.jsonl",
        jsonl("d", &fixture_texts("tiny-2layer", "passages")),
    );
    HYPENCODER.ok(&index_args(&model, &docs, &s.arg("idx"), &[]));
    s.arg("idx")
}

#[test]
fn damaged_or_newer_index_is_rejected() {
    let s = Scratch::new("damaged");
    let index = small_index(&s);
    let vectors = Path::new(&index).join("vectors.bin");
    let mut bytes = std::fs::read(&vectors).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&vectors, &bytes).unwrap();
    let e = HYPENCODER.fails(&["search", "--index", &index, "--query", "x"]);
    assert!(
        e.contains("vectors.bin") && e.contains("checksum mismatch"),
        "{e}"
    );
    bytes[100] ^= 0x01;
    bytes.truncate(bytes.len() - 4);
    std::fs::write(&vectors, &bytes).unwrap();
    let e = HYPENCODER.fails(&["search", "--index", &index, "--query", "x"]);
    assert!(e.contains("vectors.bin") && e.contains("truncated"), "{e}");

    let s = Scratch::new("newer");
    let index = small_index(&s);
    let path = Path::new(&index).join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"format_version\": 1", "\"format_version\": 7");
    std::fs::write(&path, text).unwrap();
    let e = HYPENCODER.fails(&["search", "--index", &index, "--query", "x"]);
    assert!(
        e.contains("format version 7 is newer than this build supports (version 2)"),
        "{e}"
    );
}

#[test]
fn searching_with_another_model_is_an_error() {
    let s = Scratch::new("other-model");
    let index = small_index(&s);
    let other = fixture("tiny-6layer-bin").display().to_string();
    let e = HYPENCODER.fails(&[
        "search", "--index", &index, "--query", "x", "--model", &other,
    ]);
    assert!(e.contains("was built with another document encoder"), "{e}");
}

#[test]
fn eval_matches_pytrec_eval_on_committed_run() {
    let data = repo_root().join("crates/eval/tests/data");
    let expected = read_json(&data.join("expected.json"));
    let (qrels, run_file) = (
        data.join("qrels.txt").display().to_string(),
        data.join("run.txt").display().to_string(),
    );
    let eval = |extra: &[&'static str]| {
        let mut args = vec!["eval", "--qrels", &qrels, "--run", &run_file];
        args.extend_from_slice(extra);
        args
    };
    let got = stdout_json(&HYPENCODER.ok(&eval(&[
        "--json",
        "--metrics",
        "mrr@10,ndcg@10,recall@100,map",
    ])));
    for name in ["recip_rank_cut_10", "ndcg_cut_10", "recall_100", "map"] {
        let (g, w) = (
            got["mean"][name].as_f64().unwrap(),
            expected["plain"]["mean"][name].as_f64().unwrap(),
        );
        assert!((g - w).abs() < 1e-9, "{name}: {g} vs pytrec_eval {w}");
    }
    let got = stdout_json(&HYPENCODER.ok(&eval(&["--json", "--complete", "--metrics", "ndcg@10"])));
    let w = expected["complete"]["mean"]["ndcg_cut_10"]
        .as_f64()
        .unwrap();
    assert!((got["mean"]["ndcg_cut_10"].as_f64().unwrap() - w).abs() < 1e-9);
    let e = HYPENCODER.fails(&eval(&["--metrics", "bleu"]));
    assert!(e.contains("bleu"), "{e}");
}

#[test]
fn graph_search_needs_a_graph_and_then_agrees_with_exhaustive() {
    let s = Scratch::new("graph");
    let index = small_index(&s);
    let queries = s.write_arg(
        "queries.jsonl",
        jsonl("q", &fixture_texts("tiny-2layer", "queries")),
    );
    let e = HYPENCODER.fails(&[
        "search",
        "--index",
        &index,
        "--queries",
        &queries,
        "--mode",
        "graph",
    ]);
    assert!(
        e.contains("has no neighbour graph") && e.contains("hypencoder graph --index"),
        "{e}"
    );
    let out = HYPENCODER.ok(&["graph", "--index", &index, "--degree", "4"]);
    let log = stderr(&out);
    assert!(
        log.contains("exact-diversified 4-NN graph") && log.contains("graph: done in "),
        "{log}"
    );
    check_graph_search_modes(&index, &queries);
    // The same with a graph grown by insertion.
    let e = HYPENCODER.fails(&[
        "graph",
        "--index",
        &index,
        "--construction",
        "insert",
        "--plain-knn",
    ]);
    assert!(e.contains("--plain-knn"), "{e}");
    let out = HYPENCODER.ok(&[
        "graph",
        "--index",
        &index,
        "--degree",
        "4",
        "--construction",
        "insert",
    ]);
    assert!(
        stderr(&out).contains("grew the 4-NN graph"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        read_json(&Path::new(&index).join("manifest.json"))["graph"]["method"],
        "inserted"
    );
    check_graph_search_modes(&index, &queries);
    check_index_builds_a_graph(&s);
}

/// Both graph algorithms on the 12-document index of `small_index` with
/// its graph: with every document an entry point they give the exhaustive
/// top-k; with few entry points still a full ranking.
fn check_graph_search_modes(index: &str, queries: &str) {
    let search = |extra: &[&str]| {
        let mut args = vec!["search", "--index", index, "--queries", queries];
        args.extend_from_slice(extra);
        HYPENCODER.ok(&args)
    };
    let exhaustive = stdout(&search(&["--k", "5", "--mode", "exhaustive"]));
    let out = search(&[
        "--k",
        "5",
        "--mode",
        "graph",
        "--algorithm",
        "paper",
        "--entry-points",
        "1000",
    ]);
    assert_eq!(stdout(&out), exhaustive);
    assert!(stderr(&out).contains("12 documents scored per query (100.00%)"));
    let out = search(&[
        "--k",
        "3",
        "--mode",
        "graph",
        "--algorithm",
        "paper",
        "--entry-points",
        "2",
        "--ncandidates",
        "1",
        "--max-iter",
        "2",
    ]);
    assert_eq!(stdout(&out).lines().count(), 24);
    // Ours, the default: every document an entry point is exhaustive too.
    let out = search(&["--k", "5", "--mode", "graph", "--entry-points", "12"]);
    assert_eq!(stdout(&out), exhaustive);
}

/// `index --graph-degree` builds the graph along with the index.
fn check_index_builds_a_graph(s: &Scratch) {
    let model = fixture("tiny-2layer").display().to_string();
    let docs = s.write_arg(
        "more.jsonl",
        jsonl("m", &fixture_texts("tiny-2layer", "passages")),
    );
    let out = HYPENCODER.ok(&index_args(
        &model,
        &docs,
        &s.arg("with-graph"),
        &["--graph-degree", "3"],
    ));
    assert!(stderr(&out).contains("exact-diversified 3-NN graph"));
    let manifest = read_json(&s.join("with-graph/manifest.json"));
    assert_eq!(manifest["graph"]["degree"], 3);
}

#[test]
fn bm25_mode_uses_the_lexical_part() {
    let s = Scratch::new("bm25-mode");
    let with = small_index(&s);
    let search = |index: &str, query: &str| {
        HYPENCODER.run(&[
            "search", "--index", index, "--query", query, "--mode", "bm25", "--format", "jsonl",
        ])
    };
    let out = search(&with, "capital of Australia");
    assert!(out.status.success(), "{}", stderr(&out));
    let first = stdout(&out).lines().next().unwrap_or_default().to_string();
    assert!(first.contains("\"rank\":1"), "{first}");
    // Stop words only: a well-formed, empty result, not an error.
    let out = search(&with, "the of and");
    assert!(
        out.status.success() && stdout(&out).trim() == r#"{"qid":"query","hits":[]}"#,
        "{}",
        stderr(&out)
    );

    let model = fixture("tiny-2layer").display().to_string();
    let docs = s.write_arg(
        "docs2.jsonl",
        jsonl("d", &fixture_texts("tiny-2layer", "passages")),
    );
    let without = s.arg("plain");
    HYPENCODER.ok(&index_args(&model, &docs, &without, &["--no-lexical"]));
    let e = HYPENCODER.fails(&[
        "search", "--index", &without, "--query", "x", "--mode", "bm25",
    ]);
    assert!(
        e.contains("no lexical part") && e.contains("hypencoder lexical --index"),
        "{e}"
    );
    HYPENCODER.ok(&["lexical", "--index", &without]);
    assert_eq!(
        stdout(&search(&without, "capital of Australia")),
        stdout(&search(&with, "capital of Australia")),
        "the added part answers as the built one"
    );
}

#[test]
fn rerank_and_hybrid_agree_with_their_parts() {
    let s = Scratch::new("hybrid-mode");
    let index = small_index(&s);
    let n = fixture_texts("tiny-2layer", "passages").len().to_string();
    let ids = |mode: &str, query: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "search", "--index", &index, "--query", query, "--mode", mode, "--k", &n, "--format",
            "jsonl",
        ];
        args.extend_from_slice(extra);
        let out = HYPENCODER.ok(&args);
        let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        line["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect()
    };
    let query = "the capital city of Australia";
    let neural = ids("exhaustive", query, &[]);
    let bm25 = ids("bm25", query, &[]);
    assert!(!bm25.is_empty() && bm25.len() < neural.len(), "{bm25:?}");
    // Rerank: BM25's candidates, in the model's order.
    let reranked = ids("rerank", query, &[]);
    let in_neural_order: Vec<String> = neural
        .iter()
        .filter(|d| bm25.contains(d))
        .cloned()
        .collect();
    assert_eq!(reranked, in_neural_order);
    // Hybrid over every document: alpha 1 is the model's order, and RRF
    // keeps every candidate.
    assert_eq!(
        ids("hybrid", query, &["--fusion", "linear", "--alpha", "1"]),
        neural
    );
    let rrf = ids("hybrid", query, &["--fusion", "rrf"]);
    assert_eq!(rrf.len(), neural.len());
    // An index with a lexical part searches in hybrid mode by default.
    let plain = [
        "search", "--index", &index, "--query", query, "--format", "jsonl",
    ];
    let default = stdout(&HYPENCODER.ok(&plain));
    let hybrid = stdout(&HYPENCODER.ok(&[&plain[..], &["--mode", "hybrid"]].concat()));
    assert_eq!(default, hybrid);
    // No term left for BM25: hybrid still answers from the model.
    let stop_words = "the of and";
    assert_eq!(
        ids(
            "hybrid",
            stop_words,
            &["--fusion", "linear", "--alpha", "1"]
        ),
        ids("exhaustive", stop_words, &[])
    );
}

#[test]
fn graph_metric_follows_the_index_unless_named() {
    let s = Scratch::new("graph-metric");
    let index = small_index(&s);
    let metric = || read_json(&Path::new(&index).join("manifest.json"))["graph"]["metric"].clone();
    // tiny-2layer is a Hypencoder over unnormalised vectors: cos, quietly.
    let out = HYPENCODER.ok(&["graph", "--index", &index, "--degree", "4"]);
    assert_eq!(metric(), "cos");
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    // Named, and known to mislead here: built as asked, with a warning.
    let out = HYPENCODER.ok(&[
        "graph", "--index", &index, "--degree", "4", "--metric", "ip",
    ]);
    assert_eq!(metric(), "ip");
    let log = stderr(&out);
    assert!(
        log.contains("warning") && log.contains("cos suits it"),
        "{log}"
    );
}

/// `--encode-precision int8`: recorded in the manifest, documents' scores
/// close to but not those of the f32 index, and `add` encodes at the
/// index's precision (a copy of a document scores exactly as it does).
/// Without the flag an index is encoded at int8 where the SIMD kernels
/// run, else f32.
#[test]
fn an_int8_encoded_index_records_its_precision_and_adds_at_it() {
    let s = Scratch::new("int8-encode");
    let model = fixture("tiny-2layer").display().to_string();
    let texts = fixture_texts("tiny-2layer", "passages");
    let docs = s.write_arg("docs.jsonl", jsonl("d", &texts));
    let (f32_dir, int8_dir, auto_dir) = (s.arg("f32"), s.arg("int8"), s.arg("auto"));
    HYPENCODER.ok(&index_args(
        &model,
        &docs,
        &f32_dir,
        &["--encode-precision", "f32"],
    ));
    HYPENCODER.ok(&index_args(
        &model,
        &docs,
        &int8_dir,
        &["--encode-precision", "int8"],
    ));
    HYPENCODER.ok(&index_args(&model, &docs, &auto_dir, &[]));
    let manifest = |dir: &str| read_json(&Path::new(dir).join("manifest.json"));
    assert_eq!(manifest(&int8_dir)["model"]["doc_precision"], "int8");
    assert!(manifest(&f32_dir)["model"].get("doc_precision").is_none());
    let auto_precision = &manifest(&auto_dir)["model"]["doc_precision"];
    if hypencoder_kernels::Isa::detect().is_simd() {
        assert_eq!(auto_precision, "int8");
    } else {
        assert!(auto_precision.is_null(), "{auto_precision}");
    }
    let scores = |index: &str| -> Vec<(String, f64)> {
        let mut hits: Vec<(String, f64)> = hits_of(index, "100", &[])
            .iter()
            .map(|h| {
                (
                    h["id"].as_str().unwrap().to_string(),
                    h["score"].as_f64().unwrap(),
                )
            })
            .collect();
        hits.sort_by(|a, b| a.0.cmp(&b.0));
        hits
    };
    let (exact, int8) = (scores(&f32_dir), scores(&int8_dir));
    assert_eq!(exact.len(), int8.len());
    let spread = exact.iter().map(|h| h.1).fold(f64::NEG_INFINITY, f64::max)
        - exact.iter().map(|h| h.1).fold(f64::INFINITY, f64::min);
    let worst = exact
        .iter()
        .zip(&int8)
        .map(|(a, b)| (a.1 - b.1).abs())
        .fold(0.0, f64::max);
    assert!(worst > 0.0, "int8 encoding changed no score");
    assert!(
        worst < 0.05 * spread,
        "int8 scores moved {worst} (score spread {spread})"
    );

    let copy = s.write_arg(
        "copy.jsonl",
        format!(
            "{{\"id\": \"copy\", \"text\": {}}}\n",
            serde_json::json!(texts[0])
        ),
    );
    HYPENCODER.ok(&["add", "--index", &int8_dir, "--corpus", &copy]);
    let after = scores(&int8_dir);
    let score_of = |id: &str| after.iter().find(|h| h.0 == id).unwrap().1;
    assert_eq!(score_of("copy"), score_of("d0"));
}
