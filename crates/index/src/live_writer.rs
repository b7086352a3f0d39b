//! The one writer of a live index (layout and commit protocol in `live.rs`).
//!
//! It holds `write.lock` (an advisory lock: a second writer gets a clear
//! error, not a corrupted index), upgrades a single-folder index to the
//! live format without touching a vector (hard links), removes what no
//! commit point names, and gathers changes (new segments, deletions) until
//! [`IndexWriter::commit`] makes them visible and durable together.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{IndexError, IoContext, Result};
use crate::format::{sync_dir, write_atomic, Dtype, FileEntry};
use crate::live::{AnyManifest, LiveManifest, SegmentEntry, Tombstones};
use crate::manifest::{LexicalInfo, Manifest, LIVE_FORMAT_VERSION};
use crate::segment::Segment;
use crate::strings::StringTable;

/// The lock file's name.
pub const LOCK_FILE: &str = "write.lock";

/// What [`IndexWriter::add_segment`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddReport {
    /// Documents whose id was new.
    pub added: usize,
    /// Documents that replaced a live one with the same id (now deleted).
    pub replaced: usize,
}

/// What [`IndexWriter::delete`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteReport {
    /// Documents deleted.
    pub deleted: usize,
    /// Ids no live document has, in the order given.
    pub unknown: Vec<String>,
}

/// Where a live document is: its segment's place in the list, its row.
type Location = (usize, usize);

/// The writer of a live index.
pub struct IndexWriter {
    dir: PathBuf,
    /// Held for the writer's lifetime; the lock goes with the file.
    _lock: File,
    /// The last commit point.
    manifest: LiveManifest,
    /// Each segment's tombstones as changed since the last commit.
    tombstones: Vec<Tombstones>,
    /// Segments whose tombstones changed since the last commit.
    changed: Vec<bool>,
    /// Every live document's id.
    ids: HashMap<String, Location>,
}

