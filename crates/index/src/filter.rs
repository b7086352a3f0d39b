//! The filter language: which documents a search may return, by their
//! fields, written as JSON the same way in the CLI, the server and Python.
//!
//! ```text
//!   {"section": "1"}                      equality (array field: contains)
//!   {"section": {"in": ["1", "8"]}}       any of
//!   {"year": {"gte": 2020, "lt": 2025}}   a range (numbers only)
//!   {"tags": {"all": ["a", "b"]}}         holds every one
//!   {"title": {"exists": true}}           has a value
//!   {"and": [...]}, {"or": [...]}, {"not": {...}}
//! ```
//!
//! Several keys in one object must all hold. A filter is parsed once
//! ([`Filter::parse`], errors name the path inside it), checked against an
//! index's fields ([`Filter::check`]: a range on a string field is an
//! error, a field no document has a warning), and turned into the set of
//! a segment's rows it keeps ([`Filter::rows`]), which is what every search
//! mode restricts itself to.

use rayon::prelude::*;
use serde_json::Value;

use crate::fields::{ColumnRef, FieldStore, FieldType, FieldValue, Schema};

/// A filter that cannot be read or does not fit the index's fields.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("filter at {path}: {message}")]
pub struct FilterError {
    /// Where in the filter: `$` is its root, then keys and `[i]`
    /// (`$.and[1].year.gte`).
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

/// A value a filter compares fields with.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// true or false.
    Bool(bool),
}

impl Literal {
    fn kind(&self) -> &'static str {
        match self {
            Literal::Str(_) => "a string",
            Literal::Int(_) | Literal::Float(_) => "a number",
            Literal::Bool(_) => "a bool",
        }
    }

    fn fits(&self, ty: FieldType) -> bool {
        match self {
            Literal::Str(_) => ty == FieldType::String,
            Literal::Int(_) | Literal::Float(_) => ty.is_number(),
            Literal::Bool(_) => ty == FieldType::Bool,
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Literal::Int(n) => Some(*n as f64),
            Literal::Float(x) => Some(*x),
            _ => None,
        }
    }

    /// Whether a stored value equals this literal (integers exactly).
    fn equals(&self, value: FieldValue) -> bool {
        match (self, value) {
            (Literal::Str(a), FieldValue::Str(b)) => a == b,
            (Literal::Bool(a), FieldValue::Bool(b)) => *a == b,
            (Literal::Int(a), FieldValue::Int(b)) => *a == b,
            (lit, v) => matches!((lit.number(), v.as_f64()), (Some(a), Some(b)) if a == b),
        }
    }
}

/// What one field must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Some value equals it.
    Eq(Literal),
    /// Some value equals one of them.
    In(Vec<Literal>),
    /// Every one of them is among the values.
    All(Vec<Literal>),
    /// Some value lies in the range (each bound optional; `true` means
    /// inclusive).
    Range {
        /// The lower bound.
        lower: Option<(f64, bool)>,
        /// The upper bound.
        upper: Option<(f64, bool)>,
    },
    /// The field has a value (`true`) or none (`false`).
    Exists(bool),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// One field's condition; `path` is where it was written.
    Field {
        /// The field's name.
        field: String,
        /// What its values must satisfy.
        condition: Condition,
        /// Where in the filter (for errors).
        path: String,
    },
    /// Every one holds (an empty list holds for every document).
    And(Vec<Filter>),
    /// Some one holds (an empty list holds for none).
    Or(Vec<Filter>),
    /// It does not hold (documents without the field included).
    Not(Box<Filter>),
}

fn error(path: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        path: path.to_string(),
        message: message.into(),
    }
}

fn literal(value: &Value, path: &str) -> Result<Literal, FilterError> {
    match value {
        Value::String(s) => Ok(Literal::Str(s.clone())),
        Value::Bool(b) => Ok(Literal::Bool(*b)),
        Value::Number(n) => Ok(n
            .as_i64()
            .map(Literal::Int)
            .unwrap_or_else(|| Literal::Float(n.as_f64().unwrap_or(f64::NAN)))),
        Value::Array(_) => Err(error(
            path,
            "a list here is ambiguous: write {\"in\": [...]} for any of them or {\"all\": [...]} for every one",
        )),
        Value::Null => Err(error(path, "null matches nothing; write {\"exists\": false}")),
        Value::Object(_) => Err(error(path, "expected a string, number or bool")),
    }
}

