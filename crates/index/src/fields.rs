//! Document fields: the typed values a document carries beside its id and
//! text (a section, a year, tags, a tenant), stored per segment in columns
//! so that a filter tests a row without parsing anything.
//!
//! A field is a string, an integer, a float or a bool, or an array of
//! strings or of numbers; `null` and an empty array mean no value. One
//! field has one type across documents (integers and floats together make
//! a float field); a field that holds an array in any document is an
//! array field, and every row returns its values as an array.
//!
//! `fields.bin` holds one column per field of the manifest's schema, in
//! the schema's (name) order, each starting 8-byte aligned:
//!
//! ```text
//!   magic b"HYPFLD\0\x01" | u64 count
//!   per field:
//!     u64 values                 (how many values the column holds)
//!     (count + 1) x u32          row r's values are values[o[r]..o[r + 1]]
//!     values x (i64 | f64 | u8 bool | u32 code into the dictionary)
//!     string fields: u64 n | (n + 1) x u64 byte offsets | the n distinct
//!                    values' UTF-8 bytes, sorted (codes follow that order)
//!   magic
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{IndexError, IoContext, Result};
use crate::format::{map_file, u32_at, u64_at};

const FIELDS_MAGIC: &[u8; 8] = b"HYPFLD\0\x01";

/// The file a segment's fields live in.
pub const FIELDS_FILE: &str = "fields.bin";

/// What a field's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// UTF-8 strings (dictionary-coded on disk).
    String,
    /// 64-bit signed integers.
    Integer,
    /// 64-bit floats.
    Float,
    /// true or false.
    Bool,
}

impl FieldType {
    /// How error messages name it.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "a string",
            FieldType::Integer => "an integer",
            FieldType::Float => "a float",
            FieldType::Bool => "a bool",
        }
    }

    /// Whether values are numbers (integers and floats compare together).
    pub fn is_number(self) -> bool {
        matches!(self, FieldType::Integer | FieldType::Float)
    }

    /// The type a field holding both has, if they can share one.
    fn unify(self, other: FieldType) -> Option<FieldType> {
        match (self, other) {
            (a, b) if a == b => Some(a),
            (a, b) if a.is_number() && b.is_number() => Some(FieldType::Float),
            _ => None,
        }
    }
}

/// One field's type as the manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// The values' type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Whether some document holds an array (then every row returns one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub array: bool,
}

/// Every field of a segment, by name.
pub type Schema = BTreeMap<String, FieldSpec>;

/// What one JSON value holds as a field: its type (none for an empty
/// array) and whether it is an array; `None` for `null`.
pub fn classify(value: &Value) -> std::result::Result<Option<(Option<FieldType>, bool)>, String> {
    let scalar = |v: &Value| match v {
        Value::String(_) => Ok(FieldType::String),
        Value::Bool(_) => Ok(FieldType::Bool),
        Value::Number(n) if n.is_i64() => Ok(FieldType::Integer),
        Value::Number(_) => Ok(FieldType::Float),
        Value::Null => Err("an array may not hold null".to_string()),
        Value::Array(_) => Err("arrays may not be nested".to_string()),
        Value::Object(_) => Err(
            "an object is not a field value (give its parts as fields of their own)".to_string(),
        ),
    };
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => {
            let mut ty: Option<FieldType> = None;
            for item in items {
                let t = scalar(item)?;
                if t == FieldType::Bool {
                    return Err("arrays hold strings or numbers, not bools".into());
                }
                ty = Some(match ty {
                    None => t,
                    Some(prev) => prev.unify(t).ok_or_else(|| {
                        format!("an array mixes {} and {}", prev.name(), t.name())
                    })?,
                });
            }
            Ok(Some((ty, true)))
        }
        other => Ok(Some((Some(scalar(other)?), false))),
    }
}

