//! Encoding speed on the CPU, measured the same way as bench/encode/encode_vs_pytorch.py
//! so the two can be put side by side (bench/encode/run.sh does that).
//!
//! 1. Documents/s: all-MiniLM-L6-v2 through `Model::encode_docs_batched`
//!    (tokenise, BERT, mean pooling, L2 norm), batch 32, max length 256.
//! 2. Query -> q-net latency of a MiniLM-sized Hypencoder: a head-only
//!    checkpoint (random hyper-head, transformer read from the MiniLM folder)
//!    is written to a folder, loaded with `Model::load`, and `encode_queries`
//!    is timed for single queries and for a batch of 32.
//!
//! Settings come from the environment (all optional):
//!   BENCH_MODEL        MiniLM folder (default <workspace>/models/all-MiniLM-L6-v2)
//!   BENCH_DOCS         one document per line (default: chunks of /usr/share/common-licenses)
//!   BENCH_QUERIES      one query per line (default: first 10 words of some documents)
//!   BENCH_WORK         where the Hypencoder checkpoints are written (default: a temp folder)
//!   BENCH_OUT          write the results as JSON here
//!   BENCH_QNET_HIDDEN  q-net hidden-layer counts to try, e.g. "2,6" (default)
//!   BENCH_DOC_REPS     timed passes over the documents (default 1; best is kept)
//!   BENCH_PRECISIONS   document precisions, e.g. "f32,int8" (default f32; f32 first
//!                      gives the others a cosine against it)
//!   BENCH_VECTORS      a folder: each precision's document vectors are written
//!                      there as vectors-rust-PRECISION.f32 (raw f32, input order)
//! Run with RAYON_NUM_THREADS set to the cores to use (candle and gemm follow it).

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use hypencoder_model::{EncodePrecision, Model, QueryRepresentation};
use serde_json::{json, Value};

type Res<T> = std::result::Result<T, Box<dyn Error>>;

const BATCH: usize = 32;
const DOC_MAX_LEN: usize = 256;
const SINGLE_QUERIES: usize = 50;
const BATCH_REPS: usize = 5;

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; anything else (a filter) is ignored.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model_dir =
        env_path("BENCH_MODEL").unwrap_or_else(|| workspace.join("models/all-MiniLM-L6-v2"));
    let model_dir = model_dir
        .canonicalize()
        .map_err(|e| format!("MiniLM folder {}: {e}", model_dir.display()))?;
    let docs = match env_path("BENCH_DOCS") {
        Some(p) => read_lines(&p)?,
        None => license_chunks()?,
    };
    let queries = match env_path("BENCH_QUERIES") {
        Some(p) => read_lines(&p)?,
        None => docs.iter().step_by(7).map(|d| first_words(d, 10)).collect(),
    };
    let hidden_counts: Vec<usize> = std::env::var("BENCH_QNET_HIDDEN")
        .unwrap_or_else(|_| "2,6".into())
        .split(',')
        .filter(|s| !s.trim().is_empty()) // "" = documents only
        .map(|s| s.trim().parse())
        .collect::<std::result::Result<_, _>>()?;
    let doc_reps: usize = std::env::var("BENCH_DOC_REPS")
        .ok()
        .map_or(Ok(1), |s| s.parse())?;
    let work = env_path("BENCH_WORK").unwrap_or_else(|| {
        std::env::temp_dir().join(format!("hypencoder-bench-{}", std::process::id()))
    });
    let threads = candle_core::utils::get_num_threads();
    println!(
        "rust: {} docs, {} queries, {threads} threads, model {}",
        docs.len(),
        queries.len(),
        model_dir.display()
    );

    let by_precision = bench_precisions(&model_dir, &docs, doc_reps)?;
    let docs_result = by_precision.first().cloned().unwrap_or(Value::Null);
    let mut qnets = Vec::new();
    for &n in &hidden_counts {
        qnets.push(bench_hypencoder(&model_dir, &work, n, &queries)?);
    }
    let result = json!({
        "side": "rust",
        "threads": threads,
        "model": model_dir,
        "docs": docs_result,
        "docs_by_precision": by_precision,
        "qnet": qnets,
    });
    if let Some(out) = env_path("BENCH_OUT") {
        std::fs::write(&out, serde_json::to_string_pretty(&result)?)?;
        println!("rust: results in {}", out.display());
    }
    if env_path("BENCH_WORK").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

