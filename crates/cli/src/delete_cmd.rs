//! `hypencoder delete`: delete documents from an index by id, with one
//! commit. Ids the index does not hold are reported (an error with
//! `--strict`, and then nothing is deleted). A single-folder index is first
//! upgraded to the live format.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hypencoder_engine::{Error, Writer};

use crate::common::{hinted, Hinted};

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
    let mut writer = Writer::open(&args.index)
        .hinted()
        .with_context(|| format!("cannot write to --index {}", args.index.display()))?;
    let deleted = writer.delete(&ids, args.strict).map_err(|e| match e {
        Error::UnknownIds { unknown } => anyhow::anyhow!(
            "{} of the ids in {} are not in the index: {}; nothing was deleted (--strict)",
            unknown.len(),
            args.ids.display(),
            shown(&unknown)
        ),
        other => hinted(other),
    })?;
    if !deleted.unknown.is_empty() {
        eprintln!(
            "warning: {} of the ids in {} are not in the index: {}",
            deleted.unknown.len(),
            args.ids.display(),
            shown(&deleted.unknown)
        );
    }
    eprintln!(
        "deleted {} documents; generation {}, {} live documents in {} segments",
        deleted.deleted,
        deleted.generation,
        writer.manifest().live_docs(),
        writer.manifest().segments.len()
    );
    Ok(())
}

/// The first few of `ids`, for a message.
fn shown(ids: &[String]) -> String {
    let first: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    let more = if ids.len() > first.len() { ", ..." } else { "" };
    format!("{}{more}", first.join(", "))
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
