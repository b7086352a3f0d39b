//! Weight files (`model.safetensors`, PyTorch `pytorch_model.bin`) and where
//! a checkpoint's base model lives (a folder, the local Hugging Face cache,
//! or the built-in `bert-base-uncased` config).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::config::BertConfig;
use crate::error::{ModelError, Result};

/// All tensors of one weights file, by their names in that file.
pub struct WeightFile {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl WeightFile {
    /// The weights file of a model folder, safetensors preferred.
    pub fn find(dir: &Path) -> Option<PathBuf> {
        ["model.safetensors", "pytorch_model.bin"]
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file())
    }

    /// Reads a safetensors or PyTorch (`.bin`, `.pt`, `.pth`) file.
    pub fn load(path: &Path) -> Result<Self> {
        let is_pickle = path
            .extension()
            .is_some_and(|e| e == "bin" || e == "pt" || e == "pth");
        let loaded = if is_pickle {
            candle_core::pickle::read_all(path).map(|v| v.into_iter().collect())
        } else {
            candle_core::safetensors::load(path, &Device::Cpu)
        };
        let tensors = loaded.map_err(|e| ModelError::Weights {
            file: path.to_path_buf(),
            message: format!(
                "{} (truncated or not a {} file?)",
                first_line(&e),
                if is_pickle { "PyTorch" } else { "safetensors" }
            ),
        })?;
        Ok(WeightFile {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether any tensor's name starts with `prefix.`.
    pub fn has_module(&self, prefix: &str) -> bool {
        let dotted = format!("{prefix}.");
        self.tensors.keys().any(|k| k.starts_with(&dotted))
    }

    /// Whether a tensor of this exact name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// A VarBuilder over every tensor, converted to f32 when read.
    pub fn var_builder(&self) -> VarBuilder<'static> {
        VarBuilder::from_tensors(self.tensors.clone(), DType::F32, &Device::Cpu)
    }

    /// The tensors under `prefix` (all when empty), named without it, sorted
    /// by name: what identifies one transformer regardless of the file.
    pub fn module_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let dotted = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}.")
        };
        let mut out: Vec<(String, Tensor)> = self
            .tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix(&dotted).map(|n| (n.to_string(), t.clone())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Where a BERT's `embeddings.*` start in this file: "" for a bare
    /// `BertModel`, "bert" for task models such as `BertForMaskedLM`.
    pub fn bert_prefix(&self) -> Result<&'static str> {
        if self.contains("embeddings.word_embeddings.weight") {
            Ok("")
        } else if self.contains("bert.embeddings.word_embeddings.weight") {
            Ok("bert")
        } else {
            Err(ModelError::MissingTensor {
                file: self.path.clone(),
                name: "embeddings.word_embeddings.weight".into(),
            })
        }
    }
}

fn first_line(e: &candle_core::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// Where a `model_name_or_path` resolved to.
#[derive(Debug, Clone)]
pub enum BaseModel {
    /// A local model folder.
    Folder(PathBuf),
    /// `google-bert/bert-base-uncased`, known by its config only.
    BuiltinBertBase,
}

impl BaseModel {
    /// Resolves `name` as the official code would, offline: a folder
    /// (absolute, or relative to the checkpoint), then the Hugging Face cache,
    /// then the built-in bert-base-uncased config.
    pub fn resolve(name: &str, checkpoint_dir: &Path, config_file: &Path) -> Result<Self> {
        let mut tried = Vec::new();
        let as_path = Path::new(name);
        let candidates = if as_path.is_absolute() {
            vec![as_path.to_path_buf()]
        } else {
            vec![checkpoint_dir.join(name), as_path.to_path_buf()]
        };
        for c in candidates {
            if c.join("config.json").is_file() {
                return Ok(BaseModel::Folder(c));
            }
            tried.push(c.display().to_string());
        }
        if let Some(cache) = hf_cache_dir() {
            let repo = cache.join(format!("models--{}", name.replace('/', "--")));
            if let Some(snapshot) = cached_snapshot(&repo) {
                return Ok(BaseModel::Folder(snapshot));
            }
            tried.push(format!("{} (Hugging Face cache)", repo.display()));
        }
        if matches!(name, "google-bert/bert-base-uncased" | "bert-base-uncased") {
            return Ok(BaseModel::BuiltinBertBase);
        }
        Err(ModelError::BaseModelNotFound {
            name: name.to_string(),
            config: config_file.to_path_buf(),
            tried: tried.join(", "),
        })
    }

    /// The base model's BERT configuration.
    pub fn bert_config(&self) -> Result<BertConfig> {
        match self {
            BaseModel::Folder(dir) => BertConfig::from_file(&dir.join("config.json")),
            BaseModel::BuiltinBertBase => Ok(BertConfig::bert_base_uncased()),
        }
    }

    /// The folder, when the model is a local one.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            BaseModel::Folder(dir) => Some(dir),
            BaseModel::BuiltinBertBase => None,
        }
    }

    /// Where the model came from, for messages.
    pub fn describe(&self) -> String {
        match self {
            BaseModel::Folder(dir) => dir.display().to_string(),
            BaseModel::BuiltinBertBase => "google-bert/bert-base-uncased (built-in config)".into(),
        }
    }
}

fn hf_cache_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("HF_HUB_CACHE") {
        return Some(PathBuf::from(dir));
    }
    if let Ok(home) = std::env::var("HF_HOME") {
        return Some(PathBuf::from(home).join("hub"));
    }
    std::env::var("HOME")
        .ok()
        .map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
}

/// The snapshot folder that `refs/main` points at, if it holds a config.
fn cached_snapshot(repo: &Path) -> Option<PathBuf> {
    let commit = std::fs::read_to_string(repo.join("refs/main")).ok()?;
    let snapshot = repo.join("snapshots").join(commit.trim());
    snapshot.join("config.json").is_file().then_some(snapshot)
}