fn literals(value: &Value, path: &str) -> Result<Vec<Literal>, FilterError> {
    let Value::Array(items) = value else {
        return Err(error(path, "expected a list of values"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| literal(v, &format!("{path}[{i}]")))
        .collect()
}

impl Filter {
    /// Reads a filter from its JSON.
    pub fn parse(value: &Value) -> Result<Filter, FilterError> {
        parse_object(value, "$")
    }

    /// Reads a filter from JSON text.
    pub fn parse_str(text: &str) -> Result<Filter, FilterError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| error("$", format!("not JSON: {e}")))?;
        Filter::parse(&value)
    }

    /// Checks the filter against an index's fields: each condition must
    /// suit its field's type. Returns the fields no document has (they
    /// match nothing), for a warning.
    pub fn check(&self, schema: &Schema) -> Result<Vec<String>, FilterError> {
        let mut unknown = Vec::new();
        self.check_into(schema, &mut unknown)?;
        unknown.sort();
        unknown.dedup();
        Ok(unknown)
    }

    fn check_into(&self, schema: &Schema, unknown: &mut Vec<String>) -> Result<(), FilterError> {
        match self {
            Filter::And(all) | Filter::Or(all) => {
                all.iter().try_for_each(|f| f.check_into(schema, unknown))
            }
            Filter::Not(inner) => inner.check_into(schema, unknown),
            Filter::Field {
                field,
                condition,
                path,
            } => {
                let Some(spec) = schema.get(field) else {
                    unknown.push(field.clone());
                    return Ok(());
                };
                let fits = |lits: &[Literal], at: &str| {
                    for (i, lit) in lits.iter().enumerate() {
                        if !lit.fits(spec.ty) {
                            let at = if lits.len() > 1 || at.ends_with(']') {
                                format!("{at}[{i}]")
                            } else {
                                at.to_string()
                            };
                            return Err(error(
                                &at,
                                format!(
                                    "field '{field}' holds {}, compared here with {}",
                                    type_plural(spec.ty),
                                    lit.kind()
                                ),
                            ));
                        }
                    }
                    Ok(())
                };
                match condition {
                    Condition::Eq(lit) => fits(std::slice::from_ref(lit), path),
                    Condition::In(lits) => fits(lits, &format!("{path}.in")),
                    Condition::All(lits) => fits(lits, &format!("{path}.all")),
                    Condition::Range { .. } if !spec.ty.is_number() => Err(error(
                        path,
                        format!(
                            "a range needs a number field; '{field}' holds {}",
                            type_plural(spec.ty)
                        ),
                    )),
                    Condition::Range { .. } | Condition::Exists(_) => Ok(()),
                }
            }
        }
    }

    /// The rows of a segment of `count` documents the filter keeps
    /// (`fields`: the segment's, if it has any).
    pub fn rows(&self, fields: Option<&FieldStore>, count: usize) -> RowSet {
        match self {
            Filter::And(all) => all.iter().fold(RowSet::full(count), |mut acc, f| {
                if acc.count() > 0 {
                    acc.intersect(&f.rows(fields, count));
                }
                acc
            }),
            Filter::Or(any) => any.iter().fold(RowSet::empty(count), |mut acc, f| {
                acc.union(&f.rows(fields, count));
                acc
            }),
            Filter::Not(inner) => {
                let mut set = inner.rows(fields, count);
                set.invert();
                set
            }
            Filter::Field {
                field, condition, ..
            } => match fields.and_then(|f| f.column(field)) {
                Some(column) => condition.rows(column, count),
                None if *condition == Condition::Exists(false) => RowSet::full(count),
                None => RowSet::empty(count),
            },
        }
    }
}

fn type_plural(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "strings",
        FieldType::Integer => "integers",
        FieldType::Float => "floats",
        FieldType::Bool => "bools",
    }
}

const CONNECTIVES: [&str; 3] = ["and", "or", "not"];
const OPERATORS: [&str; 8] = ["eq", "in", "all", "gt", "gte", "lt", "lte", "exists"];

