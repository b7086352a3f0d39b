//! Integration tests of hypencoder-engine, one binary: the merge policy's
//! choices (`policy`); an index built, searched, changed and given parts
//! through the engine alone, single-folder and live alike, with errors
//! told apart by kind (`collection`); filtered search in every mode
//! (`filter`); shards searched as one index (`shard`); the search request's one set of
//! names and defaults (`params`); tuning and the settings an index
//! records (`tune`).

mod collection;
mod filter;
mod params;
mod policy;
mod shard;
mod tune;
