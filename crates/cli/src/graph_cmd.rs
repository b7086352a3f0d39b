//! `hypencoder graph`: build the neighbour graph of an existing index, for
//! `search --mode graph`: exact or nn-descent neighbour lists, diversified
//! unless `--plain-knn` (the work is `common::build_graph`).

use std::path::PathBuf;

use anyhow::Result;

use crate::common::{build_graph, GraphBuildArgs};

#[derive(clap::Args)]
pub struct GraphArgs {
    /// Index folder made by `hypencoder index`.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    #[command(flatten)]
    pub graph: GraphBuildArgs,
}

pub fn run(args: &GraphArgs) -> Result<()> {
    build_graph(&args.index, &args.graph)
}
