//! End-to-end tests of the `hypencoder` binary: parity of `score` and
//! `embed` with the reference outputs, the checkpoint layouts users have,
//! and the error messages bad input gets.

use std::path::Path;

use hypencoder_test_support::{
    expected_json, fixture, jsonl, minilm, score_tolerance, stdout, stdout_json, stdout_jsonl,
    strings, succeeds, Scratch,
};
use safetensors::SafeTensors;

use crate::{floats, matrix, HYPENCODER};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            let mut perms = std::fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&target, perms).unwrap();
        }
    }
}

/// Writes the fixture's queries and passages as JSONL, runs `score` on
/// `model`, and checks the matrix against the fixture `name`.
fn check_score(name: &str, model: &Path, envs: &[(&str, &Path)]) {
    let meta = expected_json(name);
    let scratch = Scratch::new(&format!("score-{name}"));
    scratch.write("q.jsonl", jsonl("d", &strings(&meta, "queries")));
    scratch.write("d.jsonl", jsonl("d", &strings(&meta, "passages")));
    let mut cmd = HYPENCODER.command(&[
        "score",
        "--model",
        &model.display().to_string(),
        "--queries",
        &scratch.arg("q.jsonl"),
        "--docs",
        &scratch.arg("d.jsonl"),
    ]);
    cmd.envs(envs.iter().copied());
    let got = matrix(&stdout_json(&succeeds(&mut cmd))["scores"]);
    let want = matrix(&meta["scores"]);
    assert_eq!(got.len(), want.len(), "{name}: one row per query");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.len(), w.len(), "{name}: one column per document");
        for (j, (&s, &r)) in g.iter().zip(w).enumerate() {
            let tol = score_tolerance(name, r);
            assert!(
                (s - r).abs() <= tol,
                "{name}: score[{i}][{j}] = {s}, reference {r}"
            );
        }
    }
}

#[test]
fn score_reproduces_every_fixture() {
    for name in ["tiny-2layer", "tiny-6layer-bin", "tiny-mean-unshared"] {
        check_score(name, &fixture(name), &[]);
    }
}

#[test]
fn embed_reproduces_minilm_reference() {
    let meta = expected_json("minilm-reference");
    let scratch = Scratch::new("embed");
    scratch.write("t.jsonl", jsonl("d", &strings(&meta, "texts")));
    let lines = stdout_jsonl(&HYPENCODER.ok(&[
        "embed",
        "--model",
        &minilm().display().to_string(),
        "--input",
        &scratch.arg("t.jsonl"),
        "--max-length",
        "256",
    ]));
    let want = matrix(&meta["mean_normalized"]);
    assert_eq!(lines.len(), want.len());
    for (i, (line, w)) in lines.iter().zip(&want).enumerate() {
        assert_eq!(line["id"], format!("d{i}"), "ids echo the input, in order");
        let got = floats(&line["embedding"]);
        assert_eq!(got.len(), 384);
        let worst = got
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-4, "text {i}: max abs difference {worst:e}");
    }
}

#[test]
fn bi_encoder_scores_are_dot_products_of_embeddings() {
    let scratch = Scratch::new("dot");
    let texts: Vec<String> = [
        "rust borrow checker",
        "the capital of australia is canberra",
        "borrowing rules in rust",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    scratch.write("t.jsonl", jsonl("d", &texts));
    let model = minilm().display().to_string();
    let scores = matrix(
        &stdout_json(&HYPENCODER.ok(&[
            "score",
            "--model",
            &model,
            "--queries",
            &scratch.arg("t.jsonl"),
            "--docs",
            &scratch.arg("t.jsonl"),
        ]))["scores"],
    );
    // Unit-length embeddings: self-similarity 1, and the related pair beats the unrelated one.
    for (i, row) in scores.iter().enumerate() {
        assert!((row[i] - 1.0).abs() < 1e-4, "self score {}", row[i]);
    }
    assert!(scores[0][2] > scores[0][1] + 0.1, "{scores:?}");
    assert!(
        (scores[0][2] - scores[2][0]).abs() < 1e-5,
        "dot product is symmetric"
    );
}

/// Splits a fixture into a head-only checkpoint (hyper-head tensors only)
/// plus a base BERT folder holding the transformer weights.
fn head_only_checkpoint(base_dir: &Path, ckpt_dir: &Path, base_name: &str) {
    let src = fixture("tiny-2layer");
    copy_dir(&src, ckpt_dir);
    std::fs::remove_file(ckpt_dir.join("model.safetensors")).unwrap();
    std::fs::remove_dir_all(ckpt_dir.join("base")).unwrap();
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (mut head, mut bert) = (Vec::new(), Vec::new());
    for (name, view) in st.tensors() {
        if let Some(rest) = name.strip_prefix("passage_encoder.transformer.") {
            bert.push((rest.to_string(), view));
        } else if !name.contains(".transformer.") {
            head.push((name, view));
        }
    }
    safetensors::serialize_to_file(head, None, &ckpt_dir.join("model.safetensors")).unwrap();
    std::fs::create_dir_all(base_dir).unwrap();
    safetensors::serialize_to_file(bert, None, &base_dir.join("model.safetensors")).unwrap();
    std::fs::copy(src.join("base/config.json"), base_dir.join("config.json")).unwrap();
    let config = std::fs::read_to_string(src.join("config.json")).unwrap();
    let config = config.replace(
        "\"model_name_or_path\": \"base\"",
        &format!("\"model_name_or_path\": \"{base_name}\""),
    );
    std::fs::write(ckpt_dir.join("config.json"), config).unwrap();
}

#[test]
fn head_only_checkpoint_reads_transformer_from_base_folder() {
    let scratch = Scratch::new("head-only");
    let base = scratch.join("bert-base");
    head_only_checkpoint(&base, &scratch.join("ckpt"), &base.display().to_string());
    check_score("tiny-2layer", &scratch.join("ckpt"), &[]);
}

#[test]
fn base_model_is_found_in_hugging_face_cache() {
    let scratch = Scratch::new("hf-cache");
    let repo = scratch.join("hub/models--someone--tiny-bert");
    let snapshot = repo.join("snapshots/abc123");
    head_only_checkpoint(&snapshot, &scratch.join("ckpt"), "someone/tiny-bert");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "abc123").unwrap();
    check_score(
        "tiny-2layer",
        &scratch.join("ckpt"),
        &[("HF_HUB_CACHE", &scratch.join("hub"))],
    );
}

