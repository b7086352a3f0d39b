//! The engine's errors with the command or flag that fixes them: chosen by
//! the error's variant, never by its text (the engine knows nothing of the
//! CLI).

use hypencoder_engine::{Error, FieldRole, IndexError, RecordError, SearchError};

/// `err` as the CLI reports it: the engine's message, then the
/// `hypencoder` command or flag that fixes it, where there is one.
pub fn hinted(err: Error) -> anyhow::Error {
    let err = match err {
        Error::Records(records) => return records_hinted(records),
        other => other,
    };
    let hint = match &err {
        Error::Search(SearchError::NoGraph { dir }) => Some(format!(
            "build one with `hypencoder graph --index {}` (or `hypencoder index ... --graph-degree 32`)",
            dir.display()
        )),
        Error::Search(SearchError::NoLexical { dir }) => Some(format!(
            "add one with `hypencoder lexical --index {}`",
            dir.display()
        )),
        Error::Search(SearchError::Invalid { field, message }) => {
            return anyhow::anyhow!("--{}: {message}", field.replace('_', "-"));
        }
        Error::Invalid { field, message } => {
            return anyhow::anyhow!("--{}: {message}", field.replace('_', "-"));
        }
        Error::ModelLoad { .. } => return anyhow::anyhow!("{err} (pass --model DIR if it moved)"),
        Error::Index(IndexError::NotAnIndex(_)) => {
            Some("build one with `hypencoder index`".to_string())
        }
        Error::Index(IndexError::Corrupt { path, .. }) if path.ends_with("graph.bin") => {
            Some("rebuild it with `hypencoder graph`".to_string())
        }
        Error::Index(IndexError::NoTexts { .. }) => {
            Some("an index built with --no-texts needs `hypencoder index` again".to_string())
        }
        Error::NeedsOneSegment { path, .. } => Some(format!(
            "`hypencoder optimize --index {}` merges it into one",
            path.display()
        )),
        _ => None,
    };
    match hint {
        Some(hint) => anyhow::anyhow!("{err}; {hint}"),
        None => err.into(),
    }
}

/// A record file's error with the flag that names another field.
pub fn records_hinted(err: RecordError) -> anyhow::Error {
    match &err {
        RecordError::MissingField { role, .. } => {
            let flag = match role {
                FieldRole::Id => "--id-field",
                FieldRole::Text => "--text-field",
            };
            anyhow::anyhow!("{err} (choose another with {flag})")
        }
        RecordError::Invalid(_) => err.into(),
    }
}

/// `Result::map_err(hinted)` in one word.
pub trait Hinted<T> {
    /// The error, if any, with its hint.
    fn hinted(self) -> anyhow::Result<T>;
}

impl<T> Hinted<T> for Result<T, Error> {
    fn hinted(self) -> anyhow::Result<T> {
        self.map_err(hinted)
    }
}
