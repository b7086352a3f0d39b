//! Training data: one JSON object per line.
//!
//! ```json
//! {"query_id": "q-0ad", "query": "Real-time strategy game of ancient warfare",
//!  "positives": ["0ad"], "negatives": ["0ad-data", "warzone2100"],
//!  "positive_scores": [9.1], "negative_scores": [7.3, 2.0]}
//! ```
//! - `query` (required): the query text.
//! - `positives` (required, at least one): ids of relevant documents.
//! - `negatives`: ids of non-relevant documents, hardest first (what
//!   `hypencoder mine` writes). May be empty when in-batch negatives suffice.
//! - `positive_scores`, `negative_scores` (optional, together): a teacher's
//!   scores for those documents, one per id, for the margin-MSE loss.
//! - `query_id` (optional): shown in errors.
//!
//! Document ids refer to the index the trainer reads documents from.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use crate::error::{io_error, Result, TrainError};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExample {
    #[serde(default)]
    query_id: Option<String>,
    query: String,
    positives: Vec<String>,
    #[serde(default)]
    negatives: Vec<String>,
    #[serde(default)]
    positive_scores: Option<Vec<f32>>,
    #[serde(default)]
    negative_scores: Option<Vec<f32>>,
}

/// One training query with its documents resolved to index rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The query text.
    pub query: String,
    /// Index rows of relevant documents (at least one).
    pub positives: Vec<u32>,
    /// Index rows of non-relevant documents, hardest first.
    pub negatives: Vec<u32>,
    /// Teacher scores, aligned with `positives` and `negatives`.
    pub teacher: Option<(Vec<f32>, Vec<f32>)>,
}

/// Reads training examples, resolving document ids through `rows` (id ->
/// index row). Any bad line is an error naming the file and line.
pub fn read_examples(file: &Path, rows: &HashMap<&str, u32>) -> Result<Vec<Example>> {
    let reader = std::io::BufReader::new(std::fs::File::open(file).map_err(|e| io_error(file, e))?);
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| io_error(file, e))?;
        let bad = |message: String| TrainError::Data {
            file: file.to_path_buf(),
            line: i + 1,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        let raw: RawExample = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let who = raw
            .query_id
            .as_deref()
            .map(|q| format!("query {q}: "))
            .unwrap_or_default();
        if raw.positives.is_empty() {
            return Err(bad(format!("{who}`positives` is empty")));
        }
        let resolve = |ids: &[String]| -> Result<Vec<u32>> {
            ids.iter()
                .map(|id| {
                    rows.get(id.as_str())
                        .copied()
                        .ok_or_else(|| bad(format!("{who}document id {id:?} is not in the index")))
                })
                .collect()
        };
        let positives = resolve(&raw.positives)?;
        let negatives = resolve(&raw.negatives)?;
        if let Some(p) = positives.iter().find(|p| negatives.contains(p)) {
            let id = &raw.positives[positives.iter().position(|x| x == p).unwrap()];
            return Err(bad(format!(
                "{who}document {id:?} is both positive and negative"
            )));
        }
        let teacher = match (raw.positive_scores, raw.negative_scores) {
            (None, None) => None,
            (Some(p), Some(n)) => {
                if p.len() != positives.len() || n.len() != negatives.len() {
                    return Err(bad(format!(
                        "{who}{} positive_scores for {} positives, {} negative_scores for {} negatives",
                        p.len(),
                        positives.len(),
                        n.len(),
                        negatives.len()
                    )));
                }
                Some((p, n))
            }
            _ => {
                return Err(bad(format!(
                    "{who}give both positive_scores and negative_scores, or neither"
                )))
            }
        };
        out.push(Example {
            query: raw.query,
            positives,
            negatives,
            teacher,
        });
    }
    if out.is_empty() {
        return Err(io_error(file, "holds no training examples"));
    }
    Ok(out)
}

/// Negatives for one query from a ranked list: the top `depth` hits that are
/// not relevant, skipping the first `skip` of them (often unjudged
/// positives). What `hypencoder mine` writes, hardest first.
pub fn select_negatives<'a>(
    ranked: impl IntoIterator<Item = &'a str>,
    relevant: &[&str],
    skip: usize,
    count: usize,
) -> Vec<String> {
    ranked
        .into_iter()
        .filter(|id| !relevant.contains(id))
        .skip(skip)
        .take(count)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch file, removed on drop.
    struct TempFile(std::path::PathBuf);

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn write(text: &str) -> TempFile {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("hypencoder-train-{}-{n}.jsonl", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn rows() -> HashMap<&'static str, u32> {
        [("a", 0), ("b", 1), ("c", 2)].into_iter().collect()
    }

    #[test]
    fn reads_examples_and_teacher_scores() {
        let f = write(
            "{\"query\": \"x\", \"positives\": [\"a\"], \"negatives\": [\"b\", \"c\"]}\n\n\
             {\"query_id\": \"q2\", \"query\": \"y\", \"positives\": [\"c\"], \"negatives\": [\"a\"], \
             \"positive_scores\": [3.0], \"negative_scores\": [1.0]}\n",
        );
        let ex = read_examples(&f.0, &rows()).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].positives, vec![0]);
        assert_eq!(ex[0].negatives, vec![1, 2]);
        assert_eq!(ex[1].teacher, Some((vec![3.0], vec![1.0])));
    }

    #[test]
    fn bad_lines_name_file_line_and_field() {
        let cases = [
            ("{\"query\": \"x\", \"positives\": []}", "`positives` is empty"),
            ("{\"query\": \"x\", \"positives\": [\"zz\"]}", "\"zz\" is not in the index"),
            ("{\"query\": \"x\", \"positives\": [\"a\"], \"negatives\": [\"a\"]}", "both positive and negative"),
            ("{\"query\": \"x\", \"positives\": [\"a\"], \"positive_scores\": [1.0]}", "or neither"),
            ("{\"query\": \"x\", \"positives\": [\"a\"], \"negatives\": [\"b\"], \"positive_scores\": [1.0], \"negative_scores\": []}", "0 negative_scores for 1 negatives"),
            ("{\"query\": \"x\", \"positive\": [\"a\"]}", "unknown field `positive`"),
            ("{\"positives\": [\"a\"]}", "missing field `query`"),
        ];
        for (line, want) in cases {
            let f = write(&format!(
                "{{\"query\": \"ok\", \"positives\": [\"b\"]}}\n{line}\n"
            ));
            let err = read_examples(&f.0, &rows()).unwrap_err().to_string();
            assert!(err.contains(":2: "), "{err}");
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn negatives_skip_relevant_documents() {
        let ranked = ["a", "b", "c", "d", "e"];
        assert_eq!(select_negatives(ranked, &["b"], 0, 2), vec!["a", "c"]);
        assert_eq!(select_negatives(ranked, &["a"], 1, 10), vec!["c", "d", "e"]);
    }
}
