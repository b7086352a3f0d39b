//! The package's exceptions, and the engine's errors as them: the class
//! is chosen by the error's kind, the message is the engine's (as the CLI
//! prints it); `field` names the setting at fault, where one is.

use hypencoder_engine::{Error, ErrorKind, FieldRole, ModelError, RecordError, SearchError};
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::PyAnyMethods;
use pyo3::{PyErr, Python};

pyo3::create_exception!(
    hypencoder,
    HypencoderError,
    PyException,
    "An error from the engine: a bad file, index or model; the message names it."
);
pyo3::create_exception!(
    hypencoder,
    LockedError,
    HypencoderError,
    "Another process holds the index's write lock: retry later."
);
pyo3::create_exception!(
    hypencoder,
    NotFoundError,
    HypencoderError,
    "No such index, document or id."
);
pyo3::create_exception!(
    hypencoder,
    InvalidInputError,
    HypencoderError,
    "Bad input: a setting, a document, a record of a file, or one that clashes with what exists."
);
pyo3::create_exception!(
    hypencoder,
    UnsupportedError,
    HypencoderError,
    "The index lacks what the operation needs (a graph, a lexical part, texts, one segment) or is of a newer format."
);
pyo3::create_exception!(
    hypencoder,
    CorruptIndexError,
    HypencoderError,
    "A file of the index is damaged."
);
pyo3::create_exception!(
    hypencoder,
    ModelUnavailableError,
    HypencoderError,
    "The model cannot be loaded, or is not the one the index was built with."
);
pyo3::create_exception!(
    hypencoder,
    BaseModelNotFoundError,
    ModelUnavailableError,
    "A head-only checkpoint's base transformer is not where it names it."
);

/// An engine error as the exception of its kind.
pub fn to_py(err: Error) -> PyErr {
    let mut message = err.to_string();
    if let Error::Records(RecordError::MissingField { role, .. }) = &err {
        let keyword = match role {
            FieldRole::Id => "id_field",
            FieldRole::Text => "text_field",
        };
        message.push_str(&format!(" (choose another with {keyword}=)"));
    }
    if let Error::ModelLoad { source, .. } = &err {
        if let ModelError::BaseModelNotFound { .. } = source.as_ref() {
            return BaseModelNotFoundError::new_err(message);
        }
    }
    let field = match &err {
        Error::Search(SearchError::Invalid { field, .. }) => Some(field.clone()),
        Error::Search(SearchError::NoGraph { .. } | SearchError::NoLexical { .. }) => {
            Some("mode".to_string())
        }
        Error::Invalid { field, .. } => Some(field.to_string()),
        _ => None,
    };
    let exception = match err.kind() {
        ErrorKind::Locked => LockedError::new_err(message),
        ErrorKind::NotFound => NotFoundError::new_err(message),
        ErrorKind::InvalidInput | ErrorKind::Conflict => InvalidInputError::new_err(message),
        ErrorKind::Unsupported => UnsupportedError::new_err(message),
        ErrorKind::Corrupt => CorruptIndexError::new_err(message),
        ErrorKind::ModelUnavailable => ModelUnavailableError::new_err(message),
        ErrorKind::Io | ErrorKind::Internal => HypencoderError::new_err(message),
    };
    // The setting at fault, for a front end to name (the server's `field`).
    Python::attach(|py| {
        let _ = exception.value(py).setattr("field", field);
    });
    exception
}

/// Anything the engine's error converts from, as its exception.
pub fn engine<E: Into<Error>>(err: E) -> PyErr {
    to_py(err.into())
}

/// A bad argument of a call (a wrong shape, an unknown option).
pub fn bad_arg(message: String) -> PyErr {
    PyValueError::new_err(message)
}
