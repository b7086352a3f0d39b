//! What a search runs over: a [`Searcher`] reads an index's segments in
//! order (one for a single-folder index, one per segment of a live one)
//! through [`SegmentReader`]s, each with its deletions. A document's global
//! row is its segment's first row plus its row in the segment, so ranking
//! across segments with ties to the lower global row ranks exactly as one
//! index holding the segments one after another would. Every segment is
//! searched for its top `k` plus its deleted count, so dropping deleted
//! documents still leaves its true top `k`.

use std::path::Path;

use hypencoder_index::{
    union_schema, Bm25Stats, Dtype, Index, IndexError, Schema, Segment, Tombstones,
};

use crate::request::Mode;
use crate::topk::Hit;

/// One segment: an index, its deletions, its first global row.
pub struct SegmentReader<'a> {
    /// The segment's documents.
    pub segment: &'a Segment,
    /// Its deleted documents, if any.
    pub tombstones: Option<&'a Tombstones>,
    /// The global row of its first document.
    pub base: usize,
}

impl SegmentReader<'_> {
    /// Whether `row` (in this segment) is deleted.
    pub fn is_deleted(&self, row: usize) -> bool {
        self.tombstones.is_some_and(|t| t.is_deleted(row))
    }

    /// How many of its documents are deleted.
    pub fn deleted(&self) -> usize {
        self.tombstones.map_or(0, Tombstones::deleted)
    }

    /// Its hits (rows in the segment) without deleted ones, as global rows.
    fn global(&self, hits: Vec<Hit>) -> impl Iterator<Item = Hit> + '_ {
        hits.into_iter()
            .filter(|h| !self.is_deleted(h.doc as usize))
            .map(|h| Hit {
                doc: (self.base + h.doc as usize) as u32,
                score: h.score,
            })
    }
}

/// An index's segments, in order.
pub struct Searcher<'a> {
    dir: &'a Path,
    segments: Vec<SegmentReader<'a>>,
    rows: usize,
}

impl<'a> Searcher<'a> {
    /// A single-folder index: one segment, nothing deleted.
    pub fn single(segment: &'a Segment) -> Self {
        Searcher {
            dir: segment.dir(),
            segments: vec![SegmentReader {
                segment,
                tombstones: None,
                base: 0,
            }],
            rows: segment.len(),
        }
    }

    /// A live index's segments with their tombstones.
    pub fn live(live: &'a Index) -> Self {
        let mut base = 0;
        let segments = live
            .segments()
            .iter()
            .map(|seg| {
                let segment = SegmentReader {
                    segment: &seg.segment,
                    tombstones: (seg.tombstones.deleted() > 0).then_some(&seg.tombstones),
                    base,
                };
                base += seg.segment.len();
                segment
            })
            .collect();
        Searcher {
            dir: live.dir(),
            segments,
            rows: base,
        }
    }

