//! `LiveWriter`: the one writer of an index folder (it holds the index's
//! write lock), adding, replacing and deleting documents, each change one
//! durable commit, as the server's document endpoints do.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hypencoder_engine::{Docs, MergePolicy, Model as TextModel, OpenOptions, Quiet, Writer};
use pyo3::prelude::*;

use crate::convert::fields_of;
use crate::errors::{bad_arg, engine};
use crate::model::Model;

/// Opens `path` for writing (a single-folder index becomes a live one);
/// its model is loaded now unless given.
#[pyclass(module = "hypencoder._native", frozen)]
pub struct LiveWriter {
    writer: Mutex<Writer>,
    model: Arc<TextModel>,
}

/// (added, replaced, deleted, unknown ids, generation) of one commit.
type Report = (usize, usize, usize, Vec<String>, u64);

#[pymethods]
impl LiveWriter {
    #[new]
    #[pyo3(signature = (path, model=None, base=None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        model: Option<&Bound<'_, Model>>,
        base: Option<PathBuf>,
    ) -> PyResult<Self> {
        let given = model.map(|m| m.get().inner.clone());
        py.detach(|| {
            let writer = Writer::open(&path)?;
            let model = match given {
                Some(model) => model,
                None => Arc::new(writer.open_model(&OpenOptions {
                    base,
                    ..OpenOptions::default()
                })?),
            };
            Ok::<_, hypencoder_engine::Error>(LiveWriter {
                writer: Mutex::new(writer),
                model,
            })
        })
        .map_err(engine)
    }

    /// Encodes and adds documents (an existing id is replaced) as one
    /// commit; returns (added, replaced, deleted, unknown, generation)
    /// once it is durable. `fields`: each document's as JSON text.
    #[pyo3(signature = (ids, texts, fields=None, batch_size=32))]
    fn put(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
        texts: Vec<String>,
        fields: Option<Vec<String>>,
        batch_size: usize,
    ) -> PyResult<Report> {
        if ids.len() != texts.len() {
            return Err(bad_arg(format!(
                "{} ids for {} texts",
                ids.len(),
                texts.len()
            )));
        }
        let fields = fields_of(&ids, fields)?;
        py.detach(|| {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let docs = Docs::new(&ids, &texts).with_fields(&fields);
            let mut writer = self.writer.lock().expect("no panic holding the writer");
            writer.add(&self.model, docs, batch_size, false, &Quiet)
        })
        .map(report)
        .map_err(engine)
    }

    /// Deletes documents by id as one commit (ids it does not hold are
    /// reported); returns as ``put``.
    fn delete(&self, py: Python<'_>, ids: Vec<String>) -> PyResult<Report> {
        py.detach(|| {
            let mut writer = self.writer.lock().expect("no panic holding the writer");
            writer.delete(&ids, false)
        })
        .map(report)
        .map_err(engine)
    }

    /// Merges what the default merge policy picks, as one commit; the
    /// commit's generation, or None when nothing needed merging.
    fn merge(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        py.detach(|| {
            let mut writer = self.writer.lock().expect("no panic holding the writer");
            writer.merge(&MergePolicy::DEFAULT)
        })
        .map(|merged| merged.map(|m| m.generation))
        .map_err(engine)
    }

    /// The last commit's generation.
    #[getter]
    fn generation(&self) -> u64 {
        self.writer
            .lock()
            .expect("no panic holding the writer")
            .manifest()
            .generation
    }
}

fn report(c: hypencoder_engine::Committed) -> Report {
    (c.added, c.replaced, c.deleted, c.unknown, c.generation)
}
