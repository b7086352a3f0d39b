//! Integration tests of hypencoder-eval, one binary: TREC formats
//! (`formats`), metrics against a naive implementation (`metrics`) and
//! against pytrec_eval on committed data (`pytrec_eval`).

mod formats;
mod metrics;
mod pytrec_eval;
