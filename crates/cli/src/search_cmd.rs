//! `hypencoder search`: search an index with the model it was built with,
//! exhaustively (every document scored: exact) or by walking its neighbour
//! graph (`--mode graph`: approximate, beam or the paper's algorithm), by
//! BM25 over its lexical part alone (`--mode bm25`), by the model over
//! BM25's candidates (`rerank`) or by both sides fused (`hybrid`), and print
//! the hits as TREC, JSONL or text.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::parser::{ArgMatches, ValueSource};
use hypencoder_engine::{unique_ids, Collection, Error, Filter, Hit, SearchError, SearchParams};
use hypencoder_eval::RunWriter;

use crate::common::{
    hinted, open_collection, AlgorithmArg, FieldArgs, FormatArg, FusionArg, Hinted, ModeArg,
    NeuralArg, PrecisionArg,
};

/// The defaults every flag shows, the engine's.
const DEFAULTS: SearchParams = SearchParams::DEFAULT;

#[derive(clap::Args)]
#[command(
    mut_arg("id_field", |a| a.help("JSON field holding each query's id")),
    mut_arg("text_field", |a| a.help("JSON field holding each query's text")),
    after_help = "A search setting not given is the index's own where `hypencoder tune` \
        recorded one (`hypencoder tune --index DIR --reset` forgets them), else the \
        default shown."
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
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.k)]
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
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.candidates)]
    pub candidates: usize,
    /// hybrid: how the two sides' scores become one (linear was ahead of
    /// rrf at every setting tried on debian-pkg dev: bench/hybrid/README.md).
    /// [default: linear]
    #[arg(long, value_enum)]
    pub fusion: Option<FusionArg>,
    /// hybrid with rrf: the constant added to each rank.
    #[arg(long, value_name = "K", default_value_t = DEFAULTS.rrf_k)]
    pub rrf_k: f32,
    /// hybrid with linear, zscore or dbsf: weight of the neural side (0-1)
    /// after normalising both sides over the candidates (0.7 has the best
    /// mean MRR@10 over debian-pkg and two out-of-domain dev sets, ahead of
    /// both sides on each: bench/quality/README.md).
    #[arg(long, value_name = "W", default_value_t = DEFAULTS.alpha)]
    pub alpha: f32,
    /// hybrid: how the neural side finds its candidates [default: graph
    /// when the index has one, else exhaustive].
    #[arg(long, value_enum)]
    pub neural: Option<NeuralArg>,
    /// Graph search: beam (ours: best-first with a bounded frontier) or
    /// paper (the paper's rounds of candidate expansion).
    /// [default: beam]
    #[arg(long, value_enum)]
    pub algorithm: Option<AlgorithmArg>,
    /// Graph search: initial candidates, drawn at random [default: 10000 for
    /// paper, as published; for beam 16 on a bi-encoder index, 64 on a
    /// Hypencoder one].
    #[arg(long, value_name = "N")]
    pub entry_points: Option<usize>,
    /// Beam: documents kept in the search pool (at least --k).
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.ef)]
    pub ef: usize,
    /// Beam: candidates expanded per step (their neighbours are scored as
    /// one block) [default: 1 on a bi-encoder index, 4 on a Hypencoder one].
    #[arg(long, value_name = "N")]
    pub expand: Option<usize>,
    /// Graph search: candidates whose neighbours are expanded per round (the paper: 50).
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.ncandidates)]
    pub ncandidates: usize,
    /// Graph search: most expansion rounds (the paper: 16).
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.max_iter)]
    pub max_iter: usize,
    /// Graph search: keep expanding after a round that improved no result
    /// (the paper stops early).
    #[arg(long)]
    pub no_early_stop: bool,
    /// Graph search: seed for drawing entry points.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.seed)]
    pub seed: u64,
    /// Number format of the q-net layers' products: f32 (as the reference
    /// implementation) or bf16 (weights and layer inputs rounded to
    /// bfloat16, sums in f32; faster where the CPU has AVX512_BF16, see
    /// bench/qnet/README.md) [default: bf16 for an index stored in bf16,
    /// else f32].
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
    /// bm25, rerank, hybrid: BM25's term-frequency saturation, 0 or more
    /// (Lucene's is 1.2) [default: the index's lexical part's, 0.5 when
    /// built].
    #[arg(long, value_name = "K1")]
    pub bm25_k1: Option<f32>,
    /// bm25, rerank, hybrid: BM25's length normalisation, 0-1 [default: the
    /// index's lexical part's, 0.75 when built].
    #[arg(long, value_name = "B")]
    pub bm25_b: Option<f32>,
    /// Only documents whose fields match this filter, as JSON or @FILE
    /// holding it: {"section": "1"}, {"year": {"gte": 2020, "lt": 2025}},
    /// {"tags": {"in": ["a", "b"]}} or {"all": [...]}, {"title": {"exists":
    /// true}}, and {"and": [...]}, {"or": [...]}, {"not": {...}}
    /// (docs/filters.md).
    #[arg(long, value_name = "JSON")]
    pub filter: Option<String>,
    /// Run tag (last column of TREC output).
    #[arg(long, value_name = "NAME", default_value = "hypencoder")]
    pub tag: String,
    #[command(flatten)]
    pub fields: FieldArgs,
}

