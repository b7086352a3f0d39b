//! TREC runs and qrels, and retrieval metrics computed exactly as `trec_eval`
//! (9.0.x, as bundled by pytrec_eval) computes them.
//!
//! This crate owns the text formats and the maths of evaluation; it knows
//! nothing of models, indexes or search. Tests check every metric against
//! pytrec_eval on committed data (`tests/data/`).
//!
//! # Formats
//!
//! ```text
//! qrels:  qid  iter  docid  rel                 e.g.  1  0  D12  2
//! run:    qid  Q0    docid  rank  score  tag    e.g.  1  Q0 D12  1  17.25  bm25
//! ```
//!
//! Fields are separated by whitespace; blank lines and lines starting with `#`
//! are skipped. `rel` is an integer (0 and negative grades are non-relevant);
//! `score` is a decimal number. A (qid, docid) pair twice in one file is an
//! error (trec_eval rejects it too), and every error names `file:line`.
//! [`Qrels`] and [`Run`] read them; [`RunWriter`] writes runs.
//!
//! # Ranking order
//!
//! trec_eval ignores the rank column and the line order. It sorts each query's
//! documents by score, highest first, and breaks ties by document id in
//! *decreasing* byte order (`strcmp`), so among equal scores `d9` ranks above
//! `d10`, which ranks above `d1` (`comp_sim_docno` in trec_eval's
//! `form_res_rels.c`). [`trec_order`] is that order and [`Run`] keeps every
//! query sorted by it.
//!
//! Scores are compared as `f64`, as trec_eval 9.0.8 and later read them.
//! pytrec_eval and trec_eval up to 9.0.7 store them as `f32`, so for them two
//! scores that differ only beyond f32 precision tie (and fall to the docid
//! rule). Runs of f32 scores written by [`RunWriter`] rank the same in all.
//!
//! # Metrics
//!
//! For one query, `rel(i)` is the grade of the document at rank `i` (from 1;
//! 0 if unjudged), relevant means `rel > 0`, `R` is the number of judged
//! relevant documents (retrieved or not) and `n` the number retrieved.
//!
//! | [`Metric`] | names | value |
//! |---|---|---|
//! | `Map` | `map` | sum over relevant ranks i of (relevant in top i) / i, over `R` |
//! | `RecipRank(None)` | `recip_rank` | 1 / rank of the first relevant document, 0 if none |
//! | `RecipRank(Some(k))` | `recip_rank_cut_k`, `mrr@k` | the same, looking at the top k only |
//! | `Ndcg(Some(k))` | `ndcg_cut_k`, `ndcg@k` | DCG@k / ideal DCG@k |
//! | `Ndcg(None)` | `ndcg` | DCG / ideal DCG over the whole ranking |
//! | `Recall(k)` | `recall_k`, `recall@k` | relevant in top k / `R` |
//! | `Precision(k)` | `P_k`, `P@k` | relevant in top k / k (k, not `n`) |
//!
//! DCG@k = sum over i <= min(k, n) of max(rel(i), 0) / log2(i + 1): the gain
//! is the grade itself (not 2^rel - 1). Ideal DCG@k is the same sum over the
//! query's positive grades, all judged documents included, sorted
//! decreasingly. Every metric is 0 when `R` = 0. (Some early trec_eval 9.0
//! releases discounted by max(1, log2 i) instead, which gives higher nDCG.)
//!
//! `mrr@10` is MS MARCO's MRR@10; trec_eval itself has no such measure and
//! gets it as `recip_rank` with `-M 10`.
//!
//! # Which queries count
//!
//! [`evaluate`] matches plain trec_eval: it evaluates the queries that are
//! both in the qrels and in the run and averages over them. Judged queries
//! with no relevant document are evaluated and score 0 (trec_eval stopped
//! skipping them long ago; its CHANGELOG says so). Run queries without
//! judgments are ignored. [`EvalOptions`] can instead average over every
//! judged query with missing ones scoring 0 (`trec_eval -c`), or leave out
//! queries without relevant documents.
//!
//! ```
//! use hypencoder_eval::{evaluate, Metric, Qrels, Run};
//!
//! let qrels = Qrels::from_reader("q1 0 a 1\nq1 0 b 2\n".as_bytes(), "qrels")?;
//! let mut run = Run::new();
//! run.add_query("q1", [("b", 2.0), ("x", 1.0), ("a", 1.0)])?;
//! let mrr = Metric::parse("mrr@10")?;
//! let eval = evaluate(&qrels, &run, &[mrr, Metric::parse("recall@100")?])?;
//! assert_eq!(eval.mean[&mrr], 1.0);
//! # Ok::<(), hypencoder_eval::EvalError>(())
//! ```

mod error;
mod evaluate;
mod metric;
mod qrels;
mod run;
mod table;

pub use error::{EvalError, Result};
pub use evaluate::{evaluate, evaluate_with, EvalOptions, Evaluation};
pub use metric::Metric;
pub use qrels::Qrels;
pub use run::{trec_order, Run, RunWriter, ScoredDoc};
