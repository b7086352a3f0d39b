//! `merge`: index pieces combined equal the index built in one go, and
//! pieces that cannot be combined are refused, writing nothing.

use std::path::Path;

use hypencoder_index::Segment;
use hypencoder_test_support::{fixture, fixture_texts, jsonl, stderr, Scratch};

use crate::HYPENCODER;

/// (id, text, vector) of every row, in order.
fn rows(dir: &str) -> Vec<(String, String, Vec<f32>)> {
    let index = Segment::open(Path::new(dir)).unwrap();
    (0..index.len())
        .map(|r| {
            (
                index.id(r).unwrap().to_string(),
                index.text(r).unwrap().unwrap_or_default().to_string(),
                index.vectors().rows(r, 1).into_owned(),
            )
        })
        .collect()
}

#[test]
fn pieces_merge_into_the_index_built_whole() {
    let s = Scratch::new("merge");
    let model = fixture("tiny-2layer").display().to_string();
    let docs = jsonl("d", &fixture_texts("tiny-2layer", "passages"));
    let lines: Vec<&str> = docs.lines().collect();
    let half = lines.len() / 2;
    let whole = s.write_arg("whole.jsonl", lines.join("\n") + "\n");
    let a = s.write_arg("a.jsonl", lines[..half].join("\n") + "\n");
    let b = s.write_arg("b.jsonl", lines[half..].join("\n") + "\n");
    let build = |corpus: &str, out: &str| {
        let out = s.arg(out);
        HYPENCODER.ok(&[
            "index", "--model", &model, "--corpus", corpus, "--index", &out,
        ]);
        out
    };
    let (whole, a, b) = (build(&whole, "whole"), build(&a, "a"), build(&b, "b"));
    let merged = s.arg("merged");
    let out = HYPENCODER.ok(&["merge", "--output", &merged, &a, &b, "--graph-degree", "4"]);
    assert!(stderr(&out).contains("merged 2 pieces"), "{}", stderr(&out));

    let (got, want) = (rows(&merged), rows(&whole));
    assert_eq!(got.len(), want.len());
    for ((gid, gtext, gvec), (wid, wtext, wvec)) in got.iter().zip(&want) {
        assert_eq!((gid, gtext), (wid, wtext));
        for (g, w) in gvec.iter().zip(wvec) {
            assert!((g - w).abs() <= 1e-6, "{gid}: {g} vs {w}");
        }
    }
    let index = Segment::open(Path::new(&merged)).unwrap();
    let m = index.manifest();
    assert_eq!(
        m.model,
        Segment::open(Path::new(&whole)).unwrap().manifest().model
    );
    assert!(m.lexical.is_some() && index.graph().is_some());

    // The same search over the merged index and the whole one.
    let queries = s.write_arg(
        "q.jsonl",
        jsonl("q", &fixture_texts("tiny-2layer", "queries")),
    );
    let search = |idx: &str| {
        HYPENCODER
            .ok(&["search", "--index", idx, "--queries", &queries, "--k", "5"])
            .stdout
    };
    assert_eq!(search(&merged), search(&whole));

    // Refused: an id in two pieces; a piece from another encoder. Nothing
    // is written either way.
    let dup = s.arg("dup");
    let err = HYPENCODER.fails(&["merge", "--output", &dup, &a, &whole]);
    assert!(
        err.contains("duplicate id 'd0'") && err.contains("whole"),
        "{err}"
    );
    assert!(!Path::new(&dup).exists() && !Path::new(&format!("{dup}.partial")).exists());
    let other_model = fixture("tiny-mean-unshared").display().to_string();
    let c = s.arg("c");
    let c_corpus = s.write_arg(
        "c.jsonl",
        "{\"id\": \"x1\", \"text\": \"another encoder\"}\n",
    );
    HYPENCODER.ok(&[
        "index",
        "--model",
        &other_model,
        "--corpus",
        &c_corpus,
        "--index",
        &c,
    ]);
    let err = HYPENCODER.fails(&["merge", "--output", &dup, &a, &c]);
    assert!(err.contains("document encoder"), "{err}");
    assert!(!Path::new(&dup).exists());
}
