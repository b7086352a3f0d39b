//! The model crate's error type. Every variant names the file (and where it
//! helps, the field or tensor) so a user can fix the input without a debugger.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("'{dir}' is not a model folder: {reason}")]
    NotAModel { dir: PathBuf, reason: String },

    #[error("{file}: {message}")]
    Config { file: PathBuf, message: String },

    #[error("{file}: cannot read weights: {message}")]
    Weights { file: PathBuf, message: String },

    #[error("{file}: tensor '{name}' is missing")]
    MissingTensor { file: PathBuf, name: String },

    #[error("{file}: tensor '{name}' has shape {got:?} but the config implies {expected:?}")]
    TensorShape {
        file: PathBuf,
        name: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },

    #[error("{file}: cannot load tokenizer: {message}")]
    Tokenizer { file: PathBuf, message: String },

    #[error("cannot tokenize text: {0}")]
    Tokenize(String),

    #[error(
        "base model '{name}' (model_name_or_path in {config}) was not found; looked in: {tried}. \
         Download it and pass a local folder, e.g. set model_name_or_path to that folder"
    )]
    BaseModelNotFound {
        name: String,
        config: PathBuf,
        tried: String,
    },

    #[error("{0}")]
    Invalid(String),

    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, ModelError>;

impl ModelError {
    /// Turns a candle error raised while reading weights from `file` into a
    /// message that names the tensor, instead of candle's generic text.
    pub(crate) fn from_weights(err: candle_core::Error, file: &std::path::Path) -> Self {
        match innermost(err) {
            candle_core::Error::CannotFindTensor { path } => ModelError::MissingTensor {
                file: file.to_path_buf(),
                name: path,
            },
            candle_core::Error::UnexpectedShape { msg, expected, got } => {
                // candle's message reads "shape mismatch for <name>".
                let name = msg.rsplit(' ').next().unwrap_or(&msg).to_string();
                ModelError::TensorShape {
                    file: file.to_path_buf(),
                    name,
                    expected: expected.dims().to_vec(),
                    got: got.dims().to_vec(),
                }
            }
            other => ModelError::Weights {
                file: file.to_path_buf(),
                message: other.to_string(),
            },
        }
    }
}

fn innermost(err: candle_core::Error) -> candle_core::Error {
    match err {
        candle_core::Error::WithBacktrace { inner, .. }
        | candle_core::Error::Context { inner, .. }
        | candle_core::Error::WithPath { inner, .. } => innermost(*inner),
        other => other,
    }
}
