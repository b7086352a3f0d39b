//! `hypencoder index` and `hypencoder search` end to end: exhaustive search
//! agrees with brute-force scoring, and bad input is reported by file and line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    std::env::var("HYPENCODER_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hypencoder"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn err(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!e.contains("panicked"), "{e}");
    e
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hypencoder-is-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn s(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
    fn write(&self, name: &str, body: &str) -> String {
        std::fs::write(self.0.join(name), body).unwrap();
        self.s(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn jsonl(prefix: &str, texts: &[String]) -> String {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"id": format!("{prefix}{i}"), "text": t}).to_string() + "\n"
        })
        .collect()
}

fn fixture_texts(name: &str, key: &str) -> Vec<String> {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join(name).join("expected.json")).unwrap(),
    )
    .unwrap();
    meta[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn search_agrees_with_brute_force_scoring() {
    for name in ["tiny-2layer", "tiny-mean-unshared"] {
        let s = Scratch::new(&format!("agree-{name}"));
        let model = fixtures().join(name).display().to_string();
        let docs = s.write("docs.jsonl", &jsonl("d", &fixture_texts(name, "passages")));
        let queries = s.write(
            "queries.jsonl",
            &jsonl("q", &fixture_texts(name, "queries")),
        );
        let index = s.s("idx");
        let out = ok(&[
            "index",
            "--model",
            &model,
            "--corpus",
            &docs,
            "--index",
            &index,
            "--batch-size",
            "5",
        ]);
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            log.contains("indexed 12 documents") && log.contains("1 empty"),
            "{log}"
        );

        let brute: serde_json::Value = serde_json::from_slice(
            &ok(&[
                "score",
                "--model",
                &model,
                "--queries",
                &queries,
                "--docs",
                &docs,
            ])
            .stdout,
        )
        .unwrap();
        let out = ok(&[
            "search",
            "--index",
            &index,
            "--queries",
            &queries,
            "--k",
            "12",
            "--format",
            "jsonl",
        ]);
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 8);
        for (qi, line) in lines.iter().enumerate() {
            assert_eq!(line["qid"], format!("q{qi}"));
            let row: Vec<f64> = brute["scores"][qi]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
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
        // TREC lines, and a text view with snippets.
        let trec = String::from_utf8(
            ok(&[
                "search",
                "--index",
                &index,
                "--queries",
                &queries,
                "--k",
                "3",
            ])
            .stdout,
        )
        .unwrap();
        let first: Vec<&str> = trec.lines().next().unwrap().split(' ').collect();
        assert_eq!(
            (first.len(), first[0], first[1], first[3], first[5]),
            (6, "q0", "Q0", "1", "hypencoder")
        );
        assert_eq!(trec.lines().count(), 24);
        let text = String::from_utf8(
            ok(&[
                "search",
                "--index",
                &index,
                "--query",
                "capital of australia",
                "--k",
                "2",
            ])
            .stdout,
        )
        .unwrap();
        assert!(
            text.contains("query: capital of australia") && text.contains("   1. "),
            "{text}"
        );
    }
}

#[test]
fn index_reports_empty_and_truncated_documents_and_reads_tsv() {
    let s = Scratch::new("counts");
    let model = fixtures().join("tiny-2layer").display().to_string();
    let long = "word ".repeat(100);
    let tsv = s.write("c.tsv", &format!("a\tfirst text\nb\t\nc\t{long}\n"));
    let out = ok(&[
        "index",
        "--model",
        &model,
        "--corpus",
        &tsv,
        "--index",
        &s.s("idx"),
        "--max-length",
        "32",
    ]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("indexed 3 documents") && log.contains("1 empty, 1 truncated at 32 tokens"),
        "{log}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.0.join("idx/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["stats"]["truncated"], 1);
    assert_eq!(manifest["count"], 3);

    let bad = s.write("bad.tsv", "a\tfine\nno tab here\n");
    let e = err(&[
        "index",
        "--model",
        &model,
        "--corpus",
        &bad,
        "--index",
        &s.s("idx2"),
    ]);
    assert!(e.contains("bad.tsv:2: expected id<TAB>text"), "{e}");
}

