//! `add` and `delete` on a live index: adds, replacements and deletions
//! with their reports, and the kill -9 drill: commands killed at random
//! moments never leave a torn index, never lose an acknowledged document
//! or change its vector, and each lands whole or not at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hypencoder_index::Index;
use hypencoder_test_support::{fixture, fixture_texts, jsonl, stderr, stdout, Rng, Scratch};

use crate::serve::tiny_index;
use crate::HYPENCODER;

/// Every live document: id -> (text, vector), from a fresh open.
fn live_docs(dir: &Path) -> BTreeMap<String, (String, Vec<f32>)> {
    let index = Index::open(dir).unwrap_or_else(|e| panic!("the index must open: {e}"));
    let mut out = BTreeMap::new();
    for seg in index.segments() {
        for row in 0..seg.segment.len() {
            if seg.tombstones.is_deleted(row) {
                continue;
            }
            let id = seg.segment.id(row).unwrap().to_string();
            let text = seg
                .segment
                .text(row)
                .unwrap()
                .unwrap_or_default()
                .to_string();
            let vector = seg.segment.vectors().rows(row, 1).into_owned();
            assert!(
                out.insert(id.clone(), (text, vector)).is_none(),
                "{id} is live twice"
            );
        }
    }
    assert_eq!(out.len(), index.live_docs());
    out
}

#[test]
fn add_replaces_and_delete_reports() {
    let s = Scratch::new("live-cli");
    let index = tiny_index(&s, "idx", true);
    let before = live_docs(Path::new(&index));
    let add = s.write_arg(
        "add.jsonl",
        "{\"id\": \"d0\", \"text\": \"a new text for d0\"}\n{\"id\": \"n1\", \"text\": \"rivers of Europe\"}\n",
    );
    let out = HYPENCODER.ok(&["add", "--index", &index, "--corpus", &add]);
    assert!(
        stderr(&out).contains("added 1 and replaced 1 documents"),
        "{}",
        stderr(&out)
    );
    let after = live_docs(Path::new(&index));
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after["d0"].0, "a new text for d0");
    assert_eq!(
        after["d1"], before["d1"],
        "untouched documents keep their vectors"
    );
    let e = HYPENCODER.fails(&["add", "--index", &index, "--corpus", &add, "--no-replace"]);
    assert!(
        e.contains("already in") && e.contains("nothing was added"),
        "{e}"
    );
    let dup = s.write_arg(
        "dup.jsonl",
        "{\"id\": \"x\", \"text\": \"a\"}\n{\"id\": \"x\", \"text\": \"b\"}\n",
    );
    let e = HYPENCODER.fails(&["add", "--index", &index, "--corpus", &dup]);
    assert!(
        e.contains("dup.jsonl") && e.contains("duplicate id 'x'"),
        "{e}"
    );
    let bad = s.write_arg("bad.jsonl", "{\"id\": \"y\", \"text\": \"ok\"}\nnot json\n");
    let e = HYPENCODER.fails(&["add", "--index", &index, "--corpus", &bad]);
    assert!(e.contains("bad.jsonl:2"), "{e}");
    let ids = s.write_arg("ids.txt", "d2\nnope\n");
    let e = HYPENCODER.fails(&["delete", "--index", &index, "--ids", &ids, "--strict"]);
    assert!(
        e.contains("nope") && e.contains("nothing was deleted"),
        "{e}"
    );
    assert!(live_docs(Path::new(&index)).contains_key("d2"));
    let out = HYPENCODER.ok(&["delete", "--index", &index, "--ids", &ids]);
    assert!(stderr(&out).contains("deleted 1 documents") && stderr(&out).contains("nope"));
    assert!(!live_docs(Path::new(&index)).contains_key("d2"));
    assert_eq!(live_docs(Path::new(&index)).len(), before.len());
}

/// One change the drill makes: its command line and what it does to the
/// live documents if it lands.
struct Change {
    args: Vec<String>,
    /// (id, Some(text)) added or replaced, (id, None) deleted.
    effect: Vec<(String, Option<String>)>,
}