/// Infers a schema from documents' fields one document at a time, naming
/// where a field's type was first seen when a later one conflicts.
#[derive(Debug, Default)]
pub struct SchemaBuilder {
    fields: BTreeMap<String, (Option<FieldType>, bool, String)>,
}

impl SchemaBuilder {
    /// Takes in one document's fields; `at` names the document in errors
    /// ("corpus.jsonl:7", "document 'x'"). The error names the field.
    pub fn observe(
        &mut self,
        fields: &Map<String, Value>,
        at: &str,
    ) -> std::result::Result<(), String> {
        for (name, value) in fields {
            let Some((ty, array)) =
                classify(value).map_err(|e| format!("{at}: field '{name}': {e}"))?
            else {
                continue;
            };
            let entry = self
                .fields
                .entry(name.clone())
                .or_insert_with(|| (ty, array, at.to_string()));
            entry.1 |= array;
            match (entry.0, ty) {
                (_, None) => {}
                (None, Some(t)) => {
                    entry.0 = Some(t);
                    entry.2 = at.to_string();
                }
                (Some(prev), Some(t)) => {
                    entry.0 = Some(prev.unify(t).ok_or_else(|| {
                        format!(
                            "{at}: field '{name}' is {} here but {} at {}",
                            t.name(),
                            prev.name(),
                            entry.2
                        )
                    })?);
                }
            }
        }
        Ok(())
    }

    /// Checks an existing schema's fields against what was observed (a
    /// segment added to an index must agree with the index's fields).
    pub fn check_against(&self, schema: &Schema, what: &str) -> std::result::Result<(), String> {
        for (name, (ty, _, at)) in &self.fields {
            if let (Some(t), Some(spec)) = (ty, schema.get(name)) {
                if spec.ty.unify(*t).is_none() {
                    return Err(format!(
                        "{at}: field '{name}' is {} here but {} in {what}",
                        t.name(),
                        spec.ty.name()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The schema: fields with only empty arrays are strings.
    pub fn finish(self) -> Schema {
        self.fields
            .into_iter()
            .map(|(name, (ty, array, _))| {
                let ty = ty.unwrap_or(FieldType::String);
                (name, FieldSpec { ty, array })
            })
            .collect()
    }
}

/// The union of several segments' schemas: a field's type where they
/// agree (numbers as floats where integer and float meet); `Err` names a
/// field whose types conflict.
pub fn union_schema<'a>(
    schemas: impl IntoIterator<Item = &'a Schema>,
) -> std::result::Result<Schema, String> {
    let mut out = Schema::new();
    for schema in schemas {
        for (name, spec) in schema {
            match out.get_mut(name) {
                None => {
                    out.insert(name.clone(), *spec);
                }
                Some(have) => {
                    have.ty = have.ty.unify(spec.ty).ok_or_else(|| {
                        format!(
                            "field '{name}' is {} in one segment and {} in another",
                            have.ty.name(),
                            spec.ty.name()
                        )
                    })?;
                    have.array |= spec.array;
                }
            }
        }
    }
    Ok(out)
}

/// The values of one field in one row, as written.
fn values_of(value: Option<&Value>) -> Vec<&Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v) => vec![v],
    }
}

/// A writer that counts its position, to pad sections to 8 bytes.
struct Out<'w, W: Write> {
    out: &'w mut W,
    pos: u64,
    path: &'w Path,
}

impl<W: Write> Out<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).at(self.path)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn pad8(&mut self) -> Result<()> {
        let pad = (8 - self.pos % 8) % 8;
        self.put(&[0u8; 8][..pad as usize])
    }
}

