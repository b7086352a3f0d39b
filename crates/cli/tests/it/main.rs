//! Integration tests of the `hypencoder` binary, one test binary: `score`
//! and `embed` parity, checkpoint layouts and bad input (`cli`), `index`,
//! `search`, `graph` and `eval` end to end (`index_search`), and mining and
//! training on real text (`train`), `serve` over loopback (`serve`, and its
//! page in chromium: `serve_page`), `add`/`delete` with the kill -9
//! drill (`live`), `tune` with the settings an index records (`tune`),
//! and documents' fields and filters in the CLI and the server (`filter`).

mod cli;
mod filter;
mod index_search;
mod live;
mod merge;
mod serve;
mod serve_page;
mod train;
mod tune;

use hypencoder_test_support::Binary;

/// The binary under test, as Cargo built it for these tests.
const HYPENCODER: Binary = Binary(env!("CARGO_BIN_EXE_hypencoder"));

/// A JSON array of numbers.
fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// A JSON array of arrays of numbers, row by row.
fn matrix(v: &serde_json::Value) -> Vec<Vec<f64>> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(floats)
        .collect()
}