/// A random add (1-4 documents, some replacing live ones), delete (1-3
/// live ids) or optimize (a merge of every segment), numbered `n`.
fn random_change(
    s: &Scratch,
    index: &str,
    live: &BTreeMap<String, (String, Vec<f32>)>,
    rng: &mut Rng,
    n: usize,
) -> Change {
    let live_ids: Vec<&String> = live.keys().collect();
    if rng.below(8) == 0 {
        // Merges every segment: changes no live document.
        let args = ["optimize", "--index", index];
        return Change {
            args: args.iter().map(|a| a.to_string()).collect(),
            effect: Vec::new(),
        };
    }
    if rng.below(3) > 0 || live_ids.len() < 4 {
        let mut effect = Vec::new();
        for j in 0..1 + rng.below(4) {
            let id = if rng.below(3) == 0 && !live_ids.is_empty() {
                live_ids[rng.below(live_ids.len())].clone()
            } else {
                format!("k{n}-{j}")
            };
            if effect.iter().any(|(e, _)| *e == id) {
                continue;
            }
            effect.push((
                id,
                Some(format!("change {n}: a text about topic {}", rng.below(50))),
            ));
        }
        let lines: String = effect
            .iter()
            .map(|(id, text)| serde_json::json!({"id": id, "text": text}).to_string() + "\n")
            .collect();
        let corpus = s.write_arg(format!("change-{n}.jsonl"), lines);
        let args = ["add", "--index", index, "--corpus", &corpus];
        Change {
            args: args.iter().map(|a| a.to_string()).collect(),
            effect,
        }
    } else {
        let mut effect: Vec<(String, Option<String>)> = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let id = live_ids[rng.below(live_ids.len())].clone();
            if !effect.iter().any(|(e, _)| *e == id) {
                effect.push((id, None));
            }
        }
        let lines: String = effect.iter().map(|(id, _)| format!("{id}\n")).collect();
        let ids = s.write_arg(format!("change-{n}.txt"), lines);
        let args = ["delete", "--index", index, "--ids", &ids];
        Change {
            args: args.iter().map(|a| a.to_string()).collect(),
            effect,
        }
    }
}

/// Whether `now` is `before` with `change` applied (texts compared; kept
/// documents must keep their vectors bit for bit).
fn applied(
    before: &BTreeMap<String, (String, Vec<f32>)>,
    now: &BTreeMap<String, (String, Vec<f32>)>,
    change: &Change,
) -> bool {
    let mut expect: BTreeMap<String, Option<String>> = before
        .iter()
        .map(|(id, (t, _))| (id.clone(), Some(t.clone())))
        .collect();
    for (id, text) in &change.effect {
        match text {
            Some(t) => expect.insert(id.clone(), Some(t.clone())),
            None => expect.remove(id),
        };
    }
    let touched = |id: &String| change.effect.iter().any(|(e, _)| e == id);
    expect.len() == now.len()
        && expect.iter().all(|(id, text)| {
            now.get(id).is_some_and(|(t, v)| {
                Some(t) == text.as_ref() && (touched(id) || &before[id].1 == v)
            })
        })
}

#[test]
fn kill_9_drill_loses_no_acknowledged_write() {
    let kills: usize = std::env::var("HYPENCODER_DRILL_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let s = Scratch::new("drill");
    let index = tiny_index(&s, "idx", true);
    let dir = Path::new(&index);
    let mut rng = Rng::new(2026);
    let mut state = live_docs(dir);
    // How long each kind of change takes when left alone (from the first
    // of each), so kills land all through it.
    let mut full: BTreeMap<String, Duration> = BTreeMap::new();
    let mut n = 0;
    while full.len() < 3 {
        n += 1;
        let change = random_change(&s, &index, &state, &mut rng, 1000 + n);
        let started = Instant::now();
        let args: Vec<&str> = change.args.iter().map(String::as_str).collect();
        HYPENCODER.ok(&args);
        full.entry(change.args[0].clone())
            .or_insert(started.elapsed());
        state = live_docs(dir);
    }
    // A reader opening the index over and over meanwhile must always get a
    // whole generation.
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut opens = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let index = Index::open(dir).unwrap_or_else(|e| panic!("a reader failed: {e}"));
                let live: usize = index
                    .segments()
                    .iter()
                    .map(|s| s.segment.len() - s.tombstones.deleted())
                    .sum();
                assert_eq!(live, index.live_docs());
                opens += 1;
            }
            opens
        });
        drill(&s, &index, kills, &full, &mut rng, &mut state);
        stop.store(true, Ordering::Relaxed);
        let opens = reader.join().expect("the reader never failed");
        eprintln!("a concurrent reader opened {opens} whole generations");
    });
    // The survivor still takes writes.
    let last = random_change(&s, &index, &state, &mut rng, kills + 1);
    let args: Vec<&str> = last.args.iter().map(String::as_str).collect();
    HYPENCODER.ok(&args);
    assert!(applied(&state, &live_docs(dir), &last));
}