// ---- bad input: every case is an error naming what is wrong, never a panic ----

/// A writable copy of tiny-2layer with its config edited by `edit`.
fn edited_checkpoint(scratch: &Scratch, edit: impl Fn(&mut serde_json::Value)) -> String {
    let dir = scratch.join("ckpt");
    copy_dir(&fixture("tiny-2layer"), &dir);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir.display().to_string()
}

fn score_with(model: &str, scratch: &Scratch) -> String {
    scratch.write("q.jsonl", jsonl("d", &["a query".to_string()]));
    HYPENCODER.fails(&[
        "score",
        "--model",
        model,
        "--queries",
        &scratch.arg("q.jsonl"),
        "--docs",
        &scratch.arg("q.jsonl"),
    ])
}

#[test]
fn folder_that_is_not_a_model() {
    let scratch = Scratch::new("not-model");
    std::fs::create_dir_all(scratch.join("empty")).unwrap();
    let err = score_with(&scratch.arg("empty"), &scratch);
    assert!(
        err.contains("is not a model folder") && err.contains("no config.json"),
        "{err}"
    );
    let err = score_with(&scratch.arg("missing"), &scratch);
    assert!(err.contains("no such folder"), "{err}");
}

#[test]
fn unknown_activation() {
    let scratch = Scratch::new("activation");
    let model = edited_checkpoint(&scratch, |c| {
        c["query_encoder_kwargs"]["converter_kwargs"]["activation_type"] = "swish".into();
    });
    let err = score_with(&model, &scratch);
    assert!(
        err.contains("config.json") && err.contains("unknown activation 'swish'"),
        "{err}"
    );
}

#[test]
fn inconsistent_dimensions() {
    let cases = [
        (
            "dims",
            [32, 16, 32, 1].as_slice(),
            "residual connection, which needs equal sizes",
        ),
        (
            "dims-input",
            &[48, 48, 48, 1],
            "starts with 48 but passage vectors have 32 dimensions",
        ),
        ("dims-last", &[32, 32, 2], "the last size must be 1"),
    ];
    for (tag, dims, want) in cases {
        let scratch = Scratch::new(tag);
        let model = edited_checkpoint(&scratch, |c| {
            c["query_encoder_kwargs"]["converter_kwargs"]["vector_dimensions"] =
                serde_json::json!(dims);
        });
        let err = score_with(&model, &scratch);
        assert!(err.contains(want), "{tag}: {err}");
    }
}

#[test]
fn missing_tensor_is_named() {
    // A config with one more q-net layer than the weights hold: the first
    // tensor that disagrees is named with both shapes.
    let scratch = Scratch::new("config-vs-weights");
    let model = edited_checkpoint(&scratch, |c| {
        c["query_encoder_kwargs"]["converter_kwargs"]["vector_dimensions"] =
            serde_json::json!([32, 32, 32, 32, 1]);
    });
    let err = score_with(&model, &scratch);
    assert!(
        err.contains("model.safetensors: tensor 'query_encoder.weight_query_embeddings.2' has shape [1, 1, 32] but the config implies [1, 32, 32]"),
        "{err}"
    );

    // A transformer tensor removed from the file.
    let scratch = Scratch::new("missing-bert-tensor");
    let dir = scratch.join("ckpt");
    copy_dir(&fixture("tiny-2layer"), &dir);
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let gone = "passage_encoder.transformer.encoder.layer.1.output.dense.weight";
    let kept: Vec<_> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != gone)
        .collect();
    let out = dir.join("model.safetensors");
    std::fs::remove_file(&out).unwrap();
    safetensors::serialize_to_file(kept, None, &out).unwrap();
    let err = score_with(&dir.display().to_string(), &scratch);
    assert!(
        err.contains(&format!("tensor '{gone}' is missing")),
        "{err}"
    );
}

