//! Changing an index: documents added (encoded into a new segment with
//! the lexical part and graph the index has) or deleted, each change one
//! commit; segments merged as the [`MergePolicy`] picks them (vectors
//! copied, never re-encoded; lexical part rebuilt; graph grown from the
//! largest segment's).

use std::path::{Path, PathBuf};

use hypencoder_index::{
    union_schema, AddReport, DeleteReport, Dtype, IndexError, IndexWriter, LexicalInfo,
    LiveManifest, Manifest, Schema, Segment, SegmentEntry, SegmentWriter, WriterConfig,
};
use hypencoder_model::Model;
use hypencoder_search::{Overrides, SearchParams};

use crate::encode::{encode_into, Docs, CHUNK};
use crate::error::{Error, Result};
use crate::graph::{merged_graph, segment_graph, GraphOptions};
use crate::model::{open_model, OpenOptions};
use crate::progress::Progress;

/// When segments are merged after a change, by three rules:
/// - **size tiers**: with segments ordered by live documents, largest
///   first, the first whose smaller followers hold at least half as many
///   documents as it does merges with all of them. Two halves become one
///   segment (one graph, which walks cheaper than two), small additions
///   gather into larger segments before they reach a large one, and each
///   document is copied O(log n) times over its life;
/// - **count**: past `max_segments`, the smallest merge until that many
///   remain;
/// - **deletes**: any segment more than half deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergePolicy {
    /// Most segments kept (each costs a search pass); 0 never merges.
    pub max_segments: usize,
}

impl MergePolicy {
    /// Most segments an index keeps by default; the size tiers usually
    /// keep fewer.
    pub const DEFAULT: MergePolicy = MergePolicy { max_segments: 8 };

    /// A policy that never merges.
    pub const NEVER: MergePolicy = MergePolicy { max_segments: 0 };

    /// The segments to merge now, if any.
    pub fn pick(&self, segments: &[SegmentEntry]) -> Option<Vec<String>> {
        if self.max_segments == 0 {
            return None;
        }
        let mut by_size: Vec<(usize, &str)> = segments
            .iter()
            .map(|s| (s.docs - s.deleted, s.name.as_str()))
            .collect();
        // Largest first; equal sizes oldest first.
        by_size.sort_by_key(|&(live, _)| std::cmp::Reverse(live));
        let mut pick: Vec<String> = Vec::new();
        let mut tail: usize = by_size.iter().map(|(live, _)| live).sum();
        for (i, (live, _)) in by_size.iter().enumerate() {
            tail -= live;
            if i + 1 < by_size.len() && 2 * tail >= *live {
                pick.extend(by_size[i..].iter().map(|(_, name)| name.to_string()));
                break;
            }
        }
        if by_size.len() > self.max_segments {
            let n = by_size.len() - self.max_segments + 1;
            for (_, name) in &by_size[by_size.len() - n..] {
                if !pick.iter().any(|p| p == name) {
                    pick.push(name.to_string());
                }
            }
        }
        for s in segments {
            if 2 * s.deleted > s.docs && !pick.contains(&s.name) {
                pick.push(s.name.clone());
            }
        }
        (!pick.is_empty()).then_some(pick)
    }
}

impl Default for MergePolicy {
    fn default() -> Self {
        MergePolicy::DEFAULT
    }
}

/// What a committed change did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Committed {
    /// Documents with a new id.
    pub added: usize,
    /// Documents that replaced one with the same id.
    pub replaced: usize,
    /// Documents deleted.
    pub deleted: usize,
    /// Ids to delete that the index did not hold.
    pub unknown: Vec<String>,
    /// The commit the change became visible (and durable) in.
    pub generation: u64,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The segments merged into one.
    pub segments: Vec<String>,
    /// The commit it became visible in.
    pub generation: u64,
}

/// The one writer of an index (it holds the index's write lock): every
/// change is one commit. Opening a single-folder index upgrades it to a
/// live one (no vector is rewritten).
pub struct Writer {
    inner: IndexWriter,
}

