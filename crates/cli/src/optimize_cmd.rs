//! `hypencoder optimize`: merge every segment of a live index into one,
//! dropping deleted documents (vectors copied, never re-encoded; the
//! lexical part and graph rebuilt), as one commit.

use std::path::PathBuf;

use anyhow::{Context, Result};
use hypencoder_engine::Writer;

use crate::common::Hinted;

#[derive(clap::Args)]
pub struct OptimizeArgs {
    /// Index folder to optimise.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
}

pub fn run(args: &OptimizeArgs) -> Result<()> {
    let mut writer = Writer::open(&args.index)
        .hinted()
        .with_context(|| format!("cannot write to --index {}", args.index.display()))?;
    let deleted: usize = writer.manifest().segments.iter().map(|s| s.deleted).sum();
    let started = std::time::Instant::now();
    let Some(merged) = writer.optimize().hinted()? else {
        eprintln!(
            "{} is one segment with nothing deleted: nothing to do",
            args.index.display()
        );
        return Ok(());
    };
    eprintln!(
        "merged {} segments ({} live documents, {deleted} deleted dropped) in {:.1} s; generation {}",
        merged.segments.len(),
        writer.manifest().live_docs(),
        started.elapsed().as_secs_f64(),
        merged.generation
    );
    Ok(())
}