#[test]
fn truncated_or_corrupt_weights() {
    for (tag, name, damage) in [
        ("truncated-st", "tiny-2layer", "truncate"),
        ("corrupt-st", "tiny-2layer", "header"),
        ("truncated-bin", "tiny-6layer-bin", "truncate"),
    ] {
        let scratch = Scratch::new(tag);
        let dir = scratch.join("ckpt");
        copy_dir(&fixture(name), &dir);
        let file = if name == "tiny-6layer-bin" {
            "pytorch_model.bin"
        } else {
            "model.safetensors"
        };
        let path = dir.join(file);
        let mut bytes = std::fs::read(&path).unwrap();
        match damage {
            "truncate" => bytes.truncate(bytes.len() / 2),
            _ => bytes[10] ^= 0xff, // inside the JSON header
        }
        std::fs::write(&path, bytes).unwrap();
        let err = score_with(&dir.display().to_string(), &scratch);
        assert!(
            err.contains(file) && err.contains("cannot read weights"),
            "{tag}: {err}"
        );
    }
}

#[test]
fn base_model_not_found() {
    let scratch = Scratch::new("no-base");
    let model = edited_checkpoint(&scratch, |c| {
        c["query_encoder_kwargs"]["model_name_or_path"] = "nobody/no-such-bert".into();
        c["passage_encoder_kwargs"]["model_name_or_path"] = "nobody/no-such-bert".into();
    });
    let err = score_with(&model, &scratch);
    assert!(
        err.contains("base model 'nobody/no-such-bert'") && err.contains("was not found"),
        "{err}"
    );
}

#[test]
fn malformed_jsonl_names_file_and_line() {
    let scratch = Scratch::new("jsonl");
    let model = fixture("tiny-2layer").display().to_string();
    let docs = scratch.join("d.jsonl");
    std::fs::write(&docs, jsonl("d", &["fine".to_string()])).unwrap();
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "bad.jsonl",
            b"{\"text\": \"ok\"}\n{\"text\": oops}\n",
            "bad.jsonl:2: not a JSON object",
        ),
        (
            "nofield.jsonl",
            b"{\"body\": \"x\"}\n",
            "nofield.jsonl:1: missing field 'text'",
        ),
        (
            "number.jsonl",
            b"\n{\"text\": 5}\n",
            "number.jsonl:2: field 'text' must be a string",
        ),
        (
            "latin1.jsonl",
            b"{\"text\": \"ok\"}\n{\"text\": \"caf\xe9\"}\n",
            "latin1.jsonl:2: text is not valid UTF-8",
        ),
        (
            "array.jsonl",
            b"[1, 2]\n",
            "array.jsonl:1: expected a JSON object",
        ),
    ];
    for (file, body, want) in cases {
        std::fs::write(scratch.join(file), body).unwrap();
        let err = HYPENCODER.fails(&[
            "score",
            "--model",
            &model,
            "--queries",
            &scratch.arg(file),
            "--docs",
            &docs.display().to_string(),
        ]);
        assert!(err.contains(want), "{file}: {err}");
    }
    // embed needs ids.
    std::fs::write(scratch.join("noid.jsonl"), b"{\"text\": \"x\"}\n").unwrap();
    let err = HYPENCODER.fails(&[
        "embed",
        "--model",
        &model,
        "--input",
        &scratch.arg("noid.jsonl"),
    ]);
    assert!(err.contains("noid.jsonl:1: missing field 'id'"), "{err}");
}

#[test]
fn every_command_documents_its_flags() {
    for cmd in ["score", "embed"] {
        let help = stdout(&HYPENCODER.ok(&[cmd, "--help"]));
        for flag in [
            "--model",
            "--max-length",
            "--id-field",
            "--text-field",
            "--batch-size",
        ] {
            assert!(help.contains(flag), "{cmd} --help lacks {flag}");
        }
    }
}

#[test]
fn search_takes_every_setting_of_the_engine_as_a_flag() {
    let help = stdout(&HYPENCODER.ok(&["search", "--help"]));
    for name in hypencoder_engine::SearchParams::NAMES {
        let flag = format!("--{}", name.replace('_', "-"));
        let listed = help
            .lines()
            .any(|line| line.split_whitespace().next() == Some(flag.as_str()));
        assert!(listed, "search --help lacks {flag}");
    }
}
