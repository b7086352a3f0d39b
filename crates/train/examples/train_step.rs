//! One training step, timed: the Rust side of `bench/train/run_step.sh`
//! (PyTorch's is `bench/train/train_step_torch.py`). It runs the real trainer
//! (`hypencoder_train::train`, `--mode full`) on one fixed batch, written by
//! `bench/train/make_train_batch.py` as JSONL lines `{"query", "positive",
//! "negative"}`: each step re-encodes the batch's queries and documents,
//! takes the cross-entropy over in-batch and hard negatives, backpropagates
//! and updates with AdamW. Prints one JSON line: milliseconds per step
//! (after `--warmup` untimed steps) and peak resident memory.
//!
//! ```text
//! cargo run --release -p hypencoder-train --example train_step -- \
//!     --model models/all-MiniLM-L6-v2 --batch target/train-step/batch.jsonl --steps 5
//! ```

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use hypencoder_index::{Dtype, ModelInfo, SegmentWriter, WriterConfig};
use hypencoder_train::{Event, Kind, Mode, TrainConfig};

struct Args {
    model: PathBuf,
    batch: PathBuf,
    steps: u64,
    warmup: u64,
    kind: Kind,
    work: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        model: "models/all-MiniLM-L6-v2".into(),
        batch: "target/train-step/batch.jsonl".into(),
        steps: 5,
        warmup: 1,
        kind: Kind::BiEncoder,
        work: std::env::temp_dir().join(format!("train-step-{}", std::process::id())),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--model" => a.model = value.into(),
            "--batch" => a.batch = value.into(),
            "--steps" => a.steps = value.parse().expect("--steps N"),
            "--warmup" => a.warmup = value.parse().expect("--warmup N"),
            "--work" => a.work = value.into(),
            "--kind" => {
                a.kind = match value.as_str() {
                    "bi-encoder" => Kind::BiEncoder,
                    "hypencoder" => Kind::Hypencoder,
                    other => panic!("--kind bi-encoder|hypencoder, not {other}"),
                }
            }
            other => panic!(
                "unknown argument {other}; takes --model --batch --steps --warmup --kind --work"
            ),
        }
    }
    a
}

/// (query, positive, negative) per line of the batch file.
fn read_batch(path: &Path) -> Vec<[String; 3]> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line.expect("readable batch file");
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1));
            ["query", "positive", "negative"].map(|k| {
                v[k].as_str()
                    .unwrap_or_else(|| panic!("{}:{}: no string {k:?}", path.display(), i + 1))
                    .to_string()
            })
        })
        .collect()
}

/// An index of the batch's documents (texts only matter in full mode: the
/// vectors are placeholders, as wide as the model's, which sets the q-net
/// width) and the training file naming them.
fn write_inputs(batch: &[[String; 3]], model: &Path, work: &Path) -> (PathBuf, PathBuf) {
    let config_file = model.join("config.json");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_file).expect("model config.json"))
            .expect("config.json is JSON");
    let dim = config["hidden_size"]
        .as_u64()
        .expect("config.json has hidden_size") as usize;
    let zeros = vec![0f32; dim];
    let index = work.join("index");
    let config = WriterConfig {
        dim,
        dtype: Dtype::F32,
        model: ModelInfo {
            path: String::new(),
            kind: "bi-encoder".into(),
            fingerprint: String::new(),
            doc_encoder: None,
            doc_precision: None,
        },
        with_texts: true,
        max_length: 256,
        source: "train_step".into(),
        chunk_size: 1024,
        lexical: false,
    };
    let mut writer = SegmentWriter::create(&index, config).expect("index writer");
    for (i, [_, pos, neg]) in batch.iter().enumerate() {
        writer.add(&format!("p{i}"), pos, &zeros, false).unwrap();
        writer.add(&format!("n{i}"), neg, &zeros, false).unwrap();
    }
    writer.finish().expect("index written");
    let data = work.join("train.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&data).unwrap());
    for (i, [query, ..]) in batch.iter().enumerate() {
        let line = serde_json::json!({"query": query, "positives": [format!("p{i}")],
                                      "negatives": [format!("n{i}")]});
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
    (index, data)
}

/// Peak resident set of this process (Linux `VmHWM`), MiB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let a = args();
    let batch = read_batch(&a.batch);
    std::fs::create_dir_all(&a.work).unwrap();
    let (index, data) = write_inputs(&batch, &a.model, &a.work);
    let total = a.warmup + a.steps;
    let config = TrainConfig {
        base: a.model.clone(),
        data,
        index,
        output: a.work.join("model"),
        kind: a.kind,
        mode: Mode::Full,
        batch_size: batch.len(),
        negatives: 1,
        max_steps: Some(total),
        lr: Some(2e-5),
        warmup_steps: Some(0),
        save_every: total + 1,
        ..TrainConfig::default()
    };
    let mut times = Vec::new();
    let mut losses = Vec::new();
    let mut last = Instant::now();
    let summary = hypencoder_train::train(&config, &mut |event| {
        match event {
            Event::Stage(_) => last = Instant::now(),
            Event::Step(r) => {
                let ms = last.elapsed().as_secs_f64() * 1e3;
                eprintln!("step {}: {ms:.0} ms, loss {:.4}", r.step, r.loss);
                times.push(ms);
                losses.push(r.loss);
                last = Instant::now();
            }
            _ => {}
        }
        true
    })
    .expect("training ran");
    let timed = &times[a.warmup as usize..];
    let mean = timed.iter().sum::<f64>() / timed.len().max(1) as f64;
    let min = timed.iter().cloned().fold(f64::INFINITY, f64::min);
    let line = serde_json::json!({
        "impl": "hypencoder",
        "kind": match a.kind { Kind::BiEncoder => "bi-encoder", Kind::Hypencoder => "hypencoder" },
        "threads": rayon_threads(),
        "steps": timed.len(),
        "ms_per_step": mean,
        "ms_min": min,
        "peak_rss_mb": peak_rss_mb(),
        "loss_first": losses.first(),
        "loss_last": losses.last(),
        "finished": summary.finished,
    });
    println!("{line}");
    let _ = std::fs::remove_dir_all(&a.work);
}

/// Threads of the pool the trainer's kernels run on.
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
