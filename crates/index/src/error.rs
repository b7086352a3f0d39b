//! The crate's one error type; every variant that concerns a file names it.

use std::path::PathBuf;

/// What went wrong reading or writing an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// An I/O operation on `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder operated on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// `path` exists but does not hold what the format or manifest says.
    #[error("{path}: {message}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// The index was written by a newer build.

    #[error(
        "{path}: index format version {found} is newer than this build supports (version {supported}); \
         upgrade hypencoder or rebuild the index"
    )]
    NewerFormat {
        /// The manifest.
        path: PathBuf,
        /// Its format version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },

    /// The folder has no manifest.

    #[error("'{0}' is not an index folder (no manifest.json)")]
    NotAnIndex(PathBuf),

    /// The caller asked for something the index cannot do.
    #[error("{0}")]
    Invalid(String),
}

/// Result of index operations.
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
