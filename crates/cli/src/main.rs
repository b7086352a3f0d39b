//! `hypencoder`: the command line, a thin shell over the engine
//! (`hypencoder-engine`) and `hypencoder-eval`, `-train` and `-serve`. This
//! file is glue: the command table and the error exit. Each command lives
//! in its `*_cmd` module, which translates its flags, calls the engine and
//! prints; it depends only on `common` (shared flags, enums, hints,
//! progress) and the library crates.

mod add_cmd;
mod common;
mod delete_cmd;
mod embed_cmd;
mod eval_cmd;
mod graph_cmd;
mod index_cmd;
mod lexical_cmd;
mod merge_cmd;
mod mine_cmd;
mod optimize_cmd;
mod score_cmd;
mod search_cmd;
mod serve_cmd;
mod train_cmd;
mod tune_cmd;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    Score(score_cmd::ScoreArgs),
    /// Encode documents; prints one JSON line {"id": ..., "embedding": [...]} per input.
    Embed(embed_cmd::EmbedArgs),
    /// Encode a corpus into an index folder (vectors, ids, texts, lexical
    /// part, manifest).
    Index(index_cmd::IndexArgs),
    /// Search an index with the model it was built with: exhaustively, or by
    /// walking its neighbour graph (--mode graph); or by BM25 alone (--mode bm25).
    Search(search_cmd::SearchArgs),
    /// Choose an index's hybrid settings (fusion, weight, candidates, BM25
    /// k1 and b) on judged queries of its own and record them in it, where
    /// the gain holds up on held-out folds.
    Tune(tune_cmd::TuneArgs),
    /// Build the neighbour graph of an existing index (for --mode graph).
    Graph(graph_cmd::GraphArgs),
    /// Build the lexical part (BM25) of an existing index (for --mode bm25).
    Lexical(lexical_cmd::LexicalArgs),
    /// Evaluate a TREC run against qrels: MRR@10, nDCG@10, Recall@k, MAP
    /// with trec_eval's definitions.
    Eval(eval_cmd::EvalArgs),
    /// Train a Hypencoder (or a bi-encoder) from a base BERT folder on JSONL
    /// examples; writes an official-format checkpoint folder.
    // Boxed: the training flags are many times the size of the others.
    Train(Box<train_cmd::TrainArgs>),
    /// Mine hard negatives with an index's own search: writes training JSONL
    /// (query, positives from the qrels, top-ranked non-relevant documents).
    Mine(mine_cmd::MineArgs),
    /// Add documents to an index without a rebuild (new ids added, existing
    /// ones replaced), in one commit.
    Add(add_cmd::AddArgs),
    /// Delete documents from an index by id, in one commit.
    Delete(delete_cmd::DeleteArgs),
    /// Merge an index's segments into one, dropping deleted documents.
    Optimize(optimize_cmd::OptimizeArgs),
    /// Combine index pieces (e.g. one per worker of a distributed encoding)
    /// into one index: same document encoder, unique ids, rows in order.
    Merge(merge_cmd::MergeArgs),
    /// Serve indexes over HTTP: a JSON search API, a search page, metrics
    /// and an OpenAPI description, until SIGTERM or Ctrl-C.
    Serve(serve_cmd::ServeArgs),
}

fn main() {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The command's own matches: which flags were given, not defaulted.
    let given = matches
        .subcommand()
        .map(|(_, m)| m)
        .expect("clap requires a command");
    let result = match &cli.command {
        Command::Score(args) => score_cmd::run(args),
        Command::Embed(args) => embed_cmd::run(args),
        Command::Index(args) => index_cmd::run(args),
        Command::Search(args) => search_cmd::run(args, given),
        Command::Tune(args) => tune_cmd::run(args),
        Command::Eval(args) => eval_cmd::run(args),
        Command::Graph(args) => graph_cmd::run(args),
        Command::Lexical(args) => lexical_cmd::run(args),
        Command::Train(args) => train_cmd::run(args),
        Command::Mine(args) => mine_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Add(args) => add_cmd::run(args),
        Command::Delete(args) => delete_cmd::run(args),
        Command::Optimize(args) => optimize_cmd::run(args),
        Command::Merge(args) => merge_cmd::run(args),
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
