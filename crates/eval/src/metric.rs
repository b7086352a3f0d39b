//! Metric names and per-query definitions (see the crate docs for the maths).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::error::{EvalError, Result};
use crate::run::ScoredDoc;

/// A per-query retrieval metric, defined as trec_eval defines it.
///
/// Cutoffs count documents from the top. [`Metric::parse`] accepts positive
/// cutoffs only; a metric built with a cutoff of 0 scores 0.
///
/// To add one: a variant, its names in [`Metric::parse`] and `Display`, and
/// its definition in `Metric::score`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// `map`: average precision over the whole ranking.
    Map,
    /// `recip_rank` (`None`), or `recip_rank_cut_K` / `mrr@K`: reciprocal
    /// rank of the first relevant document within the top K.
    RecipRank(Option<usize>),
    /// `ndcg` (`None`), or `ndcg_cut_K` / `ndcg@K`.
    Ndcg(Option<usize>),
    /// `recall_K` / `recall@K`.
    Recall(usize),
    /// `P_K` / `P@K`: relevant documents in the top K, over K.
    Precision(usize),
}

impl Metric {
    /// Parses a trec_eval name (`map`, `recip_rank`, `ndcg`, `ndcg_cut_10`,
    /// `recall_100`, `P_10`, also with trec_eval's `.K` parameter form) or an
    /// `@` form (`mrr@10`, `rr@10`, `ndcg@10`, `recall@100`, `r@100`, `p@10`).
    /// Case does not matter. `recip_rank_cut_K` (`mrr@K`) is ours: trec_eval
    /// gets it as `recip_rank` with `-M K`.
    pub fn parse(name: &str) -> Result<Self> {
        let lower = name.trim().to_ascii_lowercase();
        let unknown = || EvalError::UnknownMetric(name.to_owned());
        let (base, cutoff) = split_cutoff(&lower).ok_or_else(unknown)?;
        let metric = match (base, cutoff) {
            ("map" | "ap", None) => Self::Map,
            ("recip_rank" | "mrr" | "rr", None) => Self::RecipRank(None),
            ("recip_rank_cut" | "recip_rank" | "mrr" | "rr", Some(k)) => Self::RecipRank(Some(k)),
            ("ndcg", None) => Self::Ndcg(None),
            ("ndcg_cut" | "ndcg", Some(k)) => Self::Ndcg(Some(k)),
            ("recall" | "r", Some(k)) => Self::Recall(k),
            ("p" | "precision", Some(k)) => Self::Precision(k),
            _ => return Err(unknown()),
        };
        Ok(metric)
    }

    /// The rank it looks down to (its cutoff), if it has one.
    pub fn cutoff(self) -> Option<usize> {
        match self {
            Self::Map | Self::RecipRank(None) | Self::Ndcg(None) => None,
            Self::RecipRank(Some(k)) | Self::Ndcg(Some(k)) => Some(k),
            Self::Recall(k) | Self::Precision(k) => Some(k),
        }
    }

    /// Its value for one query's `ranking`, taken in the order given (sort
    /// it by [`crate::trec_order`] to rank as trec_eval does), against
    /// that query's `judgments` (document id to grade): for a caller that
    /// scores many rankings of few queries without building runs.
    pub fn of_ranking(self, judgments: &HashMap<String, i32>, ranking: &[ScoredDoc]) -> f64 {
        self.score(&JudgedRanking::new(judgments, ranking))
    }

