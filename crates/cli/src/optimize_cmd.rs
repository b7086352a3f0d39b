//! `hypencoder optimize`: merge every segment of a live index into one,
//! dropping deleted documents (vectors copied, never re-encoded; the
//! lexical part and graph rebuilt), as one commit.

use std::path::PathBuf;

use anyhow::{Context, Result};
use hypencoder_index::LiveWriter;
use hypencoder_search::merge_segments;

#[derive(clap::Args)]
pub struct OptimizeArgs {
    /// Index folder to optimise.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
}

pub fn run(args: &OptimizeArgs) -> Result<()> {
    let mut writer = LiveWriter::open(&args.index)
        .with_context(|| format!("cannot write to --index {}", args.index.display()))?;
    let manifest = writer.manifest().clone();
    let deleted: usize = manifest.segments.iter().map(|s| s.deleted).sum();
    if manifest.segments.len() == 1 && deleted == 0 {
        eprintln!(
            "{} is one segment with nothing deleted: nothing to do",
            args.index.display()
        );
        return Ok(());
    }
    let started = std::time::Instant::now();
    let names: Vec<String> = manifest.segments.iter().map(|s| s.name.clone()).collect();
    merge_segments(&mut writer, &names)?;
    let generation = writer.commit()?;
    eprintln!(
        "merged {} segments ({} live documents, {deleted} deleted dropped) in {:.1} s; generation {generation}",
        names.len(),
        writer.manifest().live_docs(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
