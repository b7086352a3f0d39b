//! What a search runs over: an index's parts in order (one for a
//! single-folder index, one per segment of a live one), each with its
//! deletions. A document's global row is its part's first row plus its row
//! in the part, so ranking across parts with ties to the lower global row
//! ranks exactly as one index holding the parts one after another would.
//! Every part is searched for its top `k` plus its deleted count, so
//! dropping deleted documents still leaves its true top `k`.

use std::path::Path;

use hypencoder_index::{Bm25Stats, Dtype, Index, IndexError, LiveIndex, Tombstones};

use crate::topk::Hit;

/// One part: an index, its deletions, its first global row.
pub struct Part<'a> {
    /// The part's documents.
    pub index: &'a Index,
    /// Its deleted documents, if any.
    pub tombstones: Option<&'a Tombstones>,
    /// The global row of its first document.
    pub base: usize,
}

impl Part<'_> {
    /// Whether `row` (in this part) is deleted.
    pub fn is_deleted(&self, row: usize) -> bool {
        self.tombstones.is_some_and(|t| t.is_deleted(row))
    }

    /// How many of its documents are deleted.
    pub fn deleted(&self) -> usize {
        self.tombstones.map_or(0, Tombstones::deleted)
    }

    /// Its hits (rows in the part) without deleted ones, as global rows.
    fn global(&self, hits: Vec<Hit>) -> impl Iterator<Item = Hit> + '_ {
        hits.into_iter()
            .filter(|h| !self.is_deleted(h.doc as usize))
            .map(|h| Hit {
                doc: (self.base + h.doc as usize) as u32,
                score: h.score,
            })
    }
}

/// An index's parts, in order.
pub struct Corpus<'a> {
    dir: &'a Path,
    parts: Vec<Part<'a>>,
    rows: usize,
}

impl<'a> Corpus<'a> {
    /// A single-folder index: one part, nothing deleted.
    pub fn single(index: &'a Index) -> Self {
        Corpus {
            dir: index.dir(),
            parts: vec![Part {
                index,
                tombstones: None,
                base: 0,
            }],
            rows: index.len(),
        }
    }

    /// A live index's segments with their tombstones.
    pub fn live(live: &'a LiveIndex) -> Self {
        let mut base = 0;
        let parts = live
            .segments()
            .iter()
            .map(|seg| {
                let part = Part {
                    index: &seg.index,
                    tombstones: (seg.tombstones.deleted() > 0).then_some(&seg.tombstones),
                    base,
                };
                base += seg.index.len();
                part
            })
            .collect();
        Corpus {
            dir: live.dir(),
            parts,
            rows: base,
        }
    }

    /// The index folder (for messages).
    pub fn dir(&self) -> &Path {
        self.dir
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Part<'a>] {
        &self.parts
    }

    /// Global rows, deleted ones included.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Documents not deleted.
    pub fn live_docs(&self) -> usize {
        self.parts.iter().map(|p| p.index.len() - p.deleted()).sum()
    }

    /// How the vectors are stored (every part alike).
    pub fn dtype(&self) -> Dtype {
        self.parts
            .first()
            .map_or(Dtype::F32, |p| p.index.manifest().dtype)
    }

    /// Whether the vectors are a bi-encoder's, scored by dot products (else
    /// a Hypencoder's, scored by q-nets).
    pub fn is_bi_encoder(&self) -> bool {
        self.parts
            .first()
            .is_some_and(|p| p.index.manifest().model.kind == "bi-encoder")
    }

    /// Whether every part has a neighbour graph.
    pub fn has_graph(&self) -> bool {
        self.parts.iter().all(|p| p.index.graph().is_some())
    }

    /// Whether every part has a lexical part.
    pub fn has_lexical(&self) -> bool {
        self.parts.iter().all(|p| p.index.lexical().is_some())
    }

    /// The part holding global `row`, and the row within it.
    pub fn locate(&self, row: u32) -> (&Part<'a>, usize) {
        let (place, row) = self.place_of(row);
        (&self.parts[place], row)
    }

    /// The place (in [`Corpus::parts`]) of the part holding global `row`,
    /// and the row within it.
    pub fn place_of(&self, row: u32) -> (usize, usize) {
        let row = row as usize;
        let place = self.parts.partition_point(|p| p.base <= row) - 1;
        (place, row - self.parts[place].base)
    }

    /// Whether global `row` is deleted.
    pub fn is_deleted(&self, row: u32) -> bool {
        let (part, row) = self.locate(row);
        part.is_deleted(row)
    }

    /// The id of global `row`.
    pub fn id(&self, row: u32) -> Result<&'a str, IndexError> {
        let (part, row) = self.locate(row);
        part.index.id(row)
    }

    /// The stored text of global `row`, if texts are kept.
    pub fn text(&self, row: u32) -> Result<Option<&'a str>, IndexError> {
        let (part, row) = self.locate(row);
        part.index.text(row)
    }

    /// BM25 statistics of the whole index for `terms` (deleted documents
    /// still count, as in Lucene until a merge).
    pub fn bm25_stats(&self, terms: &[String]) -> Result<Bm25Stats, IndexError> {
        let mut total = Bm25Stats::default();
        for part in &self.parts {
            if let Some(lexical) = part.index.lexical() {
                total.add(&lexical.stats(terms)?);
            }
        }
        Ok(total)
    }

    /// Per query, the best `k` over all parts: `search(part, k')` gives a
    /// part's hits per query (rows in the part, `k'` = `k` plus its
    /// deleted count), which lose their deleted rows, become global and are
    /// merged best first, ties to the lower global row.
    pub fn merged<E>(
        &self,
        queries: usize,
        k: usize,
        mut search: impl FnMut(&Part<'a>, usize) -> Result<Vec<Vec<Hit>>, E>,
    ) -> Result<Vec<Vec<Hit>>, E> {
        let mut all: Vec<Vec<Hit>> = vec![Vec::new(); queries];
        for part in &self.parts {
            let found = search(part, k + part.deleted())?;
            for (mine, hits) in all.iter_mut().zip(found) {
                mine.extend(part.global(hits));
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
