//! Relevance judgments in TREC qrels format.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;

use crate::error::Result;
use crate::table::{self, Entry};

/// Relevance judgments: per query, per judged document, an integer grade.
///
/// A document is relevant when its grade is positive; 0 and negative grades
/// are judged non-relevant, exactly like a document that was never judged.
/// (trec_eval reads a negative grade as "in the pool but not judged", which
/// none of the metrics here distinguish from non-relevant.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Qrels {
    queries: BTreeMap<String, HashMap<String, i32>>,
}

impl Qrels {
    /// Qrels with no judgments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a qrels file; see [`Qrels::from_reader`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_reader(table::open(path)?, &path.display().to_string())
    }

    /// Reads lines `qid iter docid rel` (the `iter` column is ignored;
    /// `rel` is an integer). Blank lines and lines starting with `#` are
    /// skipped. `name` is the file name used in error messages.
    ///
    /// Errors on a wrong column count, a non-integer grade and a (qid, docid)
    /// pair judged twice, naming `name:line` (both lines for a repeat).
    pub fn from_reader(reader: impl BufRead, name: &str) -> Result<Self> {
        let table = table::read(reader, name, "qid iter docid rel", |f| {
            let value = f[3]
                .parse::<i32>()
                .map_err(|_| format!("relevance '{}' is not an integer", f[3]))?;
            Ok(Entry {
                qid: f[0],
                docid: f[2],
                value,
            })
        })?;
        let queries = table
            .into_iter()
            .map(|(qid, docs)| {
                let docs = docs.into_iter().map(|(d, (rel, _))| (d, rel)).collect();
                (qid, docs)
            })
            .collect();
        Ok(Self { queries })
    }

    /// Sets the grade of `docid` for `qid`, returning the grade it replaces.
    pub fn insert(
        &mut self,
        qid: impl Into<String>,
        docid: impl Into<String>,
        rel: i32,
    ) -> Option<i32> {
        self.queries
            .entry(qid.into())
            .or_default()
            .insert(docid.into(), rel)
    }

    /// The judgments of one query, by document id.
    pub fn judgments(&self, qid: &str) -> Option<&HashMap<String, i32>> {
        self.queries.get(qid)
    }

    /// Judged queries in query-id order.
    pub fn queries(&self) -> impl Iterator<Item = (&str, &HashMap<String, i32>)> {
        self.queries.iter().map(|(q, j)| (q.as_str(), j))
    }

    /// Number of judged queries.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether no query is judged.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }
}