fn parse_object(value: &Value, path: &str) -> Result<Filter, FilterError> {
    let Value::Object(object) = value else {
        return Err(error(
            path,
            "expected an object such as {\"field\": value} or {\"and\": [...]}",
        ));
    };
    let mut parts = Vec::with_capacity(object.len());
    for (key, value) in object {
        let at = format!("{path}.{key}");
        parts.push(match key.as_str() {
            "and" | "or" => {
                let Value::Array(items) = value else {
                    return Err(error(&at, format!("'{key}' takes a list of filters")));
                };
                let inner = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| parse_object(v, &format!("{at}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "and" {
                    Filter::And(inner)
                } else {
                    Filter::Or(inner)
                }
            }
            "not" => Filter::Not(Box::new(parse_object(value, &at)?)),
            field => Filter::Field {
                field: field.to_string(),
                condition: parse_condition(value, &at)?,
                path: at,
            },
        });
    }
    Ok(if parts.len() == 1 {
        parts.pop().expect("one")
    } else {
        Filter::And(parts)
    })
}

fn parse_condition(value: &Value, path: &str) -> Result<Condition, FilterError> {
    let Value::Object(ops) = value else {
        return Ok(Condition::Eq(literal(value, path)?));
    };
    if ops.is_empty() {
        return Err(error(
            path,
            "an empty condition; give a value or an operator",
        ));
    }
    let mut conditions = Vec::new();
    let (mut lower, mut upper) = (None, None);
    for (op, arg) in ops {
        let at = format!("{path}.{op}");
        let bound = |arg: &Value| {
            literal(arg, &at)?
                .number()
                .ok_or_else(|| error(&at, format!("'{op}' takes a number")))
        };
        match op.as_str() {
            "eq" => conditions.push(Condition::Eq(literal(arg, &at)?)),
            "in" => conditions.push(Condition::In(literals(arg, &at)?)),
            "all" => conditions.push(Condition::All(literals(arg, &at)?)),
            "exists" => match arg {
                Value::Bool(b) => conditions.push(Condition::Exists(*b)),
                _ => return Err(error(&at, "'exists' takes true or false")),
            },
            "gt" | "gte" => lower = Some((bound(arg)?, op == "gte")),
            "lt" | "lte" => upper = Some((bound(arg)?, op == "lte")),
            other if CONNECTIVES.contains(&other) => {
                return Err(error(
                    &at,
                    format!("'{other}' combines filters; put it outside the field's condition"),
                ))
            }
            other => {
                return Err(error(
                    &at,
                    format!(
                        "unknown operator '{other}' (known: {})",
                        OPERATORS.join(", ")
                    ),
                ))
            }
        }
    }
    if lower.is_some() || upper.is_some() {
        conditions.push(Condition::Range { lower, upper });
    }
    if conditions.len() == 1 {
        Ok(conditions.pop().expect("one"))
    } else {
        Err(error(
            path,
            "one operator per condition, or a range's bounds together; combine others with \"and\"",
        ))
    }
}

impl Condition {
    fn rows(&self, column: ColumnRef<'_>, count: usize) -> RowSet {
        let any = |test: &(dyn Fn(FieldValue) -> bool + Sync)| {
            RowSet::from_fn(count, |row| column.values(row).any(test))
        };
        let string_codes = |lits: &[Literal]| -> Vec<Option<u32>> {
            lits.iter()
                .map(|l| match l {
                    Literal::Str(s) => column.lookup(s),
                    _ => None,
                })
                .collect()
        };
        let is_string = column.spec().ty == FieldType::String;
        match self {
            Condition::Exists(want) => {
                RowSet::from_fn(count, |row| column.range(row).is_empty() != *want)
            }
            Condition::Eq(lit) if is_string => match string_codes(std::slice::from_ref(lit))[0] {
                Some(code) => codes_rows(column, count, |c| c == code),
                None => RowSet::empty(count),
            },
            Condition::In(lits) if is_string => {
                let mut codes: Vec<u32> = string_codes(lits).into_iter().flatten().collect();
                codes.sort_unstable();
                codes_rows(column, count, |c| codes.binary_search(&c).is_ok())
            }
            Condition::All(lits) if is_string => {
                let codes = string_codes(lits);
                if codes.iter().any(Option::is_none) {
                    return RowSet::empty(count);
                }
                let codes: Vec<u32> = codes.into_iter().flatten().collect();
                RowSet::from_fn(count, |row| {
                    let range = column.range(row);
                    codes
                        .iter()
                        .all(|&want| range.clone().any(|i| column.code(i) == want))
                })
            }
            Condition::Eq(lit) => any(&|v| lit.equals(v)),
            Condition::In(lits) => any(&|v| lits.iter().any(|l| l.equals(v))),
            Condition::All(lits) => RowSet::from_fn(count, |row| {
                lits.iter().all(|l| column.values(row).any(|v| l.equals(v)))
            }),
            Condition::Range { lower, upper } => {
                let (lo, lo_in) = lower.unwrap_or((f64::NEG_INFINITY, true));
                let (hi, hi_in) = upper.unwrap_or((f64::INFINITY, true));
                // `&`, not `&&`: both sides are cheap, and a branch on a
                // half-kept field mispredicts every other row.
                let inside = |x: f64| {
                    (if lo_in { x >= lo } else { x > lo }) & (if hi_in { x <= hi } else { x < hi })
                };
                // Numbers read straight from the column, without a value
                // enum per row (a range is the usual numeric filter).
                RowSet::from_fn(count, |row| {
                    let values = column.range(row);
                    if values.len() == 1 {
                        column.number(values.start).is_some_and(inside)
                    } else {
                        values
                            .into_iter()
                            .any(|i| column.number(i).is_some_and(inside))
                    }
                })
            }
        }
    }
}

fn codes_rows(column: ColumnRef<'_>, count: usize, test: impl Fn(u32) -> bool + Sync) -> RowSet {
    RowSet::from_fn(count, |row| column.range(row).any(|i| test(column.code(i))))
}

/// A set of a segment's rows, as a bitset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSet {
    bits: Vec<u64>,
    len: usize,
}

