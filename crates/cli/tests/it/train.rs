//! Training end to end on real text with the real all-MiniLM-L6-v2: index
//! 1,169 Debian package descriptions (the positives of 400 train-split
//! queries and the two documents all-MiniLM-L6-v2 confuses most with each),
//! mine hard negatives with our own search, train a Hypencoder head on 300
//! queries, and rank the 100 held-out queries better than the untrained head
//! (which scores like all-MiniLM-L6-v2 itself) did. Also: commands without
//! `--model` use the shipped default Hypencoder.

use std::path::Path;

use hypencoder_eval::{evaluate, Metric, Qrels, Run};
use hypencoder_test_support::{minilm, repo_root, stderr, stdout_json, succeeds, Scratch};

use crate::{floats, HYPENCODER};

fn data(name: &str) -> String {
    format!(
        "{}/tests/data/debian-hard/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs the binary, which must succeed, and returns its log (stderr).
fn ok(args: &[&str]) -> String {
    stderr(&HYPENCODER.ok(args))
}

fn mrr(run: &Path, qrels: &str) -> f64 {
    let metric = Metric::parse("mrr@10").unwrap();
    let e = evaluate(
        &Qrels::read(qrels).unwrap(),
        &Run::read(run).unwrap(),
        &[metric],
    )
    .unwrap();
    assert_eq!(e.per_query.len(), 100);
    e.mean[&metric]
}

#[test]
fn mined_and_trained_head_ranks_held_out_queries_better() {
    let scratch = Scratch::new("cli-train");
    let s = |name: &str| scratch.arg(name);
    index_base_and_mine(&scratch);
    let log = ok(&[
        "train",
        "--base",
        &minilm().display().to_string(),
        "--data",
        &s("train.jsonl"),
        "--index",
        &s("index"),
        "--output",
        &s("model"),
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--save-every",
        "0",
        "--seed",
        "7",
        "--lr",
        "3e-5",
    ]);
    assert!(log.contains("trained 54 steps on 300 examples"), "{log}");

    let search = |model: &Path, run: &str| {
        ok(&[
            "search",
            "--index",
            &s("index"),
            "--model",
            &model.display().to_string(),
            "--queries",
            &data("queries.heldout.jsonl"),
            "--k",
            "10",
            "--output",
            &s(run),
        ]);
        mrr(&scratch.join(run), &data("qrels.heldout.tsv"))
    };
    // The untrained head (step 0, kept beside the final one) against the trained one.
    let before = search(&scratch.join("model/checkpoints/step-0"), "before.trec");
    let after = search(&scratch.join("model"), "after.trec");
    // Measured here: 0.644 -> 0.678.
    assert!(
        before < 0.8,
        "the held-out task should be hard for the base: {before:.3}"
    );
    assert!(
        after > before + 0.01,
        "held-out MRR@10 {before:.3} -> {after:.3}"
    );
}

/// Indexes the corpus with the base and mines `train.jsonl` from it, with
/// ten hard negatives per training query.
fn index_base_and_mine(scratch: &Scratch) {
    let s = |name: &str| scratch.arg(name);
    // The base read as a plain BERT folder: mean pooling, no normalisation,
    // which is the document encoder of a head-only Hypencoder over it.
    let base = scratch.join("minilm-mean");
    std::fs::create_dir_all(&base).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(minilm().join(f), base.join(f)).unwrap();
    }
    let base = base.display().to_string();
    ok(&[
        "index",
        "--model",
        &base,
        "--corpus",
        &data("corpus.jsonl"),
        "--index",
        &s("index"),
    ]);
    let mined = ok(&[
        "mine",
        "--index",
        &s("index"),
        "--queries",
        &data("queries.train.jsonl"),
        "--qrels",
        &data("qrels.train.tsv"),
        "--output",
        &s("train.jsonl"),
        "--negatives",
        "10",
    ]);
    assert!(mined.contains("mined 300 examples"), "{mined}");
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(s("train.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["negatives"].as_array().unwrap().len(), 10);
    assert!(!first["negatives"]
        .as_array()
        .unwrap()
        .contains(&first["positives"][0]));
}

#[test]
fn commands_without_model_use_the_shipped_default_hypencoder() {
    let assets = repo_root().join("assets/default-model");
    let config =
        std::fs::read_to_string(assets.join("config.json")).expect("assets/default-model ships");
    assert!(config.contains("HypencoderDualEncoder"));
    let scratch = Scratch::new("cli-default-model");
    let queries = scratch.write_arg(
        "q.jsonl",
        "{\"text\": \"command line tool for transferring data with URLs\"}\n",
    );
    let docs = scratch.write_arg(
        "d.jsonl",
        "{\"text\": \"curl is a command line tool for transferring data with URL syntax\"}\n\
         {\"text\": \"A free real-time strategy game of ancient warfare\"}\n",
    );
    let score = |extra: &[&str]| {
        let mut args = vec!["score", "--queries", &queries, "--docs", &docs];
        args.extend_from_slice(extra);
        let mut cmd = HYPENCODER.command(&args);
        cmd.env_remove("HYPENCODER_MODEL");
        floats(&stdout_json(&succeeds(&mut cmd))["scores"][0])
    };
    let default = score(&[]);
    assert_eq!(default, score(&["--model", assets.to_str().unwrap()]));
    assert!(
        default[0] > default[1],
        "curl should outscore the strategy game: {default:?}"
    );
}