/// Writes `rows` (each document's fields, in row order, already checked
/// against `schema`) as `fields.bin` (`path` names `out` in errors).
pub(crate) fn write_fields(
    out: &mut impl Write,
    rows: &[Map<String, Value>],
    schema: &Schema,
    path: &Path,
) -> Result<()> {
    let mut out = Out { out, pos: 0, path };
    out.put(FIELDS_MAGIC)?;
    out.put(&(rows.len() as u64).to_le_bytes())?;
    for (name, spec) in schema {
        let per_row: Vec<Vec<&Value>> = rows.iter().map(|r| values_of(r.get(name))).collect();
        let total: usize = per_row.iter().map(Vec::len).sum();
        if u32::try_from(total).is_err() {
            return Err(IndexError::Contract(format!(
                "field '{name}' holds {total} values; a segment holds at most 2^32"
            )));
        }
        out.put(&(total as u64).to_le_bytes())?;
        let mut at = 0u32;
        out.put(&at.to_le_bytes())?;
        for values in &per_row {
            at += values.len() as u32;
            out.put(&at.to_le_bytes())?;
        }
        out.pad8()?;
        let values: Vec<&Value> = per_row.into_iter().flatten().collect();
        write_values(&mut out, name, *spec, &values)?;
    }
    out.put(FIELDS_MAGIC)
}

/// One column's values (and a string column's dictionary), padded.
fn write_values<W: Write>(
    out: &mut Out<W>,
    name: &str,
    spec: FieldSpec,
    values: &[&Value],
) -> Result<()> {
    let bad = |v: &Value| {
        IndexError::Contract(format!(
            "field '{name}' value {v} is not {}",
            spec.ty.name()
        ))
    };
    match spec.ty {
        FieldType::Integer => {
            for v in values {
                out.put(&v.as_i64().ok_or_else(|| bad(v))?.to_le_bytes())?;
            }
        }
        FieldType::Float => {
            for v in values {
                out.put(&v.as_f64().ok_or_else(|| bad(v))?.to_le_bytes())?;
            }
        }
        FieldType::Bool => {
            for v in values {
                out.put(&[u8::from(v.as_bool().ok_or_else(|| bad(v))?)])?;
            }
        }
        FieldType::String => {
            let strings = values
                .iter()
                .map(|v| v.as_str().ok_or_else(|| bad(v)))
                .collect::<Result<Vec<&str>>>()?;
            let dict: Vec<&str> = strings
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for s in &strings {
                let code = dict
                    .binary_search(s)
                    .expect("every value is in the dictionary") as u32;
                out.put(&code.to_le_bytes())?;
            }
            out.pad8()?;
            out.put(&(dict.len() as u64).to_le_bytes())?;
            let mut offset = 0u64;
            out.put(&offset.to_le_bytes())?;
            for s in &dict {
                offset += s.len() as u64;
                out.put(&offset.to_le_bytes())?;
            }
            for s in &dict {
                out.put(s.as_bytes())?;
            }
        }
    }
    out.pad8()
}

/// One field's column in a mapped `fields.bin`.
#[derive(Debug)]
struct Column {
    spec: FieldSpec,
    /// Byte position of the (count + 1) row offsets.
    offsets: usize,
    /// Byte position of the values.
    values: usize,
    /// String fields: the dictionary's size, and where its offsets and
    /// bytes start.
    dict: Option<(usize, usize, usize)>,
}

