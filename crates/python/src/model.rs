//! `Model`: a Hypencoder or a bi-encoder loaded from a folder.

use std::path::PathBuf;
use std::sync::Arc;

use hypencoder_engine::{load_model, LoadOptions, Model as TextModel};
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;

use crate::convert::positive;
use crate::errors::engine;

/// A model: a Hypencoder (queries become q-nets) or a bi-encoder (queries
/// become vectors), from a Hugging Face folder.
#[pyclass(module = "hypencoder._native", frozen, subclass)]
pub struct Model {
    pub(crate) inner: Arc<TextModel>,
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (path, base=None, max_length=None, query_max_length=None, encode_precision="f32"))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        base: Option<PathBuf>,
        max_length: Option<usize>,
        query_max_length: Option<usize>,
        encode_precision: &str,
    ) -> PyResult<Self> {
        let options = LoadOptions {
            query_max_length,
            doc_max_length: max_length,
            doc_precision: crate::convert::encode_precision(encode_precision)?,
            ..Default::default()
        };
        let model = py
            .detach(|| load_model(&path, base.as_deref(), &options))
            .map_err(engine)?;
        Ok(Model {
            inner: Arc::new(model),
        })
    }

    /// Width of the document vectors.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// The precision documents are encoded at: "f32", "int8" or "bf16".
    #[getter]
    fn encode_precision(&self) -> &'static str {
        self.inner.doc_precision().name()
    }

    /// "hypencoder" or "bi-encoder".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind().name()
    }

    /// The folder the model was loaded from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.dir().to_path_buf()
    }

    /// Document vectors, one row per text: float32 (n, dim).
    #[pyo3(signature = (texts, batch_size=32))]
    fn encode_documents<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        batch_size: usize,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let batch_size = positive("batch_size", batch_size)?;
        let dim = self.inner.dim();
        let flat = py.detach(|| {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let rows = self
                .inner
                .encode_docs_batched(&refs, batch_size)
                .map_err(engine)?;
            Ok::<_, PyErr>(rows.concat())
        })?;
        PyArray1::from_vec(py, flat).reshape([texts.len(), dim])
    }

    /// Every query against every document, as `hypencoder score`: float32
    /// (len(queries), len(documents)).
    #[pyo3(signature = (queries, documents, batch_size=32))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        queries: Vec<String>,
        documents: Vec<String>,
        batch_size: usize,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let batch_size = positive("batch_size", batch_size)?;
        let flat = py.detach(|| {
            let docs: Vec<&str> = documents.iter().map(String::as_str).collect();
            let vectors = self
                .inner
                .encode_docs_batched(&docs, batch_size)
                .map_err(engine)?;
            let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
            let reps = self.inner.encode_queries(&queries).map_err(engine)?;
            let rows = self.inner.score_vectors(&reps, &vectors).map_err(engine)?;
            Ok::<_, PyErr>(rows.concat())
        })?;
        PyArray1::from_vec(py, flat).reshape([queries.len(), documents.len()])
    }
}
