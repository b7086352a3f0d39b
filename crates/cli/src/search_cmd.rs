//! `hypencoder search`: search an index with the model it was built with,
//! exhaustively (every document scored: exact) or by walking its neighbour
//! graph (`--mode graph`: approximate, beam or the paper's algorithm), by
//! BM25 over its lexical part alone (`--mode bm25`), by the model over
//! BM25's candidates (`rerank`) or by both sides fused (`hybrid`), and print
//! the hits as TREC, JSONL or text.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use hypencoder_eval::RunWriter;
use hypencoder_index::{Graph, Index, Lexical};
use hypencoder_model::{LoadOptions, Model};
use hypencoder_search::{
    candidates as hybrid_candidates, exhaustive, fuse, graph_search_many, random_entry_points,
    rerank, BeamParams, Fusion, GraphAlgorithm, GraphParams, Hit, Scorer,
};

use crate::common::{
    index_model, open_index, per_query_scorers, scorer_for, AlgorithmArg, FieldArgs, FormatArg,
    FusionArg, ModeArg, NeuralArg,
};
use crate::input::unique_ids;

#[derive(clap::Args)]
#[command(
    mut_arg("id_field", |a| a.help("JSON field holding each query's id")),
    mut_arg("text_field", |a| a.help("JSON field holding each query's text"))
)]
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
    pub format: Option<FormatArg>,
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
    /// exhaustive (exact), graph (approximate, needs a graph in the index),
    /// or with the index's lexical part: bm25, rerank, hybrid [default:
    /// hybrid when the index has a lexical part, else exhaustive].
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// rerank, hybrid: candidates taken from each side (at least --k; 100
    /// was as good as 1000 on debian-pkg dev, at less than half the time).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub candidates: usize,
    /// hybrid: how the two sides' scores become one (linear was ahead of
    /// rrf at every setting tried on debian-pkg dev: bench/README-hybrid.md).
    #[arg(long, value_enum, default_value = "linear")]
    pub fusion: FusionArg,
    /// hybrid with rrf: the constant added to each rank.
    #[arg(long, value_name = "K", default_value_t = 60.0)]
    pub rrf_k: f32,
    /// hybrid with linear: weight of the neural side (0-1) after min-max
    /// normalising both sides over the candidates (0.5-0.7 within 0.004
    /// MRR@10 of each other on debian-pkg dev; 0.5 weighs BM25 most).
    #[arg(long, value_name = "W", default_value_t = 0.5)]
    pub alpha: f32,
    /// hybrid: how the neural side finds its candidates [default: graph
    /// when the index has one, else exhaustive].
    #[arg(long, value_enum)]
    pub neural: Option<NeuralArg>,
    /// Graph search: beam (ours: best-first with a bounded frontier) or
    /// paper (the paper's rounds of candidate expansion).
    #[arg(long, value_enum, default_value = "beam")]
    pub algorithm: AlgorithmArg,
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
    #[command(flatten)]
    pub fields: FieldArgs,
}

/// How the neural side finds its hits: every document, or along the graph
/// from the same random entry points.
enum Neural<'a> {
    Exhaustive,
    Graph {
        graph: &'a Graph,
        algorithm: GraphAlgorithm,
        entry: Vec<u32>,
    },
}

