//! Writing a trained model as a folder every tool can read, crash-safely
//! (the run's `step-N` checkpoints around such folders are `resume`'s).
//!
//! - A Hypencoder is an official `HypencoderDualEncoder` folder: `config.json`
//!   and `model.safetensors` with the hyper-head under `query_encoder.` and,
//!   after query or full fine-tuning, the trained transformer under
//!   `query_encoder.transformer.`. A head-only checkpoint (frozen
//!   transformer) names its base in `model_name_or_path` and holds no
//!   transformer; the tokenizer files are copied so the folder tokenizes alone.
//! - A bi-encoder is its base folder (sentence-transformers or BERT) with
//!   `model.safetensors` replaced.
//!
//! Every file is written under a temporary name, synced, then renamed, so an
//! interrupted write leaves the previous file or none, never half of one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use hypencoder_model::QNetConfig;
use serde_json::json;

use crate::config::Mode;
use crate::error::{io_error, Result};

/// Tokenizer files copied next to a Hypencoder's weights.
const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
];

/// Writes `bytes` to `path` atomically (the index crate's one
/// `write_atomic`: temporary file, fsync, rename, fsync of the folder).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(hypencoder_index::write_atomic(path, bytes)?)
}

fn tmp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// Saves tensors as safetensors, atomically.
pub fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let tmp = tmp_name(path);
    candle_core::safetensors::save(tensors, &tmp).map_err(|e| io_error(&tmp, e))?;
    // The safetensors writer creates owner-only files; models are for sharing.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| io_error(&tmp, e))?;
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))?;
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    Ok(hypencoder_index::sync_dir(
        folder.unwrap_or(Path::new(".")),
    )?)
}

/// Writes `value` as pretty JSON with a final newline, atomically.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// What a Hypencoder checkpoint's `config.json` says.
pub struct HypencoderSpec<'a> {
    /// `model_name_or_path` of both encoders.
    pub base_name: &'a str,
    /// Width of the transformer's hidden states.
    pub model_dim: usize,
    /// The q-net the hyper-head generates.
    pub qnet: &'a QNetConfig,
    /// Which transformers trained (and so are in the weights).
    pub mode: Mode,
}

/// The official `config.json` of a `HypencoderDualEncoder` with mean-pooled
/// passages: one shared encoder, except in query mode, where the query
/// transformer trained and the passage one is the base's.
pub fn hypencoder_config(spec: &HypencoderSpec) -> serde_json::Value {
    let q = spec.qnet;
    let (query_frozen, passage_frozen, shared) = match spec.mode {
        Mode::Frozen => (true, true, true),
        Mode::Query => (false, true, false),
        Mode::Full => (false, false, true),
    };
    json!({
        "architectures": ["HypencoderDualEncoder"],
        "loss_kwargs": [{"only_use_first_item": true, "use_in_batch_negatives": true}],
        "loss_type": ["cross_entropy"],
        "passage_encoder_kwargs": {
            "freeze_transformer": passage_frozen,
            "model_name_or_path": spec.base_name,
            "pooling_type": "mean"
        },
        "passage_encoder_type": "",
        "query_encoder_kwargs": {
            "base_encoder_output_dim": spec.model_dim,
            "converter_kwargs": {
                "activation_type": q.activation.name(),
                "do_layer_norm": q.do_layer_norm,
                "do_residual": q.do_residual,
                "do_residual_on_last": q.do_residual_on_last,
                "layer_norm_before_residual": q.layer_norm_before_residual,
                "vector_dimensions": q.vector_dimensions,
            },
            "embedding_representation": null,
            "freeze_transformer": query_frozen,
            "model_name_or_path": spec.base_name
        },
        "query_encoder_type": "",
        "shared_encoder": shared,
        "torch_dtype": "float32",
        "trained_by": format!("hypencoder {}", env!("CARGO_PKG_VERSION")),
    })
}

/// Writes a Hypencoder folder: weights, then tokenizer files, then
/// `config.json` last (a folder is a model once it has one).
pub fn write_hypencoder(
    dir: &Path,
    spec: &HypencoderSpec,
    tensors: &HashMap<String, Tensor>,
    tokenizer_dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    save_tensors(&dir.join("model.safetensors"), tensors)?;
    copy_files(tokenizer_dir, dir, &TOKENIZER_FILES)?;
    let mut config = hypencoder_config(spec);
    let stored = tensors
        .values()
        .map(|t| t.dtype())
        .find(|&d| d != candle_core::DType::F32);
    match stored {
        Some(candle_core::DType::F16) => config["torch_dtype"] = json!("float16"),
        Some(candle_core::DType::BF16) => config["torch_dtype"] = json!("bfloat16"),
        _ => {}
    }
    write_json(&dir.join("config.json"), &config)
}

/// Writes a bi-encoder: every file of `base` but its weights, and `tensors`
/// as `model.safetensors` (named as in the base's file).
pub fn write_bi_encoder(dir: &Path, base: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    save_tensors(&dir.join("model.safetensors"), tensors)?;
    copy_tree(base, dir, &["model.safetensors", "pytorch_model.bin"])
}

fn copy_files(from: &Path, to: &Path, names: &[&str]) -> Result<()> {
    for name in names {
        let src = from.join(name);
        if src.is_file() {
            let bytes = std::fs::read(&src).map_err(|e| io_error(&src, e))?;
            write_atomic(&to.join(name), &bytes)?;
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> Result<()> {
    for entry in std::fs::read_dir(from).map_err(|e| io_error(from, e))? {
        let entry = entry.map_err(|e| io_error(from, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if skip.contains(&name.as_ref()) || name.starts_with('.') {
            continue;
        }
        let src = entry.path();
        let dst = to.join(name.as_ref());
        if src.is_dir() {
            std::fs::create_dir_all(&dst).map_err(|e| io_error(&dst, e))?;
            copy_tree(&src, &dst, &[])?;
        } else {
            let bytes = std::fs::read(&src).map_err(|e| io_error(&src, e))?;
            write_atomic(&dst, &bytes)?;
        }
    }
    Ok(())
}

/// `target` relative to `from` (both made absolute), so a checkpoint can
/// point at its base wherever the two move together.
pub fn relative_path(target: &Path, from: &Path) -> PathBuf {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (t, f) = (abs(target), abs(from));
    let tc: Vec<_> = t.components().collect();
    let fc: Vec<_> = f.components().collect();
    let common = tc.iter().zip(&fc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return t;
    }
    let mut out = PathBuf::new();
    for _ in common..fc.len() {
        out.push("..");
    }
    for c in &tc[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        let r = relative_path(
            Path::new("/a/b/models/base"),
            Path::new("/a/b/assets/model"),
        );
        assert_eq!(r, PathBuf::from("../../models/base"));
        assert_eq!(
            relative_path(Path::new("/a/x"), Path::new("/a")),
            PathBuf::from("x")
        );
    }
}
