//! Training runs end to end on the tiny fixture model: the loss falls, an
//! interrupted run resumes to the very same weights, checkpoints are
//! official folders that load and score identically, and an index built by
//! another document encoder is refused.

use std::path::{Path, PathBuf};

use candle_core::Device;
use hypencoder_index::{Dtype, ModelInfo, SegmentWriter, WriterConfig};
use hypencoder_model::{LoadOptions, Model, ModelKind};
use hypencoder_test_support::{fixture, read_json, Scratch};
use hypencoder_train::{train, Event, Kind, Mode, TrainConfig};

/// The fixture's base BERT with its tokenizer beside it.
fn base(root: &Path) -> PathBuf {
    let dir = root.join("base");
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = fixture("tiny-2layer");
    for (from, name) in [
        (fixture.join("base/config.json"), "config.json"),
        (fixture.join("base/model.safetensors"), "model.safetensors"),
        (fixture.join("tokenizer.json"), "tokenizer.json"),
    ] {
        std::fs::copy(from, dir.join(name)).unwrap();
    }
    dir
}

const WORDS: [&str; 24] = [
    "kernel", "audio", "python", "font", "game", "network", "editor", "compiler", "library",
    "printer", "camera", "music", "chess", "mail", "database", "browser", "shell", "theme",
    "backup", "monitor", "image", "video", "archive", "calendar",
];

/// 48 documents of three topic words each; query i names two of them.
fn corpus() -> Vec<(String, String)> {
    (0..48)
        .map(|i| {
            let w = |k: usize| WORDS[(i * 7 + k * 5) % WORDS.len()];
            (
                format!("doc{i}"),
                format!("a {} tool for {} and {} users", w(0), w(1), w(2)),
            )
        })
        .collect()
}

fn write_examples(path: &Path) {
    write_examples_with(path, false)
}