/// Reads the column of field `name` starting at byte `at` (before `end`,
/// where the closing magic is); the column and where the next starts. The
/// error says what is wrong.
fn column_at(
    map: &[u8],
    at: usize,
    end: usize,
    count: usize,
    name: &str,
    spec: FieldSpec,
) -> std::result::Result<(Column, usize), String> {
    let need = |at: usize, bytes: Option<usize>| -> std::result::Result<usize, String> {
        bytes
            .and_then(|b| at.checked_add(b))
            .filter(|&e| e <= end)
            .ok_or_else(|| format!("field '{name}' runs past the end of the file"))
    };
    let align = |x: usize| x.div_ceil(8) * 8;
    let total = u64_at(map, need(at, Some(8))? - 8) as usize;
    let offsets = at + 8;
    let mut at = align(need(
        offsets,
        count.checked_add(1).and_then(|c| c.checked_mul(4)),
    )?);
    if u32_at(map, offsets + count * 4) as usize != total {
        return Err(format!(
            "field '{name}': offsets disagree with its value count"
        ));
    }
    let values = at;
    let width = match spec.ty {
        FieldType::Integer | FieldType::Float => 8,
        FieldType::Bool => 1,
        FieldType::String => 4,
    };
    at = align(need(values, total.checked_mul(width))?);
    let mut dict = None;
    if spec.ty == FieldType::String {
        let size = u64_at(map, need(at, Some(8))? - 8) as usize;
        let starts = at + 8;
        let bytes = need(starts, size.checked_add(1).and_then(|s| s.checked_mul(8)))?;
        let len = u64_at(map, starts + size * 8) as usize;
        at = align(need(bytes, Some(len))?);
        if (0..total).any(|i| u32_at(map, values + i * 4) as usize >= size) {
            return Err(format!("field '{name}': a code past its dictionary"));
        }
        dict = Some((size, starts, bytes));
    }
    let column = Column {
        spec,
        offsets,
        values,
        dict,
    };
    Ok((column, at))
}

/// A segment's fields, memory-mapped.
pub struct FieldStore {
    map: Mmap,
    count: usize,
    columns: BTreeMap<String, Column>,
    path: PathBuf,
}

/// One value of a field, as a filter compares it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// A string value.
    Str(&'a str),
    /// An integer value.
    Int(i64),
    /// A float value.
    Float(f64),
    /// A bool value.
    Bool(bool),
}

impl FieldStore {
    /// Maps `path` and checks it against the schema and document count.
    pub fn open(path: &Path, count: usize, schema: &Schema) -> Result<Self> {
        let map = map_file(path)?;
        let corrupt = |message: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        let n = map.len();
        if n < 24 || &map[..8] != FIELDS_MAGIC || &map[n - 8..] != FIELDS_MAGIC {
            return Err(corrupt("not a fields file (bad magic or truncated)".into()));
        }
        if u64_at(&map, 8) as usize != count {
            return Err(corrupt(format!(
                "holds {} rows, the manifest says {count} documents",
                u64_at(&map, 8)
            )));
        }
        let end = n - 8;
        let mut at = 16usize;
        let mut columns = BTreeMap::new();
        for (name, spec) in schema {
            let (column, next) = column_at(&map, at, end, count, name, *spec).map_err(corrupt)?;
            columns.insert(name.clone(), column);
            at = next;
        }
        if at != end {
            return Err(corrupt(format!(
                "{} bytes left over after the last field",
                end - at
            )));
        }
        let fields = FieldStore {
            map,
            count,
            columns,
            path: path.to_path_buf(),
        };
        for name in schema.keys() {
            fields.check_dictionary(name)?;
        }
        Ok(fields)
    }

    /// Every dictionary entry must be UTF-8 with offsets in order.
    fn check_dictionary(&self, name: &str) -> Result<()> {
        let Some((size, starts, bytes)) = self.columns[name].dict else {
            return Ok(());
        };
        let mut last = 0u64;
        for i in 0..=size {
            let o = u64_at(&self.map, starts + i * 8);
            if o < last {
                return Err(IndexError::Corrupt {
                    path: self.path.clone(),
                    message: format!("field '{name}': dictionary offsets out of order"),
                });
            }
            last = o;
        }
        let len = last as usize;
        std::str::from_utf8(&self.map[bytes..bytes + len]).map_err(|_| IndexError::Corrupt {
            path: self.path.clone(),
            message: format!("field '{name}': dictionary is not UTF-8"),
        })?;
        Ok(())
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// A field's spec, if the segment has the field.
    pub fn spec(&self, name: &str) -> Option<FieldSpec> {
        self.columns.get(name).map(|c| c.spec)
    }

    /// A field's column, if the segment has the field.
    pub fn column(&self, name: &str) -> Option<ColumnRef<'_>> {
        self.columns.get(name).map(|column| ColumnRef {
            fields: self,
            column,
        })
    }

