//! Which queries are evaluated, per-query values and their means.

use std::collections::BTreeMap;

use crate::error::{EvalError, Result};
use crate::metric::{JudgedRanking, Metric};
use crate::qrels::Qrels;
use crate::run::Run;

/// Which queries count. The default is plain `trec_eval`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalOptions {
    /// `trec_eval -c`: evaluate every query in the qrels; one missing from the
    /// run scores 0 on every metric. Off: only queries in both the qrels and
    /// the run are evaluated.
    pub complete: bool,
    /// Leave out queries whose judgments hold no relevant (grade > 0)
    /// document. Not trec_eval's behaviour: it evaluates them, and they score
    /// 0 on every metric here.
    pub skip_without_relevant: bool,
}

/// Metric values per evaluated query and their means over those queries.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// Every evaluated query, with a value for every requested metric.
    pub per_query: BTreeMap<String, BTreeMap<Metric, f64>>,
    /// Arithmetic mean of `per_query` for each metric.
    pub mean: BTreeMap<Metric, f64>,
}

/// Evaluates `run` against `qrels` as plain `trec_eval` does: the queries in
/// both, including judged queries with no relevant document (scoring 0).
/// Queries of the run without judgments are ignored.
pub fn evaluate(qrels: &Qrels, run: &Run, metrics: &[Metric]) -> Result<Evaluation> {
    evaluate_with(qrels, run, metrics, EvalOptions::default())
}

/// [`evaluate`] with a choice of queries. Errors when no query is left to
/// evaluate, as trec_eval does.
pub fn evaluate_with(
    qrels: &Qrels,
    run: &Run,
    metrics: &[Metric],
    options: EvalOptions,
) -> Result<Evaluation> {
    let mut per_query: BTreeMap<String, BTreeMap<Metric, f64>> = BTreeMap::new();
    for (qid, judgments) in qrels.queries() {
        let ranking = match run.ranking(qid) {
            Some(ranking) => ranking,
            None if options.complete => &[],
            None => continue,
        };
        let judged = JudgedRanking::new(judgments, ranking);
        if options.skip_without_relevant && judged.num_relevant() == 0 {
            continue;
        }
        let values = metrics.iter().map(|&m| (m, m.score(&judged))).collect();
        per_query.insert(qid.to_owned(), values);
    }
    if per_query.is_empty() {
        return Err(EvalError::NoQueries);
    }
    let count = per_query.len() as f64;
    let mean = metrics
        .iter()
        .map(|&m| {
            let sum: f64 = per_query.values().map(|values| values[&m]).sum();
            (m, sum / count)
        })
        .collect();
    Ok(Evaluation { per_query, mean })
}