/// With `teacher`, each line carries scores: 10 for the positive, falling
/// with each negative's place.
fn write_examples_with(path: &Path, teacher: bool) {
    let docs = corpus();
    let mut lines = String::new();
    for (i, (id, text)) in docs.iter().enumerate() {
        let words: Vec<&str> = text.split(' ').collect();
        let negatives: Vec<String> = (1..5)
            .map(|k| docs[(i + k * 11) % docs.len()].0.clone())
            .collect();
        let mut line = serde_json::json!({
            "query_id": format!("q{i}"),
            "query": format!("{} {}", words[1], words[4]),
            "positives": [id],
            "negatives": negatives,
        });
        if teacher {
            line["positive_scores"] = serde_json::json!([10.0]);
            line["negative_scores"] = serde_json::json!([6.0, 4.0, 2.0, 0.0]);
        }
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    std::fs::write(path, lines).unwrap();
}

/// Indexes the corpus with `model_dir`'s document encoder.
fn build_index(model_dir: &Path, options: &LoadOptions, out: &Path) {
    let model = Model::load_with(model_dir, options).unwrap();
    let docs = corpus();
    let texts: Vec<&str> = docs.iter().map(|d| d.1.as_str()).collect();
    let vectors = model.encode_docs_batched(&texts, 16).unwrap();
    let mut writer = SegmentWriter::create(
        out,
        WriterConfig {
            dim: model.dim(),
            dtype: Dtype::F32,
            model: ModelInfo {
                path: model_dir.display().to_string(),
                kind: model.kind().name().into(),
                fingerprint: model.fingerprint().unwrap(),
                doc_encoder: Some(model.doc_encoder_fingerprint().unwrap()),
                doc_precision: None,
            },
            with_texts: true,
            max_length: model.doc_tokenizer().max_length() as u64,
            source: "test corpus".into(),
            chunk_size: 16,
            lexical: false,
        },
    )
    .unwrap();
    for ((id, text), v) in docs.iter().zip(&vectors) {
        writer.add(id, text, v, false).unwrap();
    }
    writer.finish().unwrap();
}

fn setup(root: &Path) -> TrainConfig {
    let base = base(root);
    build_index(&base, &LoadOptions::default(), &root.join("index"));
    write_examples(&root.join("train.jsonl"));
    TrainConfig {
        base,
        data: root.join("train.jsonl"),
        index: root.join("index"),
        output: root.join("model"),
        batch_size: 8,
        negatives: 3,
        max_steps: Some(24),
        save_every: 8,
        lr: Some(3e-3),
        ..Default::default()
    }
}

fn run(config: &TrainConfig, stop_at: Option<u64>) -> hypencoder_train::Summary {
    train(config, &mut |e| match e {
        Event::Step(r) => Some(r.step) != stop_at,
        _ => true,
    })
    .unwrap()
}

fn tensors(file: &Path) -> Vec<(String, Vec<f32>)> {
    let mut t: Vec<_> = candle_core::safetensors::load(file, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

fn scores(model_dir: &Path) -> Vec<Vec<f32>> {
    let model = Model::load(model_dir).unwrap();
    let docs = model
        .encode_docs_batched(&["a chess game for kernel users", "mail"], 2)
        .unwrap();
    let q = model.encode_queries(&["chess kernel", "audio"]).unwrap();
    model.score_vectors(&q, &docs).unwrap()
}

#[test]
fn frozen_training_lowers_the_loss_and_resumes_to_the_same_weights() {
    let scratch = Scratch::new("resume");
    let config = setup(scratch.path());
    let straight = run(&config, None);
    assert!(straight.finished);
    assert!(
        straight.last_loss < straight.first_loss * 0.8,
        "loss {} -> {}",
        straight.first_loss,
        straight.last_loss
    );

    let interrupted = TrainConfig {
        output: scratch.join("model-resumed"),
        ..config.clone()
    };
    let first = run(&interrupted, Some(13));
    assert!(!first.finished);
    assert_eq!(first.steps, 13);
    assert!(interrupted.checkpoint_dir().join("step-13").is_dir());
    assert!(!interrupted.output.join("config.json").exists());
    assert_eq!(first.steps_here, 13);
    let second = run(&interrupted, None);
    assert!(second.finished);
    assert_eq!(second.steps, 24);
    assert_eq!(second.steps_here, 11);
    assert_eq!(
        tensors(&config.output.join("model.safetensors")),
        tensors(&interrupted.output.join("model.safetensors")),
        "a resumed run must end with the weights of an uninterrupted one"
    );
    // A finished run resumed again only writes its model, here elsewhere.
    let again = TrainConfig {
        output: scratch.join("model-again"),
        checkpoint_dir: Some(interrupted.checkpoint_dir()),
        ..interrupted.clone()
    };
    let third = run(&again, None);
    assert!(third.finished);
    assert_eq!((third.steps, third.steps_here), (24, 0));
    assert_eq!(
        tensors(&interrupted.output.join("model.safetensors")),
        tensors(&again.output.join("model.safetensors")),
    );
    // Only the newest checkpoints are kept.
    let kept: Vec<_> = std::fs::read_dir(config.checkpoint_dir())
        .unwrap()
        .collect();
    assert_eq!(kept.len(), 2);
}

#[test]
fn checkpoint_is_an_official_head_only_folder_that_scores_identically() {
    let scratch = Scratch::new("checkpoint");
    let config = setup(scratch.path());
    run(&config, None);

    let cfg = read_json(&config.output.join("config.json"));
    assert_eq!(cfg["architectures"][0], "HypencoderDualEncoder");
    assert_eq!(cfg["query_encoder_kwargs"]["model_name_or_path"], "../base");
    assert_eq!(
        cfg["query_encoder_kwargs"]["converter_kwargs"]["vector_dimensions"],
        serde_json::json!([32, 32, 32, 1])
    );
    assert_eq!(cfg["passage_encoder_kwargs"]["pooling_type"], "mean");
    let names: Vec<String> = tensors(&config.output.join("model.safetensors"))
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("query_encoder.") && !n.contains("transformer")),
        "{names:?}"
    );

    let model = Model::load(&config.output).unwrap();
    assert_eq!(model.kind(), ModelKind::Hypencoder);
    let last = config.checkpoint_dir().join("step-24");
    let (a, b) = (scores(&config.output), scores(&last));
    assert_eq!(a, b);
    // Training changed what the model computes.
    assert_ne!(a, scores(&config.checkpoint_dir().join("step-16")));
}

#[test]
fn an_index_from_another_document_encoder_is_refused() {
    let scratch = Scratch::new("mismatch");
    let config = setup(scratch.path());
    let other = scratch.join("index-short");
    let short = LoadOptions {
        doc_max_length: Some(8),
        ..Default::default()
    };
    build_index(&config.base, &short, &other);
    let err = train(
        &TrainConfig {
            index: other,
            ..config.clone()
        },
        &mut |_| true,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("was not built by this model's document encoder"),
        "{err}"
    );
    // Nothing is left that the corrected command would try to resume.
    let left: Vec<_> = std::fs::read_dir(config.checkpoint_dir())
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    run(
        &TrainConfig {
            max_steps: Some(2),
            ..config
        },
        None,
    );
}

#[test]
fn full_fine_tuning_trains_the_transformer_too() {
    let scratch = Scratch::new("full");
    let config = setup(scratch.path());
    for kind in [Kind::Hypencoder, Kind::BiEncoder] {
        let c = TrainConfig {
            kind,
            mode: Mode::Full,
            max_steps: Some(3),
            lr: Some(1e-3),
            output: scratch.join(format!("full-{kind:?}")),
            ..config.clone()
        };
        let summary = run(&c, None);
        assert!(summary.finished);
        let saved = tensors(&c.output.join("model.safetensors"));
        let word = |prefix: &str| {
            saved
                .iter()
                .find(|(n, _)| n == &format!("{prefix}embeddings.word_embeddings.weight"))
                .map(|t| t.1.clone())
                .unwrap_or_else(|| panic!("no {prefix}embeddings in {c:?}"))
        };
        let base_word = tensors(&config.base.join("model.safetensors"))
            .into_iter()
            .find(|(n, _)| n.ends_with("embeddings.word_embeddings.weight"))
            .unwrap()
            .1;
        let model = Model::load(&c.output).unwrap();
        match kind {
            Kind::Hypencoder => {
                assert_eq!(model.kind(), ModelKind::Hypencoder);
                assert_ne!(word("query_encoder.transformer."), base_word);
            }
            Kind::BiEncoder => {
                assert_eq!(model.kind(), ModelKind::BiEncoder);
                assert_ne!(word(""), base_word);
            }
        }
    }
}

#[test]
fn query_mode_trains_the_query_tower_and_keeps_the_index_valid() {
    let scratch = Scratch::new("query");
    let config = setup(scratch.path());
    // Warm start from a frozen head, as the two-stage recipe does.
    let frozen = TrainConfig {
        max_steps: Some(4),
        ..config.clone()
    };
    run(&frozen, None);
    let c = TrainConfig {
        mode: Mode::Query,
        init_from: Some(frozen.output.clone()),
        max_steps: Some(3),
        lr: Some(1e-3),
        output: scratch.join("query"),
        ..config.clone()
    };
    run(&c, None);
    let cfg = read_json(&c.output.join("config.json"));
    assert_eq!(cfg["shared_encoder"], false);
    assert_eq!(cfg["passage_encoder_kwargs"]["freeze_transformer"], true);
    let names: Vec<String> = tensors(&c.output.join("model.safetensors"))
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert!(names
        .iter()
        .any(|n| n.starts_with("query_encoder.transformer.encoder.")));
    assert!(!names.iter().any(|n| n.starts_with("passage_encoder.")));
    // Documents still get the base's vectors: the same index serves it.
    let trained = Model::load(&c.output).unwrap();
    let index = hypencoder_index::Segment::open(&config.index).unwrap();
    assert_eq!(
        index.manifest().model.doc_encoder.as_deref(),
        Some(trained.doc_encoder_fingerprint().unwrap().as_str())
    );
    assert_ne!(scores(&c.output), scores(&frozen.output));
}

/// Pearson correlation of two vectors.
fn corr(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let cov: f32 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f32 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f32 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va.sqrt() * vb.sqrt())
}

