//! The q-net: the small per-query network that scores document vectors.
//!
//! Hidden layer j: y = act(x W_j + b_j); y = LayerNorm(y) (no parameters);
//! y = y + x unless it is the last hidden layer and `do_residual_on_last` is
//! false. The final layer is x W_last (no bias, no activation): one score.

use candle_core::{Tensor, D};

use crate::bert::layer_norm;
use crate::config::QNetConfig;

/// LayerNorm inside the q-net: PyTorch's `F.layer_norm` default eps.
pub const QNET_LN_EPS: f64 = 1e-5;

/// The q-nets of a batch of B queries, as batched tensors.
#[derive(Debug, Clone)]
pub struct QNetBatch {
    /// Per layer, (B, in, out), applied as `x @ W`.
    weights: Vec<Tensor>,
    /// Per hidden layer, (B, out).
    biases: Vec<Tensor>,
    config: QNetConfig,
}

impl QNetBatch {
    /// A batch from per-layer weights (B, in, out) and biases (B, out).
    pub fn new(weights: Vec<Tensor>, biases: Vec<Tensor>, config: QNetConfig) -> Self {
        debug_assert_eq!(weights.len(), config.hidden_layers() + 1);
        debug_assert_eq!(biases.len(), config.hidden_layers());
        QNetBatch {
            weights,
            biases,
            config,
        }
    }

    /// The q-nets of several batches, in order, as one (all of one shape).
    pub fn cat(parts: &[QNetBatch]) -> candle_core::Result<Self> {
        let first = parts
            .first()
            .ok_or_else(|| candle_core::Error::Msg("no q-net batch to join".into()))?;
        let join = |pick: &dyn Fn(&QNetBatch) -> &[Tensor], layers: usize| {
            (0..layers)
                .map(|l| Tensor::cat(&parts.iter().map(|p| &pick(p)[l]).collect::<Vec<_>>(), 0))
                .collect::<candle_core::Result<Vec<_>>>()
        };
        Ok(QNetBatch::new(
            join(&|p| &p.weights, first.weights.len())?,
            join(&|p| &p.biases, first.biases.len())?,
            first.config.clone(),
        ))
    }

    /// Number of q-nets (queries).
    pub fn len(&self) -> usize {
        self.weights[0].dim(0).unwrap_or(0)
    }

    /// Whether the batch holds no q-net.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Per layer, (B, in, out).
    pub fn weights(&self) -> &[Tensor] {
        &self.weights
    }

    /// Per hidden layer, (B, out).
    pub fn biases(&self) -> &[Tensor] {
        &self.biases
    }

    /// The shape all q-nets of the batch share.
    pub fn config(&self) -> &QNetConfig {
        &self.config
    }

    /// Each query's q-net as plain row-major arrays, for CPU scoring kernels.
    pub fn split(&self) -> candle_core::Result<Vec<QNet>> {
        let weights = self
            .weights
            .iter()
            .map(|w| w.to_dtype(candle_core::DType::F32)?.to_vec3::<f32>())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let biases = self
            .biases
            .iter()
            .map(|b| b.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>())
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok((0..self.len())
            .map(|q| QNet {
                config: self.config.clone(),
                weights: weights
                    .iter()
                    .map(|w| w[q].iter().flatten().copied().collect())
                    .collect(),
                biases: biases.iter().map(|b| b[q].clone()).collect(),
            })
            .collect())
    }

    /// Scores every document for every query: docs (N, d) -> (B, N).
    pub fn score_all(&self, docs: &Tensor) -> candle_core::Result<Tensor> {
        let (n, d) = docs.dims2()?;
        let x = docs
            .unsqueeze(0)?
            .broadcast_as((self.len(), n, d))?
            .contiguous()?;
        self.score_per_query(&x)
    }

    /// Scores each query's own documents: x (B, N, d) -> (B, N).
    pub fn score_per_query(&self, docs: &Tensor) -> candle_core::Result<Tensor> {
        let c = &self.config;
        let mut x = docs.clone();
        for j in 0..c.hidden_layers() {
            let mut y = x
                .matmul(&self.weights[j])?
                .broadcast_add(&self.biases[j].unsqueeze(1)?)?;
            y = crate::activate(c.activation, &y)?;
            let residual = c.residual_on(j);
            if c.do_layer_norm && c.layer_norm_before_residual {
                y = layer_norm(&y, QNET_LN_EPS)?;
            }
            if residual {
                y = (y + &x)?;
            }
            if c.do_layer_norm && !c.layer_norm_before_residual {
                y = layer_norm(&y, QNET_LN_EPS)?;
            }
            x = y;
        }
        x.matmul(self.weights.last().expect("a q-net has a last layer"))?
            .squeeze(D::Minus1)
    }
}

/// One query's q-net as plain arrays: what scoring kernels consume.
#[derive(Debug, Clone, PartialEq)]
pub struct QNet {
    /// The shape and wiring.
    pub config: QNetConfig,
    /// Per layer, (in, out) row-major, applied as `x @ W`.
    pub weights: Vec<Vec<f32>>,
    /// Per hidden layer, `out` values.
    pub biases: Vec<Vec<f32>>,
}
