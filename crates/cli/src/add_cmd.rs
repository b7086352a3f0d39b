//! `hypencoder add`: add documents to an index without rebuilding it. They
//! are encoded with the index's own model into a new segment (with the
//! lexical part and graph the index has), and documents with an id already
//! in the index are replaced; the change lands with one commit. A
//! single-folder index is first upgraded to the live format (no vector is
//! rewritten).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hypencoder_index::{IndexWriter, LiveManifest, LiveWriter, WriterConfig};
use hypencoder_model::{LoadOptions, Model};
use hypencoder_search::open_model_for;

use crate::common::{
    build_graph, encode_into_writer, ConstructionArg, FieldArgs, GraphBuildArgs, SLICE,
};
use crate::input::{read_corpus, unique_ids};

#[derive(clap::Args)]
pub struct AddArgs {
    /// Index folder to add to.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Documents: JSONL with an id and a text field per line, or TSV
    /// `id<TAB>text` if the name ends in .tsv.
    #[arg(long, value_name = "FILE")]
    pub corpus: PathBuf,
    /// Refuse ids the index already has (default: replace those documents).
    #[arg(long)]
    pub no_replace: bool,
    /// Documents per forward pass.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub batch_size: usize,
    /// Model folder, if the index's has moved (its fingerprint is checked).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub fields: FieldArgs,
}

pub fn run(args: &AddArgs) -> Result<()> {
    let records = read_corpus(&args.corpus, &args.fields.fields(true))?;
    if records.is_empty() {
        bail!("{}: no documents to add", args.corpus.display());
    }
    let ids = unique_ids(&records, &args.corpus)?;
    let mut writer = LiveWriter::open(&args.index)
        .with_context(|| format!("cannot write to --index {}", args.index.display()))?;
    let manifest = writer.manifest().clone();
    let model = open_model_for(
        &manifest.model,
        &args.index,
        args.model.as_deref(),
        &LoadOptions::default(),
    )
    .map_err(|e| anyhow::anyhow!("{e} (pass --model DIR if it moved)"))?;
    let started = std::time::Instant::now();
    let segment = writer.next_segment_dir();
    let mut seg_writer = IndexWriter::create(&segment, segment_config(&manifest, &model, args))?;
    encode_into_writer(&model, &mut seg_writer, &records, &ids, args.batch_size, 0)?;
    seg_writer.finish()?;
    if let Some(degree) = manifest.graph_degree {
        let graph = GraphBuildArgs {
            degree,
            metric: None,
            construction: ConstructionArg::Exact,
            measure_recall: false,
            plain_knn: false,
        };
        build_graph(&segment, &graph)?;
    }
    let report = writer.add_segment(&segment, args.no_replace)?;
    let generation = writer.commit()?;
    eprintln!(
        "added {} and replaced {} documents of {} in {:.1} s ({:.1} docs/s); generation {generation}, {} live documents in {} segments",
        report.added,
        report.replaced,
        args.corpus.display(),
        started.elapsed().as_secs_f64(),
        records.len() as f64 / started.elapsed().as_secs_f64().max(1e-9),
        writer.manifest().live_docs(),
        writer.manifest().segments.len()
    );
    Ok(())
}

/// A new segment is built like the index: same model record, dtype, texts
/// and lexical part.
fn segment_config(manifest: &LiveManifest, model: &Model, args: &AddArgs) -> WriterConfig {
    WriterConfig {
        dim: manifest.dim,
        dtype: manifest.dtype,
        model: manifest.model.clone(),
        with_texts: manifest.has_texts,
        max_length: model.doc_tokenizer().max_length() as u64,
        source: format!("add {}", args.corpus.display()),
        segment_size: SLICE,
        lexical: manifest.lexical.is_some(),
    }
}