/// Runs the search; `matches` tells which settings were given.
pub fn run(args: &SearchArgs, matches: &ArgMatches) -> Result<()> {
    let index = open_collection(&args.index, args.model.as_deref(), args.query_max_length)?;
    let (qids, texts) = read_queries(args)?;
    let format = args.format.unwrap_or(if args.query.is_some() {
        FormatArg::Text
    } else {
        FormatArg::Trec
    });
    // The settings given, over the index's own.
    let given = SearchParams::NAMES
        .into_iter()
        .filter(|name| matches.value_source(name) == Some(ValueSource::CommandLine));
    let params = index.params(&args.params().overrides(given)).hinted()?;
    let filter = args.filter.as_deref().map(read_filter).transpose()?;
    // Checked before any output, and the model loaded if the mode needs it.
    index.check(&params).hinted()?;
    let sink: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    let started = std::time::Instant::now();
    let mut scored = 0usize;
    let mut warned: Vec<String> = Vec::new();
    let batch = args.query_batch.max(1);
    for (batch_ids, batch_texts) in qids.chunks(batch).zip(texts.chunks(batch)) {
        let refs: Vec<&str> = batch_texts.iter().map(String::as_str).collect();
        let found = index
            .search_where(&refs, &params, filter.as_ref())
            .map_err(|e| match e {
                Error::Search(SearchError::Filter(_)) => {
                    anyhow::Error::from(e).context("--filter does not fit the index's fields")
                }
                e => hinted(e),
            })?;
        for warning in found.warnings.iter().filter(|_| warned.is_empty()) {
            eprintln!("warning: --filter: {warning}");
        }
        warned.extend(found.warnings.iter().cloned());
        scored += found.scored;
        for ((qid, text), hits) in batch_ids.iter().zip(batch_texts).zip(&found.hits) {
            write_hits(&mut out, format, &index, qid, text, hits, &args.tag)?;
        }
    }
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    let n_queries = qids.len().max(1) as f64;
    eprintln!(
        "searched {} documents for {} queries: {:.2} ms/query (encoding included), {:.0} documents scored per query ({:.2}%)",
        index.len(),
        qids.len(),
        1000.0 * secs / n_queries,
        scored as f64 / n_queries,
        100.0 * scored as f64 / n_queries / index.len().max(1) as f64
    );
    Ok(())
}

impl SearchArgs {
    /// The engine's search settings these flags ask for.
    fn params(&self) -> SearchParams {
        SearchParams {
            k: self.k,
            mode: self.mode.map(Into::into),
            candidates: self.candidates,
            fusion: self.fusion.map_or(DEFAULTS.fusion, Into::into),
            alpha: self.alpha,
            rrf_k: self.rrf_k,
            neural: self.neural.map(Into::into),
            algorithm: self.algorithm.map_or(DEFAULTS.algorithm, Into::into),
            entry_points: self.entry_points,
            ef: self.ef,
            expand: self.expand,
            ncandidates: self.ncandidates,
            max_iter: self.max_iter,
            no_early_stop: self.no_early_stop,
            seed: self.seed,
            precision: self.precision.map(Into::into),
            bm25_k1: self.bm25_k1,
            bm25_b: self.bm25_b,
        }
    }
}

/// A filter from `--filter`: JSON, or `@FILE` holding it.
fn read_filter(arg: &str) -> Result<Filter> {
    let (text, from) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("--filter: cannot read {path}"))?,
            format!("--filter {arg}"),
        ),
        None => (arg.to_string(), "--filter".to_string()),
    };
    Filter::parse_str(&text).with_context(|| format!("{from} is not a filter"))
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

#[derive(serde::Serialize)]
struct JsonLine<'a> {
    qid: &'a str,
    hits: Vec<JsonHit<'a>>,
}

#[derive(serde::Serialize)]
struct JsonHit<'a> {
    rank: usize,
    id: &'a str,
    score: f32,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    fields: serde_json::Map<String, serde_json::Value>,
}

fn write_hits(
    out: &mut impl Write,
    format: FormatArg,
    index: &Collection,
    qid: &str,
    text: &str,
    hits: &[Hit],
    tag: &str,
) -> Result<()> {
    match format {
        FormatArg::Trec => {
            let docs = hits
                .iter()
                .map(|h| Ok((index.id(h.doc)?, h.score)))
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
                        id: index.id(h.doc)?,
                        score: h.score,
                        fields: index.fields(h.doc)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            // Serialised directly, so scores print as the f32s they are.
            serde_json::to_writer(&mut *out, &JsonLine { qid, hits })?;
            writeln!(out)?;
        }
        FormatArg::Text => {
            writeln!(out, "\n{qid}: {text}")?;
            for (rank, h) in hits.iter().enumerate() {
                let doc = h.doc;
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
