//! Encoding corpus records into an index writer, a slice at a time, for
//! `index` (a whole index) and `add` (a live index's new segment).

use anyhow::Result;
use hypencoder_index::IndexWriter;
use hypencoder_model::Model;

use super::progress::progress_bar;
use crate::input::Record;

/// Documents encoded and handed to the writer at once (the writer's own
/// segments are this size, so an interruption loses at most one).
pub const SLICE: usize = 1024;

/// Encodes `records[skip..]` (with their `ids`) into `writer`, advancing a
/// progress bar over all of `records`.
pub fn encode_into_writer(
    model: &Model,
    writer: &mut IndexWriter,
    records: &[Record],
    ids: &[String],
    batch_size: usize,
    skip: usize,
) -> Result<()> {
    let progress = progress_bar(records.len());
    progress.set_position(skip as u64);
    for (slice, slice_ids) in records[skip..].chunks(SLICE).zip(ids[skip..].chunks(SLICE)) {
        let texts: Vec<&str> = slice.iter().map(|r| r.text.as_str()).collect();
        let (vectors, truncated) = model.encode_docs_batched_with_truncation(&texts, batch_size)?;
        for (((id, text), vector), cut) in slice_ids.iter().zip(&texts).zip(&vectors).zip(truncated)
        {
            writer.add(id, text, vector, cut)?;
        }
        progress.inc(slice.len() as u64);
    }
    progress.finish_and_clear();
    Ok(())
}
