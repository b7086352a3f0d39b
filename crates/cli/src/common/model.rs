//! Finding the model a command runs: the one named by `--model`, the default
//! model, or the one an index was built with (checked by fingerprint); and
//! the scorer its query representations call for.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hypencoder_index::Index;
use hypencoder_model::{LoadOptions, Model, QueryRepresentation};
use hypencoder_search::{DotScorer, QNetScorer, Scorer};

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
    let info = &index.manifest().model;
    let dir = override_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(&info.path));
    let model = Model::load_with(&dir, options).with_context(|| {
        format!(
            "cannot load the index's model from {} (pass --model DIR if it moved)",
            dir.display()
        )
    })?;
    // Same document encoder is enough: queries may come from another head.
    let (theirs, ours, what) = match &info.doc_encoder {
        Some(doc) => (
            doc.clone(),
            model.doc_encoder_fingerprint()?,
            "document encoder",
        ),
        None => (info.fingerprint.clone(), model.fingerprint()?, "model"),
    };
    if theirs != ours {
        bail!(
            "{} was built with another {what}: the index's model {} has {what} fingerprint {}, {} has {}",
            index.dir().display(),
            info.path,
            &theirs[..12.min(theirs.len())],
            dir.display(),
            &ours[..12]
        );
    }
    Ok(model)
}

/// One scorer for a batch of encoded queries, for exhaustive search: q-nets
/// for a Hypencoder, dot products for a bi-encoder.
pub fn scorer_for(reps: QueryRepresentation, dim: usize) -> Result<Box<dyn Scorer>> {
    Ok(match reps {
        QueryRepresentation::QNets(q) => Box::new(QNetScorer::new(q.split()?)),
        QueryRepresentation::Vectors(v) => {
            let flat: Vec<f32> = v.flatten_all()?.to_vec1()?;
            Box::new(DotScorer::new(flat, dim))
        }
    })
}

/// One single-query scorer per query, for graph search (each query walks
/// the graph on its own).
pub fn per_query_scorers(reps: QueryRepresentation, dim: usize) -> Result<Vec<Box<dyn Scorer>>> {
    Ok(match reps {
        QueryRepresentation::QNets(q) => q
            .split()?
            .into_iter()
            .map(|qnet| Box::new(QNetScorer::new(vec![qnet])) as Box<dyn Scorer>)
            .collect(),
        QueryRepresentation::Vectors(v) => v
            .to_vec2::<f32>()?
            .into_iter()
            .map(|row| Box::new(DotScorer::new(row, dim)) as Box<dyn Scorer>)
            .collect(),
    })
}
