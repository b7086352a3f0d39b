//! `hypencoder add`: add documents to an index without rebuilding it. They
//! are encoded with the index's own model into a new segment (with the
//! lexical part and graph the index has), and documents with an id already
//! in the index are replaced; the change lands with one commit. A
//! single-folder index is first upgraded to the live format (no vector is
//! rewritten). Segments the merge policy picks (similar sizes, too many,
//! mostly deleted) are then merged, as a second commit.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hypencoder_index::LiveWriter;
use hypencoder_model::LoadOptions;
use hypencoder_search::{
    add_documents, merge_policy, merge_segments, open_model_for, MAX_SEGMENTS,
};

use crate::common::{moved_hint, progress_bar, FieldArgs};
use hypencoder_index::{read_corpus, unique_ids};

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
    /// Merge the smallest segments when there are more than this many;
    /// segments of similar sizes merge before that (0: never merge here;
    /// `hypencoder optimize` merges all).
    #[arg(long, value_name = "N", default_value_t = MAX_SEGMENTS)]
    pub max_segments: usize,
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
    .map_err(moved_hint)?;
    let started = std::time::Instant::now();
    let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let progress = progress_bar(records.len());
    let report = add_documents(
        &mut writer,
        &model,
        &ids,
        &texts,
        args.batch_size,
        args.no_replace,
        &|done| progress.set_position(done as u64),
    )?;
    progress.finish_and_clear();
    let generation = writer.commit()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "added {} and replaced {} documents of {} in {secs:.1} s ({:.1} docs/s); generation {generation}, {} live documents in {} segments",
        report.added,
        report.replaced,
        args.corpus.display(),
        records.len() as f64 / secs.max(1e-9),
        writer.manifest().live_docs(),
        writer.manifest().segments.len()
    );
    merge_if_needed(&mut writer, args.max_segments)
}

/// Merges what the merge policy picks, as its own commit (the added
/// documents are already durable).
fn merge_if_needed(writer: &mut LiveWriter, max_segments: usize) -> Result<()> {
    if max_segments == 0 {
        return Ok(());
    }
    if let Some(names) = merge_policy(&writer.manifest().segments, max_segments) {
        let started = std::time::Instant::now();
        merge_segments(writer, &names)?;
        let generation = writer.commit()?;
        eprintln!(
            "merged {} segments in {:.1} s; generation {generation}, {} segments",
            names.len(),
            started.elapsed().as_secs_f64(),
            writer.manifest().segments.len()
        );
    }
    Ok(())
}