#[test]
fn the_bi_encoder_start_scores_like_the_base() {
    let scratch = Scratch::new("start");
    let config = TrainConfig {
        max_steps: Some(1),
        save_every: 0,
        ..setup(scratch.path())
    };
    run(&config, None);
    let untrained = Model::load(&config.checkpoint_dir().join("step-0")).unwrap();
    let texts = [
        "a chess game for kernel users",
        "mail tool",
        "font editor for printer users",
    ];
    let docs = untrained.encode_docs_batched(&texts, 3).unwrap();
    let queries = ["chess kernel", "audio editor"];
    let q = untrained.encode_queries(&queries).unwrap();
    let got = untrained.score_vectors(&q, &docs).unwrap();
    let (batch, hidden) = untrained.query_hidden_states(&queries).unwrap();
    for (qi, row) in got.iter().enumerate() {
        let len = batch.lengths[qi];
        let states = hidden.get(qi).unwrap().narrow(0, 0, len).unwrap();
        let mean = (states.sum(0).unwrap() / len as f64)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (di, &score) in row.iter().enumerate() {
            let want = 20.0 * corr(&mean, &docs[di]);
            assert!(
                (score - want).abs() < 0.05 * want.abs().max(1.0),
                "query {qi} doc {di}: {score} vs {want}"
            );
        }
    }
}

