//! `hypencoder lexical`: add (or rebuild) the lexical part of an existing
//! index, BM25 over its stored texts, for `search --mode bm25`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use hypencoder_index::write_lexical;

#[derive(clap::Args)]
pub struct LexicalArgs {
    /// Index folder made by `hypencoder index` (with its texts kept).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
}

pub fn run(args: &LexicalArgs) -> Result<()> {
    let started = std::time::Instant::now();
    write_lexical(&args.index).with_context(|| {
        format!(
            "cannot build the lexical part of --index {} (an index built with --no-texts \
             needs `hypencoder index` again)",
            args.index.display()
        )
    })?;
    eprintln!(
        "built the lexical part of {} in {:.1} s",
        args.index.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