impl IndexWriter {
    /// Opens `dir` for writing: takes its lock, upgrades a single-folder
    /// index, removes files no commit point names, and reads every live id.
    pub fn open(dir: &Path) -> Result<Self> {
        let lock_path = dir.join(LOCK_FILE);
        if !dir.join(Manifest::FILE).is_file() {
            return Err(IndexError::NotAnIndex(dir.to_path_buf()));
        }
        let lock = File::create(&lock_path).at(&lock_path)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(IndexError::Locked {
                    path: dir.to_path_buf(),
                    lock: lock_path,
                })
            }
            Err(TryLockError::Error(e)) => return Err(e).at(&lock_path),
        }
        let manifest = match AnyManifest::read(dir)? {
            AnyManifest::Live(m) => *m,
            AnyManifest::Single(m) => upgrade(dir, &m)?,
        };
        remove_unnamed(dir, &manifest)?;
        let mut writer = IndexWriter {
            dir: dir.to_path_buf(),
            _lock: lock,
            tombstones: Vec::new(),
            changed: Vec::new(),
            ids: HashMap::new(),
            manifest,
        };
        let entries = writer.manifest.segments.clone();
        for (place, entry) in entries.iter().enumerate() {
            writer.load_segment(place, entry)?;
        }
        Ok(writer)
    }

    /// The index folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether live document `id` is in the index (as of the changes so
    /// far).
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains_key(id)
    }

    /// Records the graph degree every segment's graph now has (the caller
    /// built them in place), so segments added later get one too. Visible
    /// at the next commit.
    pub fn set_graph_degree(&mut self, degree: Option<usize>) {
        self.manifest.graph_degree = degree;
    }

    /// Records the dtype every segment's vectors now have (the caller
    /// replaced them all by one converted segment). Visible at the next
    /// commit.
    pub fn set_dtype(&mut self, dtype: Dtype) {
        self.manifest.dtype = dtype;
    }

    /// Records the lexical part every segment now has (the caller built
    /// them in place). Visible at the next commit.
    pub fn set_lexical(&mut self, lexical: Option<LexicalInfo>) {
        self.manifest.lexical = lexical;
    }

    /// Records the search settings a search of the index uses unless it
    /// sets its own (by request name; empty: none). Visible at the next
    /// commit, and kept by every commit after it.
    pub fn set_search_defaults(&mut self, settings: serde_json::Map<String, serde_json::Value>) {
        self.manifest.search_defaults = settings;
    }

    /// The last commit point, with the segments added or merged since.
    pub fn manifest(&self) -> &LiveManifest {
        &self.manifest
    }

    /// The tombstones of segment `name` as of now (pending deletions
    /// included), if it has any deletion.
    pub fn tombstones(&self, name: &str) -> Option<&Tombstones> {
        let place = self.manifest.segments.iter().position(|s| s.name == name)?;
        Some(&self.tombstones[place]).filter(|t| t.deleted() > 0)
    }

    /// Where the next segment is to be built (with `SegmentWriter::create`):
    /// a folder name no segment has.
    pub fn next_segment_dir(&self) -> PathBuf {
        let last = self
            .manifest
            .segments
            .iter()
            .filter_map(|s| s.name.strip_prefix("seg-")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        self.dir.join(format!("seg-{:06}", last + 1))
    }

    /// Takes in the segment built at `segment` (a folder inside the index):
    /// its documents are added, and any live document with one of its ids is
    /// deleted (replaced), unless `no_replace`, when an existing id is an
    /// error and nothing changes. Visible at the next commit.
    pub fn add_segment(&mut self, segment: &Path, no_replace: bool) -> Result<AddReport> {
        let name = segment
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| segment.parent() == Some(self.dir.as_path()))
            .ok_or_else(|| {
                IndexError::Contract(format!(
                    "{} is not a folder inside {}",
                    segment.display(),
                    self.dir.display()
                ))
            })?
            .to_string();
        let index = Segment::open(segment)?;
        self.check_compatible(&index)?;
        let ids = (0..index.len())
            .map(|row| index.id(row).map(str::to_string))
            .collect::<Result<Vec<_>>>()?;
        let existing: Vec<&String> = ids.iter().filter(|id| self.ids.contains_key(*id)).collect();
        if no_replace && !existing.is_empty() {
            return Err(IndexError::IdsExist {
                path: self.dir.clone(),
                count: existing.len(),
                first: existing[0].clone(),
            });
        }
        let mut report = AddReport::default();
        for id in &ids {
            if self.delete_one(id) {
                report.replaced += 1;
            } else {
                report.added += 1;
            }
        }
        let place = self.manifest.segments.len();
        let entry = SegmentEntry {
            name,
            docs: index.len(),
            deleted: 0,
            deletes: None,
        };
        self.manifest.segments.push(entry);
        self.tombstones.push(Tombstones::none(index.len()));
        self.changed.push(false);
        for (row, id) in ids.into_iter().enumerate() {
            self.ids.insert(id, (place, row));
        }
        Ok(report)
    }

    /// Replaces the committed segments `names` by `merged`, a segment folder
    /// inside the index holding exactly their live documents (vectors
    /// copied, not re-encoded). The merged segment takes the place of the
    /// first of them. Visible at the next commit; call it with no other
    /// change pending.
    pub fn replace_segments(&mut self, names: &[String], merged: &Path) -> Result<()> {
        if self.changed.iter().any(|&c| c) {
            return Err(IndexError::Contract(
                "commit pending deletions before merging".into(),
            ));
        }
        let places: Vec<usize> = names
            .iter()
            .map(|n| {
                self.manifest
                    .segments
                    .iter()
                    .position(|s| &s.name == n)
                    .ok_or_else(|| IndexError::Contract(format!("no segment named {n}")))
            })
            .collect::<Result<_>>()?;
        let live: usize = places
            .iter()
            .map(|&p| self.manifest.segments[p].docs - self.manifest.segments[p].deleted)
            .sum();
        let index = Segment::open(merged)?;
        self.check_compatible(&index)?;
        if index.len() != live {
            return Err(IndexError::Contract(format!(
                "{} holds {} documents; the segments it replaces hold {live} live ones",
                merged.display(),
                index.len()
            )));
        }
        let name = merged
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| merged.parent() == Some(self.dir.as_path()))
            .ok_or_else(|| {
                IndexError::Contract(format!("{} is not inside the index", merged.display()))
            })?
            .to_string();
        let first = *places.iter().min().expect("at least one segment");
        let mut segments = Vec::with_capacity(self.manifest.segments.len());
        for (place, entry) in self.manifest.segments.iter().enumerate() {
            if place == first {
                segments.push(SegmentEntry {
                    name: name.clone(),
                    docs: index.len(),
                    deleted: 0,
                    deletes: None,
                });
            } else if !places.contains(&place) {
                segments.push(entry.clone());
            }
        }
        for &place in &places {
            if let Some(file) = &self.manifest.segments[place].deletes {
                self.manifest.files.remove(file);
            }
        }
        self.manifest.segments = segments;
        // Rebuild the id map and tombstones from the new list.
        self.ids.clear();
        self.tombstones.clear();
        self.changed.clear();
        let entries = self.manifest.segments.clone();
        for (place, entry) in entries.iter().enumerate() {
            self.load_segment(place, entry)?;
        }
        Ok(())
    }

    /// Deletes the live documents with these ids; unknown ids are reported,
    /// not an error. Visible at the next commit.
    pub fn delete<S: AsRef<str>>(&mut self, ids: &[S]) -> DeleteReport {
        let mut report = DeleteReport::default();
        for id in ids {
            if self.delete_one(id.as_ref()) {
                report.deleted += 1;
            } else {
                report.unknown.push(id.as_ref().to_string());
            }
        }
        report
    }

    /// Makes every change since the last commit visible and durable: new
    /// tombstone files are written and fsynced, then the next generation's
    /// manifest replaces the last atomically. Returns the new generation.
    pub fn commit(&mut self) -> Result<u64> {
        let generation = self.manifest.generation + 1;
        let mut next = self.manifest.clone();
        next.generation = generation;
        for (place, entry) in next.segments.iter_mut().enumerate() {
            if !self.changed[place] {
                continue;
            }
            let tombstones = &self.tombstones[place];
            if let Some(old) = entry.deletes.take() {
                next.files.remove(&old);
            }
            entry.deleted = tombstones.deleted();
            if tombstones.deleted() > 0 {
                let file = format!("{}.del-{generation:06}", entry.name);
                let bytes = tombstones.to_bytes();
                write_atomic(&self.dir.join(&file), &bytes)?;
                next.files.insert(
                    file.clone(),
                    FileEntry {
                        bytes: bytes.len() as u64,
                        crc32: crc32fast::hash(&bytes),
                    },
                );
                entry.deletes = Some(file);
            }
        }
        // Segments added since the last commit were fsynced and renamed into
        // place by their SegmentWriter; the folder's entries are synced here.
        sync_dir(&self.dir)?;
        next.write(&self.dir)?;
        self.manifest = next;
        self.changed.iter_mut().for_each(|c| *c = false);
        remove_unnamed(&self.dir, &self.manifest)?;
        Ok(generation)
    }

    /// Marks the live document `id` deleted; false if there is none.
    fn delete_one(&mut self, id: &str) -> bool {
        match self.ids.remove(id) {
            Some((place, row)) => {
                self.tombstones[place].delete(row);
                self.changed[place] = true;
                true
            }
            None => false,
        }
    }

    /// Reads a committed segment's ids and tombstones into the writer.
    fn load_segment(&mut self, place: usize, entry: &SegmentEntry) -> Result<()> {
        let seg_dir = self.dir.join(&entry.name);
        let ids = StringTable::open(&seg_dir.join("ids.bin"))?;
        let tombstones = match &entry.deletes {
            None => Tombstones::none(entry.docs),
            Some(file) => {
                let recorded =
                    self.manifest
                        .files
                        .get(file)
                        .ok_or_else(|| IndexError::Corrupt {
                            path: self.dir.join(Manifest::FILE),
                            message: format!("names {file} but records no size or checksum for it"),
                        })?;
                Tombstones::read(&self.dir.join(file), recorded, entry.docs)?
            }
        };
        for row in 0..entry.docs {
            if !tombstones.is_deleted(row) {
                self.ids.insert(ids.get(row)?.to_string(), (place, row));
            }
        }
        self.tombstones.push(tombstones);
        self.changed.push(false);
        Ok(())
    }

    /// A new segment must hold vectors of the same model and shape.
    fn check_compatible(&self, index: &Segment) -> Result<()> {
        let theirs = index.manifest();
        let ours = &self.manifest;
        let same_model = match (&ours.model.doc_encoder, &theirs.model.doc_encoder) {
            (Some(a), Some(b)) => a == b,
            _ => ours.model.fingerprint == theirs.model.fingerprint,
        };
        if !same_model || theirs.dim != ours.dim || theirs.dtype != ours.dtype {
            return Err(IndexError::Incompatible {
                path: index.dir().to_path_buf(),
                message: format!(
                    "{} was not built like {} (another model, dimension or dtype)",
                    index.dir().display(),
                    self.dir.display()
                ),
            });
        }
        Ok(())
    }
}

