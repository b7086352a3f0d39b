//! `hypencoder score`: every query against every document, as one JSON
//! matrix on stdout.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::common::{encode_with_progress, EncodePrecisionArg, FieldArgs, ModelArgs};

#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Queries, JSONL with a text field per line.
    #[arg(long, value_name = "FILE")]
    queries: PathBuf,
    /// Documents, JSONL with a text field per line.
    #[arg(long, value_name = "FILE")]
    docs: PathBuf,
    #[command(flatten)]
    fields: FieldArgs,
}

#[derive(serde::Serialize)]
struct ScoresOut<'a> {
    scores: &'a [Vec<f32>],
}

/// Queries are turned into q-nets this many at a time, bounding memory.
const QUERY_BATCH: usize = 32;

pub fn run(args: &ScoreArgs) -> Result<()> {
    let queries = args.fields.read(&args.queries, false)?;
    let docs = args.fields.read(&args.docs, false)?;
    let model = args.model.load(EncodePrecisionArg::F32)?;
    let doc_texts: Vec<&str> = docs.iter().map(|r| r.text.as_str()).collect();
    let doc_vectors = encode_with_progress(&model, &doc_texts, args.model.batch_size)?;
    let mut rows: Vec<Vec<f32>> = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(QUERY_BATCH) {
        let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
        let reps = model.encode_queries(&texts)?;
        rows.extend(model.score_vectors(&reps, &doc_vectors)?);
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    serde_json::to_writer(&mut out, &ScoresOut { scores: &rows })?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
