//! One search over shards (indexes each holding part of a collection,
//! on one machine or many) that answers as one index holding them all,
//! the shards' rows one after another.
//!
//! One index's answer depends on the whole collection in three places,
//! so a shard cannot rank alone:
//! - BM25's idf and mean length: a coordinator first gathers every
//!   shard's statistics for the query terms ([`crate::Searcher::bm25_stats`]),
//!   and each shard scores with their sum;
//! - hybrid fusion normalises over the union of the whole collection's
//!   top candidates: each shard returns its own top `candidates` of each
//!   side, every one with both scores ([`ShardHits`]), and [`combine`]
//!   takes the whole's tops from them, unions them and fuses once;
//! - a graph walk's beam and entry points are shared out by size, each
//!   shard taking its share as a segment of one index does
//!   ([`crate::Plan::for_shard`]).
//!
//! A shard's top `n` of a side holds every one of its rows in the whole's
//! top `n`, so the whole's top is exact wherever the shards' are. Ties go
//! to the earlier shard, then the earlier row: one index's lower row.

use crate::error::SearchError;
use crate::fusion::{fuse, union, Candidate, Fusion};
use crate::request::Mode;
use crate::searcher::sort_hits;
use crate::topk::Hit;

/// One shard's answer to a batch of queries, for [`combine`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardHits {
    /// The shard's rows, deleted included: the rows of the shards after
    /// it are numbered from here on.
    pub rows: u32,
    /// The mode it searched in.
    pub mode: Mode,
    /// Hits wanted per query.
    pub k: usize,
    /// How deep each side's list goes (`k` where the mode has no
    /// candidates setting).
    pub depth: usize,
    /// How the sides are fused (hybrid only).
    pub fusion: Option<Fusion>,
    /// Per query, in input order: each side's candidates, best first.
    pub queries: Vec<ShardCandidates>,
    /// Documents the neural side scored, over all queries.
    pub scored: usize,
}

/// One query's candidates in one shard; `doc` is the shard's own row.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardCandidates {
    /// BM25's top (bm25, rerank, hybrid), by the lexical score.
    pub lexical: Vec<Candidate>,
    /// The neural side's top (exhaustive, graph, hybrid), by the neural
    /// score.
    pub neural: Vec<Candidate>,
}

/// A hit of a sharded search: which shard holds it and where.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardHit {
    /// The shard's place in the list given to [`combine`].
    pub shard: usize,
    /// The row in that shard.
    pub row: u32,
    /// Its score, as one index holding every shard would give it.
    pub score: f32,
}

/// The top `k` of each query over every shard's answer (shards in the
/// order their rows are numbered), as one index holding them all would
/// rank them. Shards must have searched alike (one mode, `k`, depth and
/// fusion) and the same queries.
pub fn combine(shards: &[ShardHits]) -> Result<Vec<Vec<ShardHit>>, SearchError> {
    let Some(first) = shards.first() else {
        return Ok(Vec::new());
    };
    let offsets = offsets(shards)?;
    let locate = |hit: Hit| {
        let shard = offsets.partition_point(|&o| o <= hit.doc) - 1;
        ShardHit {
            shard,
            row: hit.doc - offsets[shard],
            score: hit.score,
        }
    };
    Ok((0..first.queries.len())
        .map(|q| {
            let query: Vec<(u32, &ShardCandidates)> = offsets
                .iter()
                .zip(shards)
                .map(|(&offset, s)| (offset, &s.queries[q]))
                .collect();
            rank(first, &query).into_iter().map(locate).collect()
        })
        .collect())
}

/// Where each shard's rows start in the whole's numbering, once the
/// shards are checked to have searched alike.
fn offsets(shards: &[ShardHits]) -> Result<Vec<u32>, SearchError> {
    let settings = |s: &ShardHits| (s.mode, s.k, s.depth, s.fusion, s.queries.len());
    let invalid = |message: String| SearchError::Invalid {
        field: "shards".into(),
        message,
    };
    if let Some(other) = shards
        .iter()
        .position(|s| settings(s) != settings(&shards[0]))
    {
        return Err(invalid(format!(
            "shard {other} answered {:?} where shard 0 answered {:?} (mode, k, depth, fusion, queries): \
             every shard must search alike",
            settings(&shards[other]),
            settings(&shards[0])
        )));
    }
    let mut offsets = Vec::with_capacity(shards.len());
    let mut total = 0u32;
    for shard in shards {
        offsets.push(total);
        total = total
            .checked_add(shard.rows)
            .ok_or_else(|| invalid("the shards hold more than 2^32 rows together".into()))?;
    }
    Ok(offsets)
}