/// Documents at each precision of `BENCH_PRECISIONS`; each one's vectors
/// against f32's when f32 came first.
fn bench_precisions(model_dir: &Path, docs: &[String], doc_reps: usize) -> Res<Vec<Value>> {
    let mut by_precision = Vec::new();
    let mut reference: Option<Vec<Vec<f32>>> = None;
    for name in std::env::var("BENCH_PRECISIONS")
        .unwrap_or_else(|_| "f32".into())
        .split(',')
    {
        let precision = EncodePrecision::parse(name.trim())
            .ok_or_else(|| format!("BENCH_PRECISIONS: unknown precision {name:?}"))?;
        let (mut result, vectors) = bench_docs(model_dir, docs, doc_reps, precision)?;
        if let Some(dir) = env_path("BENCH_VECTORS") {
            // Raw little-endian f32, documents in input order, for the
            // anchors' script to compare with PyTorch's vectors.
            let path = dir.join(format!("vectors-rust-{}.f32", precision.name()));
            let bytes: Vec<u8> = vectors
                .iter()
                .flatten()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&path, bytes)?;
            result["vectors"] = json!(path);
        }
        match &reference {
            None if precision == EncodePrecision::F32 => reference = Some(vectors),
            None => {}
            Some(f32s) => {
                let cos: Vec<f64> = vectors
                    .iter()
                    .zip(f32s)
                    .map(|(a, b)| cosine(a, b))
                    .collect();
                let (min, mean) = (
                    cos.iter().copied().fold(f64::INFINITY, f64::min),
                    cos.iter().sum::<f64>() / cos.len().max(1) as f64,
                );
                println!(
                    "rust: {} vectors against f32: cosine min {min:.6}, mean {mean:.6}",
                    precision.name()
                );
                result["cosine_to_f32"] = json!({"min": min, "mean": mean});
            }
        }
        by_precision.push(result);
    }
    Ok(by_precision)
}

/// Cosine of two vectors, in f64.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot = |x: &[f32], y: &[f32]| {
        x.iter()
            .zip(y)
            .map(|(&p, &q)| p as f64 * q as f64)
            .sum::<f64>()
    };
    dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
}

/// Documents per second over the whole set, tokenisation included, with
/// the linear layers at `precision`; and the vectors.
fn bench_docs(
    model_dir: &Path,
    docs: &[String],
    reps: usize,
    precision: EncodePrecision,
) -> Res<(Value, Vec<Vec<f32>>)> {
    let mut model = Model::load(model_dir)?;
    model.set_doc_max_length(DOC_MAX_LEN)?;
    model.set_doc_precision(precision);
    let texts: Vec<&str> = docs.iter().map(String::as_str).collect();
    // Token counts (outside the timing): how much real work a pass is.
    let tok = model.doc_tokenizer();
    let lengths: Vec<usize> = texts
        .iter()
        .map(|t| tok.ids(t).map(|v| v.len()))
        .collect::<Result<_, _>>()?;
    let tokens: usize = lengths.iter().sum();
    let padded = padded_tokens(&texts, &lengths);
    // Warm-up: first-touch of weights, allocator, rayon threads.
    model.encode_docs_batched(&texts[..BATCH.min(texts.len())], BATCH)?;
    let mut best = f64::INFINITY;
    let mut vectors = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        vectors = model.encode_docs_batched(&texts, BATCH)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let per_s = docs.len() as f64 / best;
    println!(
        "rust: docs {} {:.1} docs/s ({} docs in {best:.2} s, {tokens} tokens, {padded} with padding, {:.0} tokens/s)",
        precision.name(),
        per_s,
        docs.len(),
        tokens as f64 / best
    );
    let result = json!({
        "precision": precision.name(),
        "n": docs.len(), "batch": BATCH, "max_length": DOC_MAX_LEN,
        "seconds": best, "docs_per_s": per_s, "tokens": tokens, "padded_tokens": padded,
        // A few vectors so the PyTorch side can check it computes the same thing.
        "sample": vectors.iter().take(4).collect::<Vec<_>>(),
    });
    Ok((result, vectors))
}