#[test]
fn bad_corpus_and_query_input() {
    let s = Scratch::new("bad-input");
    let model = fixtures().join("tiny-2layer").display().to_string();
    let dup = s.write("dup.jsonl", "{\"id\": \"x\", \"text\": \"a\"}\n{\"id\": \"y\", \"text\": \"b\"}\n\n{\"id\": \"x\", \"text\": \"c\"}\n");
    let e = err(&[
        "index",
        "--model",
        &model,
        "--corpus",
        &dup,
        "--index",
        &s.s("i1"),
    ]);
    assert!(
        e.contains("dup.jsonl: duplicate id 'x' on lines 1 and 4"),
        "{e}"
    );
    assert!(
        !s.0.join("i1").exists() && !s.0.join("i1.partial").exists(),
        "nothing is written for bad input"
    );

    let space = s.write("space.jsonl", "{\"id\": \"has space\", \"text\": \"a\"}\n");
    let e = err(&[
        "index",
        "--model",
        &model,
        "--corpus",
        &space,
        "--index",
        &s.s("i2"),
    ]);
    assert!(
        e.contains("space.jsonl:1: id \"has space\" is empty or contains whitespace"),
        "{e}"
    );

    let docs = s.write("docs.jsonl", "{\"id\": \"d1\", \"text\": \"a document\"}\n");
    ok(&[
        "index",
        "--model",
        &model,
        "--corpus",
        &docs,
        "--index",
        &s.s("idx"),
    ]);
    let e = err(&[
        "index",
        "--model",
        &model,
        "--corpus",
        &docs,
        "--index",
        &s.s("idx"),
    ]);
    assert!(e.contains("already exists"), "{e}");
    let q = s.write(
        "q.jsonl",
        "{\"id\": \"q1\", \"text\": \"ok\"}\n{\"id\": \"q2\" \"text\": \"bad\"}\n",
    );
    let e = err(&["search", "--index", &s.s("idx"), "--queries", &q]);
    assert!(e.contains("q.jsonl:2: not a JSON object"), "{e}");
}

fn small_index(s: &Scratch) -> String {
    let model = fixtures().join("tiny-2layer").display().to_string();
    let docs = s.write(
        "docs.jsonl",
        &jsonl("d", &fixture_texts("tiny-2layer", "passages")),
    );
    ok(&[
        "index",
        "--model",
        &model,
        "--corpus",
        &docs,
        "--index",
        &s.s("idx"),
    ]);
    s.s("idx")
}

#[test]
fn damaged_or_newer_index_is_rejected() {
    let s = Scratch::new("damaged");
    let index = small_index(&s);
    let vectors = Path::new(&index).join("vectors.bin");
    let mut bytes = std::fs::read(&vectors).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&vectors, &bytes).unwrap();
    let e = err(&["search", "--index", &index, "--query", "x"]);
    assert!(
        e.contains("vectors.bin") && e.contains("checksum mismatch"),
        "{e}"
    );
    bytes[100] ^= 0x01;
    bytes.truncate(bytes.len() - 4);
    std::fs::write(&vectors, &bytes).unwrap();
    let e = err(&["search", "--index", &index, "--query", "x"]);
    assert!(e.contains("vectors.bin") && e.contains("truncated"), "{e}");

    let s = Scratch::new("newer");
    let index = small_index(&s);
    let path = Path::new(&index).join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"format_version\": 1", "\"format_version\": 7");
    std::fs::write(&path, text).unwrap();
    let e = err(&["search", "--index", &index, "--query", "x"]);
    assert!(
        e.contains("format version 7 is newer than this build supports (version 1)"),
        "{e}"
    );
}

