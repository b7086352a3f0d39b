//! A collection split over shards, searched as one index: the two rounds
//! a coordinator runs over its shards, and the one ranking it makes of
//! their answers (the method: `hypencoder_search`'s `shard` module).
//!
//! 1. [`Collection::shard_stats`]: each shard's row count and, per
//!    query, its BM25 statistics (a few numbers per query term).
//! 2. [`Collection::search_shard`]: each shard, given every shard's
//!    first-round answer, searches with the whole collection's statistics
//!    and share of a graph walk, and returns its candidates with both
//!    scores and their ids.
//! 3. [`combine_shards`]: the coordinator ranks the candidates once.
//!
//! Both answers serialise (serde) so they travel between processes as
//! they are.

use std::collections::BTreeMap;

use hypencoder_index::{analyze, unknown_fields_warning, Bm25Stats, Filter};
use hypencoder_search::{combine, Plan, SearchParams, ShardHits};

use crate::collection::Collection;
use crate::error::Result;

/// A shard's answer to the first round.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardStats {
    /// Its rows, deleted included.
    pub rows: u64,
    /// Per query, its BM25 statistics for the query's terms (empty when
    /// it has no lexical part).
    pub bm25: Vec<Bm25Stats>,
}

/// A shard's answer to the second round: its candidates and their ids.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardAnswer {
    /// The candidates, rows the shard's own.
    pub hits: ShardHits,
    /// The id of every row among the candidates.
    pub ids: BTreeMap<u32, String>,
    /// Fields of the filter no document of this shard has.
    pub unknown_fields: Vec<String>,
}

/// One hit of a search over shards.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardedHit {
    /// The document's id.
    pub id: String,
    /// Its score, as one index holding every shard would give it.
    pub score: f32,
    /// The shard holding it (its place in the answers).
    pub shard: usize,
}

/// The hits of a search over shards.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShardedFound {
    /// Per query, best first.
    pub hits: Vec<Vec<ShardedHit>>,
    /// Documents the neural side scored, over every shard and query.
    pub scored: usize,
    /// Filter fields no shard's documents have.
    pub warnings: Vec<String>,
}

impl Collection {
    /// The first round of a search over shards: this shard's rows and,
    /// per query, its BM25 statistics.
    pub fn shard_stats(&self, queries: &[&str]) -> Result<ShardStats> {
        let searcher = self.searcher();
        let bm25 = if searcher.has_lexical() {
            queries
                .iter()
                .map(|q| searcher.bm25_stats(&analyze(q)))
                .collect::<std::result::Result<_, _>>()?
        } else {
            Vec::new()
        };
        Ok(ShardStats {
            rows: searcher.rows() as u64,
            bm25,
        })
    }

    /// The second round: this shard's candidates for `queries`, searched
    /// as a part of the collection whose shards answered `shards` in the
    /// first round (this one among them), under `filter` if given.
    pub fn search_shard(
        &self,
        queries: &[&str],
        params: &SearchParams,
        filter: Option<&Filter>,
        shards: &[ShardStats],
    ) -> Result<ShardAnswer> {
        let searcher = self.searcher();
        let whole_rows = shards.iter().map(|s| s.rows as usize).sum();
        let mut plan = Plan::for_shard(&searcher, params, whole_rows)?;
        let unknown_fields = match filter {
            Some(filter) => plan.filter(filter)?,
            None => Vec::new(),
        };
        let mut whole = vec![Bm25Stats::default(); queries.len()];
        for shard in shards.iter().filter(|s| !s.bm25.is_empty()) {
            if shard.bm25.len() != queries.len() {
                return Err(crate::Error::Invalid {
                    field: "shards",
                    message: format!(
                        "a shard gave BM25 statistics for {} queries, not {}",
                        shard.bm25.len(),
                        queries.len()
                    ),
                });
            }
            for (sum, stats) in whole.iter_mut().zip(&shard.bm25) {
                sum.add(stats);
            }
        }
        let model = if plan.needs_model() {
            Some(self.model()?.as_ref())
        } else {
            None
        };
        let hits = plan.search_shard(model, queries, &whole)?;
        let ids = hits
            .queries
            .iter()
            .flat_map(|q| q.lexical.iter().chain(&q.neural))
            .map(|c| Ok((c.doc, self.id(c.doc)?.to_string())))
            .collect::<Result<_>>()?;
        Ok(ShardAnswer {
            hits,
            ids,
            unknown_fields,
        })
    }
}

/// The top hits of each query over the shards' second-round `answers`
/// (in the order their rows are numbered: the order the shards were
/// listed in the first round), as one index holding them all would give.
pub fn combine_shards(answers: &[ShardAnswer]) -> Result<ShardedFound> {
    let hits: Vec<ShardHits> = answers.iter().map(|a| a.hits.clone()).collect();
    let combined = combine(&hits)?;
    let hits = combined
        .into_iter()
        .map(|query| {
            query
                .into_iter()
                .map(|h| ShardedHit {
                    id: answers[h.shard].ids[&h.row].clone(),
                    score: h.score,
                    shard: h.shard,
                })
                .collect()
        })
        .collect();
    // A field is unknown to the collection only if every shard lacks it.
    let mut unknown: Vec<String> = answers
        .first()
        .map(|a| a.unknown_fields.clone())
        .unwrap_or_default();
    unknown.retain(|f| answers.iter().all(|a| a.unknown_fields.contains(f)));
    Ok(ShardedFound {
        hits,
        scored: answers.iter().map(|a| a.hits.scored).sum(),
        warnings: unknown_fields_warning(&unknown).into_iter().collect(),
    })
}
