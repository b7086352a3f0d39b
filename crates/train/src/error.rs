//! The crate's one error type. Messages name settings by their
//! `TrainConfig` field, never by a command-line flag.

use std::path::PathBuf;

/// Why training (or reading its inputs) failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A training-data line that cannot be used.
    #[error("{file}:{line}: {message}")]
    Data {
        /// The training-data file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// A file or folder that cannot be read or written.
    #[error("{file}: {message}")]
    File {
        /// The file or folder.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Settings (or inputs) that cannot train, with what to change.
    #[error("{0}")]
    Invalid(String),
    /// From loading or running the model.
    #[error(transparent)]
    Model(#[from] hypencoder_model::ModelError),
    /// From reading the index.
    #[error(transparent)]
    Index(#[from] hypencoder_index::IndexError),
    /// From a tensor operation.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, TrainError>;

pub(crate) fn io_error(file: &std::path::Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::File {
        file: file.to_path_buf(),
        message: e.to_string(),
    }
}