    /// Every field of `row` that has a value, as JSON (arrays for array
    /// fields).
    pub fn row(&self, row: usize) -> Map<String, Value> {
        let mut out = Map::new();
        for name in self.columns.keys() {
            let column = self.column(name).expect("listed");
            let values: Vec<Value> = column.values(row).map(|v| v.to_json()).collect();
            if values.is_empty() {
                continue;
            }
            let value = if column.spec().array {
                Value::Array(values)
            } else {
                values.into_iter().next().expect("one value")
            };
            out.insert(name.clone(), value);
        }
        out
    }
}

/// One field of one segment.
#[derive(Clone, Copy)]
pub struct ColumnRef<'a> {
    fields: &'a FieldStore,
    column: &'a Column,
}

impl<'a> ColumnRef<'a> {
    /// The field's type.
    pub fn spec(&self) -> FieldSpec {
        self.column.spec
    }

    /// Where `row`'s values are among the column's values.
    pub fn range(&self, row: usize) -> std::ops::Range<usize> {
        let map = &self.fields.map;
        let o = self.column.offsets + row * 4;
        u32_at(map, o) as usize..u32_at(map, o + 4) as usize
    }

    /// The `i`-th value of the column.
    pub fn value(&self, i: usize) -> FieldValue<'a> {
        let map = &self.fields.map;
        let at = self.column.values;
        match self.column.spec.ty {
            FieldType::Integer => FieldValue::Int(u64_at(map, at + i * 8) as i64),
            FieldType::Float => FieldValue::Float(f64::from_bits(u64_at(map, at + i * 8))),
            FieldType::Bool => FieldValue::Bool(map[at + i] != 0),
            FieldType::String => FieldValue::Str(self.word(self.code(i))),
        }
    }

    /// A number column's `i`-th value as f64 (`None` in other columns).
    #[inline]
    pub fn number(&self, i: usize) -> Option<f64> {
        let at = self.column.values + i * 8;
        match self.column.spec.ty {
            FieldType::Integer => Some(u64_at(&self.fields.map, at) as i64 as f64),
            FieldType::Float => Some(f64::from_bits(u64_at(&self.fields.map, at))),
            _ => None,
        }
    }

    /// A string column's `i`-th value as its dictionary code.
    pub fn code(&self, i: usize) -> u32 {
        u32_at(&self.fields.map, self.column.values + i * 4)
    }

    /// A string column's dictionary entry `code`.
    pub fn word(&self, code: u32) -> &'a str {
        let (_, starts, bytes) = self.column.dict.expect("a string column");
        let map = &self.fields.map;
        let (a, b) = (
            u64_at(map, starts + code as usize * 8) as usize,
            u64_at(map, starts + code as usize * 8 + 8) as usize,
        );
        std::str::from_utf8(&map[bytes + a..bytes + b]).expect("checked when opened")
    }

    /// A string's dictionary code, if some row holds it.
    pub fn lookup(&self, word: &str) -> Option<u32> {
        let (size, _, _) = self.column.dict?;
        let (mut lo, mut hi) = (0usize, size);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.word(mid as u32).cmp(word) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// `row`'s values.
    pub fn values(&self, row: usize) -> impl Iterator<Item = FieldValue<'a>> + '_ {
        self.range(row).map(|i| self.value(i))
    }
}

impl FieldValue<'_> {
    /// As JSON.
    pub fn to_json(self) -> Value {
        match self {
            FieldValue::Str(s) => Value::String(s.to_string()),
            FieldValue::Int(n) => Value::from(n),
            FieldValue::Float(x) => {
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
            }
            FieldValue::Bool(b) => Value::Bool(b),
        }
    }

    /// As a number, for comparisons across integers and floats.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            FieldValue::Int(n) => Some(n as f64),
            FieldValue::Float(x) => Some(x),
            _ => None,
        }
    }
}
