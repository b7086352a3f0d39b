//! `hypencoder mine`: hard negatives from our own search. Each judged query
//! is searched exhaustively with the index's model; the top-ranked documents
//! not judged relevant become its negatives in training JSONL.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use hypencoder_engine::{
    read_jsonl, unique_ids, Collection, Fields, Mode, Precision, Record, SearchParams, Stored,
};
use hypencoder_eval::Qrels;
use hypencoder_train::data::select_negatives;

use crate::common::{open_collection, progress_bar, records_hinted, Hinted};

#[derive(Args)]
pub struct MineArgs {
    /// Index to search (with the model it was built with).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Queries, JSONL with id and text.
    #[arg(long, value_name = "FILE")]
    pub queries: PathBuf,
    /// Which documents are relevant (TREC qrels; relevance > 0 counts).
    #[arg(long, value_name = "FILE")]
    pub qrels: PathBuf,
    /// Training examples written here (JSONL).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Negatives kept per query, hardest first.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub negatives: usize,
    /// Skip this many of the top non-relevant hits (likely unjudged positives).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub skip: usize,
    /// Model folder, if the index's has moved.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Queries encoded and searched together.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub query_batch: usize,
}

#[derive(serde::Serialize)]
struct MinedExample<'a> {
    query_id: &'a str,
    query: &'a str,
    positives: Vec<&'a str>,
    negatives: Vec<String>,
}

pub fn run(args: &MineArgs) -> Result<()> {
    let index = open_collection(&args.index, args.model.as_deref(), None)?;
    let qrels = Qrels::read(&args.qrels)?;
    let fields = Fields {
        id: "id",
        text: "text",
        require_id: true,
        stored: Stored::Nothing,
    };
    let records = read_jsonl(&args.queries, &fields).map_err(records_hinted)?;
    let qids = unique_ids(&records, &args.queries)?;
    index.model().hinted()?;
    let (work, unjudged) = judged_queries(args, &index, &qrels, &qids)?;
    let queries = Queries {
        records: &records,
        qids: &qids,
    };
    let tmp = args.output.with_extension("jsonl.partial");
    let mut out = BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    );
    let bar = progress_bar(work.len());
    let started = Instant::now();
    for chunk in work.chunks(args.query_batch.max(1)) {
        mine_batch(args, &index, &queries, chunk, &mut out)?;
        bar.inc(chunk.len() as u64);
    }
    out.flush()?;
    drop(out);
    bar.finish_and_clear();
    std::fs::rename(&tmp, &args.output)?;
    eprintln!(
        "mined {} examples into {} in {:.0} s; {} queries have no relevant document in {} and were left out",
        work.len(),
        args.output.display(),
        started.elapsed().as_secs_f64(),
        unjudged,
        args.qrels.display(),
    );
    Ok(())
}

/// The queries read from `--queries` and their ids.
struct Queries<'a> {
    records: &'a [Record],
    qids: &'a [String],
}

/// A query with at least one relevant document.
struct Judged<'q> {
    /// Its position in `--queries`.
    query: usize,
    /// Its relevant documents, sorted.
    positives: Vec<&'q str>,
}

/// Every query with a relevant document, and how many queries have none. A relevant
/// document missing from the index is an error: the qrels belong elsewhere.
fn judged_queries<'q>(
    args: &MineArgs,
    index: &Collection,
    qrels: &'q Qrels,
    qids: &[String],
) -> Result<(Vec<Judged<'q>>, usize)> {
    let ids = index.ids().hinted()?;
    let in_index: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut unjudged = 0usize;
    let mut work = Vec::new();
    for (i, qid) in qids.iter().enumerate() {
        let positives: Vec<&str> = qrels
            .judgments(qid)
            .map(|j| {
                let mut p: Vec<&str> = j
                    .iter()
                    .filter(|(_, &r)| r > 0)
                    .map(|(d, _)| d.as_str())
                    .collect();
                p.sort();
                p
            })
            .unwrap_or_default();
        if positives.is_empty() {
            unjudged += 1;
            continue;
        }
        if let Some(d) = positives.iter().find(|d| !in_index.contains(*d)) {
            bail!(
                "{}: query {qid}'s relevant document {d} is not in {}",
                args.qrels.display(),
                index.dir().display()
            );
        }
        work.push(Judged {
            query: i,
            positives,
        });
    }
    Ok((work, unjudged))
}

/// Searches one batch of judged queries deep enough to find their
/// negatives past the positives, and writes their examples.
fn mine_batch(
    args: &MineArgs,
    index: &Collection,
    queries: &Queries,
    chunk: &[Judged],
    out: &mut impl Write,
) -> Result<()> {
    let texts: Vec<&str> = chunk
        .iter()
        .map(|j| queries.records[j.query].text.as_str())
        .collect();
    let depth = args.negatives + args.skip + 8;
    let params = SearchParams {
        k: depth + chunk.iter().map(|j| j.positives.len()).max().unwrap_or(0),
        mode: Some(Mode::Exhaustive),
        precision: Some(Precision::F32),
        ..SearchParams::DEFAULT
    };
    let found = index.search(&texts, &params).hinted()?;
    for (judged, hits) in chunk.iter().zip(found.hits) {
        let ranked = hits
            .iter()
            .map(|h| index.id(h.doc))
            .collect::<std::result::Result<Vec<_>, _>>()
            .hinted()?;
        let example = MinedExample {
            query_id: &queries.qids[judged.query],
            query: &queries.records[judged.query].text,
            negatives: select_negatives(ranked, &judged.positives, args.skip, args.negatives),
            positives: judged.positives.clone(),
        };
        serde_json::to_writer(&mut *out, &example)?;
        writeln!(out)?;
    }
    Ok(())
}
