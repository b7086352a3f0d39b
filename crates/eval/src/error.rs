use std::path::PathBuf;

/// Everything that can go wrong reading, writing or evaluating runs.
///
/// Errors about a file name it and the 1-based line (`file:line: ...`).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A line that is not in the file's format.
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },

    /// The same (query, document) pair twice in one qrels or run file.
    #[error(
        "{file}:{line}: query '{qid}' lists document '{docid}' twice \
         (first at {file}:{first_line})"
    )]
    Duplicate {
        file: String,
        line: usize,
        first_line: usize,
        qid: String,
        docid: String,
    },

    /// A ranking built in memory (not read from a file) that is not a valid
    /// TREC ranking: repeated document, NaN score, whitespace in an id, ...
    #[error("query '{qid}': {message}")]
    InvalidRanking { qid: String, message: String },

    #[error(
        "unknown metric '{0}'; supported: map, recip_rank, recip_rank_cut_K (mrr@K), \
         ndcg, ndcg_cut_K (ndcg@K), recall_K (recall@K), P_K (P@K), \
         where K is a positive integer"
    )]
    UnknownMetric(String),

    /// trec_eval refuses to average over nothing too: almost always the run
    /// and the qrels use different query ids.
    #[error("no query is both in the qrels and in the run: nothing to evaluate")]
    NoQueries,

    #[error("writing run: {0}")]
    Write(#[source] std::io::Error),
}

pub type Result<T> = std::result::Result<T, EvalError>;