/// Tokens the encoder actually processes: the batching of
/// `encode_docs_batched` (longest text first, chunks of BATCH), each batch
/// padded to its longest member.
fn padded_tokens(texts: &[&str], lengths: &[usize]) -> usize {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
    order
        .chunks(BATCH)
        .map(|c| c.len() * c.iter().map(|&i| lengths[i]).max().unwrap_or(0))
        .sum()
}

/// The base model's width (`hidden_size` in its config.json).
fn hidden_size(base: &Path) -> Res<usize> {
    let config: Value = serde_json::from_str(&std::fs::read_to_string(base.join("config.json"))?)?;
    Ok(config["hidden_size"]
        .as_u64()
        .ok_or("base config.json has no hidden_size")? as usize)
}

/// Query latency of a Hypencoder on the base model whose q-net has
/// `n_hidden` hidden layers of the model's width.
fn bench_hypencoder(minilm: &Path, work: &Path, n_hidden: usize, queries: &[String]) -> Res<Value> {
    let hidden = hidden_size(minilm)?;
    let dims: Vec<usize> = std::iter::repeat_n(hidden, n_hidden + 1)
        .chain([1])
        .collect();
    let dir = work.join(format!("hypencoder-{hidden}-{n_hidden}h"));
    write_head_only_checkpoint(&dir, minilm, hidden, &dims)?;
    let model = Model::load(&dir)?;
    let qs: Vec<&str> = queries.iter().map(String::as_str).collect();
    for q in qs.iter().take(3) {
        model.encode_queries(&[q])?; // warm-up
    }
    // Anchor: the transformer alone (tokenise + MiniLM) on the same queries.
    let bert_ms = median(time_each(&qs, SINGLE_QUERIES, |q| {
        model.query_hidden_states(&[q]).map(drop)
    })?);
    let single = time_each(&qs, SINGLE_QUERIES, |q| {
        model.encode_queries(&[q]).map(drop)
    })?;
    let batch: Vec<&str> = qs.iter().cycle().take(BATCH).copied().collect();
    let mut batch_ms = Vec::new();
    for _ in 0..BATCH_REPS {
        let t = Instant::now();
        model.encode_queries(&batch)?;
        batch_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (single_med, batch_med) = (median(single.clone()), median(batch_ms));
    println!(
        "rust: hypencoder q-net {dims:?}: {single_med:.2} ms/query single (p90 {:.2}; MiniLM alone {bert_ms:.2}), \
         batch of {BATCH}: {batch_med:.1} ms ({:.2} ms/query)",
        percentile(single, 0.9),
        batch_med / BATCH as f64
    );
    // First q-net's numbers, for the PyTorch side's cross-check.
    let QueryRepresentation::QNets(qnet) = model.encode_queries(&qs[..1])? else {
        return Err("a Hypencoder checkpoint gave vectors, not q-nets".into());
    };
    let w0: Vec<f32> = qnet.weights()[0]
        .get(0)?
        .get(0)?
        .narrow(0, 0, 8)?
        .to_vec1()?;
    let b0: Vec<f32> = qnet.biases()[0].get(0)?.narrow(0, 0, 8)?.to_vec1()?;
    Ok(json!({
        "checkpoint": dir, "vector_dimensions": dims, "single_queries": SINGLE_QUERIES.min(qs.len()),
        "single_ms_median": single_med, "bert_only_ms_median": bert_ms,
        "batch": BATCH, "batch_ms_median": batch_med,
        "sample": {"query": qs[0], "w0_row0": w0, "b0": b0},
    }))
}

/// Milliseconds for each of the first `n` queries, one call each.
fn time_each(
    qs: &[&str],
    n: usize,
    mut f: impl FnMut(&str) -> hypencoder_model::Result<()>,
) -> Res<Vec<f64>> {
    qs.iter()
        .take(n)
        .map(|q| {
            let t = Instant::now();
            f(q)?;
            Ok(t.elapsed().as_secs_f64() * 1e3)
        })
        .collect()
}

/// An official `HypencoderDualEncoder` folder holding only the hyper-head:
/// config.json as the reference code writes it, and random head tensors with
/// the reference names and shapes (see tests' fixtures/tiny-2layer).
fn write_head_only_checkpoint(dir: &Path, minilm: &Path, hidden: usize, dims: &[usize]) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let base = minilm.to_str().ok_or("MiniLM path is not UTF-8")?;
    let config = json!({
        "architectures": ["HypencoderDualEncoder"],
        "loss_kwargs": [{}, {"only_use_first_item": true, "use_in_batch_negatives": true}],
        "loss_type": ["margin_mse", "cross_entropy"],
        "passage_encoder_kwargs": {"freeze_transformer": false, "model_name_or_path": base, "pooling_type": "cls"},
        "passage_encoder_type": "",
        "query_encoder_kwargs": {
            "base_encoder_output_dim": hidden,
            "converter_kwargs": {"activation_type": "relu", "do_residual_on_last": false, "vector_dimensions": dims},
            "embedding_representation": null,
            "freeze_transformer": false,
            "model_name_or_path": base,
        },
        "query_encoder_type": "",
        "shared_encoder": true,
        "torch_dtype": "float32",
        "transformers_version": "4.46.3",
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;

    // Values only need to be well scaled (no overflow in the softmax);
    // timings do not depend on them.
    let dev = Device::Cpu;
    let randn = |shape: &[usize], std: f64| Tensor::randn(0f32, std as f32, shape, &dev);
    let mut t: HashMap<String, Tensor> = HashMap::new();
    let p = |name: &str| format!("query_encoder.{name}");
    let shapes: Vec<(usize, usize)> = dims.windows(2).map(|w| (w[0], w[1])).collect();
    let biases = &dims[1..dims.len() - 1];
    let proj_std = 1.0 / (hidden as f64).sqrt();
    // Key/value projections: the weights' generators first, then the biases'.
    let widths = shapes
        .iter()
        .map(|&(inp, _)| inp)
        .chain(biases.iter().copied());
    for (k, inp) in widths.enumerate() {
        for kind in ["key_projections", "value_projections"] {
            t.insert(
                p(&format!("{kind}.{k}.weight")),
                randn(&[inp, hidden], proj_std)?,
            );
            t.insert(p(&format!("{kind}.{k}.bias")), randn(&[inp], 0.02)?);
        }
    }
    for (i, &(inp, out)) in shapes.iter().enumerate() {
        t.insert(
            p(&format!("weight_query_embeddings.{i}")),
            randn(&[1, out, inp], 1.0)?,
        );
        t.insert(
            p(&format!("hyper_base_matrices.{i}")),
            randn(&[1, out, inp], 0.02)?,
        );
        t.insert(
            p(&format!("weight_hyper_projection.{i}.weight")),
            randn(&[inp, inp], proj_std)?,
        );
        t.insert(
            p(&format!("weight_hyper_projection.{i}.bias")),
            randn(&[inp], 0.02)?,
        );
    }
    for (j, &d) in biases.iter().enumerate() {
        t.insert(
            p(&format!("bias_query_embeddings.{j}")),
            randn(&[1, 1, d], 1.0)?,
        );
        t.insert(p(&format!("hyper_base_vectors.{j}")), randn(&[1, d], 0.02)?);
        t.insert(
            p(&format!("bias_hyper_projection.{j}.weight")),
            randn(&[d, d], proj_std)?,
        );
        t.insert(
            p(&format!("bias_hyper_projection.{j}.bias")),
            randn(&[d], 0.02)?,
        );
    }
    candle_core::safetensors::save(&t, dir.join("model.safetensors"))?;
    Ok(())
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn read_lines(path: &Path) -> Res<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if lines.is_empty() {
        return Err(format!("{} has no texts", path.display()).into());
    }
    Ok(lines)
}

/// Fallback text set when BENCH_DOCS is unset: the licence texts every Debian
/// machine has, in chunks of 175 words (bench/encode/make_texts.py builds a larger,
/// de-duplicated set; prefer it).
fn license_chunks() -> Res<Vec<String>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("/usr/share/common-licenses")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut seen = std::collections::HashSet::new();
    let mut docs = Vec::new();
    for f in files {
        // GPL -> GPL-3 and the like are symlinks to the same text.
        let Ok(real) = f.canonicalize() else { continue };
        if !seen.insert(real.clone()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&real) else {
            continue;
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        docs.extend(
            words
                .chunks(175)
                .filter(|c| c.len() >= 100)
                .map(|c| c.join(" ")),
        );
    }
    Ok(docs)
}

fn first_words(text: &str, n: usize) -> String {
    text.split_whitespace()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

fn median(v: Vec<f64>) -> f64 {
    percentile(v, 0.5)
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}