/// Turns the single-folder index in `dir` into a live index whose one
/// segment holds the same files (hard links: no vector is rewritten). The
/// new manifest is the commit; until it lands the folder is still the old
/// index, and a half-made segment folder is removed by the next writer.
fn upgrade(dir: &Path, single: &Manifest) -> Result<LiveManifest> {
    let name = "seg-000001";
    let seg = dir.join(name);
    if seg.exists() {
        fs::remove_dir_all(&seg).at(&seg)?;
    }
    fs::create_dir(&seg).at(&seg)?;
    let mut folders = vec![seg.clone()];
    for file in single.files.keys() {
        let to = seg.join(file);
        if let Some(parent) = to.parent().filter(|p| !p.exists()) {
            fs::create_dir_all(parent).at(parent)?;
            folders.push(parent.to_path_buf());
        }
        fs::hard_link(dir.join(file), &to).at(&to)?;
    }
    single.write(&seg)?;
    for folder in folders.iter().rev() {
        sync_dir(folder)?;
    }
    let live = LiveManifest {
        format_version: LIVE_FORMAT_VERSION,
        generation: 1,
        model: single.model.clone(),
        dim: single.dim,
        dtype: single.dtype,
        has_texts: single.has_texts,
        lexical: single.lexical.clone(),
        graph_degree: single.graph.as_ref().map(|g| g.degree),
        segments: vec![SegmentEntry {
            name: name.to_string(),
            docs: single.count,
            deleted: 0,
            deletes: None,
        }],
        files: BTreeMap::new(),
        search_defaults: serde_json::Map::new(),
        crc32: 0,
    };
    sync_dir(dir)?;
    live.write(dir)?;
    Ok(live)
}

/// Removes every entry of `dir` the commit point does not name: a crash's
/// half-built segments, replaced tombstone files, the files an upgrade
/// left at the top.
fn remove_unnamed(dir: &Path, manifest: &LiveManifest) -> Result<()> {
    let mut keep: Vec<&str> = vec![Manifest::FILE, LOCK_FILE];
    keep.extend(manifest.segments.iter().map(|s| s.name.as_str()));
    keep.extend(manifest.files.keys().map(String::as_str));
    let mut removed = false;
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        if keep.iter().any(|k| *k == name) {
            continue;
        }
        let path = entry.path();
        if entry.file_type().at(&path)?.is_dir() {
            fs::remove_dir_all(&path).at(&path)?;
        } else {
            fs::remove_file(&path).at(&path)?;
        }
        removed = true;
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}
