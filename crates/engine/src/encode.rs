//! Documents into vectors into an index writer: the one encoding loop
//! (new indexes and added segments alike) and what an index records of
//! the model and settings it was built with.

use hypencoder_index::{Dtype, ModelInfo, SegmentWriter, WriterConfig};
use hypencoder_model::Model;

use crate::error::Result;

/// Documents encoded and handed to an index writer at once (its own
/// chunks are this size too, so an interruption loses at most one).
pub const CHUNK: usize = 1024;

/// What an index of `model`'s vectors records about its build: the
/// model's path, kind and fingerprints, the storage settings, and
/// `source`, which identifies the input (a partial build resumes only
/// under the same one). Hashes the model's weights (once per model).
pub fn writer_config(
    model: &Model,
    dtype: Dtype,
    texts: bool,
    lexical: bool,
    source: String,
) -> Result<WriterConfig> {
    let dir = model.dir();
    let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    Ok(WriterConfig {
        dim: model.dim(),
        dtype,
        model: ModelInfo {
            path: path.display().to_string(),
            kind: model.kind().name().to_string(),
            fingerprint: model.fingerprint()?,
            doc_encoder: Some(model.doc_encoder_fingerprint()?),
        },
        with_texts: texts,
        max_length: model.doc_tokenizer().max_length() as u64,
        source,
        chunk_size: CHUNK,
        lexical,
    })
}

/// Encodes `texts` (with their `ids`) into `writer`, [`CHUNK`] documents
/// at a time; `progress` is told how many are done.
pub(crate) fn encode_into(
    model: &Model,
    writer: &mut SegmentWriter,
    ids: &[String],
    texts: &[&str],
    batch_size: usize,
    progress: &dyn Fn(usize),
) -> Result<()> {
    let mut done = 0;
    for (chunk_ids, chunk) in ids.chunks(CHUNK).zip(texts.chunks(CHUNK)) {
        let (vectors, truncated) = model.encode_docs_batched_with_truncation(chunk, batch_size)?;
        for (((id, text), vector), cut) in chunk_ids.iter().zip(chunk).zip(&vectors).zip(truncated)
        {
            writer.add(id, text, vector, cut)?;
        }
        done += chunk.len();
        progress(done);
    }
    Ok(())
}
