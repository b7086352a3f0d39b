//! The engine's one error type, and the kinds front ends act on: an HTTP
//! status, a Python exception class, a CLI hint are chosen by
//! [`Error::kind`] or by variant, never by message text.

use std::path::PathBuf;

use hypencoder_index::{IndexError, RecordError};
use hypencoder_model::ModelError;
use hypencoder_search::SearchError;

/// What went wrong; the message names the file, line, field or setting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Planning or running a search failed.
    #[error(transparent)]
    Search(SearchError),
    /// Encoding or scoring failed in the model.
    #[error(transparent)]
    Model(Box<ModelError>),
    /// A corpus or query file cannot be read as asked.
    #[error(transparent)]
    Records(#[from] RecordError),
    /// The model folder cannot be loaded.
    #[error("cannot load the model from {}: {source}", dir.display())]
    ModelLoad {
        /// The folder tried.
        dir: PathBuf,
        /// Why it failed.
        source: Box<ModelError>,
    },
    /// The model is not the one the index was built with.
    #[error("{} was built with another {detail}", index.display())]
    ModelMismatch {
        /// The index folder.
        index: PathBuf,
        /// Which part differs and both fingerprints.
        detail: String,
    },
    /// Ids to delete that the index does not hold, where every id had to
    /// be there; nothing was deleted.
    #[error("{} of the ids are not in the index: {}{}", unknown.len(), unknown.iter().take(5).cloned().collect::<Vec<_>>().join(", "), if unknown.len() > 5 { ", ..." } else { "" })]
    UnknownIds {
        /// Every id not found.
        unknown: Vec<String>,
    },
    /// The operation reads one segment, and the index has several or
    /// deleted documents.
    #[error("{} has {segments} segments and {deleted} deleted documents; this reads an index of one segment with none deleted", path.display())]
    NeedsOneSegment {
        /// The index folder.
        path: PathBuf,
        /// Its segments.
        segments: usize,
        /// Its deleted documents.
        deleted: usize,
    },
    /// An argument is out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The argument's name.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The engine's result.
pub type Result<T> = std::result::Result<T, Error>;

impl From<SearchError> for Error {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::Index(e) => Error::Index(e),
            SearchError::Model(e) => Error::Model(e),
            other => Error::Search(other),
        }
    }
}

impl From<ModelError> for Error {
    fn from(err: ModelError) -> Self {
        Error::Model(Box::new(err))
    }
}

/// Whose fault an error is, and what a caller may do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Another writer holds the index: retry later.
    Locked,
    /// No such index, document or id.
    NotFound,
    /// Bad input: a setting, a document, a file's record.
    InvalidInput,
    /// The input clashes with what exists (a folder, ids).
    Conflict,
    /// The index lacks what the operation needs (a graph, a lexical part,
    /// texts, one segment) or is of a format this build does not read.
    Unsupported,
    /// A file of the index is damaged.
    Corrupt,
    /// The index's model cannot be loaded or is another one.
    ModelUnavailable,
    /// The operating system refused a read or write.
    Io,
    /// A bug: a broken invariant or a failing model computation.
    Internal,
}

impl Error {
    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Index(e) => index_kind(e),
            Error::Search(SearchError::NoGraph { .. } | SearchError::NoLexical { .. }) => {
                ErrorKind::Unsupported
            }
            Error::Search(SearchError::Invalid { .. } | SearchError::Filter(_)) => {
                ErrorKind::InvalidInput
            }
            Error::Search(SearchError::Index(e)) => index_kind(e),
            Error::Search(SearchError::Model(_)) | Error::Model(_) => ErrorKind::Internal,
            Error::Records(_) | Error::Invalid { .. } => ErrorKind::InvalidInput,
            Error::ModelLoad { .. } | Error::ModelMismatch { .. } => ErrorKind::ModelUnavailable,
            Error::UnknownIds { .. } => ErrorKind::NotFound,
            Error::NeedsOneSegment { .. } => ErrorKind::Unsupported,
        }
    }
}

fn index_kind(err: &IndexError) -> ErrorKind {
    match err {
        IndexError::Locked { .. } => ErrorKind::Locked,
        IndexError::NotAnIndex(_) => ErrorKind::NotFound,
        IndexError::AlreadyExists { .. } | IndexError::IdsExist { .. } => ErrorKind::Conflict,
        IndexError::WrongFormat { .. } | IndexError::NewerFormat { .. } => ErrorKind::Unsupported,
        IndexError::NoTexts { .. } => ErrorKind::Unsupported,
        IndexError::DuplicateId { .. }
        | IndexError::WrongDimension { .. }
        | IndexError::NonFinite { .. }
        | IndexError::Incompatible { .. }
        | IndexError::NothingToMerge
        | IndexError::Fields(_) => ErrorKind::InvalidInput,
        IndexError::Corrupt { .. } => ErrorKind::Corrupt,
        IndexError::Io { .. } => ErrorKind::Io,
        IndexError::Contract(_) => ErrorKind::Internal,
    }
}
