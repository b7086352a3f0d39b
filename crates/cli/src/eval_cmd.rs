//! `hypencoder eval`: trec_eval's metrics for a run against qrels.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use hypencoder_eval::{evaluate_with, EvalOptions, Metric, Qrels, Run};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Relevance judgments, TREC qrels: `qid iter docid rel` per line.
    #[arg(long, value_name = "FILE")]
    pub qrels: PathBuf,
    /// A TREC run: `qid Q0 docid rank score tag` per line.
    #[arg(long, value_name = "FILE")]
    pub run: PathBuf,
    /// Comma-separated metrics: mrr@K, ndcg@K, recall@K, P@K, map, ndcg,
    /// recip_rank (trec_eval names such as ndcg_cut_10 work too).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "mrr@10,ndcg@10,recall@10,recall@100,recall@1000,map"
    )]
    pub metrics: Vec<String>,
    /// Also print each query's values.
    #[arg(long)]
    pub per_query: bool,
    /// Average over every judged query, counting queries missing from the
    /// run as 0 (trec_eval -c). Default: queries in both files, as trec_eval.
    #[arg(long)]
    pub complete: bool,
    /// Print JSON instead of trec_eval-style lines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let metrics = args
        .metrics
        .iter()
        .map(|m| Metric::parse(m.trim()))
        .collect::<hypencoder_eval::Result<Vec<_>>>()?;
    let qrels = Qrels::read(&args.qrels)?;
    let run = Run::read(&args.run)?;
    let options = EvalOptions {
        complete: args.complete,
        ..EvalOptions::default()
    };
    let eval = evaluate_with(&qrels, &run, &metrics, options)?;
    // Write errors (a closed pipe: `eval ... | head`) end the command quietly.
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&eval)?)?;
        return Ok(());
    }
    if args.per_query {
        for (qid, values) in &eval.per_query {
            for m in &metrics {
                writeln!(out, "{:<20}\t{qid}\t{:.4}", m.to_string(), values[m])?;
            }
        }
    }
    writeln!(out, "{:<20}\tall\t{}", "num_q", eval.per_query.len())?;
    for m in &metrics {
        writeln!(out, "{:<20}\tall\t{:.4}", m.to_string(), eval.mean[m])?;
    }
    Ok(())
}