/// `kills` random changes, each killed at a random moment unless it ends
/// first; after each, the index must hold `state` with the change applied
/// whole or not at all (whole if it was acknowledged).
fn drill(
    s: &Scratch,
    index: &str,
    kills: usize,
    full: &BTreeMap<String, Duration>,
    rng: &mut Rng,
    state: &mut BTreeMap<String, (String, Vec<f32>)>,
) {
    let dir = Path::new(index);
    let (mut interrupted, mut landed_anyway) = (0, 0);
    for n in 1..=kills {
        let change = random_change(s, index, state, rng, n);
        let args: Vec<&str> = change.args.iter().map(String::as_str).collect();
        let mut child = HYPENCODER
            .command(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Up to 1.5 times the slowest kind (an add and its merge), so kills
        // land anywhere in every kind, merges included.
        let slowest = full.values().max().copied().unwrap_or_default();
        let delay = slowest.mul_f64(1.5 * (rng.below(1000) as f64 / 1000.0));
        std::thread::sleep(delay.min(Duration::from_secs(10)));
        let acknowledged = match child.try_wait().unwrap() {
            Some(status) => {
                assert!(
                    status.success(),
                    "change {n} failed on its own: {:?}",
                    change.args
                );
                true
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                interrupted += 1;
                false
            }
        };
        let now = live_docs(dir);
        if applied(state, &now, &change) {
            landed_anyway += usize::from(!acknowledged);
        } else {
            assert!(
                !acknowledged,
                "change {n} was acknowledged but is not in the index"
            );
            assert_eq!(&now, state, "change {n} was killed and left part of itself");
        }
        *state = now;
    }
    eprintln!(
        "kill -9 drill: {kills} changes (alone: {full:?}), {interrupted} killed mid-way \
         ({landed_anyway} of those had committed), {} acknowledged",
        kills - interrupted
    );
    assert!(
        interrupted >= kills / 4,
        "only {interrupted} of {kills} kills interrupted a change"
    );
}

/// `search --format jsonl` hits as (id, score).
fn search_hits(index: &str, query: &str, extra: &[&str]) -> Vec<(String, f32)> {
    let mut args = vec![
        "search", "--index", index, "--query", query, "--k", "12", "--format", "jsonl",
    ];
    args.extend_from_slice(extra);
    let out = HYPENCODER.ok(&args);
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    line["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["id"].as_str().unwrap().to_string(),
                h["score"].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

#[test]
fn segments_answer_as_one_index_and_never_return_deleted_documents() {
    let s = Scratch::new("live-search");
    let whole = tiny_index(&s, "whole", true);
    // The same 12 passages as two segments: 6 indexed, 6 added.
    let passages = fixture_texts("tiny-2layer", "passages");
    let first = s.write_arg("first.jsonl", jsonl("d", &passages[..6]));
    let model = fixture("tiny-2layer").display().to_string();
    let split = s.arg("split");
    HYPENCODER.ok(&[
        "index",
        "--model",
        &model,
        "--corpus",
        &first,
        "--index",
        &split,
        "--graph-degree",
        "4",
    ]);
    let rest: String = passages[6..]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"id": format!("d{}", i + 6), "text": t}).to_string() + "\n"
        })
        .collect();
    let rest = s.write_arg("rest.jsonl", rest);
    // Two segments kept (two halves would merge at once).
    HYPENCODER.ok(&[
        "add",
        "--index",
        &split,
        "--corpus",
        &rest,
        "--max-segments",
        "0",
    ]);
    let queries = fixture_texts("tiny-2layer", "queries");
    let modes: [&[&str]; 5] = [
        &["--mode", "exhaustive"],
        &["--mode", "bm25"],
        &["--mode", "rerank"],
        &["--mode", "hybrid", "--neural", "exhaustive"],
        &[
            "--mode",
            "hybrid",
            "--neural",
            "exhaustive",
            "--fusion",
            "rrf",
        ],
    ];
    for query in queries.iter().filter(|q| !q.trim().is_empty()) {
        for mode in modes {
            assert_eq!(
                search_hits(&split, query, mode),
                search_hits(&whole, query, mode),
                "{mode:?} {query}"
            );
        }
        // Each segment's graph, walked from every document, finds the same.
        let graph = ["--mode", "graph", "--entry-points", "12"];
        assert_eq!(
            search_hits(&split, query, &graph),
            search_hits(&whole, query, &graph[..2]),
            "{query}"
        );
    }
    // Deleted documents are never returned; the rest rank as before, and
    // still after a merge into one segment.
    let ids = s.write_arg("del.txt", "d2\nd7\n");
    HYPENCODER.ok(&["delete", "--index", &split, "--ids", &ids]);
    check_without_deleted(&split, &whole, &queries);
    let out = HYPENCODER.ok(&["optimize", "--index", &split]);
    assert!(
        stderr(&out).contains("merged 2 segments (10 live documents, 2 deleted dropped)"),
        "{}",
        stderr(&out)
    );
    let live = Index::open(Path::new(&split)).unwrap();
    assert_eq!((live.segments().len(), live.live_docs()), (1, 10));
    check_without_deleted(&split, &whole, &queries);
}

/// `split` (d2 and d7 deleted) answers as `whole` without them.
fn check_without_deleted(split: &str, whole: &str, queries: &[String]) {
    for query in queries.iter().filter(|q| !q.trim().is_empty()) {
        let expected: Vec<(String, f32)> = search_hits(whole, query, &["--mode", "exhaustive"])
            .into_iter()
            .filter(|(id, _)| id != "d2" && id != "d7")
            .collect();
        assert_eq!(
            search_hits(split, query, &["--mode", "exhaustive"]),
            expected
        );
        for mode in [
            &["--mode", "graph"][..],
            &["--mode", "bm25"],
            &["--mode", "hybrid"],
            &["--mode", "rerank"],
        ] {
            let hits = search_hits(split, query, mode);
            assert!(
                hits.iter().all(|(id, _)| id != "d2" && id != "d7"),
                "{mode:?}: {hits:?}"
            );
        }
    }
}