    /// The index folder (for messages).
    pub fn dir(&self) -> &Path {
        self.dir
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[SegmentReader<'a>] {
        &self.segments
    }

    /// Global rows, deleted ones included.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Documents not deleted.
    pub fn live_docs(&self) -> usize {
        self.segments
            .iter()
            .map(|p| p.segment.len() - p.deleted())
            .sum()
    }

    /// How the vectors are stored (every segment alike).
    pub fn dtype(&self) -> Dtype {
        self.segments
            .first()
            .map_or(Dtype::F32, |p| p.segment.manifest().dtype)
    }

    /// Whether the vectors are a bi-encoder's, scored by dot products (else
    /// a Hypencoder's, scored by q-nets).
    pub fn is_bi_encoder(&self) -> bool {
        self.segments
            .first()
            .is_some_and(|p| p.segment.manifest().model.kind == "bi-encoder")
    }

    /// Whether every segment has a neighbour graph.
    pub fn has_graph(&self) -> bool {
        self.segments.iter().all(|p| p.segment.graph().is_some())
    }

    /// Whether every segment has a lexical part.
    pub fn has_lexical(&self) -> bool {
        self.segments.iter().all(|p| p.segment.lexical().is_some())
    }

    /// The modes this index can serve: graph needs a graph in every
    /// segment; bm25, rerank and hybrid a lexical part in every segment.
    pub fn modes(&self) -> Vec<Mode> {
        Mode::ALL
            .into_iter()
            .filter(|m| {
                (!m.needs_graph() || self.has_graph()) && (!m.needs_lexical() || self.has_lexical())
            })
            .collect()
    }

    /// The mode used when none is asked for: hybrid when the index has a
    /// lexical part, else exhaustive.
    pub fn default_mode(&self) -> Mode {
        if self.has_lexical() {
            Mode::Hybrid
        } else {
            Mode::Exhaustive
        }
    }

    /// The global rows of the documents not deleted, in index order.
    pub fn live_rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| {
            (0..s.segment.len())
                .filter(|&r| !s.is_deleted(r))
                .map(|r| (s.base + r) as u32)
        })
    }

    /// The segment holding global `row`, and the row within it.
    pub fn locate(&self, row: u32) -> (&SegmentReader<'a>, usize) {
        let (place, row) = self.place_of(row);
        (&self.segments[place], row)
    }

    /// The place (in [`Searcher::segments`]) of the segment holding global `row`,
    /// and the row within it.
    pub fn place_of(&self, row: u32) -> (usize, usize) {
        let row = row as usize;
        let place = self.segments.partition_point(|p| p.base <= row) - 1;
        (place, row - self.segments[place].base)
    }

    /// Whether global `row` is deleted.
    pub fn is_deleted(&self, row: u32) -> bool {
        let (segment, row) = self.locate(row);
        segment.is_deleted(row)
    }

    /// The id of global `row`.
    pub fn id(&self, row: u32) -> Result<&'a str, IndexError> {
        let (segment, row) = self.locate(row);
        segment.segment.id(row)
    }

    /// The stored text of global `row`, if texts are kept.
    pub fn text(&self, row: u32) -> Result<Option<&'a str>, IndexError> {
        let (segment, row) = self.locate(row);
        segment.segment.text(row)
    }

    /// The fields of every segment together (an error names a field
    /// whose type differs between segments).
    pub fn schema(&self) -> Result<Schema, IndexError> {
        union_schema(self.segments.iter().map(|s| &s.segment.manifest().fields))
            .map_err(IndexError::Fields)
    }

    /// BM25 statistics of the whole index for `terms` (deleted documents
    /// still count, as in Lucene until a merge).
    pub fn bm25_stats(&self, terms: &[String]) -> Result<Bm25Stats, IndexError> {
        let mut total = Bm25Stats::default();
        for segment in &self.segments {
            if let Some(lexical) = segment.segment.lexical() {
                total.add(&lexical.stats(terms)?);
            }
        }
        Ok(total)
    }

    /// Per query, the best `k` over all segments: `search(segment, k')` gives a
    /// segment's hits per query (rows in the segment, `k'` = `k` plus its
    /// deleted count), which lose their deleted rows, become global and are
    /// merged best first, ties to the lower global row.
    pub fn merged<E>(
        &self,
        queries: usize,
        k: usize,
        mut search: impl FnMut(&SegmentReader<'a>, usize) -> Result<Vec<Vec<Hit>>, E>,
    ) -> Result<Vec<Vec<Hit>>, E> {
        let mut all: Vec<Vec<Hit>> = vec![Vec::new(); queries];
        for segment in &self.segments {
            let found = search(segment, k + segment.deleted())?;
            for (mine, hits) in all.iter_mut().zip(found) {
                mine.extend(segment.global(hits));
            }
        }
        for hits in &mut all {
            sort_hits(hits);
            hits.truncate(k);
        }
        Ok(all)
    }
}

/// Best first, ties to the lower row.
pub fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
}
