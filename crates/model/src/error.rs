//! The model crate's error type. Every variant names the file (and where it
//! helps, the field or tensor) so a user can fix the input without a debugger.

use std::path::PathBuf;

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The folder holds no model this crate can load.
    #[error("'{dir}' is not a model folder: {reason}")]
    NotAModel {
        /// The folder.
        dir: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },

    /// A configuration file is unreadable or inconsistent.
    #[error("{file}: {message}")]
    Config {
        /// The configuration file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// A weight file cannot be read.
    #[error("{file}: cannot read weights: {message}")]
    Weights {
        /// The weight file.
        file: PathBuf,
        /// Why.
        message: String,
    },

    /// A tensor the model needs is not in its weight file.
    #[error("{file}: tensor '{name}' is missing")]
    MissingTensor {
        /// The weight file.
        file: PathBuf,
        /// The tensor's name.
        name: String,
    },

    /// A tensor's shape disagrees with the configuration.
    #[error("{file}: tensor '{name}' has shape {got:?} but the config implies {expected:?}")]
    TensorShape {
        /// The weight file.
        file: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape the configuration implies.
        expected: Vec<usize>,
        /// The shape in the file.
        got: Vec<usize>,
    },

    /// The tokenizer file cannot be loaded.
    #[error("{file}: cannot load tokenizer: {message}")]
    Tokenizer {
        /// The tokenizer file.
        file: PathBuf,
        /// Why.
        message: String,
    },

    /// Tokenizing a text failed.
    #[error("cannot tokenize text: {0}")]
    Tokenize(String),

    /// The configuration names a base model that is not available locally.
    #[error(
        "base model '{name}' (model_name_or_path in {config}) was not found; looked in: {tried}. \
         Download it and pass a local folder, e.g. set model_name_or_path to that folder"
    )]
    BaseModelNotFound {
        /// The name as the configuration gives it.
        name: String,
        /// The configuration file.
        config: PathBuf,
        /// The places searched, comma-separated.
        tried: String,
    },

    /// An invalid argument or setting.
    #[error("{0}")]
    Invalid(String),

    /// A tensor operation failed.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// The model crate's result type.
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
