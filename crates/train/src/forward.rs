//! A step's forward pass: each mode's encoders score the batch's queries
//! against its documents (read from the index's vectors or re-encoded from
//! its texts), and the loss the settings name (`loss.rs`) is taken over
//! those scores, with the graph back to every trainable parameter.

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor};
use hypencoder_model::{QNetBatch, TextTokenizer, TokenBatch};

use crate::batch::Batch;
use crate::config::{LossKind, TrainConfig};
use crate::error::Result;
use crate::loss;
use crate::setup::{Encoders, Setup};
use crate::transformer::{hidden_states, Pending};

impl Setup<'_> {
    /// The batch's loss and the gradient of every trainable parameter.
    pub(crate) fn gradients(&self, batch: &Batch) -> Result<(Tensor, GradStore)> {
        let mut pending = None;
        let scores = self.scores(batch, &mut pending)?;
        let loss = batch_loss(&scores, batch, self.config)?;
        let mut grads = loss.backward()?;
        if let Some(p) = pending {
            p.finish(&mut grads)?;
        }
        Ok((loss, grads))
    }

    /// The batch's queries encoded and its documents fetched, per mode.
    fn scores(&self, batch: &Batch, pending: &mut Option<Pending>) -> Result<Scores> {
        let n = self.config.negatives;
        let d = self.qnet.vector_dimensions[0];
        let dev = Device::Cpu;
        let queries: Vec<&str> = batch
            .examples
            .iter()
            .map(|&i| self.examples[i].query.as_str())
            .collect();
        Ok(match &self.encoders {
            Encoders::FrozenHyper { head, hidden, docs } => {
                let (h, mask) =
                    pad_hidden(batch.examples.iter().map(|&i| &hidden[i]), self.model_dim)?;
                let (positives, negatives) = index_docs(docs, d, batch, n)?;
                Scores::Hyper {
                    qnets: head.forward(&h, &mask)?,
                    positives,
                    negatives,
                }
            }
            Encoders::QueryHyper {
                bert,
                head,
                query_tok,
                docs,
            } => {
                let qb = query_tok.batch(&queries, &dev)?;
                let hidden = hidden_states(bert, &[&qb], pending)?;
                let (positives, negatives) = index_docs(docs, d, batch, n)?;
                Scores::Hyper {
                    qnets: head.forward(&hidden[0], &qb.attention_mask)?,
                    positives,
                    negatives,
                }
            }
            Encoders::FullHyper {
                bert,
                head,
                query_tok,
                doc,
                doc_tok,
                texts,
            } => {
                let qb = query_tok.batch(&queries, &dev)?;
                let db = doc_batch(doc_tok, texts, batch)?;
                let hidden = hidden_states(bert, &[&qb, &db], pending)?;
                let qnets = head.forward(&hidden[0], &qb.attention_mask)?;
                let docs = doc.pool(&hidden[1], &db.attention_mask)?;
                let (positives, negatives) = split_docs(&docs, batch, n)?;
                Scores::Hyper {
                    qnets,
                    positives,
                    negatives,
                }
            }
            Encoders::FullDense {
                encoder,
                query_tok,
                doc_tok,
                texts,
            } => {
                let qb = query_tok.batch(&queries, &dev)?;
                let db = doc_batch(doc_tok, texts, batch)?;
                let hidden = hidden_states(encoder.bert(), &[&qb, &db], pending)?;
                let docs = encoder.pool(&hidden[1], &db.attention_mask)?;
                let (positives, negatives) = split_docs(&docs, batch, n)?;
                Scores::Dense {
                    queries: encoder.pool(&hidden[0], &qb.attention_mask)?,
                    positives,
                    negatives,
                    scale: self.config.scale,
                }
            }
        })
    }
}

/// The settings' loss over a batch's scores: margin-MSE against the
/// teacher, or cross-entropy over the own positive against hard (and, if
/// set, in-batch) negatives.
fn batch_loss(scores: &Scores, batch: &Batch, config: &TrainConfig) -> Result<Tensor> {
    let b = batch.examples.len();
    let n = config.negatives;
    match (&batch.teacher, config.loss) {
        (Some(t), LossKind::MarginMse) => {
            let student = scores.own(n)?;
            let teacher = Tensor::from_vec(t.clone(), (b, 1 + n), &Device::Cpu)?;
            loss::margin_mse(&student, &teacher)
        }
        _ => {
            let (logits, targets) = if config.in_batch_negatives {
                let mask = duplicate_mask(&batch.positives)?;
                let in_batch = scores.in_batch()?.broadcast_add(&mask)?;
                let logits = if n > 0 {
                    Tensor::cat(&[&in_batch, &scores.negatives()?], 1)?
                } else {
                    in_batch
                };
                (logits, (0..b).collect::<Vec<_>>())
            } else {
                (scores.own(n)?, vec![0; b])
            };
            loss::cross_entropy(&logits, &targets)
        }
    }
}

