//! `hypencoder delete`: delete documents from an index by id, with one
//! commit. Ids the index does not hold are reported (an error with
//! `--strict`, and then nothing is deleted). A single-folder index is first
//! upgraded to the live format.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hypencoder_index::LiveWriter;

#[derive(clap::Args)]
pub struct DeleteArgs {
    /// Index folder to delete from.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Ids to delete, one per line (blank lines are skipped).
    #[arg(long, value_name = "FILE")]
    pub ids: PathBuf,
    /// Fail, deleting nothing, if an id is not in the index.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &DeleteArgs) -> Result<()> {
    let ids = read_ids(args)?;
    let mut writer = LiveWriter::open(&args.index)
        .with_context(|| format!("cannot write to --index {}", args.index.display()))?;
    let report = writer.delete(&ids);
    if !report.unknown.is_empty() {
        let shown: Vec<&str> = report.unknown.iter().take(5).map(String::as_str).collect();
        let message = format!(
            "{} of the ids in {} are not in the index: {}{}",
            report.unknown.len(),
            args.ids.display(),
            shown.join(", "),
            if report.unknown.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        );
        if args.strict {
            bail!("{message}; nothing was deleted (--strict)");
        }
        eprintln!("warning: {message}");
    }
    let generation = writer.commit()?;
    eprintln!(
        "deleted {} documents; generation {generation}, {} live documents in {} segments",
        report.deleted,
        writer.manifest().live_docs(),
        writer.manifest().segments.len()
    );
    Ok(())
}

/// The ids of `--ids`, each once (a repeat is an error naming its lines).
fn read_ids(args: &DeleteArgs) -> Result<Vec<String>> {
    let path = &args.ids;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut first_line = std::collections::HashMap::new();
    let mut ids = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: cannot read", path.display(), i + 1))?;
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        if let Some(first) = first_line.insert(id.to_string(), i + 1) {
            bail!(
                "{}:{}: id '{id}' repeats line {first}",
                path.display(),
                i + 1
            );
        }
        ids.push(id.to_string());
    }
    Ok(ids)
}
