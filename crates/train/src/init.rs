//! Initial hyper-head parameters, from a seeded generator so runs repeat
//! exactly. Two styles:
//!
//! - `Official`: as the official `_initialize_hyper_head` draws them. Its
//!   q-nets start as random networks, which needs a long training run. (The
//!   official code scales two tensors by the hard-coded BERT-base width 768;
//!   the q-net's input width `d` takes its place here.)
//! - `BiEncoder` (default): the untrained Hypencoder scores like its base
//!   bi-encoder, so training starts from the base's ranking instead of from
//!   chance. The hidden layers start as identities with a large constant bias
//!   (ReLU then passes everything, and LayerNorm removes the shift), so the
//!   last hidden layer outputs LN(x); the last layer's weights are generated
//!   from the mean of the query's token states (a zero query row attends
//!   uniformly; the value projection is the identity plus the same shift) as
//!   `scale/d * LN(mean)`. The score is then `scale * corr(x, mean query
//!   state)`: the base's mean-pooled similarity, centred, at the temperature
//!   sentence-transformers trains with. Everything query-dependent beyond
//!   that starts small and is learned. The first layer's identity is scaled
//!   by `input_scale` (1 / the typical spread of a document vector's
//!   components) so documents reach it at unit scale: a small mean-pooled
//!   vector would otherwise be swamped by the first small change to the
//!   generated biases, and training would wreck the start it began from.

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use hypencoder_model::QNetConfig;

use crate::error::Result;

struct Init {
    rng: ChaCha8Rng,
    device: Device,
    dtype: DType,
}

impl Init {
    fn tensor(&self, values: Vec<f64>, shape: &[usize]) -> Result<Tensor> {
        Ok(Tensor::from_vec(values, shape, &self.device)?.to_dtype(self.dtype)?)
    }

    fn normal(&mut self, shape: &[usize], std: f64) -> Result<Tensor> {
        let dist = Normal::new(0.0, std).expect("std is positive");
        let n = shape.iter().product();
        let values = (0..n).map(|_| dist.sample(&mut self.rng)).collect();
        self.tensor(values, shape)
    }

    /// PyTorch's default for `nn.Linear`: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    fn uniform(&mut self, shape: &[usize], fan_in: usize) -> Result<Tensor> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let n = shape.iter().product();
        let values = (0..n)
            .map(|_| self.rng.random_range(-bound..bound))
            .collect();
        self.tensor(values, shape)
    }

    fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        Ok(Tensor::zeros(shape, self.dtype, &self.device)?)
    }
}

/// How a new hyper-head starts (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitStyle {
    /// As the official code draws it: random q-nets.
    Official,
    /// Untrained q-nets score like the base's mean-pooled similarity.
    BiEncoder,
}

/// `1 / median over rows of the standard deviation of a row's components`:
/// what brings document vectors to unit scale (1 for an empty sample).
pub fn input_scale(rows: &[f32], d: usize) -> f64 {
    let mut spreads: Vec<f64> = rows
        .chunks_exact(d.max(1))
        .map(|r| {
            let mean = r.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
            (r.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64).sqrt()
        })
        .filter(|s| *s > 0.0)
        .collect();
    if spreads.is_empty() {
        return 1.0;
    }
    spreads.sort_by(f64::total_cmp);
    1.0 / spreads[spreads.len() / 2]
}

/// Large enough that x + SHIFT > 0 for every component of LayerNorm'd or
/// mean-pooled states: ReLU then acts as the identity.
const SHIFT: f64 = 10.0;
/// Logit scale of the bi-encoder start (sentence-transformers' 20).
const START_SCALE: f64 = 20.0;