/// How each batch of queries is searched.
enum Method<'a> {
    Neural(Neural<'a>),
    Bm25(&'a Lexical),
    /// BM25's top `candidates`, ordered by the neural scorer.
    Rerank {
        lexical: &'a Lexical,
        candidates: usize,
    },
    /// Both sides' top `candidates`, each candidate scored by both, fused.
    Hybrid {
        lexical: &'a Lexical,
        candidates: usize,
        fusion: Fusion,
        neural: Neural<'a>,
    },
}

pub fn run(args: &SearchArgs) -> Result<()> {
    let index = open_index(&args.index)?;
    let (qids, texts) = read_queries(args)?;
    let format = args.format.unwrap_or(if args.query.is_some() {
        FormatArg::Text
    } else {
        FormatArg::Trec
    });
    let options = LoadOptions {
        query_max_length: args.query_max_length,
        doc_max_length: None,
    };
    let method = method(args, &index)?;
    // BM25 needs no model: nothing to load.
    let model = match method {
        Method::Bm25(_) => None,
        _ => Some(index_model(&index, args.model.as_deref(), &options)?),
    };

    let sink: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    let started = std::time::Instant::now();
    let mut scored = 0usize;
    let batch = args.query_batch.max(1);
    for (batch_ids, batch_texts) in qids.chunks(batch).zip(texts.chunks(batch)) {
        let refs: Vec<&str> = batch_texts.iter().map(String::as_str).collect();
        let results = search_batch(&index, model.as_ref(), &method, &refs, args.k, &mut scored)?;
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

/// The query ids and texts: `--query` as the one query `query`, or the
/// records of `--queries`.
fn read_queries(args: &SearchArgs) -> Result<(Vec<String>, Vec<String>)> {
    Ok(match (&args.query, &args.queries) {
        (Some(q), _) => (vec!["query".to_string()], vec![q.clone()]),
        (None, Some(path)) => {
            let records = args.fields.read(path, true)?;
            let ids = unique_ids(&records, path)?;
            (ids, records.into_iter().map(|r| r.text).collect())
        }
        (None, None) => unreachable!("clap requires one of --query and --queries"),
    })
}

/// The search method `--mode` and its flags ask for; each mode needs the
/// parts of the index it reads (a graph, a lexical part).
fn method<'a>(args: &SearchArgs, index: &'a Index) -> Result<Method<'a>> {
    let mode = args.mode.unwrap_or(if index.lexical().is_some() {
        ModeArg::Hybrid
    } else {
        ModeArg::Exhaustive
    });
    Ok(match mode {
        ModeArg::Exhaustive => Method::Neural(Neural::Exhaustive),
        ModeArg::Graph => Method::Neural(graph_walk(args, index)?),
        ModeArg::Bm25 => Method::Bm25(lexical_part(index)?),
        ModeArg::Rerank => Method::Rerank {
            lexical: lexical_part(index)?,
            candidates: args.candidates.max(args.k),
        },
        ModeArg::Hybrid => {
            // The graph when the index has one, unless told otherwise.
            let neural = match args.neural {
                Some(NeuralArg::Exhaustive) => Neural::Exhaustive,
                Some(NeuralArg::Graph) => graph_walk(args, index)?,
                None if index.graph().is_some() => graph_walk(args, index)?,
                None => Neural::Exhaustive,
            };
            Method::Hybrid {
                lexical: lexical_part(index)?,
                candidates: args.candidates.max(args.k),
                fusion: args.fusion.fusion(args.rrf_k, args.alpha),
                neural,
            }
        }
    })
}

fn lexical_part(index: &Index) -> Result<&Lexical> {
    index.lexical().ok_or_else(|| {
        anyhow::anyhow!(
            "{} has no lexical part; add one with `hypencoder lexical --index {}`",
            index.dir().display(),
            index.dir().display()
        )
    })
}

/// The graph walk the graph flags describe; the index must hold a graph.
fn graph_walk<'a>(args: &SearchArgs, index: &'a Index) -> Result<Neural<'a>> {
    let graph = index.graph().ok_or_else(|| {
        anyhow::anyhow!(
            "{} has no neighbour graph; build one with `hypencoder graph --index {}` \
             (or `hypencoder index ... --graph-degree 32`)",
            index.dir().display(),
            index.dir().display()
        )
    })?;
    let beam = BeamParams {
        ef: args.ef,
        expand: args.expand,
    };
    let paper = GraphParams {
        ncandidates: args.ncandidates,
        max_iter: args.max_iter,
        early_stop: !args.no_early_stop,
    };
    let (algorithm, default_entries) = args.algorithm.algorithm(beam, paper);
    let entry = random_entry_points(
        args.entry_points.unwrap_or(default_entries),
        index.len(),
        args.seed,
    );
    Ok(Neural::Graph {
        graph,
        algorithm,
        entry,
    })
}

