//! Retrieval runs in TREC format: reading, trec_eval's ranking order, writing.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Display;
use std::fs::File;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use crate::error::{EvalError, Result};
use crate::table::{self, Entry};

/// One retrieved document and its score.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredDoc {
    /// The document id.
    pub docid: String,
    /// Its score; higher ranks first.
    pub score: f64,
}

/// trec_eval's ranking order: higher score first, equal scores by document
/// id in *decreasing* byte order (`strcmp`, so "d9" before "d10" before
/// "d1"). The rank column of a run file plays no part.
///
/// Scores compare as numbers (`1`, `1.0` and `10e-1` tie, and so do `0` and
/// `-0`). NaN never reaches this: readers and [`Run::add_query`] reject it.
pub fn trec_order(a: &ScoredDoc, b: &ScoredDoc) -> Ordering {
    b.score
        .partial_cmp(&a.score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| b.docid.cmp(&a.docid))
}

/// Retrieved documents per query, each query's kept in [`trec_order`] with
/// no document twice.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    queries: BTreeMap<String, Vec<ScoredDoc>>,
}

impl Run {
    /// A run with no queries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a run file; see [`Run::from_reader`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_reader(table::open(path)?, &path.display().to_string())
    }

    /// Reads lines `qid Q0 docid rank score tag`. Only `qid`, `docid` and
    /// `score` are kept: like trec_eval, the order comes from the scores
    /// ([`trec_order`]), never from the rank column or the line order. Lines
    /// of one query need not be adjacent. Blank lines and lines starting with
    /// `#` are skipped. `name` is the file name used in error messages.
    ///
    /// Errors on a wrong column count, a score that is not a number (or is
    /// NaN), and a document retrieved twice for one query, naming `name:line`
    /// (both lines for a repeat).
    pub fn from_reader(reader: impl BufRead, name: &str) -> Result<Self> {
        let table = table::read(reader, name, "qid Q0 docid rank score tag", |f| {
            match f[4].parse::<f64>() {
                Ok(value) if !value.is_nan() => Ok(Entry {
                    qid: f[0],
                    docid: f[2],
                    value,
                }),
                _ => Err(format!("score '{}' is not a number", f[4])),
            }
        })?;
        let queries = table
            .into_iter()
            .map(|(qid, docs)| {
                let mut ranking: Vec<ScoredDoc> = docs
                    .into_iter()
                    .map(|(docid, (score, _))| ScoredDoc { docid, score })
                    .collect();
                ranking.sort_by(trec_order);
                (qid, ranking)
            })
            .collect();
        Ok(Self { queries })
    }

    /// Adds retrieved documents to query `qid`, in any order (they are
    /// re-sorted into [`trec_order`]). Errors, changing nothing, when a score
    /// is NaN or a document is already in the query's ranking. Adding no
    /// documents leaves the run unchanged, as an empty run file would.
    ///
    /// Costs O(n log n) in the query's ranking length: add each query's
    /// documents in one call.
    pub fn add_query<D, S>(
        &mut self,
        qid: impl Into<String>,
        docs: impl IntoIterator<Item = (D, S)>,
    ) -> Result<()>
    where
        D: Into<String>,
        S: Into<f64>,
    {
        let qid = qid.into();
        let docs: Vec<ScoredDoc> = docs
            .into_iter()
            .map(|(d, s)| ScoredDoc {
                docid: d.into(),
                score: s.into(),
            })
            .collect();
        if docs.is_empty() {
            return Ok(());
        }
        let existing = self.queries.get(&qid).map_or(&[][..], Vec::as_slice);
        let mut seen: HashSet<&str> = existing.iter().map(|d| d.docid.as_str()).collect();
        for doc in &docs {
            if doc.score.is_nan() {
                return Err(invalid(
                    &qid,
                    format!("document '{}' has a NaN score", doc.docid),
                ));
            }
            if !seen.insert(&doc.docid) {
                return Err(invalid(
                    &qid,
                    format!("document '{}' retrieved twice", doc.docid),
                ));
            }
        }
        let ranking = self.queries.entry(qid).or_default();
        ranking.extend(docs);
        ranking.sort_by(trec_order);
        Ok(())
    }

    /// One query's ranking, best first.
    pub fn ranking(&self, qid: &str) -> Option<&[ScoredDoc]> {
        self.queries.get(qid).map(Vec::as_slice)
    }

    /// Queries in query-id order, each with its ranking.
    /// Queries in query-id order, each with its ranking in [`trec_order`].
    pub fn queries(&self) -> impl Iterator<Item = (&str, &[ScoredDoc])> {
        self.queries.iter().map(|(q, r)| (q.as_str(), r.as_slice()))
    }

    /// Number of queries with at least one retrieved document.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether no query has a retrieved document.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }
}

