//! `hypencoder index`: encode a corpus into an index folder, resuming an
//! interrupted build, and optionally add its neighbour graph.

use std::path::PathBuf;

use anyhow::Result;
use hypencoder_engine::{build, unique_ids, BuildOptions, Docs, ErrorKind, GraphOptions, Manifest};

use crate::common::{
    hinted, record_fields, Bar, DtypeArg, EncodePrecisionArg, FieldArgs, MetricArg, ModelArgs,
};

#[derive(clap::Args)]
pub struct IndexArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Corpus: JSONL with an id and a text field per line, or TSV
    /// `id<TAB>text` (as MS MARCO's collection.tsv) if the name ends in .tsv.
    #[arg(long, value_name = "FILE")]
    pub corpus: PathBuf,
    /// Index folder to create. Built in <INDEX>.partial and renamed when
    /// complete; rerunning an interrupted build resumes it.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// How vectors are stored: f32, f16 (half the size), bf16 (half the
    /// size; searched at bf16 precision by default where the CPU has
    /// AVX512_BF16) or int8 (a quarter of the size plus a scale per vector;
    /// `optimize --dtype` converts an index later without re-encoding).
    #[arg(long, value_name = "TYPE", value_enum, default_value = "f32")]
    pub dtype: DtypeArg,
    /// Do not store document texts (search results then show ids only).
    #[arg(long)]
    pub no_texts: bool,
    /// Do not build the lexical part (BM25 over the texts, for `search
    /// --mode bm25`); `hypencoder lexical` adds it later if the texts are kept.
    #[arg(long)]
    pub no_lexical: bool,
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Store only these of the documents' other JSON keys as fields
    /// (comma-separated) [default: every key but the id and text fields].
    #[arg(long = "fields", value_name = "NAMES", value_delimiter = ',')]
    pub keep_fields: Option<Vec<String>>,
    /// Also build the neighbour graph with this many neighbours per document
    /// (as `hypencoder graph` would), for `search --mode graph`.
    #[arg(long, value_name = "K")]
    pub graph_degree: Option<usize>,
    /// Metric of that graph: ip, l2 or cos [default: follows the index; see
    /// `hypencoder graph --help`].
    #[arg(long, value_name = "METRIC", value_enum)]
    pub graph_metric: Option<MetricArg>,
}

pub fn run(args: &IndexArgs) -> Result<()> {
    let records = args
        .fields
        .corpus(&args.corpus, args.keep_fields.as_deref())?;
    let ids = unique_ids(&records, &args.corpus)?;
    let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let fields = record_fields(&records);
    let model = args.model.load(EncodePrecisionArg::Auto)?;
    eprintln!("hashing model weights ...");
    let options = BuildOptions {
        dtype: args.dtype.into(),
        texts: !args.no_texts,
        lexical: !args.no_lexical,
        batch_size: args.model.batch_size,
        graph: args.graph_degree.map(|degree| GraphOptions {
            metric: args.graph_metric.map(Into::into),
            ..GraphOptions::new(degree)
        }),
    };
    let started = std::time::Instant::now();
    let built = build(
        &args.index,
        &model,
        Docs::new(&ids, &texts).with_fields(&fields),
        &options,
        &Bar::new(),
    )
    .map_err(|e| match e.kind() {
        ErrorKind::Conflict => {
            anyhow::Error::from(e).context(format!("cannot build --index {}", args.index.display()))
        }
        _ => hinted(e),
    })?;
    let secs = started.elapsed().as_secs_f64();
    if built.resumed > 0 {
        eprintln!("resumed: {} documents were already encoded", built.resumed);
    }
    report(args, &built.manifest, records.len() - built.resumed, secs);
    if let (Some(graph), Some(degree)) = (&built.graph, args.graph_degree) {
        if let Some(warning) = &graph.warning {
            eprintln!("warning: {warning}");
        }
        eprintln!(
            "built the {} {degree}-NN graph ({}) of {}",
            graph.method,
            graph.metric.name(),
            args.index.display()
        );
    }
    Ok(())
}

fn report(args: &IndexArgs, manifest: &Manifest, encoded: usize, secs: f64) {
    eprintln!(
        "indexed {} documents into {} ({} dims, {:?}) in {secs:.1} s ({:.1} docs/s); {} empty, {} truncated at {} tokens",
        manifest.count,
        args.index.display(),
        manifest.dim,
        manifest.dtype,
        encoded as f64 / secs.max(1e-9),
        manifest.stats.empty_texts,
        manifest.stats.truncated,
        manifest.stats.max_length
    );
}