/// The top `k` hits of each query in one batch, adding the number of
/// documents scored by the neural side to `scored`.
fn search_batch(
    index: &Index,
    model: Option<&Model>,
    method: &Method,
    queries: &[&str],
    k: usize,
    scored: &mut usize,
) -> Result<Vec<Vec<Hit>>> {
    if let Method::Bm25(lexical) = method {
        return queries.iter().map(|q| bm25_hits(lexical, q, k)).collect();
    }
    let model = model.expect("neural methods load the model");
    let reps = model.encode_queries(queries)?;
    let vectors = index.vectors();
    match method {
        Method::Neural(Neural::Exhaustive) => {
            *scored += index.len() * queries.len();
            Ok(exhaustive(
                vectors,
                scorer_for(reps, model.dim())?.as_ref(),
                k,
            ))
        }
        Method::Neural(neural) => {
            let scorers = per_query_scorers(reps, model.dim())?;
            Ok(neural_hits(index, neural, &scorers, k, scored))
        }
        Method::Bm25(_) => unreachable!("answered above"),
        Method::Rerank {
            lexical,
            candidates,
        } => {
            let scorers = per_query_scorers(reps, model.dim())?;
            let mut out = Vec::with_capacity(queries.len());
            for (query, scorer) in queries.iter().zip(&scorers) {
                let rows: Vec<u32> = lexical
                    .search(query, *candidates)?
                    .iter()
                    .map(|h| h.row)
                    .collect();
                *scored += rows.len();
                out.push(rerank(vectors, &rows, scorer.as_ref(), k));
            }
            Ok(out)
        }
        Method::Hybrid {
            lexical,
            candidates,
            fusion,
            neural,
        } => {
            let scorers = per_query_scorers(reps, model.dim())?;
            let neural = neural_hits(index, neural, &scorers, *candidates, scored);
            let mut out = Vec::with_capacity(queries.len());
            for ((query, scorer), neural) in queries.iter().zip(&scorers).zip(&neural) {
                let bm25 = lexical.scores(query)?;
                let top: Vec<u32> = Lexical::top(&bm25, *candidates)
                    .iter()
                    .map(|h| h.row)
                    .collect();
                let both = hybrid_candidates(vectors, &bm25, &top, neural, scorer.as_ref());
                *scored += both.len().saturating_sub(neural.len());
                out.push(fuse(&both, *fusion, k));
            }
            Ok(out)
        }
    }
}

/// The neural side's top `k` per query, one single-query scorer each.
fn neural_hits(
    index: &Index,
    neural: &Neural,
    scorers: &[Box<dyn Scorer>],
    k: usize,
    scored: &mut usize,
) -> Vec<Vec<Hit>> {
    match neural {
        Neural::Exhaustive => scorers
            .iter()
            .map(|s| {
                *scored += index.len();
                exhaustive(index.vectors(), s.as_ref(), k).remove(0)
            })
            .collect(),
        Neural::Graph {
            graph,
            algorithm,
            entry,
        } => graph_search_many(index.vectors(), graph, scorers, entry, k, algorithm)
            .into_iter()
            .map(|(hits, stats)| {
                *scored += stats.scored;
                hits
            })
            .collect(),
    }
}

/// BM25's top `k` for one query, as hits like any other method's.
fn bm25_hits(lexical: &Lexical, query: &str, k: usize) -> Result<Vec<Hit>> {
    Ok(lexical
        .search(query, k)?
        .into_iter()
        .map(|h| Hit {
            doc: h.row,
            score: h.score,
        })
        .collect())
}

#[derive(serde::Serialize)]
struct JsonHit<'a> {
    rank: usize,
    id: &'a str,
    score: f32,
}

fn write_hits(
    out: &mut impl Write,
    format: FormatArg,
    index: &Index,
    qid: &str,
    text: &str,
    hits: &[Hit],
    tag: &str,
) -> Result<()> {
    match format {
        FormatArg::Trec => {
            let docs = hits
                .iter()
                .map(|h| Ok((index.id(h.doc as usize)?, h.score)))
                .collect::<Result<Vec<_>>>()?;
            let mut writer = RunWriter::new(&mut *out, tag);
            writer.write_query(qid, docs)?;
            writer.finish()?;
        }
        FormatArg::Jsonl => {
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
        FormatArg::Text => {
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
