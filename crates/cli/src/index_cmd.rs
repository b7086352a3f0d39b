//! `hypencoder index`: encode a corpus into an index folder, resuming an
//! interrupted build, and optionally add its neighbour graph.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hypencoder_index::{IndexWriter, Manifest, WriterConfig};
use hypencoder_model::Model;
use hypencoder_search::{encode_into, index_config};

use crate::common::{
    build_graph, progress_bar, ConstructionArg, DtypeArg, FieldArgs, GraphBuildArgs, MetricArg,
    ModelArgs,
};
use hypencoder_index::{read_corpus, unique_ids, Record};

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
    /// How vectors are stored: f32, f16 (half the size) or bf16 (half the
    /// size; searched at bf16 precision by default).
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
    /// Also build the neighbour graph with this many neighbours per document
    /// (as `hypencoder graph` would), for `search --mode graph`.
    #[arg(long, value_name = "K")]
    pub graph_degree: Option<usize>,
    /// Metric of that graph: ip, l2 or cos [default: follows the index; see
    /// `hypencoder graph --help`].
    #[arg(long, value_name = "METRIC", value_enum)]
    pub graph_metric: Option<MetricArg>,
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

pub fn run(args: &IndexArgs) -> Result<()> {
    let records = read_corpus(&args.corpus, &args.fields.fields(true))?;
    let ids = unique_ids(&records, &args.corpus)?;
    let model = args.model.load()?;
    let config = writer_config(args, &model)?;
    let writer = IndexWriter::create(&args.index, config)
        .with_context(|| format!("cannot build --index {}", args.index.display()))?;
    let started = std::time::Instant::now();
    let skip = writer.resumed_docs();
    let manifest = encode_and_finish(args, &model, writer, &records, &ids)?;
    let secs = started.elapsed().as_secs_f64();
    report(args, &manifest, records.len() - skip, secs);
    if let Some(degree) = args.graph_degree {
        let graph = GraphBuildArgs {
            degree,
            metric: args.graph_metric,
            construction: ConstructionArg::Exact,
            measure_recall: false,
            plain_knn: false,
        };
        build_graph(&args.index, &graph)?;
    }
    Ok(())
}

/// What the index records about its build: the model (path, kind and
/// fingerprints), the storage settings and where the corpus came from. A
/// partial build resumes only under the same config.
fn writer_config(args: &IndexArgs, model: &Model) -> Result<WriterConfig> {
    eprintln!("hashing model weights ...");
    let meta = std::fs::metadata(&args.corpus)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let source = format!(
        "{} bytes={} mtime={:?} id={} text={}",
        absolute(&args.corpus).display(),
        meta.len(),
        mtime,
        args.fields.id_field,
        args.fields.text_field
    );
    Ok(index_config(
        model,
        args.dtype.into(),
        !args.no_texts,
        !args.no_lexical,
        source,
    )?)
}

/// Encodes the records a resumed build does not hold yet, a segment at a
/// time, and finishes the index.
fn encode_and_finish(
    args: &IndexArgs,
    model: &Model,
    mut writer: IndexWriter,
    records: &[Record],
    ids: &[String],
) -> Result<Manifest> {
    let skip = writer.resumed_docs();
    if skip > records.len() {
        bail!(
            "the partial build holds more documents than the corpus; remove {}.partial",
            args.index.display()
        );
    }
    if skip > 0 {
        eprintln!("resuming: {skip} documents already encoded");
    }
    let texts: Vec<&str> = records[skip..].iter().map(|r| r.text.as_str()).collect();
    let progress = progress_bar(records.len());
    progress.set_position(skip as u64);
    encode_into(
        model,
        &mut writer,
        &ids[skip..],
        &texts,
        args.model.batch_size,
        &|done| progress.set_position((skip + done) as u64),
    )?;
    progress.finish_and_clear();
    writer
        .finish()
        .with_context(|| format!("cannot finish {}", args.index.display()))
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
