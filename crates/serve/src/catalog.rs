//! The served indexes, each open with its own model and its batching
//! worker, by the name the command line gave it. A reload opens the folder
//! again beside the current one and swaps it in only once it opened;
//! a write runs through the engine's writer and swaps in the generation
//! it committed. Requests in flight keep the `Arc` of the one they started
//! on.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use hypencoder_engine::{Collection, Committed, Error, MergePolicy, Model, OpenOptions, Writer};

use crate::batcher::{self, Current, Queue};
use crate::config::ServeConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// An index that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Opening the folder or its model failed.
    #[error("index '{name}' ({}): {source}", dir.display())]
    Open {
        /// The name it is served under.
        name: String,
        /// Its folder.
        dir: PathBuf,
        /// Why.
        source: Error,
    },
    /// Opening it panicked (a bug).
    #[error(transparent)]
    Panicked(#[from] Panicked),
    /// Two indexes under one name.
    #[error("two indexes are named '{0}'; name them with --index NAME=DIR")]
    DuplicateName(String),
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The writer could not be opened, or the change or its commit failed;
    /// nothing of it is visible.
    #[error(transparent)]
    Engine(#[from] Error),
    /// The write panicked (a bug).
    #[error(transparent)]
    Panicked(#[from] Panicked),
}

impl WriteError {
    /// The answer to a failed write: a held lock is a conflict, bad
    /// documents the request's fault, the rest the server's.
    pub fn to_api(&self) -> ApiError {
        match self {
            WriteError::Engine(e) => ApiError::from_write(e),
            WriteError::Panicked(_) => ApiError::internal(self),
        }
    }
}

/// A change a write request makes with the index's writer and model, on
/// the rayon pool; it commits.
pub type Change = Box<dyn FnOnce(&mut Writer, &Model) -> Result<Committed, Error> + Send>;

/// One served name: its folder, what is open now, its queue, its writer.
pub struct Slot {
    pub name: String,
    pub dir: PathBuf,
    current: Current,
    pub queue: Queue,
    options: OpenOptions,
    /// One reload at a time per index.
    reloading: tokio::sync::Mutex<()>,
    /// The index's one writer, opened at the first write and kept (so its
    /// lock keeps other writers out); None again after a failed write, so
    /// the next one starts from the last commit.
    writer: Arc<tokio::sync::Mutex<Option<Writer>>>,
}

impl Slot {
    /// The index open now.
    pub fn current(&self) -> Arc<Collection> {
        Arc::clone(
            &self
                .current
                .read()
                .expect("no writer panics holding the lock"),
        )
    }

    /// Opens the folder again (on the rayon pool) and, if it opens, serves
    /// it from now on; if not, the current one stays and the error is
    /// returned.
    pub async fn reload(&self) -> Result<Arc<Collection>, CatalogError> {
        let _one = self.reloading.lock().await;
        let (name, dir, options) = (self.name.clone(), self.dir.clone(), self.options.clone());
        let fresh = on_pool(move || open(&name, &dir, options)).await??;
        let fresh = Arc::new(fresh);
        swap(&self.current, Arc::clone(&fresh));
        Ok(fresh)
    }

    /// Runs `change` with the index's writer (opening it, and so upgrading
    /// a single-folder index, at the first write), which commits, and
    /// serves the new generation. Searches go on meanwhile on the
    /// generation before. What the merge policy then picks is merged in the
    /// background, holding the writer, so the next write waits for it but
    /// no answer does. Returns the change's report and the live documents
    /// after it.
    pub async fn write(&self, change: Change) -> Result<(Committed, usize), WriteError> {
        let mut guard = Arc::clone(&self.writer).lock_owned().await;
        let writer = guard.take();
        let (dir, current) = (self.dir.clone(), self.current());
        let (writer, committed, index) = on_pool(move || -> Result<_, Error> {
            let mut writer = match writer {
                Some(w) => w,
                None => Writer::open(&dir)?,
            };
            let committed = change(&mut writer, current.model()?)?;
            Ok((writer, committed, current.reopen()?))
        })
        .await??;
        let documents = index.len();
        swap(&self.current, Arc::new(index));
        let Some(names) = MergePolicy::DEFAULT.pick(&writer.manifest().segments) else {
            *guard = Some(writer);
            return Ok((committed, documents));
        };
        let (current, served) = (self.current.clone(), self.current());
        tokio::spawn(async move {
            let merged = on_pool(move || merge(writer, &names, &served)).await;
            match merged.map_err(WriteError::from).and_then(|m| Ok(m?)) {
                Ok((writer, index)) => {
                    *guard = Some(writer);
                    swap(&current, Arc::new(index));
                }
                // The index stays at the write's commit; the next write
                // opens the writer afresh.
                Err(e) => eprintln!("background merge failed: {e}"),
            }
        });
        Ok((committed, documents))
    }
}

/// Opens the index `name` in `dir` with its model loaded.
fn open(name: &str, dir: &Path, options: OpenOptions) -> Result<Collection, CatalogError> {
    Collection::open_with_model(dir, options).map_err(|source| CatalogError::Open {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        source,
    })
}

/// Replaces what `current` serves.
fn swap(current: &Current, index: Arc<Collection>) {
    *current.write().expect("no writer panics holding the lock") = index;
}

/// Merges segments `names` as one commit and opens the result as `served`
/// is open (its model, its options).
fn merge(
    mut writer: Writer,
    names: &[String],
    served: &Collection,
) -> Result<(Writer, Collection), Error> {
    writer.merge_segments(names)?;
    Ok((writer, served.reopen()?))
}

/// Every served index, in command-line order.
pub struct Catalog {
    slots: Vec<Slot>,
}

impl Catalog {
    /// Opens each index with its model and starts its batching worker.
    pub fn open(config: &ServeConfig, metrics: Arc<Metrics>) -> Result<Self, CatalogError> {
        let options = OpenOptions {
            query_max_length: config.query_max_length,
            ..OpenOptions::default()
        };
        let mut slots: Vec<Slot> = Vec::with_capacity(config.indexes.len());
        for (name, dir) in &config.indexes {
            if slots.iter().any(|s| &s.name == name) {
                return Err(CatalogError::DuplicateName(name.clone()));
            }
            let index = open(name, dir, options.clone())?;
            let current: Current = Arc::new(RwLock::new(Arc::new(index)));
            let queue = batcher::start(name, Arc::clone(&current), config, Arc::clone(&metrics));
            slots.push(Slot {
                name: name.clone(),
                dir: dir.clone(),
                current,
                queue,
                options: options.clone(),
                reloading: tokio::sync::Mutex::new(()),
                writer: Arc::new(tokio::sync::Mutex::new(None)),
            });
        }
        Ok(Catalog { slots })
    }

    /// The slot served under `name`.
    pub fn get(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }

    /// Every slot.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }
}

/// A job on the rayon pool panicked (a bug): its request gets a 500.
#[derive(Debug, thiserror::Error)]
#[error("the server failed while doing this (a bug; the change, if any, was not committed)")]
pub struct Panicked;

/// Runs `work` on the rayon pool and awaits its result without holding a
/// tokio worker; a panic in it becomes an error, not a dropped connection.
pub async fn on_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Panicked> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = tx.send(result.map_err(|_| Panicked));
    });
    rx.await.map_err(|_| Panicked)?
}
