//! `hypencoder graph`: build the neighbour graph of an existing index (every
//! segment of a live one), for `search --mode graph`: exact or nn-descent
//! neighbour lists, diversified unless `--plain-knn`, or grown by
//! insertion.

use std::path::PathBuf;

use anyhow::{bail, Result};
use hypencoder_engine::{build_graph, Construction};

use crate::common::{Bar, GraphBuildArgs, Hinted};

#[derive(clap::Args)]
pub struct GraphArgs {
    /// Index folder made by `hypencoder index`.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    #[command(flatten)]
    pub graph: GraphBuildArgs,
}

pub fn run(args: &GraphArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let options = args.graph.options();
    if options.construction == Construction::Insert && (options.plain_knn || options.measure_recall)
    {
        bail!(
            "--construction insert builds pruned lists only: drop --plain-knn and --measure-recall"
        );
    }
    let report = build_graph(&args.index, &options, &Bar::new()).hinted()?;
    if let Some(warning) = &report.warning {
        eprintln!("warning: {warning}");
    }
    if let (Construction::NnDescent, Some(recall)) = (report.construction, report.recall) {
        eprintln!("nn-descent neighbour lists: recall {recall:.4} against exact kNN");
    }
    let segments = match report.segments {
        1 => String::new(),
        n => format!(" ({n} segments)"),
    };
    let (degree, metric, dir) = (options.degree, report.metric.name(), args.index.display());
    let secs = started.elapsed().as_secs_f64();
    if report.construction == Construction::Insert {
        eprintln!(
            "grew the {degree}-NN graph ({metric}) of {dir}{segments} by insertion in {secs:.1} s"
        );
    } else {
        eprintln!(
            "built the {} {degree}-NN graph ({metric}) of {dir}{segments} in {secs:.1} s",
            report.method
        );
    }
    Ok(())
}
