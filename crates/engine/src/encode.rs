//! Documents into vectors into an index writer: the one encoding loop
//! (new indexes and added segments alike) and what an index records of
//! the model and settings it was built with.

use hypencoder_index::{
    Dtype, IndexError, ModelInfo, Schema, SchemaBuilder, SegmentWriter, WriterConfig,
};
use hypencoder_model::{EncodePrecision, Model};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

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
            doc_precision: match model.doc_precision() {
                EncodePrecision::F32 => None,
                p => Some(p.name().to_string()),
            },
        },
        with_texts: texts,
        max_length: model.doc_tokenizer().max_length() as u64,
        source,
        chunk_size: CHUNK,
        lexical,
    })
}

/// Documents to index: ids and texts, and each one's fields (empty when
/// the documents have none; else one map per document).
#[derive(Debug, Clone, Copy)]
pub struct Docs<'a> {
    /// Their ids.
    pub ids: &'a [String],
    /// Their texts.
    pub texts: &'a [&'a str],
    /// Their fields: none, or one map per document.
    pub fields: &'a [Map<String, Value>],
}

impl<'a> Docs<'a> {
    /// Documents without fields.
    pub fn new(ids: &'a [String], texts: &'a [&'a str]) -> Self {
        Docs {
            ids,
            texts,
            fields: &[],
        }
    }

    /// The same documents with their fields.
    pub fn with_fields(self, fields: &'a [Map<String, Value>]) -> Self {
        Docs { fields, ..self }
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Documents `from..`.
    pub(crate) fn skip(self, from: usize) -> Self {
        Docs {
            ids: &self.ids[from..],
            texts: &self.texts[from..],
            fields: if self.fields.is_empty() {
                &[]
            } else {
                &self.fields[from..]
            },
        }
    }

    /// Checks that ids, texts and fields line up, and that every field
    /// has one type across the documents (and `existing`'s, when given:
    /// the index they join).
    pub(crate) fn check(&self, existing: Option<&Schema>) -> Result<()> {
        if self.ids.len() != self.texts.len() {
            return Err(Error::Invalid {
                field: "texts",
                message: format!("{} ids for {} texts", self.ids.len(), self.texts.len()),
            });
        }
        if self.fields.is_empty() {
            return Ok(());
        }
        if self.fields.len() != self.ids.len() {
            return Err(Error::Invalid {
                field: "fields",
                message: format!(
                    "{} ids for {} field maps",
                    self.ids.len(),
                    self.fields.len()
                ),
            });
        }
        let mut schema = SchemaBuilder::default();
        for (id, fields) in self.ids.iter().zip(self.fields) {
            schema
                .observe(fields, &format!("document '{id}'"))
                .map_err(IndexError::Fields)?;
        }
        if let Some(existing) = existing {
            schema
                .check_against(existing, "the index")
                .map_err(IndexError::Fields)?;
        }
        Ok(())
    }
}

/// Encodes `docs` into `writer`, [`CHUNK`] documents at a time;
/// `progress` is told how many are done.
pub(crate) fn encode_into(
    model: &Model,
    writer: &mut SegmentWriter,
    docs: Docs,
    batch_size: usize,
    progress: &dyn Fn(usize),
) -> Result<()> {
    let none = Map::new();
    let mut done = 0;
    for (start, chunk) in (0..docs.len()).step_by(CHUNK).zip(docs.texts.chunks(CHUNK)) {
        let (vectors, truncated) = model.encode_docs_batched_with_truncation(chunk, batch_size)?;
        for (i, ((text, vector), cut)) in chunk.iter().zip(&vectors).zip(truncated).enumerate() {
            let fields = docs.fields.get(start + i).unwrap_or(&none);
            writer.add_with_fields(&docs.ids[start + i], text, vector, cut, fields)?;
        }
        done += chunk.len();
        progress(done);
    }
    Ok(())
}
