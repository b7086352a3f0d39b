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

    /// Another process holds the index's write lock.
    #[error("{} is being written by another process (it holds {}); one writer at a time", path.display(), lock.display())]
    Locked {
        /// The index folder.
        path: PathBuf,
        /// The lock file held.
        lock: PathBuf,
    },

    /// The folder to create already exists.
    #[error("{} already exists; remove it or choose another folder", path.display())]
    AlreadyExists {
        /// The folder.
        path: PathBuf,
    },

    /// The folder holds an index of another format than the call reads
    /// (a live index where one segment folder was expected).
    #[error("{} is a live index (format {found}: segments and tombstones), not a single folder", path.display())]
    WrongFormat {
        /// The index folder.
        path: PathBuf,
        /// The format version found.
        found: u32,
        /// The format version expected.
        expected: u32,
    },

    /// One id given to two documents.
    #[error("duplicate id '{id}': {places}")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it appears twice (documents or folders).
        places: String,
    },

    /// Ids already in the index, where replacing was not allowed.
    #[error("{count} ids are already in {} (the first: '{first}'); nothing was added", path.display())]
    IdsExist {
        /// The index folder.
        path: PathBuf,
        /// How many.
        count: usize,
        /// The first of them.
        first: String,
    },

    /// A document's vector holds a NaN or an infinity (no dtype stores it
    /// faithfully, and it would rank arbitrarily).
    #[error("document '{id}': vector value {position} is {value}, not a finite number")]
    NonFinite {
        /// The document's id.
        id: String,
        /// The value's 0-based position in the vector.
        position: usize,
        /// The value.
        value: f32,
    },

    /// A document's vector is not as wide as the index's.
    #[error("document '{id}': vector has {found} dimensions, the index {expected}")]
    WrongDimension {
        /// The document's id.
        id: String,
        /// Its vector's width.
        found: usize,
        /// The index's width.
        expected: usize,
    },

    /// Folders that cannot be joined: another document encoder, width or
    /// storage.
    #[error("{message}")]
    Incompatible {
        /// The folder that differs.
        path: PathBuf,
        /// What differs, and from what.
        message: String,
    },

    /// The index keeps no document texts, and the part asked for is built
    /// from them.
    #[error("{} holds no document texts, and the lexical part is built from them", path.display())]
    NoTexts {
        /// The index folder.
        path: PathBuf,
    },

    /// Nothing was given to merge.
    #[error("no index folders to merge")]
    NothingToMerge,

    /// A caller broke this crate's contract (a bug in the caller, not bad
    /// input or a damaged file).
    #[error("{0}")]
    Contract(String),
    /// A document's field does not fit (an unsupported value, or a type
    /// other documents' same field do not have); the message names the
    /// document and the field.
    #[error("{0}")]
    Fields(String),
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