#[test]
fn searching_with_another_model_is_an_error() {
    let s = Scratch::new("other-model");
    let index = small_index(&s);
    let other = fixtures().join("tiny-6layer-bin").display().to_string();
    let e = err(&[
        "search", "--index", &index, "--query", "x", "--model", &other,
    ]);
    assert!(e.contains("was built with another document encoder"), "{e}");
}

#[test]
fn eval_matches_pytrec_eval_on_committed_run() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../eval/tests/data");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("expected.json")).unwrap())
            .unwrap();
    let (qrels, run_file) = (
        data.join("qrels.txt").display().to_string(),
        data.join("run.txt").display().to_string(),
    );
    let out = ok(&[
        "eval",
        "--qrels",
        &qrels,
        "--run",
        &run_file,
        "--json",
        "--metrics",
        "mrr@10,ndcg@10,recall@100,map",
    ]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for name in ["recip_rank_cut_10", "ndcg_cut_10", "recall_100", "map"] {
        let (g, w) = (
            got["mean"][name].as_f64().unwrap(),
            expected["plain"]["mean"][name].as_f64().unwrap(),
        );
        assert!((g - w).abs() < 1e-9, "{name}: {g} vs pytrec_eval {w}");
    }
    let out = ok(&[
        "eval",
        "--qrels",
        &qrels,
        "--run",
        &run_file,
        "--json",
        "--complete",
        "--metrics",
        "ndcg@10",
    ]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = expected["complete"]["mean"]["ndcg_cut_10"]
        .as_f64()
        .unwrap();
    assert!((got["mean"]["ndcg_cut_10"].as_f64().unwrap() - w).abs() < 1e-9);

    let e = err(&[
        "eval",
        "--qrels",
        &qrels,
        "--run",
        &run_file,
        "--metrics",
        "bleu",
    ]);
    assert!(e.contains("bleu"), "{e}");
}

#[test]
fn graph_search_needs_a_graph_and_then_agrees_with_exhaustive() {
    let s = Scratch::new("graph");
    let index = small_index(&s);
    let queries = s.write(
        "queries.jsonl",
        &jsonl("q", &fixture_texts("tiny-2layer", "queries")),
    );
    let e = err(&[
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

    let out = ok(&["graph", "--index", &index, "--degree", "4"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("exact-diversified 4-NN graph"));
    let exhaustive = ok(&[
        "search",
        "--index",
        &index,
        "--queries",
        &queries,
        "--k",
        "5",
    ])
    .stdout;
    let exhaustive_copy = exhaustive.clone();
    // Every document an entry point: graph search scores them all and must
    // return exactly the exhaustive top-k.
    let out = ok(&[
        "search",
        "--index",
        &index,
        "--queries",
        &queries,
        "--k",
        "5",
        "--mode",
        "graph",
        "--algorithm",
        "paper",
        "--entry-points",
        "1000",
    ]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(exhaustive_copy).unwrap()
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("12 documents scored per query (100.00%)")
    );
    // Few entry points: fewer documents scored, still a full ranking.
    let out = ok(&[
        "search",
        "--index",
        &index,
        "--queries",
        &queries,
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
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 24);
    // Ours, the default: every document an entry point is exhaustive too.
    let out = ok(&[
        "search",
        "--index",
        &index,
        "--queries",
        &queries,
        "--k",
        "5",
        "--mode",
        "graph",
        "--entry-points",
        "12",
    ]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(exhaustive.clone()).unwrap()
    );

    let model = fixtures().join("tiny-2layer").display().to_string();
    let docs = s.write(
        "more.jsonl",
        &jsonl("m", &fixture_texts("tiny-2layer", "passages")),
    );
    let out = ok(&[
        "index",
        "--model",
        &model,
        "--corpus",
        &docs,
        "--index",
        &s.s("with-graph"),
        "--graph-degree",
        "3",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("exact-diversified 3-NN graph"));
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.0.join("with-graph/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["graph"]["degree"], 3);
}
