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
        let options = LoadOptions {
            query_max_length: self.query_max_length,
            doc_max_length: self.max_length,
        };
        let dir = self.model.clone().unwrap_or_else(default_model_dir);
        Model::load_with(&dir, &options).with_context(|| {
            let mut msg = format!("cannot load model from {}", dir.display());
            if self.model.is_none() {
                msg.push_str(
                    " (the default model; its base all-MiniLM-L6-v2 comes from scripts/fetch-minilm, \
                     or pass --model DIR)",
                );
            }
            msg
        })
    }
}

/// The model used when `--model` is not given: `$HYPENCODER_MODEL`, else
/// the Hypencoder shipped in this repository (a head over all-MiniLM-L6-v2
/// trained on debian-pkg; see assets/default-model/README.md).
fn default_model_dir() -> PathBuf {
    match std::env::var_os("HYPENCODER_MODEL") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/default-model"),
    }
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
