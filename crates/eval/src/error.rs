use std::path::PathBuf;

/// Everything that can go wrong reading, writing or evaluating runs.
///
/// Errors about a file name it and the 1-based line (`file:line: ...`).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A qrels or run file could not be opened, read or created.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A line that is not in the file's format.
    #[error("{file}:{line}: {message}")]
    Parse {
        /// The file, as given.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },

    /// The same (query, document) pair twice in one qrels or run file.
    #[error(
        "{file}:{line}: query '{qid}' lists document '{docid}' twice \
         (first at {file}:{first_line})"
    )]
    Duplicate {
        /// The file, as given.
        file: String,
        /// 1-based line of the repeat.
        line: usize,
        /// 1-based line where the pair first appeared.
        first_line: usize,
        /// The query id.
        qid: String,
        /// The document id.
        docid: String,
    },

    /// A ranking built in memory (not read from a file) that is not a valid
    /// TREC ranking: repeated document, NaN score, whitespace in an id, ...
    #[error("query '{qid}': {message}")]
    InvalidRanking {
        /// The query whose ranking was refused.
        qid: String,
        /// What is wrong with it.
        message: String,
    },

    /// A metric name none of the supported spellings match.
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

    /// Writing a run failed.
    #[error("writing run: {0}")]
    Write(#[source] std::io::Error),
}

/// The result of everything in this crate.
pub type Result<T> = std::result::Result<T, EvalError>;
