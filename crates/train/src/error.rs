use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A training-data line that cannot be used.
    #[error("{file}:{line}: {message}")]
    Data {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Model(#[from] hypencoder_model::ModelError),
    #[error(transparent)]
    Index(#[from] hypencoder_index::IndexError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, TrainError>;

pub(crate) fn io_error(file: &std::path::Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::File {
        file: file.to_path_buf(),
        message: e.to_string(),
    }
}