/// Every hyper-head tensor, named as in the official checkpoint under
/// `query_encoder.` (e.g. `weight_query_embeddings.0`).
pub fn init_hyper_head(
    qnet: &QNetConfig,
    model_dim: usize,
    seed: u64,
    style: InitStyle,
    input_scale: f64,
    dtype: DType,
    device: &Device,
) -> Result<Vec<(String, Tensor)>> {
    let mut out = init_official(qnet, model_dim, seed, dtype, device)?;
    if style == InitStyle::BiEncoder {
        let d = qnet.vector_dimensions[0];
        if d != model_dim
            || qnet.vector_dimensions[1..qnet.vector_dimensions.len() - 1]
                .iter()
                .any(|&w| w != d)
        {
            return Err(crate::TrainError::Invalid(format!(
                "the bi-encoder start needs q-net layers as wide as the transformer ({model_dim}); \
                 these are {:?} (use `init` official)",
                qnet.vector_dimensions
            )));
        }
        let last = qnet.weight_shapes().len() - 1;
        let eye = Tensor::eye(d, dtype, device)?;
        for (name, t) in out.iter_mut() {
            let idx: Option<usize> = name.split('.').nth(1).and_then(|i| i.parse().ok());
            let kind = name.split('.').next().unwrap_or_default();
            let is_last = idx == Some(last);
            *t = match (kind, is_last, name.ends_with(".bias")) {
                ("hyper_base_matrices", false, _) if idx == Some(0) => {
                    (eye.unsqueeze(0)? * input_scale)?
                }
                ("hyper_base_matrices", false, _) => eye.unsqueeze(0)?,
                ("hyper_base_matrices", true, _) => t.zeros_like()?,
                ("weight_query_embeddings", true, _) => t.zeros_like()?,
                ("value_projections", true, false) => eye.clone(),
                ("value_projections", true, true) => (t.ones_like()? * SHIFT)?,
                ("weight_hyper_projection", true, false) => {
                    (eye.clone() * (START_SCALE / d as f64))?
                }
                ("hyper_base_vectors", _, _) => (t.ones_like()? * SHIFT)?,
                // Query-dependent biases start as small as the weights' do.
                ("bias_hyper_projection", _, false) => (t.clone() * (1.0 / d as f64))?,
                ("bias_hyper_projection", _, true) => t.zeros_like()?,
                _ => continue,
            };
        }
    }
    Ok(out)
}

fn init_official(
    qnet: &QNetConfig,
    model_dim: usize,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> Result<Vec<(String, Tensor)>> {
    let mut init = Init {
        rng: ChaCha8Rng::seed_from_u64(seed),
        device: device.clone(),
        dtype,
    };
    let d = qnet.vector_dimensions[0] as f64;
    let shapes = qnet.weight_shapes();
    let n_w = shapes.len();
    let mut out = Vec::new();
    for (i, &(inp, outp)) in shapes.iter().enumerate() {
        out.push((
            format!("weight_query_embeddings.{i}"),
            init.normal(&[1, outp, inp], 10.0)?,
        ));
        out.push((
            format!("hyper_base_matrices.{i}"),
            init.normal(&[1, outp, inp], (2.0 / d).sqrt())?,
        ));
        out.push((
            format!("weight_hyper_projection.{i}.weight"),
            init.normal(&[inp, inp], 1.0 / (d * d))?,
        ));
        out.push((
            format!("weight_hyper_projection.{i}.bias"),
            init.zeros(&[inp])?,
        ));
        for kind in ["key_projections", "value_projections"] {
            out.push((
                format!("{kind}.{i}.weight"),
                init.uniform(&[inp, model_dim], model_dim)?,
            ));
            out.push((format!("{kind}.{i}.bias"), init.zeros(&[inp])?));
        }
    }
    for (j, &size) in qnet.bias_sizes().iter().enumerate() {
        out.push((
            format!("bias_query_embeddings.{j}"),
            init.normal(&[1, 1, size], 10.0)?,
        ));
        out.push((format!("hyper_base_vectors.{j}"), init.zeros(&[1, size])?));
        out.push((
            format!("bias_hyper_projection.{j}.weight"),
            init.uniform(&[size, size], size)?,
        ));
        out.push((
            format!("bias_hyper_projection.{j}.bias"),
            init.uniform(&[size], size)?,
        ));
        // The official code leaves these biases at PyTorch's default.
        for kind in ["key_projections", "value_projections"] {
            let k = n_w + j;
            out.push((
                format!("{kind}.{k}.weight"),
                init.uniform(&[size, model_dim], model_dim)?,
            ));
            out.push((
                format!("{kind}.{k}.bias"),
                init.uniform(&[size], model_dim)?,
            ));
        }
    }
    Ok(out)
}
