//! `hypencoder embed`: one JSON line of document vector per input record,
//! streamed as slices are encoded.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::common::{progress_bar, EncodePrecisionArg, FieldArgs, ModelArgs};

#[derive(Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Documents, JSONL with an id and a text field per line.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    #[command(flatten)]
    fields: FieldArgs,
}

#[derive(serde::Serialize)]
struct EmbeddingOut<'a> {
    id: Option<&'a serde_json::Value>,
    embedding: &'a [f32],
}

pub fn run(args: &EmbedArgs) -> Result<()> {
    let records = args.fields.read(&args.input, true)?;
    let model = args.model.load(EncodePrecisionArg::F32)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let progress = progress_bar(records.len());
    // Encode in slices so output starts early and memory stays bounded.
    for slice in records.chunks(args.model.batch_size.max(1) * 32) {
        let texts: Vec<&str> = slice.iter().map(|r| r.text.as_str()).collect();
        let vectors = model.encode_docs_batched(&texts, args.model.batch_size)?;
        progress.inc(slice.len() as u64);
        for (record, embedding) in slice.iter().zip(vectors) {
            let line = EmbeddingOut {
                id: record.id.as_ref(),
                embedding: &embedding,
            };
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    progress.finish_and_clear();
    Ok(())
}
