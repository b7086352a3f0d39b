//! `hypencoder search`: exhaustive search of an index with its model.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hypencoder_eval::RunWriter;
use hypencoder_index::Index;
use hypencoder_model::{LoadOptions, Model, QueryRepresentation};
use hypencoder_search::{
    exhaustive, graph_search_many, random_entry_points, BeamParams, DotScorer, GraphAlgorithm,
    GraphParams, Hit, QNetScorer, Scorer,
};

use crate::input::{read_jsonl, unique_ids, Fields};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `qid Q0 docid rank score tag`, for trec_eval and `hypencoder eval`.
    Trec,
    /// One JSON object per query: {"qid", "hits": [{"rank", "id", "score"}]}.
    Jsonl,
    /// For people: rank, score, id and a snippet of the text.
    Text,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Score every document: exact.
    Exhaustive,
    /// Walk the index's neighbour graph from entry points (the paper's
    /// approximate search); needs `hypencoder graph` first.
    Graph,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    Beam,
    Paper,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    /// Index folder made by `hypencoder index`.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// One query text.
    #[arg(
        long,
        value_name = "TEXT",
        conflicts_with = "queries",
        required_unless_present = "queries"
    )]
    pub query: Option<String>,
    /// Queries, JSONL with an id and a text field per line.
    #[arg(long, value_name = "FILE")]
    pub queries: Option<PathBuf>,
    /// Results per query.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub k: usize,
    /// Write results here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format [default: text for --query, trec for --queries].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Model folder [default: the one the index was built with]. Must compute
    /// the same vectors: its fingerprint is checked against the index's.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Queries are truncated to this many tokens [default: 64].
    #[arg(long, value_name = "N")]
    pub query_max_length: Option<usize>,
    /// Queries encoded and scored together in one pass over the index.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub query_batch: usize,
    /// exhaustive (exact) or graph (approximate, needs a graph in the index).
    #[arg(long, value_enum, default_value = "exhaustive")]
    pub mode: Mode,
    /// Graph search: beam (ours: best-first with a bounded frontier) or
    /// paper (the paper's rounds of candidate expansion).
    #[arg(long, value_enum, default_value = "beam")]
    pub algorithm: Algorithm,
    /// Graph search: initial candidates, drawn at random [default: 10000 for
    /// paper, as published; 64 for beam].
    #[arg(long, value_name = "N")]
    pub entry_points: Option<usize>,
    /// Beam: documents kept in the search pool (at least --k).
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub ef: usize,
    /// Beam: candidates expanded per step (their neighbours are scored as one block).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub expand: usize,
    /// Graph search: candidates whose neighbours are expanded per round (the paper: 50).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub ncandidates: usize,
    /// Graph search: most expansion rounds (the paper: 16).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_iter: usize,
    /// Graph search: keep expanding after a round that improved no result
    /// (the paper stops early).
    #[arg(long)]
    pub no_early_stop: bool,
    /// Graph search: seed for drawing entry points.
    #[arg(long, value_name = "N", default_value_t = 43)]
    pub seed: u64,
    /// Run tag (last column of TREC output).
    #[arg(long, value_name = "NAME", default_value = "hypencoder")]
    pub tag: String,
    /// JSON field holding each query's id.
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub id_field: String,
    /// JSON field holding each query's text.
    #[arg(long, value_name = "NAME", default_value = "text")]
    pub text_field: String,
}

/// Loads the model an index was built with and checks it is the same one.
pub fn index_model(
    index: &Index,
    override_dir: Option<&Path>,
    options: &LoadOptions,
) -> Result<Model> {
    let info = &index.manifest().model;
    let dir = override_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(&info.path));
    let model = Model::load_with(&dir, options).with_context(|| {
        format!(
            "cannot load the index's model from {} (pass --model DIR if it moved)",
            dir.display()
        )
    })?;
    // Same document encoder is enough: queries may come from another head.
    let (theirs, ours, what) = match &info.doc_encoder {
        Some(doc) => (
            doc.clone(),
            model.doc_encoder_fingerprint()?,
            "document encoder",
        ),
        None => (info.fingerprint.clone(), model.fingerprint()?, "model"),
    };
    if theirs != ours {
        bail!(
            "{} was built with another {what}: the index's model {} has {what} fingerprint {}, {} has {}",
            index.dir().display(),
            info.path,
            &theirs[..12.min(theirs.len())],
            dir.display(),
            &ours[..12]
        );
    }
    Ok(model)
}

/// The scorer for a batch of encoded queries.
pub fn scorer_for(reps: QueryRepresentation, dim: usize) -> Result<Box<dyn Scorer>> {
    Ok(match reps {
        QueryRepresentation::QNets(q) => Box::new(QNetScorer::new(q.split()?)),
        QueryRepresentation::Vectors(v) => {
            let flat: Vec<f32> = v.flatten_all()?.to_vec1()?;
            Box::new(DotScorer::new(flat, dim))
        }
    })
}

/// One single-query scorer per query, for graph search.
fn per_query_scorers(reps: QueryRepresentation, dim: usize) -> Result<Vec<Box<dyn Scorer>>> {
    Ok(match reps {
        QueryRepresentation::QNets(q) => q
            .split()?
            .into_iter()
            .map(|qnet| Box::new(QNetScorer::new(vec![qnet])) as Box<dyn Scorer>)
            .collect(),
        QueryRepresentation::Vectors(v) => v
            .to_vec2::<f32>()?
            .into_iter()
            .map(|row| Box::new(DotScorer::new(row, dim)) as Box<dyn Scorer>)
            .collect(),
    })
}

