//! Reading JSONL inputs (`{"id": ..., "text": ...}` per line). Every error
//! names the file and the 1-based line number.

use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// One input record: its id (any JSON value, echoed back as given) and text.
pub struct Record {
    pub id: Option<serde_json::Value>,
    pub text: String,
}

/// Which JSON fields hold the id and the text.
pub struct Fields<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub require_id: bool,
}

/// Reads every non-blank line of a JSONL file.
pub fn read_jsonl(path: &Path, fields: &Fields) -> Result<Vec<Record>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut records = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let at = || format!("{}:{line_no}", path.display());
        let line = match std::str::from_utf8(&buf) {
            Ok(s) => s,
            Err(e) => bail!("{}: text is not valid UTF-8 (invalid byte at column {})", at(), e.valid_up_to() + 1),
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: not a JSON object", at()))?;
        let Some(object) = value.as_object() else {
            bail!("{}: expected a JSON object, found {}", at(), kind(&value));
        };
        let text = match object.get(fields.text) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => bail!("{}: field '{}' must be a string, found {}", at(), fields.text, kind(other)),
            None => bail!("{}: missing field '{}' (choose another with --text-field)", at(), fields.text),
        };
        let id = object.get(fields.id).cloned();
        if fields.require_id && id.is_none() {
            bail!("{}: missing field '{}' (choose another with --id-field)", at(), fields.id);
        }
        records.push(Record { id, text });
    }
    Ok(records)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
