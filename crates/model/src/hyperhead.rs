//! The hyper-head: turns a query's last hidden states into the weights and
//! biases of its q-net, exactly as the official `Hypencoder._get_weights_and_biases`.
//!
//! For q-net matrix i of shape (in, out):
//!   K = H Wk_i + bk_i, V = H Wv_i + bv_i                      (L x in)
//!   A = softmax(Q_i K^T / sqrt(out), padding masked) V       (out x in), Q_i learned
//!   W_i = (Linear_i(LayerNorm(ReLU(A))) + base_i)^T           (in x out)
//! Biases the same way with a single learned query row (out = 1) each.
//! Tensor names: `weight_query_embeddings.i`, `key_projections.i`, ... with
//! the bias projections' keys and values after the weights' (index n_w + j).

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::bert::{additive_mask, layer_norm, softmax_last, Linear};
use crate::config::QNetConfig;
use crate::qnet::QNetBatch;

/// LayerNorm inside the hyper-head: PyTorch's `F.layer_norm` default eps.
const HEAD_LN_EPS: f64 = 1e-5;

struct Generator {
    /// (1, out, in): one learned query row per output unit.
    queries: Tensor,
    keys: Linear,
    values: Linear,
    projection: Linear,
    /// (1, out, in) for matrices; (1, in) reshaped to (1, 1, in) for biases.
    base: Tensor,
    out: usize,
}

impl Generator {
    /// (B, L, H) hidden states + (B, 1, L) mask bias -> (B, out, in).
    fn forward(&self, hidden: &Tensor, mask_bias: &Tensor) -> candle_core::Result<Tensor> {
        let b = hidden.dim(0)?;
        let keys = self.keys.forward(hidden)?; // (B, L, in)
        let values = self.values.forward(hidden)?;
        let (_, out, inp) = self.queries.dims3()?;
        let queries = self.queries.broadcast_as((b, out, inp))?.contiguous()?;
        let scores = (queries.matmul(&keys.t()?)? / (self.out as f64).sqrt())?;
        let attn = softmax_last(&scores.broadcast_add(mask_bias)?)?;
        let ctx = attn.matmul(&values)?; // (B, out, in)
        let normed = layer_norm(&ctx.relu()?, HEAD_LN_EPS)?;
        self.projection.forward(&normed)?.broadcast_add(&self.base)
    }
}

/// The learned hyper-head of a Hypencoder query encoder.
pub struct HyperHead {
    weights: Vec<Generator>,
    biases: Vec<Generator>,
    config: QNetConfig,
}

impl HyperHead {
    /// `vb` points at `query_encoder`; `model_dim` is the transformer's width.
    pub fn load(
        vb: VarBuilder,
        config: &QNetConfig,
        model_dim: usize,
    ) -> candle_core::Result<Self> {
        let shapes = config.weight_shapes();
        let n_w = shapes.len();
        let weights = shapes
            .iter()
            .enumerate()
            .map(|(i, &(inp, out))| {
                Ok(Generator {
                    queries: vb
                        .pp("weight_query_embeddings")
                        .get((1, out, inp), &i.to_string())?,
                    keys: Linear::load(vb.pp("key_projections").pp(i), model_dim, inp)?,
                    values: Linear::load(vb.pp("value_projections").pp(i), model_dim, inp)?,
                    projection: Linear::load(vb.pp("weight_hyper_projection").pp(i), inp, inp)?,
                    base: vb
                        .pp("hyper_base_matrices")
                        .get((1, out, inp), &i.to_string())?,
                    out,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let biases = config
            .bias_sizes()
            .iter()
            .enumerate()
            .map(|(j, &size)| {
                Ok(Generator {
                    queries: vb
                        .pp("bias_query_embeddings")
                        .get((1, 1, size), &j.to_string())?,
                    keys: Linear::load(vb.pp("key_projections").pp(n_w + j), model_dim, size)?,
                    values: Linear::load(vb.pp("value_projections").pp(n_w + j), model_dim, size)?,
                    projection: Linear::load(vb.pp("bias_hyper_projection").pp(j), size, size)?,
                    base: vb
                        .pp("hyper_base_vectors")
                        .get((1, size), &j.to_string())?
                        .unsqueeze(0)?,
                    out: 1,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(HyperHead {
            weights,
            biases,
            config: config.clone(),
        })
    }

    /// The shape of the q-nets this head makes.
    pub fn config(&self) -> &QNetConfig {
        &self.config
    }

    /// Each query's q-net from its own unpadded hidden states, so a query
    /// gets the same q-net, bit for bit, alone or in any batch: over a padded
    /// batch the attention sums run over more (masked, zero) terms, which
    /// changes their rounding. `lengths[b]` is query b's token count (its
    /// tokens come first in its row of `attention_mask`).
    pub fn forward_each(
        &self,
        hidden: &Tensor,
        attention_mask: &Tensor,
        lengths: &[usize],
    ) -> candle_core::Result<QNetBatch> {
        let parts = lengths
            .iter()
            .enumerate()
            .map(|(b, &len)| {
                let own = hidden.narrow(0, b, 1)?.narrow(1, 0, len)?;
                let mask = attention_mask.narrow(0, b, 1)?.narrow(1, 0, len)?;
                self.forward(&own, &mask)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        QNetBatch::cat(&parts)
    }

    /// Last hidden states (B, L, H) and attention mask (B, L) -> B q-nets.
    pub fn forward(
        &self,
        hidden: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<QNetBatch> {
        let mask_bias = additive_mask(attention_mask)?.unsqueeze(1)?;
        let weights = self
            .weights
            .iter()
            .map(|g| g.forward(hidden, &mask_bias)?.transpose(1, 2)?.contiguous())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let biases = self
            .biases
            .iter()
            .map(|g| g.forward(hidden, &mask_bias)?.squeeze(1))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(QNetBatch::new(weights, biases, self.config.clone()))
    }
}