pub fn run(args: &SearchArgs) -> Result<()> {
    let index = Index::open(&args.index)?;
    let (qids, texts) = match (&args.query, &args.queries) {
        (Some(q), _) => (vec!["query".to_string()], vec![q.clone()]),
        (None, Some(path)) => {
            let fields = Fields {
                id: &args.id_field,
                text: &args.text_field,
                require_id: true,
            };
            let records = read_jsonl(path, &fields)?;
            let ids = unique_ids(&records, path)?;
            (ids, records.into_iter().map(|r| r.text).collect())
        }
        (None, None) => unreachable!("clap requires one of --query and --queries"),
    };
    let format = args.format.unwrap_or(if args.query.is_some() {
        Format::Text
    } else {
        Format::Trec
    });
    let options = LoadOptions {
        query_max_length: args.query_max_length,
        doc_max_length: None,
    };
    let model = index_model(&index, args.model.as_deref(), &options)?;

    let sink: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    let graph = match args.mode {
        Mode::Exhaustive => None,
        Mode::Graph => Some(index.graph().ok_or_else(|| {
            anyhow::anyhow!(
                "{} has no neighbour graph; build one with `hypencoder graph --index {}` \
                 (or `hypencoder index ... --graph-degree 32`)",
                index.dir().display(),
                index.dir().display()
            )
        })?),
    };
    let (algorithm, default_entries) = match args.algorithm {
        Algorithm::Paper => (
            GraphAlgorithm::Paper(GraphParams {
                ncandidates: args.ncandidates,
                max_iter: args.max_iter,
                early_stop: !args.no_early_stop,
            }),
            10_000,
        ),
        Algorithm::Beam => (
            GraphAlgorithm::Beam(BeamParams {
                ef: args.ef,
                expand: args.expand,
            }),
            64,
        ),
    };
    let entry = random_entry_points(
        args.entry_points.unwrap_or(default_entries),
        index.len(),
        args.seed,
    );
    let started = std::time::Instant::now();
    let mut scored = 0usize;
    for (batch_ids, batch_texts) in qids
        .chunks(args.query_batch.max(1))
        .zip(texts.chunks(args.query_batch.max(1)))
    {
        let refs: Vec<&str> = batch_texts.iter().map(String::as_str).collect();
        let reps = model.encode_queries(&refs)?;
        let results: Vec<Vec<Hit>> = match graph {
            None => {
                scored += index.len() * refs.len();
                exhaustive(
                    index.vectors(),
                    scorer_for(reps, model.dim())?.as_ref(),
                    args.k,
                )
            }
            Some(graph) => {
                let scorers = per_query_scorers(reps, model.dim())?;
                graph_search_many(index.vectors(), graph, &scorers, &entry, args.k, &algorithm)
                    .into_iter()
                    .map(|(hits, stats)| {
                        scored += stats.scored;
                        hits
                    })
                    .collect()
            }
        };
        for ((qid, text), hits) in batch_ids.iter().zip(batch_texts).zip(&results) {
            write_hits(&mut out, format, &index, qid, text, hits, &args.tag)?;
        }
    }
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    let n_queries = qids.len().max(1) as f64;
    eprintln!(
        "searched {} documents for {} queries: {:.1} ms/query (encoding included), {:.0} documents scored per query ({:.2}%)",
        index.len(),
        qids.len(),
        1000.0 * secs / n_queries,
        scored as f64 / n_queries,
        100.0 * scored as f64 / n_queries / index.len().max(1) as f64
    );
    Ok(())
}

#[derive(serde::Serialize)]
struct JsonHit<'a> {
    rank: usize,
    id: &'a str,
    score: f32,
}

fn write_hits(
    out: &mut impl Write,
    format: Format,
    index: &Index,
    qid: &str,
    text: &str,
    hits: &[Hit],
    tag: &str,
) -> Result<()> {
    match format {
        Format::Trec => {
            let docs = hits
                .iter()
                .map(|h| Ok((index.id(h.doc as usize)?, h.score)))
                .collect::<Result<Vec<_>>>()?;
            let mut writer = RunWriter::new(&mut *out, tag);
            writer.write_query(qid, docs)?;
            writer.finish()?;
        }
        Format::Jsonl => {
            let hits = hits
                .iter()
                .enumerate()
                .map(|(rank, h)| {
                    Ok(JsonHit {
                        rank: rank + 1,
                        id: index.id(h.doc as usize)?,
                        score: h.score,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            serde_json::to_writer(&mut *out, &serde_json::json!({ "qid": qid, "hits": hits }))?;
            writeln!(out)?;
        }
        Format::Text => {
            writeln!(out, "\n{qid}: {text}")?;
            for (rank, h) in hits.iter().enumerate() {
                let doc = h.doc as usize;
                let snippet = index.text(doc)?.map(snippet).unwrap_or_default();
                writeln!(
                    out,
                    "{:>4}. {:>9.4}  {:<20} {snippet}",
                    rank + 1,
                    h.score,
                    index.id(doc)?
                )?;
            }
        }
    }
    Ok(())
}

/// The first ~90 characters of a text, on one line.
fn snippet(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(90) {
        Some((cut, _)) => format!("{}...", &flat[..cut]),
        None => flat,
    }
}