impl RowSet {
    /// No rows of `len`.
    pub fn empty(len: usize) -> Self {
        RowSet {
            bits: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// Every row of `len`.
    pub fn full(len: usize) -> Self {
        let mut set = RowSet::empty(len);
        set.invert();
        set
    }

    /// The rows for which `keep` holds.
    pub fn from_fn(len: usize, keep: impl Fn(usize) -> bool + Sync) -> Self {
        let mut set = RowSet::empty(len);
        // Words in parallel, 64Ki rows a task: a filter is evaluated on
        // every request, and a million rows take milliseconds.
        set.bits
            .par_chunks_mut(1024)
            .enumerate()
            .for_each(|(chunk, words)| {
                for (i, word) in words.iter_mut().enumerate() {
                    let first = (chunk * 1024 + i) * 64;
                    for row in first..(first + 64).min(len) {
                        *word |= u64::from(keep(row)) << (row - first);
                    }
                }
            });
        set
    }

    /// The number of rows it is over.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is over no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `row` is in the set.
    #[inline]
    pub fn contains(&self, row: usize) -> bool {
        self.bits[row / 64] >> (row % 64) & 1 == 1
    }

    /// Removes `row`.
    pub fn remove(&mut self, row: usize) {
        self.bits[row / 64] &= !(1 << (row % 64));
    }

    /// How many rows are in the set.
    pub fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The rows in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.iter().enumerate().flat_map(|(i, &word)| {
            let mut w = word;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let bit = w.trailing_zeros() as usize;
                    w &= w - 1;
                    i * 64 + bit
                })
            })
        })
    }

    /// The rows in the set, in order, as a list.
    pub fn to_rows(&self) -> Vec<u32> {
        self.iter().map(|row| row as u32).collect()
    }

    /// The first row in the set at or after `row`.
    pub fn next_from(&self, row: usize) -> Option<usize> {
        let mut w = row / 64;
        let mut word = *self.bits.get(w)? & (!0u64 << (row % 64));
        loop {
            if word != 0 {
                return Some(w * 64 + word.trailing_zeros() as usize);
            }
            w += 1;
            word = *self.bits.get(w)?;
        }
    }

    /// Keeps the rows also in `other`.
    pub fn intersect(&mut self, other: &RowSet) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a &= b;
        }
    }

    /// Adds the rows of `other`.
    pub fn union(&mut self, other: &RowSet) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
    }

    /// Swaps rows in and out.
    pub fn invert(&mut self) {
        for w in &mut self.bits {
            *w = !*w;
        }
        let tail = self.len % 64;
        if tail != 0 {
            *self.bits.last_mut().expect("a partial word") &= (1u64 << tail) - 1;
        }
    }
}

/// A filter's fields that no document of `schema` has, as the warning a
/// front end shows.
pub fn unknown_fields_warning(unknown: &[String]) -> Option<String> {
    (!unknown.is_empty()).then(|| {
        format!(
            "no document has the field{} {}: {} nothing",
            if unknown.len() > 1 { "s" } else { "" },
            unknown
                .iter()
                .map(|f| format!("'{f}'"))
                .collect::<Vec<_>>()
                .join(", "),
            if unknown.len() > 1 {
                "they match"
            } else {
                "it matches"
            }
        )
    })
}
