//! `hypencoder._native`: the Python package's compiled half, thin over the
//! engine. One file per class (`model`, `index`, `writer`, `live`), the module's
//! functions (`functions`), the exceptions (`errors`) and one module that
//! turns Python arguments into the engine's types (`convert`). The
//! pure-Python half (`python/hypencoder/`) adds the default model's
//! location, pandas frames and the Ray integration.
//!
//! Every call that encodes or searches releases the GIL, so Python threads
//! (and Ray's) run beside it; the work itself runs on the engine's rayon
//! pool. Engine errors become `hypencoder.HypencoderError` subclasses
//! chosen by their kind, with the messages the CLI prints; bad arguments
//! `ValueError`.

mod convert;
mod errors;
mod functions;
mod index;
mod live;
mod model;
mod writer;

use hypencoder_engine::SearchParams;
use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::Model>()?;
    m.add_class::<index::Index>()?;
    m.add_class::<writer::IndexWriter>()?;
    m.add_class::<live::LiveWriter>()?;
    m.add_function(wrap_pyfunction!(functions::build_index_from, m)?)?;
    m.add_function(wrap_pyfunction!(functions::read_corpus_file, m)?)?;
    m.add_function(wrap_pyfunction!(functions::merge, m)?)?;
    m.add_function(wrap_pyfunction!(functions::resolve_encode_precision, m)?)?;
    m.add_function(wrap_pyfunction!(functions::combine_shards, m)?)?;
    let py = m.py();
    m.add("HypencoderError", py.get_type::<errors::HypencoderError>())?;
    m.add("LockedError", py.get_type::<errors::LockedError>())?;
    m.add("NotFoundError", py.get_type::<errors::NotFoundError>())?;
    m.add(
        "InvalidInputError",
        py.get_type::<errors::InvalidInputError>(),
    )?;
    m.add(
        "UnsupportedError",
        py.get_type::<errors::UnsupportedError>(),
    )?;
    m.add(
        "CorruptIndexError",
        py.get_type::<errors::CorruptIndexError>(),
    )?;
    m.add(
        "ModelUnavailableError",
        py.get_type::<errors::ModelUnavailableError>(),
    )?;
    m.add(
        "BaseModelNotFoundError",
        py.get_type::<errors::BaseModelNotFoundError>(),
    )?;
    // Every search setting's name, as `Index.search` takes them.
    m.add("SEARCH_SETTINGS", SearchParams::NAMES.to_vec())?;
    Ok(())
}
