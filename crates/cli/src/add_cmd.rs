//! `hypencoder add`: add documents to an index without rebuilding it. They
//! are encoded with the index's own model into a new segment (with the
//! lexical part and graph the index has), and documents with an id already
//! in the index are replaced; the change lands with one commit. A
//! single-folder index is first upgraded to the live format (no vector is
//! rewritten). Segments the merge policy picks (similar sizes, too many,
//! mostly deleted) are then merged, as a second commit.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hypencoder_engine::{unique_ids, Docs, MergePolicy, OpenOptions, Writer};

use crate::common::{record_fields, Bar, FieldArgs, Hinted};

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
    #[arg(long, value_name = "N", default_value_t = MergePolicy::DEFAULT.max_segments)]
    pub max_segments: usize,
    /// Model folder, if the index's has moved (its fingerprint is checked).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Store only these of the documents' other JSON keys as fields
    /// (comma-separated) [default: every key but the id and text fields].
    #[arg(long = "fields", value_name = "NAMES", value_delimiter = ',')]
    pub keep_fields: Option<Vec<String>>,
}

pub fn run(args: &AddArgs) -> Result<()> {
    let records = args
        .fields
        .corpus(&args.corpus, args.keep_fields.as_deref())?;
    if records.is_empty() {
        bail!("{}: no documents to add", args.corpus.display());
    }
    let ids = unique_ids(&records, &args.corpus)?;
    let mut writer = Writer::open(&args.index)
        .hinted()
        .with_context(|| format!("cannot write to --index {}", args.index.display()))?;
    let model = writer
        .open_model(&OpenOptions {
            model: args.model.clone(),
            ..OpenOptions::default()
        })
        .hinted()?;
    let started = std::time::Instant::now();
    let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let fields = record_fields(&records);
    let added = writer
        .add(
            &model,
            Docs::new(&ids, &texts).with_fields(&fields),
            args.batch_size,
            args.no_replace,
            &Bar::new(),
        )
        .hinted()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "added {} and replaced {} documents of {} in {secs:.1} s ({:.1} docs/s); generation {}, {} live documents in {} segments",
        added.added,
        added.replaced,
        args.corpus.display(),
        records.len() as f64 / secs.max(1e-9),
        added.generation,
        writer.manifest().live_docs(),
        writer.manifest().segments.len()
    );
    // The added documents are durable; a merge is its own commit.
    let started = std::time::Instant::now();
    let policy = MergePolicy {
        max_segments: args.max_segments,
    };
    if let Some(merged) = writer.merge(&policy).hinted()? {
        eprintln!(
            "merged {} segments in {:.1} s; generation {}, {} segments",
            merged.segments.len(),
            started.elapsed().as_secs_f64(),
            merged.generation,
            writer.manifest().segments.len()
        );
    }
    Ok(())
}
