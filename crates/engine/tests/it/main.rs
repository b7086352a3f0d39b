//! Integration tests of hypencoder-engine, one binary: the merge policy's
//! choices (`policy`); an index built, searched, changed and given parts
//! through the engine alone, single-folder and live alike, with errors
//! told apart by kind (`collection`); the search request's one set of
//! names and defaults (`params`); tuning and the settings an index
//! records (`tune`).

mod collection;
mod params;
mod policy;
mod tune;
