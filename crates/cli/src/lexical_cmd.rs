//! `hypencoder lexical`: add (or rebuild) the lexical part of an existing
//! index (every segment of a live one), BM25 over its stored texts, for
//! `search --mode bm25`.

use std::path::PathBuf;

use anyhow::Result;
use hypencoder_engine::build_lexical;

use crate::common::Hinted;

#[derive(clap::Args)]
pub struct LexicalArgs {
    /// Index folder made by `hypencoder index` (with its texts kept).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
}

pub fn run(args: &LexicalArgs) -> Result<()> {
    let started = std::time::Instant::now();
    build_lexical(&args.index).hinted()?;
    eprintln!(
        "built the lexical part of {} in {:.1} s",
        args.index.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