/// Positives (B, d) and negatives (B, n, d) read from the index's vectors.
fn index_docs(docs: &[f32], d: usize, batch: &Batch, n: usize) -> Result<(Tensor, Tensor)> {
    let b = batch.positives.len();
    Ok((
        gather(docs, &batch.positives, d)?,
        gather(docs, &batch.negatives, d)?.reshape((b, n, d))?,
    ))
}

/// Rows of a row-major (N, d) matrix as a (rows, d) tensor.
fn gather(docs: &[f32], rows: &[u32], d: usize) -> Result<Tensor> {
    let mut out = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        out.extend_from_slice(&docs[r as usize * d..(r as usize + 1) * d]);
    }
    Ok(Tensor::from_vec(out, (rows.len(), d), &Device::Cpu)?)
}

/// The batch's positives then negatives, tokenized from the index's texts.
fn doc_batch(tok: &TextTokenizer, texts: &[String], batch: &Batch) -> Result<TokenBatch> {
    let all: Vec<&str> = batch
        .positives
        .iter()
        .chain(&batch.negatives)
        .map(|&r| texts[r as usize].as_str())
        .collect();
    Ok(tok.batch(&all, &Device::Cpu)?)
}

/// Document vectors in `doc_batch` order as positives (B, d) and
/// negatives (B, n, d).
fn split_docs(vectors: &Tensor, batch: &Batch, n: usize) -> Result<(Tensor, Tensor)> {
    let b = batch.positives.len();
    let d = vectors.dim(1)?;
    Ok((
        vectors.narrow(0, 0, b)?,
        vectors.narrow(0, b, b * n)?.reshape((b, n, d))?,
    ))
}

/// Scores of a batch's queries against its documents.
enum Scores {
    Hyper {
        qnets: QNetBatch,
        positives: Tensor,
        negatives: Tensor,
    },
    Dense {
        queries: Tensor,
        positives: Tensor,
        negatives: Tensor,
        scale: f64,
    },
}

impl Scores {
    /// Every query against every positive: (B, B).
    fn in_batch(&self) -> Result<Tensor> {
        Ok(match self {
            Scores::Hyper {
                qnets, positives, ..
            } => qnets.score_all(positives)?,
            Scores::Dense {
                queries,
                positives,
                scale,
                ..
            } => (queries.matmul(&positives.t()?)? * *scale)?,
        })
    }

    /// Each query against its own negatives: (B, n).
    fn negatives(&self) -> Result<Tensor> {
        Ok(match self {
            Scores::Hyper {
                qnets, negatives, ..
            } => qnets.score_per_query(negatives)?,
            Scores::Dense {
                queries,
                negatives,
                scale,
                ..
            } => {
                (queries
                    .unsqueeze(1)?
                    .matmul(&negatives.transpose(1, 2)?)?
                    .squeeze(1)?
                    * *scale)?
            }
        })
    }

    /// Each query against its own positive then negatives: (B, 1 + n).
    fn own(&self, n: usize) -> Result<Tensor> {
        let (positives, negatives) = match self {
            Scores::Hyper {
                positives,
                negatives,
                ..
            }
            | Scores::Dense {
                positives,
                negatives,
                ..
            } => (positives, negatives),
        };
        let docs = if n > 0 {
            Tensor::cat(&[&positives.unsqueeze(1)?, negatives], 1)?
        } else {
            positives.unsqueeze(1)?
        };
        Ok(match self {
            Scores::Hyper { qnets, .. } => qnets.score_per_query(&docs)?,
            Scores::Dense { queries, scale, .. } => {
                (queries
                    .unsqueeze(1)?
                    .matmul(&docs.transpose(1, 2)?)?
                    .squeeze(1)?
                    * *scale)?
            }
        })
    }
}

/// (B, B): a large negative where another query's positive is this
/// query's positive too (it is no negative), 0 elsewhere.
fn duplicate_mask(positives: &[u32]) -> Result<Tensor> {
    let b = positives.len();
    let mut m = vec![0f32; b * b];
    for i in 0..b {
        for j in 0..b {
            if i != j && positives[i] == positives[j] {
                m[i * b + j] = -1e9;
            }
        }
    }
    Ok(Tensor::from_vec(m, (b, b), &Device::Cpu)?)
}

/// Cached hidden states padded into (B, L, H) plus the (B, L) mask.
fn pad_hidden<'b>(
    rows: impl Iterator<Item = &'b (usize, Vec<f32>)> + Clone,
    h: usize,
) -> Result<(Tensor, Tensor)> {
    let b = rows.clone().count();
    let l = rows.clone().map(|r| r.0).max().unwrap_or(1).max(1);
    let mut states = vec![0f32; b * l * h];
    let mut mask = vec![0f32; b * l];
    for (i, (len, values)) in rows.enumerate() {
        states[i * l * h..i * l * h + len * h].copy_from_slice(values);
        mask[i * l..i * l + len].fill(1.0);
    }
    let dev = Device::Cpu;
    Ok((
        Tensor::from_vec(states, (b, l, h), &dev)?,
        Tensor::from_vec(mask, (b, l), &dev)?,
    ))
}
