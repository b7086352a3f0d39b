//! `Index`: an index folder opened read-only through the engine, searched
//! with every setting the CLI and the server take.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use hypencoder_engine::{
    tune, Collection, Metric, OpenOptions, Qrels, Quiet, ShardStats, TuneOptions, Writer,
};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{search_params, shard_answers};
use crate::errors::{bad_arg, engine};
use crate::model::Model;

/// An index folder (single or live), opened read-only; its model is loaded
/// on the first search that needs it, unless given.
#[pyclass(module = "hypencoder._native", frozen, subclass)]
pub struct Index {
    /// Swapped whole when `tune` records new settings.
    inner: RwLock<Arc<Collection>>,
}

impl Index {
    /// The index as open now.
    fn current(&self) -> Arc<Collection> {
        Arc::clone(&self.inner.read().expect("no panic holding the index"))
    }
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
        Ok(Index {
            inner: RwLock::new(Arc::new(inner)),
        })
    }

    fn __len__(&self) -> usize {
        self.current().len()
    }

    /// Ids of the documents, in index order (deleted ones left out).
    #[getter]
    fn ids(&self) -> PyResult<Vec<String>> {
        self.current().ids().map_err(engine)
    }

    /// The stored text of document `id`; KeyError if there is no such
    /// document, None if the index keeps no texts.
    fn document(&self, id: &str) -> PyResult<Option<String>> {
        match self.current().document(id).map_err(engine)? {
            Some(document) => Ok(document.text),
            None => Err(PyKeyError::new_err(id.to_string())),
        }
    }

    /// The fields of document `id` as JSON text; KeyError if there is no
    /// such document.
    fn document_fields(&self, id: &str) -> PyResult<String> {
        match self.current().document(id).map_err(engine)? {
            Some(document) => Ok(serde_json::Value::Object(document.fields).to_string()),
            None => Err(PyKeyError::new_err(id.to_string())),
        }
    }

    /// The top `k` documents of each query: a list of (ids, scores,
    /// fields) triples, best first, ties to the earlier document (as
    /// `hypencoder search`); fields (each hit's as JSON text) only with
    /// `with_fields`. `filter`: JSON text of a filter. Every search setting
    /// is a keyword argument of the same name. A filter's field no
    /// document has is warned of (UserWarning).
    #[pyo3(signature = (queries, k=10, filter=None, with_fields=false, **options))]
    #[allow(clippy::type_complexity)]
    fn search(
        &self,
        py: Python<'_>,
        queries: Vec<String>,
        k: usize,
        filter: Option<&str>,
        with_fields: bool,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Vec<(Vec<String>, Vec<f32>, Option<Vec<String>>)>> {
        let index = self.current();
        let params = search_params(&index, k, options)?;
        let filter = crate::convert::filter(filter)?;
        let (results, warnings) = py.detach(|| {
            let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
            let found = index
                .search_where(&refs, &params, filter.as_ref())
                .map_err(engine)?;
            let results = found
                .hits
                .iter()
                .map(|hits| {
                    let ids = hits
                        .iter()
                        .map(|h| index.id(h.doc).map(str::to_string).map_err(engine))
                        .collect::<PyResult<Vec<_>>>()?;
                    let fields = with_fields
                        .then(|| {
                            hits.iter()
                                .map(|h| {
                                    let fields = index.fields(h.doc).map_err(engine)?;
                                    Ok(serde_json::Value::Object(fields).to_string())
                                })
                                .collect::<PyResult<Vec<_>>>()
                        })
                        .transpose()?;
                    Ok((ids, hits.iter().map(|h| h.score).collect(), fields))
                })
                .collect::<PyResult<Vec<_>>>()?;
            Ok::<_, PyErr>((results, found.warnings))
        })?;
        for warning in warnings {
            let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
            PyErr::warn(py, &category, &std::ffi::CString::new(warning)?, 2)?;
        }
        Ok(results)
    }

    /// What the index holds and can answer, as the server's index list
    /// gives it: documents, dimensions, model, modes, default_mode,
    /// has_texts, segments, generation, search_defaults, fields.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let info = serde_json::to_value(self.current().info()).expect("info serialises");
        to_python(py, &info)
    }

    /// The commit the index is open at (each write and merge makes the
    /// next).
    #[getter]
    fn generation(&self) -> u64 {
        self.current().info().generation
    }

    /// Opens the folder again at its latest commit if it is open at one
    /// before `generation` (None: always); returns the generation open
    /// now. Searches in flight finish on the one they started on.
    #[pyo3(signature = (generation=None))]
    fn refresh(&self, py: Python<'_>, generation: Option<u64>) -> PyResult<u64> {
        let index = self.current();
        let open = index.info().generation;
        if generation.is_some_and(|g| g <= open) {
            return Ok(open);
        }
        let fresh = py.detach(|| index.reopen()).map_err(engine)?;
        let now = fresh.info().generation;
        *self.inner.write().expect("no panic holding the index") = Arc::new(fresh);
        Ok(now)
    }

    /// The first round of a search over shards (``hypencoder.ray``): this
    /// shard's rows and, per query, its BM25 statistics, as JSON text for
    /// the coordinator to hand every shard in the second round.
    fn shard_stats(&self, py: Python<'_>, queries: Vec<String>) -> PyResult<String> {
        let index = self.current();
        let stats = py
            .detach(|| {
                let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
                index.shard_stats(&refs)
            })
            .map_err(engine)?;
        Ok(serde_json::to_string(&stats).expect("statistics serialise"))
    }

    /// The second round: this shard's candidates for `queries` as JSON
    /// text, searched as part of the collection whose shards answered
    /// `stats` (each one's ``shard_stats``, in shard order) in the first
    /// round; for ``hypencoder._native.combine_shards``. Settings as
    /// ``search``'s.
    #[pyo3(signature = (queries, stats, k=10, filter=None, **options))]
    fn search_shard(
        &self,
        py: Python<'_>,
        queries: Vec<String>,
        stats: Vec<String>,
        k: usize,
        filter: Option<&str>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let index = self.current();
        let params = search_params(&index, k, options)?;
        let filter = crate::convert::filter(filter)?;
        let stats: Vec<ShardStats> = shard_answers(&stats, "stats")?;
        let answer = py
            .detach(|| {
                let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
                index.search_shard(&refs, &params, filter.as_ref(), &stats)
            })
            .map_err(engine)?;
        Ok(serde_json::to_string(&answer).expect("an answer serialises"))
    }

    /// The search settings recorded in the index (by ``tune``), by name;
    /// empty: the shipped defaults.
    #[getter]
    fn search_defaults<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(
            py,
            &serde_json::Value::Object(self.current().info().search_defaults),
        )
    }

    /// Chooses the index's hybrid settings on judged queries (query id to
    /// text; query id to document id to grade), records them unless
    /// ``dry_run`` (searches then use them where they set none) and returns
    /// the outcome: every setting's score, the shipped defaults', the
    /// held-out gain, the bootstrap p-value and the decision.
    #[pyo3(signature = (queries, qrels, metric="mrr@10", dry_run=false))]
    fn tune<'py>(
        &self,
        py: Python<'py>,
        queries: HashMap<String, String>,
        qrels: HashMap<String, HashMap<String, i32>>,
        metric: &str,
        dry_run: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let metric = Metric::parse(metric).map_err(|e| bad_arg(format!("metric: {e}")))?;
        let mut judged = Qrels::new();
        for (qid, docs) in &qrels {
            for (doc, &grade) in docs {
                judged.insert(qid, doc, grade);
            }
        }
        let mut queries: Vec<(String, String)> = queries.into_iter().collect();
        queries.sort();
        let index = self.current();
        let options = TuneOptions {
            metric,
            ..TuneOptions::default()
        };
        let (tuning, generation) = py
            .detach(|| -> Result<_, hypencoder_engine::Error> {
                let tuning = tune(&index, &queries, &judged, &options, &Quiet)?;
                if dry_run {
                    return Ok((tuning, None));
                }
                let generation = Writer::open(index.dir())?.set_search_defaults(tuning.record())?;
                let fresh = index.reopen()?;
                *self.inner.write().expect("no panic holding the index") = Arc::new(fresh);
                Ok((tuning, Some(generation)))
            })
            .map_err(engine)?;
        // Through text, so f32s read as their shortest decimals (0.4).
        let text = serde_json::to_string(&tuning).expect("a tuning serialises");
        let mut out: serde_json::Value = serde_json::from_str(&text).expect("JSON reads back");
        out["generation"] = serde_json::json!(generation);
        to_python(py, &out)
    }
}

/// A JSON value as the Python object `json.loads` makes of it.
fn to_python<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    let text = value.to_string();
    py.import("json")?.call_method1("loads", (text,))
}
