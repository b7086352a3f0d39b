//! The served indexes, each open with its own model and its batching
//! worker, by the name the command line gave it. A reload opens the folder
//! again beside the current one and swaps it in only once it opened:
//! requests in flight keep the `Arc` of the one they started on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use hypencoder_index::{IndexError, LiveIndex, LiveWriter};
use hypencoder_model::{LoadOptions, Model};
use hypencoder_search::{
    merge_policy, merge_segments, open_model_for, Corpus, Mode, SearchError, MAX_SEGMENTS,
};

use crate::api::{IndexInfo, ModeName};
use crate::batcher::{self, Queue};
use crate::metrics::Metrics;
use crate::ServeConfig;

/// An index that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Opening the folder failed.
    #[error("index '{name}' ({}): {source}", dir.display())]
    Index {
        /// The name it is served under.
        name: String,
        /// Its folder.
        dir: PathBuf,
        /// Why.
        source: IndexError,
    },
    /// Its model cannot be loaded or is not the one it was built with.
    #[error("index '{name}' ({}): {source}", dir.display())]
    Model {
        /// The name it is served under.
        name: String,
        /// Its folder.
        dir: PathBuf,
        /// Why.
        source: SearchError,
    },
    /// Opening it panicked (a bug).
    #[error(transparent)]
    Panicked(#[from] Panicked),
    /// Two indexes under one name.
    #[error("two indexes are named '{0}'; name them with --index NAME=DIR")]
    DuplicateName(String),
}

/// One index (a single folder or a live one's segments), open, with its
/// model and an id-to-global-row map of its live documents for lookups.
pub struct Loaded {
    pub index: LiveIndex,
    pub model: Arc<Model>,
    rows: HashMap<String, u32>,
}

impl Loaded {
    fn open(name: &str, dir: &Path, options: &LoadOptions) -> Result<Self, CatalogError> {
        let index = LiveIndex::open(dir).map_err(|source| CatalogError::Index {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            source,
        })?;
        let model =
            open_model_for(&index.manifest().model, dir, None, options).map_err(|source| {
                CatalogError::Model {
                    name: name.to_string(),
                    dir: dir.to_path_buf(),
                    source,
                }
            })?;
        Self::with_model(name, index, Arc::new(model))
    }

    /// An opened index with its (already loaded) model.
    fn with_model(name: &str, index: LiveIndex, model: Arc<Model>) -> Result<Self, CatalogError> {
        let dir = index.dir().to_path_buf();
        let index_error = |source| CatalogError::Index {
            name: name.to_string(),
            dir: dir.clone(),
            source,
        };
        let mut rows = HashMap::with_capacity(index.live_docs());
        let corpus = Corpus::live(&index);
        for part in corpus.parts() {
            for row in (0..part.index.len()).filter(|&r| !part.is_deleted(r)) {
                let id = part.index.id(row).map_err(index_error)?;
                rows.insert(id.to_string(), (part.base + row) as u32);
            }
        }
        Ok(Loaded { index, model, rows })
    }

    /// The index as the search crate sees it.
    pub fn corpus(&self) -> Corpus<'_> {
        Corpus::live(&self.index)
    }

    /// The global row of live document `id`, if the index holds it.
    pub fn row(&self, id: &str) -> Option<u32> {
        self.rows.get(id).copied()
    }

    /// What `GET /v1/indexes` says of it.
    pub fn info(&self, name: &str) -> IndexInfo {
        let manifest = self.index.manifest();
        let corpus = self.corpus();
        IndexInfo {
            name: name.to_string(),
            documents: self.index.live_docs(),
            dimensions: manifest.dim,
            model: manifest.model.path.clone(),
            modes: Mode::supported(&corpus)
                .into_iter()
                .map(ModeName::from)
                .collect(),
            default_mode: Mode::default_for(&corpus).into(),
            has_texts: manifest.has_texts,
            segments: self.index.segments().len(),
            generation: manifest.generation,
        }
    }
}

/// The index currently served under one name; swapped whole on reload.
pub type Current = Arc<RwLock<Arc<Loaded>>>;

/// One served name: its folder, what is open now, its queue, its writer.
pub struct Slot {
    pub name: String,
    pub dir: PathBuf,
    current: Current,
    pub queue: Queue,
    options: LoadOptions,
    /// One reload at a time per index.
    reloading: tokio::sync::Mutex<()>,
    /// The index's one writer, opened at the first write and kept (so its
    /// lock keeps other writers out); None again after a failed write, so
    /// the next one starts from the last commit.
    writer: Arc<tokio::sync::Mutex<Option<LiveWriter>>>,
}

/// A change a write request makes, run with the index's writer and model
/// on the rayon pool; the slot commits it.
pub type Change<R> = Box<dyn FnOnce(&mut LiveWriter, &Model) -> Result<R, SearchError> + Send>;

