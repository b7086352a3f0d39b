//! Finding the model a command runs: the one named by `--model`, the default
//! model, or the one an index was built with (checked by fingerprint).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use hypencoder_index::Index;
use hypencoder_index::LiveIndex;
use hypencoder_model::{LoadOptions, Model};
use hypencoder_search::{open_model, open_model_for, SearchError};

use super::flags::ModelArgs;

impl ModelArgs {
    /// Loads `--model`, or the default model, with the truncation flags.
    pub fn load(&self) -> Result<Model> {
        let (dir, base) = match &self.model {
            Some(dir) => (dir.clone(), None),
            None => default_model(),
        };
        let options = LoadOptions {
            query_max_length: self.query_max_length,
            doc_max_length: self.max_length,
            base,
        };
        Model::load_with(&dir, &options).with_context(|| {
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

/// Loads the model an index was built with (or `override_dir`, the
/// command's `--model`, if it moved) and checks it is the same one.
pub fn index_model(
    index: &Index,
    override_dir: Option<&Path>,
    options: &LoadOptions,
) -> Result<Model> {
    open_model(index, override_dir, options).map_err(moved_hint)
}

/// [`index_model`] for a single-folder or live index.
pub fn live_model(
    index: &LiveIndex,
    override_dir: Option<&Path>,
    options: &LoadOptions,
) -> Result<Model> {
    open_model_for(&index.manifest().model, index.dir(), override_dir, options).map_err(moved_hint)
}

/// A model that cannot be loaded may have moved: say how to point at it.
pub fn moved_hint(err: SearchError) -> anyhow::Error {
    match err {
        SearchError::ModelLoad { .. } => anyhow!("{err} (pass --model DIR if it moved)"),
        other => other.into(),
    }
}