/// Writes rankings as TREC run lines `qid Q0 docid rank score tag`, rank
/// counting from 1 in the order given.
///
/// Scores are printed in the shortest decimal form that parses back to the
/// same value of their type, so f32 scores round-trip exactly (and f64 ones
/// too). Each query's scores must not increase down the ranking, so the rank
/// column agrees with the order trec_eval derives from the scores; among
/// equal scores trec_eval puts the larger document id first whatever the
/// rank column says, so evaluate such runs with [`trec_order`] in mind.
pub struct RunWriter<W: Write> {
    out: W,
    tag: String,
}

impl RunWriter<BufWriter<File>> {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: impl AsRef<Path>, tag: impl Into<String>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|source| EvalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::new(BufWriter::new(file), tag))
    }
}

impl<W: Write> RunWriter<W> {
    /// `tag` names the run in its last column.
    pub fn new(out: W, tag: impl Into<String>) -> Self {
        Self {
            out,
            tag: tag.into(),
        }
    }

    /// Writes one query's ranking, best first. Nothing is written when it is
    /// invalid: an id or the tag empty or holding whitespace, a NaN score, a
    /// score above the one before it, or a document twice.
    pub fn write_query<D, S>(
        &mut self,
        qid: &str,
        docs: impl IntoIterator<Item = (D, S)>,
    ) -> Result<()>
    where
        D: AsRef<str>,
        S: Into<f64> + Display + Copy,
    {
        let docs: Vec<(D, S)> = docs.into_iter().collect();
        check_field(qid, "query id", qid)?;
        check_field(qid, "tag", &self.tag)?;
        let mut seen = HashSet::with_capacity(docs.len());
        let mut previous = f64::INFINITY;
        for (docid, score) in &docs {
            let docid = docid.as_ref();
            let value: f64 = (*score).into();
            check_field(qid, "document id", docid)?;
            if value.is_nan() {
                return Err(invalid(qid, format!("document '{docid}' has a NaN score")));
            }
            if value > previous {
                return Err(invalid(
                    qid,
                    format!("document '{docid}' scores {score}, above the document before it"),
                ));
            }
            if !seen.insert(docid) {
                return Err(invalid(qid, format!("document '{docid}' retrieved twice")));
            }
            previous = value;
        }
        for (rank, (docid, score)) in docs.iter().enumerate() {
            writeln!(
                self.out,
                "{qid} Q0 {} {} {score} {}",
                docid.as_ref(),
                rank + 1,
                self.tag
            )
            .map_err(EvalError::Write)?;
        }
        Ok(())
    }

    /// Writes every query of `run` in query-id order.
    pub fn write_run(&mut self, run: &Run) -> Result<()> {
        for (qid, ranking) in run.queries() {
            self.write_query(qid, ranking.iter().map(|d| (&d.docid, d.score)))?;
        }
        Ok(())
    }

    /// Flushes and returns the underlying writer. Call it: a write error in
    /// a buffered writer surfaces only here.
    pub fn finish(mut self) -> Result<W> {
        self.out.flush().map_err(EvalError::Write)?;
        Ok(self.out)
    }
}

fn invalid(qid: &str, message: String) -> EvalError {
    EvalError::InvalidRanking {
        qid: qid.to_owned(),
        message,
    }
}

fn check_field(qid: &str, what: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err(invalid(
            qid,
            format!("{what} '{value}' is empty or holds whitespace"),
        ));
    }
    Ok(())
}
