//! `IndexWriter`: an index folder from vectors encoded elsewhere (one
//! block of a distributed encoding), through the index crate's crash-safe
//! writer.

use std::path::PathBuf;

use hypencoder_engine::{writer_config, SegmentWriter};
use numpy::PyReadonlyArray2;
use pyo3::prelude::*;

use crate::convert::dtype;
use crate::errors::{bad_arg, engine};
use crate::model::Model;

/// Writes an index from precomputed vectors: `add` rows, then `finish`.
/// Built in `<path>.partial/` and moved into place by `finish`, so a failed
/// run leaves no index.
#[pyclass(module = "hypencoder._native")]
pub struct IndexWriter {
    writer: Option<SegmentWriter>,
    dim: usize,
}

#[pymethods]
impl IndexWriter {
    #[new]
    #[pyo3(signature = (path, model, dtype="f32", texts=true, lexical=true, source=None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        model: &Bound<'_, Model>,
        dtype: &str,
        texts: bool,
        lexical: bool,
        source: Option<String>,
    ) -> PyResult<Self> {
        let dtype = self::dtype(dtype)?;
        let model = model.get().inner.clone();
        let source = source.unwrap_or_else(|| format!("python writer {}", path.display()));
        let writer = py
            .detach(|| {
                let config = writer_config(&model, dtype, texts, lexical, source)?;
                Ok::<_, hypencoder_engine::Error>(SegmentWriter::create(&path, config)?)
            })
            .map_err(engine)?;
        Ok(IndexWriter {
            writer: Some(writer),
            dim: model.dim(),
        })
    }

    /// Adds rows: `ids` (unique), `vectors` float32 (len(ids), dim), and
    /// their texts (empty strings if None).
    #[pyo3(signature = (ids, vectors, texts=None))]
    fn add(
        &mut self,
        ids: Vec<String>,
        vectors: PyReadonlyArray2<'_, f32>,
        texts: Option<Vec<String>>,
    ) -> PyResult<()> {
        let array = vectors.as_array();
        let shape = array.shape();
        if shape[0] != ids.len() || shape[1] != self.dim {
            return Err(bad_arg(format!(
                "vectors has shape ({}, {}); expected ({}, {}) for {} ids",
                shape[0],
                shape[1],
                ids.len(),
                self.dim,
                ids.len()
            )));
        }
        if let Some(t) = &texts {
            if t.len() != ids.len() {
                return Err(bad_arg(format!("{} texts for {} ids", t.len(), ids.len())));
            }
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| bad_arg("the writer is finished".into()))?;
        for (i, id) in ids.iter().enumerate() {
            let row: Vec<f32> = array.row(i).to_vec();
            let text = texts.as_ref().map_or("", |t| t[i].as_str());
            writer.add(id, text, &row, false).map_err(engine)?;
        }
        Ok(())
    }

    /// Writes the index and moves it into place; returns its document count.
    fn finish(&mut self, py: Python<'_>) -> PyResult<usize> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| bad_arg("the writer is finished".into()))?;
        let manifest = py.detach(|| writer.finish()).map_err(engine)?;
        Ok(manifest.count)
    }
}
