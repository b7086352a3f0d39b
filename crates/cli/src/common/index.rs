//! Opening an index folder from a command: the library's error says what is
//! wrong; here the command that would fix it is added.

use std::path::Path;

use anyhow::{anyhow, Result};
use hypencoder_index::{Index, IndexError, LiveIndex};

/// Opens `dir`, naming the `hypencoder` command that builds what is missing
/// or damaged (the library knows nothing of the CLI).
pub fn open_index(dir: &Path) -> Result<Index> {
    Index::open(dir).map_err(|err| {
        let hint = match &err {
            IndexError::NotAnIndex(_) => Some("build one with `hypencoder index`"),
            IndexError::Invalid(m) if m.contains("is a live index") => {
                Some("`add` and `delete` made it one; this command does not read live indexes yet")
            }
            IndexError::Corrupt { path, .. } if path.ends_with("graph.bin") => {
                Some("rebuild it with `hypencoder graph`")
            }
            _ => None,
        };
        match hint {
            Some(hint) => anyhow!("{err}; {hint}"),
            None => err.into(),
        }
    })
}

/// Opens `dir`, a single-folder or a live index (segments), with the same
/// hints as [`open_index`].
pub fn open_live(dir: &Path) -> Result<LiveIndex> {
    LiveIndex::open(dir).map_err(|err| match &err {
        IndexError::NotAnIndex(_) => anyhow!("{err}; build one with `hypencoder index`"),
        _ => err.into(),
    })
}
