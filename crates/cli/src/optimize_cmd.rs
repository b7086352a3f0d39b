//! `hypencoder optimize`: merge every segment of a live index into one,
//! dropping deleted documents (vectors copied, never re-encoded; the
//! lexical part and graph rebuilt), as one commit; `--dtype` stores the
//! merged vectors at another dtype (int8: about a quarter of f32's bytes).

use std::path::PathBuf;

use anyhow::{Context, Result};
use hypencoder_engine::Writer;

use crate::common::{DtypeArg, Hinted};

#[derive(clap::Args)]
pub struct OptimizeArgs {
    /// Index folder to optimise.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Store the vectors as this from now on (converted, not re-encoded;
    /// int8 keeps a scale per vector and about a quarter of f32's bytes)
    /// [default: the index's dtype].
    #[arg(long, value_name = "TYPE", value_enum)]
    pub dtype: Option<DtypeArg>,
}

pub fn run(args: &OptimizeArgs) -> Result<()> {
    let mut writer = Writer::open(&args.index)
        .hinted()
        .with_context(|| format!("cannot write to --index {}", args.index.display()))?;
    let deleted: usize = writer.manifest().segments.iter().map(|s| s.deleted).sum();
    let dtype = args.dtype.map_or(writer.manifest().dtype, Into::into);
    let started = std::time::Instant::now();
    let Some(merged) = writer.optimize_as(dtype).hinted()? else {
        eprintln!(
            "{} is one segment with nothing deleted, stored as {}: nothing to do",
            args.index.display(),
            dtype.name()
        );
        return Ok(());
    };
    eprintln!(
        "merged {} segments ({} live documents, {deleted} deleted dropped) into one storing {} in {:.1} s; generation {}",
        merged.segments.len(),
        writer.manifest().live_docs(),
        dtype.name(),
        started.elapsed().as_secs_f64(),
        merged.generation
    );
    Ok(())
}