#[test]
fn margin_mse_training_follows_the_teacher() {
    let scratch = Scratch::new("margin");
    let config = setup(scratch.path());
    write_examples_with(&config.data, true);
    let c = TrainConfig {
        loss: hypencoder_train::LossKind::MarginMse,
        ..config.clone()
    };
    let summary = run(&c, None);
    assert!(
        summary.last_loss < summary.first_loss * 0.8,
        "loss {} -> {}",
        summary.first_loss,
        summary.last_loss
    );
    // Without teacher scores margin-MSE is refused, naming the file.
    write_examples(&config.data);
    let err = train(
        &TrainConfig {
            output: scratch.join("m2"),
            ..c
        },
        &mut |_| true,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("train.jsonl") && err.contains("teacher scores"),
        "{err}"
    );
}

#[test]
fn f16_and_bf16_models_are_half_the_size_and_score_like_f32_ones() {
    let scratch = Scratch::new("f16");
    let config = setup(scratch.path());
    let mut scores = Vec::new();
    let mut sizes = Vec::new();
    let int8 = TrainConfig {
        save_dtype: Dtype::Int8,
        output: scratch.join("int8"),
        ..config.clone()
    };
    let err = train(&int8, &mut |_| true).unwrap_err().to_string();
    assert!(err.contains("`save_dtype` int8 stores vectors"), "{err}");
    assert!(!int8.output.exists(), "refused before any work");
    for dtype in [Dtype::F32, Dtype::F16, Dtype::Bf16] {
        let c = TrainConfig {
            mode: Mode::Full,
            max_steps: Some(2),
            lr: Some(1e-3),
            save_dtype: dtype,
            output: scratch.join(format!("full-{dtype:?}")),
            ..config.clone()
        };
        run(&c, None);
        let file = c.output.join("model.safetensors");
        let saved = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
        let want = match dtype {
            Dtype::F32 => candle_core::DType::F32,
            Dtype::F16 => candle_core::DType::F16,
            Dtype::Bf16 => candle_core::DType::BF16,
            Dtype::Int8 => unreachable!("not in the loop"),
        };
        assert!(
            saved.values().all(|t| t.dtype() == want),
            "{dtype:?} weights"
        );
        // Checkpoints stay f32, so a resumed run is exact.
        let ckpt = c.checkpoint_dir().join("step-2").join("model.safetensors");
        let ckpt = candle_core::safetensors::load(&ckpt, &Device::Cpu).unwrap();
        assert!(ckpt.values().all(|t| t.dtype() == candle_core::DType::F32));
        let torch_dtype = read_json(&c.output.join("config.json"))["torch_dtype"].clone();
        let want = match dtype {
            Dtype::F32 => "float32",
            Dtype::F16 => "float16",
            Dtype::Bf16 => "bfloat16",
            Dtype::Int8 => unreachable!("not in the loop"),
        };
        assert_eq!(torch_dtype, want);
        sizes.push(std::fs::metadata(&file).unwrap().len());
        let model = Model::load(&c.output).unwrap();
        let q = model
            .encode_queries(&["a small query", "another query"])
            .unwrap();
        let d = model
            .encode_docs(&["first document text", "second one"])
            .unwrap();
        let s = model.score(&q, &d).unwrap().flatten_all().unwrap();
        scores.push(s.to_vec1::<f32>().unwrap());
    }
    for half in 1..3 {
        assert!(
            sizes[half] * 10 < sizes[0] * 6,
            "16-bit file {} vs f32 {}",
            sizes[half],
            sizes[0]
        );
        // bf16 keeps 8 bits of mantissa to f16's 11.
        let tol = if half == 1 { 1e-2 } else { 4e-2 };
        for (a, b) in scores[0].iter().zip(&scores[half]) {
            assert!((a - b).abs() <= tol * a.abs().max(1.0), "{a} vs {b}");
        }
    }
}
