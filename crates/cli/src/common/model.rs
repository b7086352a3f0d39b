//! Finding the model a command runs: the one named by `--model`, or the
//! default model; an index's own model comes with the index
//! (`open_collection`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hypencoder_engine::{load_model, Collection, LoadOptions, Model, OpenOptions};

use super::flags::{EncodePrecisionArg, ModelArgs};
use super::hints::Hinted;

impl ModelArgs {
    /// Loads `--model`, or the default model, with the truncation flags and
    /// `--encode-precision` (else `precision`, the command's default).
    pub fn load(&self, precision: EncodePrecisionArg) -> Result<Model> {
        let (dir, base) = match &self.model {
            Some(dir) => (dir.clone(), None),
            None => default_model(),
        };
        let options = LoadOptions {
            query_max_length: self.query_max_length,
            doc_max_length: self.max_length,
            base: None,
            doc_precision: self.encode_precision.unwrap_or(precision).into(),
        };
        load_model(&dir, base.as_deref(), &options).with_context(|| {
            let mut msg = format!("cannot load model from {}", dir.display());
            if self.model.is_none() {
                msg.push_str(&format!(
                    " (the default model: run scripts/install-default-model from a source \
                     checkout to put it and its base all-MiniLM-L6-v2 in {}, set \
                     HYPENCODER_MODEL, or pass --model DIR)",
                    data_dir().display()
                ));
            }
            msg
        })
    }
}

/// Opens the index in `dir` with its own model (or `model`, the command's
/// `--model`, if it moved; checked by fingerprint), loaded when a search
/// first needs it.
pub fn open_collection(
    dir: &Path,
    model: Option<&Path>,
    query_max_length: Option<usize>,
) -> Result<Collection> {
    Collection::open(
        dir,
        OpenOptions {
            model: model.map(Path::to_path_buf),
            base: None,
            query_max_length,
        },
    )
    .hinted()
}

/// The model used when `--model` is not given, and its base transformer
/// when that is not where the checkpoint names it: `$HYPENCODER_MODEL`;
/// else the Hypencoder in this source tree (`assets/default-model`, a head
/// over all-MiniLM-L6-v2 trained on debian-pkg; its base from
/// scripts/fetch-minilm); else the installed copy in [`data_dir`]
/// (`default-model/` beside `all-MiniLM-L6-v2/`).
fn default_model() -> (PathBuf, Option<PathBuf>) {
    if let Some(dir) = std::env::var_os("HYPENCODER_MODEL") {
        return (PathBuf::from(dir), None);
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/default-model");
    if source.join("config.json").is_file() {
        return (source, None);
    }
    let data = data_dir();
    (
        data.join("default-model"),
        Some(data.join("all-MiniLM-L6-v2")),
    )
}

/// Where an installed binary finds the default model:
/// `$HYPENCODER_HOME`, else `$XDG_DATA_HOME/hypencoder`, else
/// `~/.local/share/hypencoder`.
fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HYPENCODER_HOME") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("hypencoder");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/hypencoder")
}