impl Writer {
    /// Opens `dir` for writing.
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(Writer {
            inner: IndexWriter::open(dir)?,
        })
    }

    /// The index folder.
    pub fn dir(&self) -> &Path {
        self.inner.dir()
    }

    /// The last commit point.
    pub fn manifest(&self) -> &LiveManifest {
        self.inner.manifest()
    }

    /// Loads the index's model (see [`open_model`]).
    pub fn open_model(&self, options: &OpenOptions) -> Result<Model> {
        open_model(&self.manifest().model, self.dir(), options)
    }

    /// Every segment's folder, in order.
    pub fn segment_dirs(&self) -> Vec<PathBuf> {
        let dir = self.dir();
        self.manifest()
            .segments
            .iter()
            .map(|s| dir.join(&s.name))
            .collect()
    }

    /// Encodes `docs` with `model` into a new segment and commits it: new
    /// ids added, existing ones replaced (an error, changing nothing, with
    /// `no_replace`). Their fields must have the types the index's have.
    pub fn add(
        &mut self,
        model: &Model,
        docs: Docs,
        batch_size: usize,
        no_replace: bool,
        progress: &dyn Progress,
    ) -> Result<Committed> {
        docs.check(Some(&self.schema()?))?;
        let manifest = self.manifest().clone();
        let segment = self.inner.next_segment_dir();
        let config = segment_config(&manifest, model.doc_tokenizer().max_length() as u64, "add");
        let mut writer = SegmentWriter::create(&segment, config)?;
        progress.start("encode", docs.len());
        encode_into(model, &mut writer, docs, batch_size, &|n| progress.set(n))?;
        progress.finish();
        progress.start("write", 0);
        writer.finish()?;
        progress.finish();
        if let Some(degree) = manifest.graph_degree {
            segment_graph(&segment, &GraphOptions::new(degree), progress)?;
        }
        let AddReport { added, replaced } = self.inner.add_segment(&segment, no_replace)?;
        let generation = self.inner.commit()?;
        Ok(Committed {
            added,
            replaced,
            generation,
            ..Committed::default()
        })
    }

    /// The fields of the index's segments, together.
    pub fn schema(&self) -> Result<Schema> {
        let mut schemas = Vec::new();
        for dir in self.segment_dirs() {
            schemas.push(Manifest::read(&dir)?.fields);
        }
        union_schema(&schemas).map_err(|m| Error::Index(IndexError::Fields(m)))
    }

    /// Deletes documents by id and commits. Ids the index does not hold
    /// are reported, or with `strict` an error that deletes nothing.
    pub fn delete<S: AsRef<str>>(&mut self, ids: &[S], strict: bool) -> Result<Committed> {
        if strict {
            let unknown: Vec<String> = ids
                .iter()
                .map(AsRef::as_ref)
                .filter(|id| !self.inner.contains(id))
                .map(str::to_string)
                .collect();
            if !unknown.is_empty() {
                return Err(Error::UnknownIds { unknown });
            }
        }
        let DeleteReport { deleted, unknown } = self.inner.delete(ids);
        let generation = self.inner.commit()?;
        Ok(Committed {
            deleted,
            unknown,
            generation,
            ..Committed::default()
        })
    }

    /// Merges what `policy` picks, as one commit.
    pub fn merge(&mut self, policy: &MergePolicy) -> Result<Option<Merged>> {
        match policy.pick(&self.manifest().segments) {
            Some(names) => self.merge_segments(&names).map(Some),
            None => Ok(None),
        }
    }

    /// Merges every segment into one, dropping deleted documents; nothing
    /// to do for one segment with none deleted.
    pub fn optimize(&mut self) -> Result<Option<Merged>> {
        self.optimize_as(self.manifest().dtype)
    }

    /// [`Writer::optimize`], storing the merged vectors as `dtype` (e.g.
    /// int8 to shrink an f32 index to about a quarter, without
    /// re-encoding); the index takes that dtype from this commit on.
    pub fn optimize_as(&mut self, dtype: Dtype) -> Result<Option<Merged>> {
        let manifest = self.manifest();
        let deleted: usize = manifest.segments.iter().map(|s| s.deleted).sum();
        if manifest.segments.len() == 1 && deleted == 0 && dtype == manifest.dtype {
            return Ok(None);
        }
        let names: Vec<String> = manifest.segments.iter().map(|s| s.name.clone()).collect();
        self.merge_as(&names, dtype).map(Some)
    }

    /// Merges the committed segments `names` into one (their live
    /// documents' vectors, ids and texts copied in index order, the lexical
    /// part rebuilt, the graph grown from the largest's) and commits.
    pub fn merge_segments(&mut self, names: &[String]) -> Result<Merged> {
        self.merge_as(names, self.manifest().dtype)
    }

    /// [`Writer::merge_segments`] into a segment storing `dtype` (all of
    /// them when it is not the index's: one index has one dtype).
    fn merge_as(&mut self, names: &[String], dtype: Dtype) -> Result<Merged> {
        let manifest = self.manifest().clone();
        if dtype != manifest.dtype && names.len() != manifest.segments.len() {
            return Err(Error::Invalid {
                field: "dtype",
                message: "a merge that changes the dtype takes every segment".into(),
            });
        }
        let dir = self.inner.next_segment_dir();
        let parts = manifest
            .segments
            .iter()
            .filter(|s| names.contains(&s.name))
            .map(|s| Ok((s.name.clone(), Segment::open(&self.dir().join(&s.name))?)))
            .collect::<Result<Vec<_>>>()?;
        let max_length = parts
            .iter()
            .map(|(_, index)| index.manifest().stats.max_length)
            .max()
            .unwrap_or(0);
        let config = WriterConfig {
            dtype,
            ..segment_config(&manifest, max_length, "merge")
        };
        let mut merged = SegmentWriter::create(&dir, config)?;
        // Each part's rows in the merged segment (`None`: deleted, dropped).
        let mut maps: Vec<Vec<Option<u32>>> = Vec::with_capacity(parts.len());
        let mut next = 0u32;
        for (name, index) in &parts {
            let tombstones = self.inner.tombstones(name);
            let mut map = vec![None; index.len()];
            for (row, slot) in map.iter_mut().enumerate() {
                if tombstones.is_some_and(|t| t.is_deleted(row)) {
                    continue;
                }
                let text = index.text(row)?.unwrap_or_default();
                merged.add_with_fields(
                    index.id(row)?,
                    text,
                    &index.vectors().rows(row, 1),
                    false,
                    &index.fields().map(|f| f.row(row)).unwrap_or_default(),
                )?;
                *slot = Some(next);
                next += 1;
            }
            maps.push(map);
        }
        merged.finish()?;
        if let Some(degree) = manifest.graph_degree {
            let indexes: Vec<&Segment> = parts.iter().map(|(_, index)| index).collect();
            merged_graph(&dir, degree, &indexes, &maps)?;
        }
        // Before the swap, which checks the new segment against it.
        self.inner.set_dtype(dtype);
        if let Err(e) = self.inner.replace_segments(names, &dir) {
            self.inner.set_dtype(manifest.dtype);
            return Err(e.into());
        }
        let generation = self.inner.commit()?;
        Ok(Merged {
            segments: names.to_vec(),
            generation,
        })
    }

    /// Records the search settings a search of the index uses where a
    /// request sets none (by request name, as [`crate::Tuning::record`]
    /// gives them; empty: the shipped defaults) and commits. Later commits
    /// (adds, deletes, merges) keep them.
    pub fn set_search_defaults(&mut self, settings: Overrides) -> Result<u64> {
        SearchParams::DEFAULT.with(&settings)?;
        self.inner.set_search_defaults(settings);
        Ok(self.inner.commit()?)
    }

    /// Records that every segment now has a graph of `degree` (built in
    /// place), so segments added later get one too; commits.
    pub(crate) fn set_graph_degree(&mut self, degree: Option<usize>) -> Result<u64> {
        self.inner.set_graph_degree(degree);
        Ok(self.inner.commit()?)
    }

    /// Records that every segment now has a lexical part (built in place);
    /// commits.
    pub(crate) fn set_lexical(&mut self, lexical: Option<LexicalInfo>) -> Result<u64> {
        self.inner.set_lexical(lexical);
        Ok(self.inner.commit()?)
    }
}

/// A new segment's writer settings: like the index (model record, dtype,
/// texts, lexical part).
fn segment_config(manifest: &LiveManifest, max_length: u64, source: &str) -> WriterConfig {
    WriterConfig {
        dim: manifest.dim,
        dtype: manifest.dtype,
        model: manifest.model.clone(),
        with_texts: manifest.has_texts,
        max_length,
        source: source.to_string(),
        chunk_size: CHUNK,
        lexical: manifest.lexical.is_some(),
    }
}
