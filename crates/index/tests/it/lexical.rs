//! The lexical part: BM25 over a small committed corpus agrees with a
//! brute-force BM25 over the same analysed terms; queries are text, never
//! syntax; a damaged lexical file is refused on open; `write_lexical` adds
//! the same part to an existing index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hypencoder_index::{analyze, write_lexical, Dtype, LexicalHit, Segment, SegmentWriter};
use hypencoder_test_support::Scratch;

use crate::index::config;

/// The BM25 parameters new lexical parts score with.
const K1: f64 = hypencoder_index::K1 as f64;
const B: f64 = hypencoder_index::B as f64;

fn corpus() -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/lexical/corpus.jsonl");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["id"].as_str().unwrap().into(),
                v["text"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Builds the corpus into `out` (vectors are placeholders), with or
/// without the lexical part.
fn build(out: &Path, lexical: bool) -> Segment {
    let mut cfg = config(Dtype::F32, 5);
    cfg.lexical = lexical;
    let mut w = SegmentWriter::create(out, cfg).unwrap();
    for (i, (id, text)) in corpus().iter().enumerate() {
        w.add(id, text, &[i as f32, 0.0, 0.0, 1.0], false).unwrap();
    }
    w.finish().unwrap();
    Segment::open(out).unwrap()
}

/// BM25 with Lucene's idf, computed from `analyze` alone: every row with a positive score, best first, ties
/// to the earlier row.
fn brute_force(query: &str, docs: &[Vec<String>]) -> Vec<(u32, f64)> {
    let n = docs.len() as f64;
    let avgdl = docs.iter().map(Vec::len).sum::<usize>() as f64 / n;
    let mut df: HashMap<&str, f64> = HashMap::new();
    for d in docs {
        let mut seen: Vec<&str> = d.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for t in seen {
            *df.entry(t).or_default() += 1.0;
        }
    }
    let mut scores: Vec<(u32, f64)> = docs
        .iter()
        .enumerate()
        .map(|(row, d)| {
            let dl = d.len() as f64;
            let score = analyze(query)
                .iter()
                .map(|t| {
                    let tf = d.iter().filter(|x| *x == t).count() as f64;
                    let Some(&n_t) = df.get(t.as_str()) else {
                        return 0.0;
                    };
                    let idf = (1.0 + (n - n_t + 0.5) / (n_t + 0.5)).ln();
                    idf * (K1 + 1.0) * tf / (tf + K1 * (1.0 - B + B * dl / avgdl))
                })
                .sum::<f64>();
            (row as u32, score)
        })
        .filter(|&(_, s)| s > 0.0)
        .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scores
}

fn search(index: &Segment, query: &str, k: usize) -> Vec<LexicalHit> {
    index
        .lexical()
        .expect("lexical part")
        .search(query, k)
        .unwrap()
}

#[test]
fn bm25_agrees_with_brute_force() {
    let s = Scratch::new("lexical-bm25");
    let index = build(&s.join("idx"), true);
    let docs: Vec<Vec<String>> = corpus().iter().map(|(_, t)| analyze(t)).collect();
    assert_eq!(
        analyze("Compressing FILES"),
        ["compress", "file"],
        "stemmed, lowercased"
    );
    let queries = [
        "compression utilities",
        "file compressor",
        "text editor",
        "distributed version control",
        "download files over HTTP",
        "interactive processes viewer memory",
        "gnu",
    ];
    for query in queries {
        let expected = brute_force(query, &docs);
        let got = search(&index, query, 100);
        assert!(!expected.is_empty(), "{query}: matches something");
        assert_eq!(
            got.len(),
            expected.len(),
            "{query}: every matching document"
        );
        for (g, (row, score)) in got.iter().zip(&expected) {
            assert_eq!(g.row, *row, "{query}: ranking");
            assert!(
                (g.score as f64 - score).abs() <= 1e-4 * score.max(1.0),
                "{query}: row {row} score {} vs {score}",
                g.score
            );
        }
        let top3 = search(&index, query, 3);
        assert_eq!(
            top3,
            got[..got.len().min(3)].to_vec(),
            "{query}: top-k is a prefix"
        );
    }
}

#[test]
fn queries_are_text_not_syntax() {
    let s = Scratch::new("lexical-syntax");
    let index = build(&s.join("idx"), true);
    // Only stop words or punctuation: no term left, an empty result.
    for query in ["the and of", "?!. ,;", ""] {
        assert!(search(&index, query, 10).is_empty(), "{query:?}");
    }
    // Query-parser syntax is ordinary text: the same terms, the same hits.
    let plain = search(&index, "text editor vim", 10);
    for query in [
        "\"text editor\" vim",
        "text:editor (vim)",
        "-text editor* vim",
        "text AND editor OR vim",
    ] {
        let got = search(&index, query, 10);
        let rows = |h: &[LexicalHit]| h.iter().map(|h| h.row).collect::<Vec<_>>();
        if query.contains("AND") {
            // "and" is a stop word; "or" is not, and matches nothing here.
            assert_eq!(rows(&got), rows(&plain), "{query}");
        } else {
            assert_eq!(got, plain, "{query}");
        }
    }
}

#[test]
fn damaged_lexical_file_is_refused() {
    let s = Scratch::new("lexical-damage");
    let out = s.join("idx");
    drop(build(&out, true));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_object().unwrap();
    let name = files
        .iter()
        .filter(|(n, _)| n.starts_with("lexical/"))
        .max_by_key(|(_, e)| e["bytes"].as_u64().unwrap())
        .map(|(n, _)| n.clone())
        .expect("lexical files are listed in the manifest");
    let path = out.join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let err = Segment::open(&out)
        .err()
        .expect("a damaged index is refused")
        .to_string();
    assert!(
        err.contains(&name) && err.contains("checksum mismatch"),
        "{err}"
    );
}

#[test]
fn added_to_an_existing_index() {
    let s = Scratch::new("lexical-add");
    let built = build(&s.join("with"), true);
    let plain = build(&s.join("without"), false);
    assert!(plain.lexical().is_none());
    drop(plain);
    write_lexical(&s.join("without")).unwrap();
    let added = Segment::open(&s.join("without")).unwrap();
    for query in ["compression utilities", "text editor", "version control"] {
        assert_eq!(
            search(&added, query, 10),
            search(&built, query, 10),
            "{query}"
        );
    }
    // Rebuilding replaces the part; the index still opens.
    write_lexical(&s.join("without")).unwrap();
    assert!(Segment::open(&s.join("without"))
        .unwrap()
        .lexical()
        .is_some());
}
