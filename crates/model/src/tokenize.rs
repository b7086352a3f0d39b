//! Tokenisation from a model folder's `tokenizer.json` (Hugging Face
//! tokenizers), with padding and truncation always set here: some shipped
//! tokenizer.json files fix padding at a length (all-MiniLM-L6-v2: 128).

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::error::{ModelError, Result};

/// A tokenizer that pads a batch to its longest member and truncates each
/// text to `max_length` tokens, special tokens included.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    max_length: usize,
    file: PathBuf,
}

/// One padded batch of token ids, ready for the encoder.
pub struct TokenBatch {
    /// (B, L) u32.
    pub input_ids: Tensor,
    /// (B, L) f32 of 0 and 1.
    pub attention_mask: Tensor,
    /// Real (unpadded) length of each row.
    pub lengths: Vec<usize>,
    /// Per row: was the text cut at `max_length`?
    pub truncated: Vec<bool>,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`, truncating to `max_length` tokens.
    pub fn from_file(file: &Path, max_length: usize) -> Result<Self> {
        let mut inner = Tokenizer::from_file(file).map_err(|e| ModelError::Tokenizer {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        let pad_token = inner
            .get_padding()
            .map(|p| p.pad_token.clone())
            .unwrap_or_else(|| "[PAD]".to_string());
        let pad_id = inner
            .token_to_id(&pad_token)
            .ok_or_else(|| ModelError::Tokenizer {
                file: file.to_path_buf(),
                message: format!("padding token '{pad_token}' is not in the vocabulary"),
            })?;
        inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..Default::default()
        }));
        let mut tok = TextTokenizer {
            inner,
            max_length: 0,
            file: file.to_path_buf(),
        };
        tok.set_max_length(max_length)?;
        Ok(tok)
    }

    /// Token limit, special tokens included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Sets the token limit (at least 2: [CLS] and [SEP]).
    pub fn set_max_length(&mut self, max_length: usize) -> Result<()> {
        if max_length < 2 {
            return Err(ModelError::Invalid(format!(
                "max length {max_length} is too short: it must leave room for [CLS] and [SEP]"
            )));
        }
        self.inner
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| ModelError::Tokenizer {
                file: self.file.clone(),
                message: e.to_string(),
            })?;
        self.max_length = max_length;
        Ok(())
    }

    /// Token ids of one text, special tokens included, truncated.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| ModelError::Tokenize(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token ids and attention mask of `texts`, padded to the longest.
    pub fn batch(&self, texts: &[&str], device: &Device) -> Result<TokenBatch> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelError::Tokenize(e.to_string()))?;
        let b = encodings.len();
        let l = encodings.first().map_or(0, |e| e.len());
        let mut ids = Vec::with_capacity(b * l);
        let mut mask = Vec::with_capacity(b * l);
        let mut lengths = Vec::with_capacity(b);
        let mut truncated = Vec::with_capacity(b);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend(e.get_attention_mask().iter().map(|&m| m as f32));
            lengths.push(e.get_attention_mask().iter().filter(|&&m| m == 1).count());
            truncated.push(!e.get_overflowing().is_empty());
        }
        Ok(TokenBatch {
            input_ids: Tensor::from_vec(ids, (b, l), device)?,
            attention_mask: Tensor::from_vec(mask, (b, l), device)?,
            lengths,
            truncated,
        })
    }
}
