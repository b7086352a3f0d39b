//! Reading corpora and query files: JSONL (`{"id": ..., "text": ...}` per
//! line) or TSV (`id<TAB>text`). Every error names the file and the 1-based
//! line number; the CLI and the Python package report them as they are.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::{Map, Value};

use crate::fields::SchemaBuilder;

/// A record file that cannot be read as asked: the message names the file,
/// the line and the field.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A record lacks the field that holds its id or its text (a caller
    /// may offer to name another).
    #[error("{at}: missing field '{field}'")]
    MissingField {
        /// `file:line`.
        at: String,
        /// The field looked for.
        field: String,
        /// What the field was to hold.
        role: FieldRole,
    },
    /// Anything else: unreadable, not JSON, a wrong type, a repeated id.
    #[error("{0}")]
    Invalid(String),
}

/// What a record's field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRole {
    /// The record's id.
    Id,
    /// The record's text.
    Text,
}

type Result<T> = std::result::Result<T, RecordError>;

/// Returns a [`RecordError`] with a formatted message.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(RecordError::Invalid(format!($($arg)*)))
    };
}

/// One input record: its id (any JSON value, echoed back as given), text,
/// and the 1-based line it came from.
pub struct Record {
    /// The id field's value, if the record has one.
    pub id: Option<Value>,
    /// The text field's value.
    pub text: String,
    /// 1-based line number in its file.
    pub line: usize,
    /// The document's fields (every other top-level key of a JSONL
    /// record, as [`Fields::stored`] selects; none from TSV).
    pub fields: Map<String, Value>,
}

impl Record {
    /// The id as a TREC-safe string: a JSON string or number, no whitespace.
    pub fn id_string(&self, path: &Path) -> Result<String> {
        let at = || format!("{}:{}", path.display(), self.line);
        let id = match &self.id {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => bail!(
                "{}: id must be a string or number, found {}",
                at(),
                kind(other)
            ),
            None => bail!("{}: no id", at()),
        };
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            bail!(
                "{}: id {id:?} is empty or contains whitespace (TREC runs cannot hold it)",
                at()
            );
        }
        Ok(id)
    }
}

/// Reads a corpus: JSONL, or TSV `id<TAB>text` (MS MARCO's collection.tsv)
/// when the file name ends in `.tsv`.
pub fn read_corpus(path: &Path, fields: &Fields) -> Result<Vec<Record>> {
    if path.extension().is_some_and(|e| e == "tsv") {
        read_tsv(path)
    } else {
        read_jsonl(path, fields)
    }
}

fn read_tsv(path: &Path) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    for_each_line(path, |line_no, line| {
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            return Ok(());
        }
        let Some((id, text)) = line.split_once('\t') else {
            bail!("{}:{line_no}: expected id<TAB>text", path.display());
        };
        records.push(Record {
            id: Some(Value::String(id.to_string())),
            text: text.to_string(),
            line: line_no,
            fields: Map::new(),
        });
        Ok(())
    })?;
    Ok(records)
}

/// Calls `f(line_number, line)` for every line, checking UTF-8.
fn for_each_line(path: &Path, mut f: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let file = std::fs::File::open(path)
        .map_err(|e| RecordError::Invalid(format!("cannot open {}: {e}", path.display())))?;
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| RecordError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        match std::str::from_utf8(&buf) {
            Ok(line) => f(line_no, line)?,
            Err(e) => bail!(
                "{}:{line_no}: text is not valid UTF-8 (invalid byte at column {})",
                path.display(),
                e.valid_up_to() + 1
            ),
        }
    }
}

/// Which JSON fields hold the id and the text.
pub struct Fields<'a> {
    /// The id field's name.
    pub id: &'a str,
    /// The text field's name.
    pub text: &'a str,
    /// Whether a record without an id is an error.
    pub require_id: bool,
    /// Which other keys are kept as the document's fields.
    pub stored: Stored<'a>,
}

/// Which of a record's other keys are its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored<'a> {
    /// None (query files).
    Nothing,
    /// Every key but the id and text fields.
    All,
    /// Only these.
    Only(&'a [String]),
}

impl Stored<'_> {
    fn keeps(&self, key: &str) -> bool {
        match self {
            Stored::Nothing => false,
            Stored::All => true,
            Stored::Only(keep) => keep.iter().any(|k| k == key),
        }
    }
}

/// Reads every non-blank line of a JSONL file. A field whose type is not
/// one a document field may have, or differs from its type on an earlier
/// line, is an error naming both lines.
pub fn read_jsonl(path: &Path, fields: &Fields) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    let mut schema = SchemaBuilder::default();
    for_each_line(path, |line_no, line| {
        let at = || format!("{}:{line_no}", path.display());
        if line.trim().is_empty() {
            return Ok(());
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| RecordError::Invalid(format!("{}: not a JSON object ({e})", at())))?;
        let Some(object) = value.as_object() else {
            bail!("{}: expected a JSON object, found {}", at(), kind(&value));
        };
        let text = match object.get(fields.text) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => bail!(
                "{}: field '{}' must be a string, found {}",
                at(),
                fields.text,
                kind(other)
            ),
            None => {
                return Err(RecordError::MissingField {
                    at: at(),
                    field: fields.text.to_string(),
                    role: FieldRole::Text,
                })
            }
        };
        let id = object.get(fields.id).cloned();
        if fields.require_id && id.is_none() {
            return Err(RecordError::MissingField {
                at: at(),
                field: fields.id.to_string(),
                role: FieldRole::Id,
            });
        }
        let mut kept = Map::new();
        if fields.stored != Stored::Nothing {
            for (key, value) in object {
                if key != fields.id && key != fields.text && fields.stored.keeps(key) {
                    kept.insert(key.clone(), value.clone());
                }
            }
            schema.observe(&kept, &at()).map_err(RecordError::Invalid)?;
        }
        records.push(Record {
            id,
            text,
            line: line_no,
            fields: kept,
        });
        Ok(())
    })?;
    Ok(records)
}

/// TREC-safe ids of `records`, rejecting duplicates with both line numbers.
pub fn unique_ids(records: &[Record], path: &Path) -> Result<Vec<String>> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut ids = Vec::with_capacity(records.len());
    for r in records {
        let id = r.id_string(path)?;
        if let Some(first) = seen.insert(id.clone(), r.line) {
            bail!(
                "{}: duplicate id '{id}' on lines {first} and {}",
                path.display(),
                r.line
            );
        }
        ids.push(id);
    }
    Ok(ids)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
