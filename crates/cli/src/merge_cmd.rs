//! `hypencoder merge`: combine index pieces (folders written separately,
//! e.g. one per worker of a distributed encoding run) into one index.

use std::path::PathBuf;

use anyhow::{Context, Result};
use hypencoder_engine::{merge_indexes, GraphOptions};

use crate::common::{Bar, Hinted};

#[derive(clap::Args)]
pub struct MergeArgs {
    /// The combined index folder to write (must not exist).
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// Index pieces, in the order their rows should take; all from one
    /// document encoder, with ids unique across them.
    #[arg(value_name = "PIECE", required = true)]
    pub pieces: Vec<PathBuf>,
    /// Skip the lexical part (BM25), which is otherwise built over the
    /// combined texts.
    #[arg(long)]
    pub no_lexical: bool,
    /// Also build the neighbour graph with this many neighbours per document.
    #[arg(long, value_name = "N")]
    pub graph_degree: Option<usize>,
}

pub fn run(args: &MergeArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let graph = args.graph_degree.map(GraphOptions::new);
    let built = merge_indexes(
        &args.pieces,
        &args.output,
        !args.no_lexical,
        graph.as_ref(),
        &Bar::new(),
    )
    .hinted()
    .with_context(|| format!("cannot merge into --output {}", args.output.display()))?;
    eprintln!(
        "merged {} pieces into {} ({} documents) in {:.1} s",
        args.pieces.len(),
        args.output.display(),
        built.manifest.count,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