/// One query's hits over every shard's candidates (each shard's rows
/// from its offset on), ranked as `settings` (any shard's answer) asks.
fn rank(settings: &ShardHits, query: &[(u32, &ShardCandidates)]) -> Vec<Hit> {
    let side = |pick: fn(&ShardCandidates) -> &Vec<Candidate>, score: fn(&Candidate) -> f32| {
        let mut all: Vec<Candidate> = query
            .iter()
            .flat_map(|&(offset, shard)| {
                pick(shard).iter().map(move |c| Candidate {
                    doc: offset + c.doc,
                    ..*c
                })
            })
            .collect();
        all.sort_by(|a, b| score(b).total_cmp(&score(a)).then(a.doc.cmp(&b.doc)));
        all.truncate(settings.depth);
        all
    };
    let as_hits = |list: Vec<Candidate>, score: fn(&Candidate) -> f32| -> Vec<Hit> {
        list.iter()
            .map(|c| Hit {
                doc: c.doc,
                score: score(c),
            })
            .collect()
    };
    let lexical = || side(|c| &c.lexical, |c| c.lexical);
    let neural = || side(|c| &c.neural, |c| c.neural);
    match settings.mode {
        Mode::Exhaustive | Mode::Graph => as_hits(neural(), |c| c.neural),
        Mode::Bm25 => as_hits(lexical(), |c| c.lexical),
        Mode::Rerank => {
            let mut hits = as_hits(lexical(), |c| c.neural);
            sort_hits(&mut hits);
            hits.truncate(settings.k);
            hits
        }
        Mode::Hybrid => fuse(
            &union(&lexical(), &neural()),
            settings.fusion.unwrap_or(Fusion::Rrf { k: 60.0 }),
            settings.k,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(doc: u32, lexical: f32, neural: f32) -> Candidate {
        Candidate {
            doc,
            lexical,
            neural,
        }
    }

    fn answer(rows: u32, mode: Mode, k: usize, depth: usize, query: ShardCandidates) -> ShardHits {
        ShardHits {
            rows,
            mode,
            k,
            depth,
            fusion: (mode == Mode::Hybrid).then_some(Fusion::Linear { alpha: 0.5 }),
            queries: vec![query],
            scored: 0,
        }
    }

    #[test]
    fn ties_go_to_the_earlier_shard_and_rows_are_the_shards() {
        let neural = |docs: &[(u32, f32)]| ShardCandidates {
            lexical: vec![],
            neural: docs.iter().map(|&(d, s)| c(d, 0.0, s)).collect(),
        };
        let shards = [
            answer(5, Mode::Exhaustive, 3, 3, neural(&[(4, 0.5), (1, 0.2)])),
            answer(9, Mode::Exhaustive, 3, 3, neural(&[(0, 0.9), (2, 0.5)])),
        ];
        let hits = combine(&shards).unwrap();
        let got: Vec<(usize, u32, f32)> =
            hits[0].iter().map(|h| (h.shard, h.row, h.score)).collect();
        assert_eq!(got, [(1, 0, 0.9), (0, 4, 0.5), (1, 2, 0.5)]);
    }

    #[test]
    fn hybrid_normalises_over_the_whole_collections_candidates() {
        // Alone, shard 1's only candidate would normalise to 0 on both
        // sides; over the union it is the best neural one.
        let shards = [
            answer(
                3,
                Mode::Hybrid,
                2,
                2,
                ShardCandidates {
                    lexical: vec![c(0, 4.0, 0.1), c(1, 2.0, 0.2)],
                    neural: vec![c(1, 2.0, 0.2), c(0, 4.0, 0.1)],
                },
            ),
            answer(
                2,
                Mode::Hybrid,
                2,
                2,
                ShardCandidates {
                    lexical: vec![c(0, 1.0, 0.9)],
                    neural: vec![c(0, 1.0, 0.9)],
                },
            ),
        ];
        // Whole: lexical top 2 = s0r0 (4), s0r1 (2); neural top 2 = s1r0
        // (.9), s0r1 (.2). Union s0r0 (lex 1, neu 0), s0r1 (1/3, .125),
        // s1r0 (0, 1): fused .5, .229, .5 -> s0r0 then s1r0 (lower row first).
        let hits = combine(&shards).unwrap();
        let got: Vec<(usize, u32)> = hits[0].iter().map(|h| (h.shard, h.row)).collect();
        assert_eq!(got, [(0, 0), (1, 0)]);
        assert!((hits[0][0].score - 0.5).abs() < 1e-6);
    }

    #[test]
    fn shards_that_searched_differently_are_refused() {
        let shards = [
            answer(1, Mode::Bm25, 10, 10, ShardCandidates::default()),
            answer(1, Mode::Bm25, 5, 5, ShardCandidates::default()),
        ];
        let err = combine(&shards).unwrap_err().to_string();
        assert!(err.contains("shard 1 answered"), "{err}");
    }
}