impl Slot {
    /// The index open now.
    pub fn current(&self) -> Arc<Loaded> {
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
    pub async fn reload(&self) -> Result<Arc<Loaded>, CatalogError> {
        let _one = self.reloading.lock().await;
        let (name, dir, options) = (self.name.clone(), self.dir.clone(), self.options.clone());
        let fresh = on_pool(move || Loaded::open(&name, &dir, &options))
            .await
            .map_err(CatalogError::Panicked)??;
        let fresh = Arc::new(fresh);
        *self
            .current
            .write()
            .expect("no writer panics holding the lock") = Arc::clone(&fresh);
        Ok(fresh)
    }
}

impl Slot {
    /// Runs `change` with the index's writer (opening it, and so upgrading
    /// a single-folder index, at the first write), commits it and serves
    /// the new generation. Returns the change's result, the generation it
    /// became visible in (durable by then) and the live documents after it.
    /// Searches go on meanwhile on the generation before. What the merge
    /// policy then picks is merged in the background, holding the writer,
    /// so the next write waits for it but no answer does.
    pub async fn write<R: Send + 'static>(
        &self,
        change: Change<R>,
    ) -> Result<(R, u64, usize), WriteError> {
        let mut guard = Arc::clone(&self.writer).lock_owned().await;
        let writer = guard.take();
        let (dir, name, model) = (
            self.dir.clone(),
            self.name.clone(),
            self.current().model.clone(),
        );
        let done = on_pool(move || -> Result<_, WriteError> {
            let mut writer = match writer {
                Some(w) => w,
                None => LiveWriter::open(&dir).map_err(WriteError::Open)?,
            };
            let result = change(&mut writer, &model).map_err(WriteError::Change)?;
            let generation = writer.commit().map_err(|e| WriteError::Change(e.into()))?;
            let loaded = reopen(&name, &dir, model)?;
            Ok((writer, result, generation, loaded))
        })
        .await??;
        let (writer, result, generation, loaded) = done;
        let documents = loaded.index.live_docs();
        let model = Arc::clone(&loaded.model);
        swap(&self.current, loaded);
        let Some(names) = merge_policy(&writer.manifest().segments, MAX_SEGMENTS) else {
            *guard = Some(writer);
            return Ok((result, generation, documents));
        };
        let (dir, name, current) = (self.dir.clone(), self.name.clone(), self.current.clone());
        tokio::spawn(async move {
            let merged = on_pool(move || merge(writer, &names, (&name, &dir), model)).await;
            match merged.map_err(WriteError::from).and_then(|m| m) {
                Ok((writer, loaded)) => {
                    *guard = Some(writer);
                    swap(&current, loaded);
                }
                // The index stays at the write's commit; the next write
                // opens the writer afresh.
                Err(e) => eprintln!("background merge failed: {e}"),
            }
        });
        Ok((result, generation, documents))
    }
}

/// Replaces what `current` serves.
fn swap(current: &Current, loaded: Loaded) {
    *current.write().expect("no writer panics holding the lock") = Arc::new(loaded);
}

/// The committed generation in `dir` opened for serving, with the model
/// already loaded.
fn reopen(name: &str, dir: &Path, model: Arc<Model>) -> Result<Loaded, WriteError> {
    let index = LiveIndex::open(dir).map_err(|e| WriteError::Change(e.into()))?;
    Loaded::with_model(name, index, model).map_err(WriteError::Reopen)
}

/// Merges segments `names` as one commit and opens the result for
/// serving as `name` with `model`.
fn merge(
    mut writer: LiveWriter,
    names: &[String],
    (name, dir): (&str, &Path),
    model: Arc<Model>,
) -> Result<(LiveWriter, Loaded), WriteError> {
    merge_segments(&mut writer, names).map_err(WriteError::Change)?;
    writer.commit().map_err(|e| WriteError::Change(e.into()))?;
    let loaded = reopen(name, dir, model)?;
    Ok((writer, loaded))
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The writer could not be opened (another process holds the lock, or
    /// the folder is damaged).
    #[error("{0}")]
    Open(IndexError),
    /// The change or its commit failed; nothing of it is visible.
    #[error("{0}")]
    Change(SearchError),
    /// Committed, but the new generation could not be opened.
    #[error("{0}")]
    Reopen(CatalogError),
    /// The write panicked (a bug).
    #[error(transparent)]
    Panicked(#[from] Panicked),
}

/// Every served index, in command-line order.
pub struct Catalog {
    slots: Vec<Slot>,
}

impl Catalog {
    /// Opens each index with its model and starts its batching worker.
    pub fn open(config: &ServeConfig, metrics: Arc<Metrics>) -> Result<Self, CatalogError> {
        let options = LoadOptions {
            query_max_length: config.query_max_length,
            doc_max_length: None,
            ..Default::default()
        };
        let mut slots: Vec<Slot> = Vec::with_capacity(config.indexes.len());
        for (name, dir) in &config.indexes {
            if slots.iter().any(|s| &s.name == name) {
                return Err(CatalogError::DuplicateName(name.clone()));
            }
            let loaded = Loaded::open(name, dir, &options)?;
            let current: Current = Arc::new(RwLock::new(Arc::new(loaded)));
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
