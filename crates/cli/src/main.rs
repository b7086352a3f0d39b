//! `hypencoder`: the command line. A thin shell over the library crates:
//! flags are parsed here, the work is done by `hypencoder-model`.

mod eval_cmd;
mod graph_cmd;
mod index_cmd;
mod input;
mod search_cmd;
mod train_cmd;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use hypencoder_model::{LoadOptions, Model};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use input::{read_jsonl, Fields, Record};

#[derive(Parser)]
#[command(
    name = "hypencoder",
    version,
    about = "Hypencoder and bi-encoder retrieval on the CPU",
    long_about = "Hypencoder and bi-encoder retrieval on the CPU.\n\n\
        A Hypencoder turns each query into a small neural network (the q-net) that \
        scores document vectors; a bi-encoder scores by dot product. MODEL folders \
        may be official HypencoderDualEncoder checkpoints, sentence-transformers \
        folders or plain BERT folders."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score every query against every document; prints {"scores": [[...], ...]}:
    /// one row per query, one column per document, in input order.
    Score(ScoreArgs),
    /// Encode documents; prints one JSON line {"id": ..., "embedding": [...]} per input.
    Embed(EmbedArgs),
    /// Encode a corpus into an index folder (vectors, ids, texts, manifest).
    Index(index_cmd::IndexArgs),
    /// Search an index with the model it was built with: exhaustively, or by
    /// walking its neighbour graph (--mode graph).
    Search(search_cmd::SearchArgs),
    /// Build the neighbour graph of an existing index (for --mode graph).
    Graph(graph_cmd::GraphArgs),
    /// Evaluate a TREC run against qrels: MRR@10, nDCG@10, Recall@k, MAP
    /// with trec_eval's definitions.
    Eval(eval_cmd::EvalArgs),
    /// Train a Hypencoder (or a bi-encoder) from a base BERT folder on JSONL
    /// examples; writes an official-format checkpoint folder.
    Train(train_cmd::TrainArgs),
    /// Mine hard negatives with an index's own search: writes training JSONL
    /// (query, positives from the qrels, top-ranked non-relevant documents).
    Mine(train_cmd::MineArgs),
}

#[derive(Args)]
pub struct ModelArgs {
    /// Model folder: a HypencoderDualEncoder checkpoint, a sentence-transformers
    /// folder, or a BERT folder [default: $HYPENCODER_MODEL, else the shipped
    /// Hypencoder in assets/default-model].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Documents are truncated to this many tokens [default: the model's own
    /// limit (sentence-transformers max_seq_length) or 512].
    #[arg(long, value_name = "N")]
    pub max_length: Option<usize>,
    /// Queries are truncated to this many tokens [default: 64].
    #[arg(long, value_name = "N")]
    pub query_max_length: Option<usize>,
    /// Documents encoded per forward pass.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub batch_size: usize,
}

impl ModelArgs {
    pub fn load(&self) -> Result<Model> {
        let options = LoadOptions {
            query_max_length: self.query_max_length,
            doc_max_length: self.max_length,
        };
        let dir = self.model.clone().unwrap_or_else(default_model_dir);
        Model::load_with(&dir, &options).with_context(|| {
            let mut msg = format!("cannot load model from {}", dir.display());
            if self.model.is_none() {
                msg.push_str(
                    " (the default model; its base all-MiniLM-L6-v2 comes from scripts/fetch-minilm, \
                     or pass --model DIR)",
                );
            }
            msg
        })
    }
}

/// The model used when `--model` is not given: `$HYPENCODER_MODEL`, else
/// the Hypencoder shipped in this repository (a head over all-MiniLM-L6-v2
/// trained on debian-pkg; see assets/default-model/README.md).
pub fn default_model_dir() -> PathBuf {
    match std::env::var_os("HYPENCODER_MODEL") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/default-model"),
    }
}

#[derive(Args)]
pub struct FieldArgs {
    /// JSON field holding each record's id.
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub id_field: String,
    /// JSON field holding each record's text.
    #[arg(long, value_name = "NAME", default_value = "text")]
    pub text_field: String,
}

impl FieldArgs {
    pub fn fields(&self, require_id: bool) -> Fields<'_> {
        Fields {
            id: &self.id_field,
            text: &self.text_field,
            require_id,
        }
    }

    fn read(&self, path: &Path, require_id: bool) -> Result<Vec<Record>> {
        read_jsonl(path, &self.fields(require_id))
    }
}

#[derive(Args)]
struct ScoreArgs {
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

#[derive(Args)]
struct EmbedArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Documents, JSONL with an id and a text field per line.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    #[command(flatten)]
    fields: FieldArgs,
}

#[derive(serde::Serialize)]
struct ScoresOut<'a> {
    scores: &'a [Vec<f32>],
}

#[derive(serde::Serialize)]
struct EmbeddingOut<'a> {
    id: Option<&'a serde_json::Value>,
    embedding: &'a [f32],
}

/// Queries are turned into q-nets this many at a time, bounding memory.
const QUERY_BATCH: usize = 32;

fn score(args: &ScoreArgs) -> Result<()> {
    let queries = args.fields.read(&args.queries, false)?;
    let docs = args.fields.read(&args.docs, false)?;
    let model = args.model.load()?;
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

fn embed(args: &EmbedArgs) -> Result<()> {
    let records = args.fields.read(&args.input, true)?;
    let model = args.model.load()?;
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

/// Documents/s and ETA on stderr when it is a terminal; hidden when piped.
pub fn progress_bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} docs  {per_sec}  ETA {eta}")
            .expect("valid template"),
    );
    bar
}

/// Encodes documents in slices, advancing a progress bar.
fn encode_with_progress(model: &Model, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
    let progress = progress_bar(texts.len());
    let mut vectors = Vec::with_capacity(texts.len());
    for slice in texts.chunks(batch_size.max(1) * 32) {
        vectors.extend(model.encode_docs_batched(slice, batch_size)?);
        progress.inc(slice.len() as u64);
    }
    progress.finish_and_clear();
    Ok(vectors)
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Score(args) => score(args),
        Command::Embed(args) => embed(args),
        Command::Index(args) => index_cmd::run(args),
        Command::Search(args) => search_cmd::run(args),
        Command::Eval(args) => eval_cmd::run(args),
        Command::Graph(args) => graph_cmd::run(args),
        Command::Train(args) => train_cmd::run_train(args),
        Command::Mine(args) => train_cmd::run_mine(args),
    };
    if let Err(err) = result {
        if is_broken_pipe(&err) {
            std::process::exit(0);
        }
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

/// `hypencoder embed ... | head` should stop quietly.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
