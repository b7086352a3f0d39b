//! `Index`: an index folder opened read-only through the engine, searched
//! with every setting the CLI and the server take.

use std::path::PathBuf;

use hypencoder_engine::{Collection, OpenOptions};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::search_params;
use crate::errors::engine;
use crate::model::Model;

/// An index folder (single or live), opened read-only; its model is loaded
/// on the first search that needs it, unless given.
#[pyclass(module = "hypencoder._native", frozen, subclass)]
pub struct Index {
    inner: Collection,
}

#[pymethods]
impl Index {
    #[new]
    #[pyo3(signature = (path, model=None, base=None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        model: Option<&Bound<'_, Model>>,
        base: Option<PathBuf>,
    ) -> PyResult<Self> {
        let model = model.map(|m| m.get().inner.clone());
        let options = OpenOptions {
            base,
            ..OpenOptions::default()
        };
        let inner = py
            .detach(|| {
                let index = Collection::open(&path, options)?;
                match model {
                    Some(model) => index.with_model(model),
                    None => Ok(index),
                }
            })
            .map_err(engine)?;
        Ok(Index { inner })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Ids of the documents, in index order (deleted ones left out).
    #[getter]
    fn ids(&self) -> PyResult<Vec<String>> {
        self.inner.ids().map_err(engine)
    }

    /// The stored text of document `id`; KeyError if there is no such
    /// document, None if the index keeps no texts.
    fn document(&self, id: &str) -> PyResult<Option<String>> {
        match self.inner.document(id).map_err(engine)? {
            Some(document) => Ok(document.text),
            None => Err(PyKeyError::new_err(id.to_string())),
        }
    }

    /// The top `k` documents of each query: a list of (ids, scores) pairs,
    /// best first, ties to the earlier document (as `hypencoder search`).
    /// Every search setting is a keyword argument of the same name.
    #[pyo3(signature = (queries, k=10, **options))]
    fn search(
        &self,
        py: Python<'_>,
        queries: Vec<String>,
        k: usize,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Vec<(Vec<String>, Vec<f32>)>> {
        let params = search_params(k, options)?;
        py.detach(|| {
            let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
            let found = self.inner.search(&refs, &params).map_err(engine)?;
            found
                .hits
                .iter()
                .map(|hits| {
                    let ids = hits
                        .iter()
                        .map(|h| self.inner.id(h.doc).map(str::to_string).map_err(engine))
                        .collect::<PyResult<Vec<_>>>()?;
                    Ok((ids, hits.iter().map(|h| h.score).collect()))
                })
                .collect()
        })
    }
}
