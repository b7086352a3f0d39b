//! Python arguments into the engine's types: keyword arguments into
//! [`SearchParams`] (every setting, by its own name, checked as the
//! server checks its JSON), names into enums.

use hypencoder_engine::{Collection, Dtype, SearchParams};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};
use serde_json::{Map, Value};

use crate::errors::bad_arg;

/// `search(queries, k, **options)`'s settings over `index`'s own (which
/// `tune` may have recorded): each keyword is the setting of the same name
/// (`SearchParams::NAMES`); an unknown name or a value of the wrong type is
/// a `ValueError` naming it.
pub fn search_params(
    index: &Collection,
    k: usize,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<SearchParams> {
    let mut all = Map::new();
    all.insert("k".into(), Value::from(k));
    for (key, value) in options.into_iter().flat_map(|o| o.iter()) {
        let key: String = key.extract()?;
        if value.is_none() {
            continue; // None is "the default", as in the CLI's absent flag.
        }
        if !SearchParams::NAMES.contains(&key.as_str()) {
            return Err(bad_arg(format!(
                "unknown search option {key:?} (known: {})",
                SearchParams::NAMES.join(", ")
            )));
        }
        let value = json(&value).map_err(|e| bad_arg(format!("search option {key}: {e}")))?;
        // Each alone first, so an error names the setting at fault.
        let one = Map::from_iter([(key.clone(), value.clone())]);
        serde_json::from_value::<SearchParams>(Value::Object(one))
            .map_err(|e| bad_arg(format!("{key} {value}: {e}")))?;
        all.insert(key, value);
    }
    index.params(&all).map_err(|e| bad_arg(e.to_string()))
}

/// A keyword's value as JSON: bool, int, float or str.
fn json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    Ok(if value.is_instance_of::<PyBool>() {
        Value::from(value.extract::<bool>()?)
    } else if value.is_instance_of::<PyInt>() {
        Value::from(value.extract::<i64>()?)
    } else if value.is_instance_of::<PyFloat>() {
        Value::from(value.extract::<f64>()?)
    } else if value.is_instance_of::<PyString>() {
        Value::from(value.extract::<String>()?)
    } else {
        return Err(bad_arg(format!(
            "expected a bool, a number or a string, not {}",
            value.get_type().name()?
        )));
    })
}

/// A storage type by name.
pub fn dtype(name: &str) -> PyResult<Dtype> {
    Dtype::parse(name)
        .ok_or_else(|| bad_arg(format!("dtype {name:?}: expected f32, f16, bf16 or int8")))
}

/// An encoder precision by name.
pub fn encode_precision(name: &str) -> PyResult<hypencoder_engine::EncodePrecision> {
    if name == "auto" {
        return Ok(hypencoder_engine::EncodePrecision::fastest());
    }
    hypencoder_engine::EncodePrecision::parse(name).ok_or_else(|| {
        bad_arg(format!(
            "encode_precision {name:?}: expected auto, f32, int8 or bf16"
        ))
    })
}

/// A count that must be at least 1.
pub fn positive(name: &str, value: usize) -> PyResult<usize> {
    if value == 0 {
        return Err(bad_arg(format!("{name} must be at least 1")));
    }
    Ok(value)
}

/// Each document's fields from its JSON text (`ids` name them in errors).
pub fn fields_of(ids: &[String], fields: Option<Vec<String>>) -> PyResult<Vec<Map<String, Value>>> {
    fields
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, text)| match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(bad_arg(format!(
                "fields of document {i} ({}): expected a JSON object",
                ids.get(i).map_or("?", String::as_str)
            ))),
        })
        .collect()
}

/// Each shard's answer of a search over shards from its JSON text (`what`
/// names it in errors).
pub fn shard_answers<T: serde::de::DeserializeOwned>(
    texts: &[String],
    what: &str,
) -> PyResult<Vec<T>> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            serde_json::from_str(text).map_err(|e| bad_arg(format!("{what} of shard {i}: {e}")))
        })
        .collect()
}

/// A filter's JSON text, parsed.
pub fn filter(text: Option<&str>) -> PyResult<Option<hypencoder_engine::Filter>> {
    text.map(hypencoder_engine::Filter::parse_str)
        .transpose()
        .map_err(|e| bad_arg(e.to_string()))
}
