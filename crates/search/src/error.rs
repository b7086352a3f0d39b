//! The crate's one error type.

use std::path::PathBuf;

use hypencoder_index::{FilterError, IndexError};
use hypencoder_model::ModelError;

/// What can go wrong planning or running a search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The mode needs a neighbour graph the index does not have.
    #[error("{} has no neighbour graph", dir.display())]
    NoGraph {
        /// The index folder.
        dir: PathBuf,
    },
    /// The mode needs a lexical part the index does not have.
    #[error("{} has no lexical part", dir.display())]
    NoLexical {
        /// The index folder.
        dir: PathBuf,
    },
    /// A setting is out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting's name ([`crate::SearchParams::NAMES`]).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Encoding or scoring failed in the model.
    #[error(transparent)]
    Model(Box<ModelError>),
    /// Reading the index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The filter cannot be read or does not suit the index's fields.
    #[error(transparent)]
    Filter(#[from] FilterError),
}

impl From<ModelError> for SearchError {
    fn from(err: ModelError) -> Self {
        SearchError::Model(Box::new(err))
    }
}
