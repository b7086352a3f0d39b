use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },

    #[error(
        "{path}: index format version {found} is newer than this build supports (version {supported}); \
         upgrade hypencoder or rebuild the index"
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("'{0}' is not an index folder (no manifest.json); build one with `hypencoder index`")]
    NotAnIndex(PathBuf),

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, IndexError>;

/// Attaches a path to an io::Error.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| IndexError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