    /// This metric's value for one query.
    pub(crate) fn score(self, query: &JudgedRanking) -> f64 {
        let rels = &query.rels;
        let relevant_in = |grades: &[i32]| grades.iter().filter(|&&g| g > 0).count() as f64;
        match self {
            Self::Map => {
                let mut found = 0usize;
                let mut sum = 0.0;
                for (i, _) in rels.iter().enumerate().filter(|(_, &g)| g > 0) {
                    found += 1;
                    sum += found as f64 / (i + 1) as f64;
                }
                ratio(sum, query.num_relevant())
            }
            Self::RecipRank(cutoff) => top(rels, cutoff)
                .iter()
                .position(|&g| g > 0)
                .map_or(0.0, |i| 1.0 / (i + 1) as f64),
            Self::Ndcg(cutoff) => {
                let ideal_dcg = dcg(top(&query.ideal, cutoff));
                if ideal_dcg > 0.0 {
                    dcg(top(rels, cutoff)) / ideal_dcg
                } else {
                    0.0
                }
            }
            Self::Recall(k) => ratio(relevant_in(top(rels, Some(k))), query.num_relevant()),
            Self::Precision(k) => ratio(relevant_in(top(rels, Some(k))), k),
        }
    }
}

/// The first `cutoff` grades (all of them for `None`).
fn top(grades: &[i32], cutoff: Option<usize>) -> &[i32] {
    &grades[..cutoff.map_or(grades.len(), |k| k.min(grades.len()))]
}

/// `a / b`, or 0 when `b` is 0 (no relevant documents, or a cutoff of 0).
fn ratio(a: f64, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a / b as f64
    }
}

/// Discounted cumulative gain: gain = grade (grades <= 0 add nothing),
/// discount log2(rank + 1) with rank counted from 1.
fn dcg(grades: &[i32]) -> f64 {
    grades
        .iter()
        .enumerate()
        .filter(|(_, &g)| g > 0)
        .map(|(i, &g)| f64::from(g) / ((i + 2) as f64).log2())
        .sum()
}

/// Splits `ndcg@10`, `ndcg_cut_10` or `ndcg_cut.10` into its base name and
/// cutoff; `None` when the cutoff is not a positive integer. A `_` suffix
/// that is not all digits stays part of the name (`recip_rank`).
fn split_cutoff(name: &str) -> Option<(&str, Option<usize>)> {
    let positive = |k: &str| k.parse::<usize>().ok().filter(|&k| k > 0);
    if let Some((base, k)) = name.split_once('@') {
        return Some((base, Some(positive(k)?)));
    }
    match name.rsplit_once(['_', '.']) {
        Some((base, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => {
            Some((base, Some(positive(k)?)))
        }
        _ => Some((name, None)),
    }
}

impl FromStr for Metric {
    type Err = EvalError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// The canonical, trec_eval-style name: `map`, `recip_rank`,
/// `recip_rank_cut_10`, `ndcg`, `ndcg_cut_10`, `recall_100`, `P_10`.
impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Map => write!(f, "map"),
            Self::RecipRank(None) => write!(f, "recip_rank"),
            Self::RecipRank(Some(k)) => write!(f, "recip_rank_cut_{k}"),
            Self::Ndcg(None) => write!(f, "ndcg"),
            Self::Ndcg(Some(k)) => write!(f, "ndcg_cut_{k}"),
            Self::Recall(k) => write!(f, "recall_{k}"),
            Self::Precision(k) => write!(f, "P_{k}"),
        }
    }
}

/// Serialized as its canonical name, so metric-keyed maps become JSON objects.
impl serde::Serialize for Metric {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One query's ranking seen through its judgments: all any metric reads.
pub(crate) struct JudgedRanking {
    /// Grade of each retrieved document, best first; 0 when unjudged.
    rels: Vec<i32>,
    /// Positive grades of all judged documents, retrieved or not, highest first.
    ideal: Vec<i32>,
}

impl JudgedRanking {
    pub(crate) fn new(judgments: &HashMap<String, i32>, ranking: &[ScoredDoc]) -> Self {
        let rels = ranking
            .iter()
            .map(|d| judgments.get(&d.docid).copied().unwrap_or(0))
            .collect();
        let mut ideal: Vec<i32> = judgments.values().copied().filter(|&r| r > 0).collect();
        ideal.sort_unstable_by(|a, b| b.cmp(a));
        Self { rels, ideal }
    }

    pub(crate) fn num_relevant(&self) -> usize {
        self.ideal.len()
    }
}
