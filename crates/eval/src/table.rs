//! The part qrels and run files share: whitespace-separated lines keyed by
//! (query id, document id), where a repeated key is an error.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{EvalError, Result};

/// Per query, per document: the parsed value and the line it came from.
pub(crate) type Table<V> = BTreeMap<String, HashMap<String, (V, usize)>>;

/// The fields of one line that a format keeps.
pub(crate) struct Entry<'a, V> {
    pub qid: &'a str,
    pub docid: &'a str,
    pub value: V,
}

pub(crate) fn open(path: &Path) -> Result<BufReader<File>> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| EvalError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Reads every line with exactly `columns` fields through `parse`. Blank
/// lines and lines starting with `#` are skipped (trec_eval skips `#` lines).
/// `parse` returns the reason a line is malformed; the caller adds file:line.
pub(crate) fn read<V>(
    reader: impl BufRead,
    file: &str,
    columns: &str,
    parse: impl for<'a> Fn(&[&'a str]) -> std::result::Result<Entry<'a, V>, String>,
) -> Result<Table<V>> {
    let expected = columns.split_whitespace().count();
    let mut table = Table::new();
    for (index, line) in reader.lines().enumerate() {
        let line_no = index + 1;
        let error = |message: String| EvalError::Parse {
            file: file.to_owned(),
            line: line_no,
            message,
        };
        let line = line.map_err(|e| error(e.to_string()))?;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        if fields.len() != expected {
            return Err(error(format!(
                "expected {expected} columns `{columns}`, found {}",
                fields.len()
            )));
        }
        let entry = parse(&fields).map_err(error)?;
        let docs = table.entry(entry.qid.to_owned()).or_default();
        if let Some(&(_, first_line)) = docs.get(entry.docid) {
            return Err(EvalError::Duplicate {
                file: file.to_owned(),
                line: line_no,
                first_line,
                qid: entry.qid.to_owned(),
                docid: entry.docid.to_owned(),
            });
        }
        docs.insert(entry.docid.to_owned(), (entry.value, line_no));
    }
    Ok(table)
}
