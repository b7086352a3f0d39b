//! Loading models: a folder (with a fallback base transformer for
//! head-only checkpoints whose base is not where they name it), and an
//! index's own model, checked to compute the index's document vectors.

use std::path::{Path, PathBuf};

use hypencoder_index::ModelInfo;
use hypencoder_model::{EncodePrecision, LoadOptions, Model, ModelError};

use crate::error::{Error, Result};

/// How an index's model is found and loaded.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// A model folder to use instead of the one the index records (if that
    /// moved); it must compute the same document vectors.
    pub model: Option<PathBuf>,
    /// A base transformer folder to fall back on when a head-only
    /// checkpoint's base is not where it names it.
    pub base: Option<PathBuf>,
    /// Queries are truncated to this many tokens (`None`: the model's
    /// setting).
    pub query_max_length: Option<usize>,
}

/// Loads the model in `dir`; when its base transformer is not where the
/// checkpoint names it and `base` is given, with `base` instead.
pub fn load_model(dir: &Path, base: Option<&Path>, options: &LoadOptions) -> Result<Model> {
    let failed = |source| Error::ModelLoad {
        dir: dir.to_path_buf(),
        source: Box::new(source),
    };
    match Model::load_with(dir, options) {
        Err(ModelError::BaseModelNotFound { .. }) if base.is_some() => {
            let options = LoadOptions {
                base: base.map(Path::to_path_buf),
                ..options.clone()
            };
            Model::load_with(dir, &options).map_err(failed)
        }
        other => other.map_err(failed),
    }
}

/// Loads the model an index records (`info`, the index at `index_dir`), or
/// `options.model` instead, and checks it computes the index's document
/// vectors ([`check_model`]).
pub fn open_model(info: &ModelInfo, index_dir: &Path, options: &OpenOptions) -> Result<Model> {
    let dir = options
        .model
        .clone()
        .unwrap_or_else(|| PathBuf::from(&info.path));
    let doc_precision = match info.doc_precision.as_deref() {
        None => EncodePrecision::F32,
        Some(name) => EncodePrecision::parse(name).ok_or_else(|| Error::ModelMismatch {
            index: index_dir.to_path_buf(),
            detail: format!("the manifest's model.doc_precision {name:?} is not f32, int8 or bf16"),
        })?,
    };
    let load = LoadOptions {
        query_max_length: options.query_max_length,
        doc_max_length: None,
        base: None,
        doc_precision,
    };
    let model = load_model(&dir, options.base.as_deref(), &load)?;
    check_model(info, index_dir, &model)?;
    Ok(model)
}

/// Checks that `model` computes the document vectors of the index at
/// `index_dir`, whose manifest records `info`: the same document encoder's
/// fingerprint (queries may come from another head), or for indexes that
/// record none, the whole model's.
pub fn check_model(info: &ModelInfo, index_dir: &Path, model: &Model) -> Result<()> {
    let (theirs, ours, what) = match &info.doc_encoder {
        Some(doc) => (
            doc.clone(),
            model.doc_encoder_fingerprint()?,
            "document encoder",
        ),
        None => (info.fingerprint.clone(), model.fingerprint()?, "model"),
    };
    if theirs != ours {
        return Err(Error::ModelMismatch {
            index: index_dir.to_path_buf(),
            detail: format!(
                "{what}: the index's model {} has {what} fingerprint {}, {} has {}",
                info.path,
                &theirs[..12.min(theirs.len())],
                model.dir().display(),
                &ours[..12.min(ours.len())]
            ),
        });
    }
    Ok(())
}
