//! Initial hyper-head parameters, as the official `_initialize_hyper_head`
//! draws them, from a seeded generator so runs repeat exactly.
//!
//! The official code scales two of them by the hard-coded BERT-base width
//! 768; here the q-net's own input width `d` takes its place, so a q-net
//! over 384-d MiniLM vectors starts with He-scaled base matrices too.

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
        let values = (0..n).map(|_| self.rng.random_range(-bound..bound)).collect();
        self.tensor(values, shape)
    }

    fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        Ok(Tensor::zeros(shape, self.dtype, &self.device)?)
    }
}

/// Every hyper-head tensor, named as in the official checkpoint under
/// `query_encoder.` (e.g. `weight_query_embeddings.0`).
pub fn init_hyper_head(
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
        out.push((format!("weight_query_embeddings.{i}"), init.normal(&[1, outp, inp], 10.0)?));
        out.push((format!("hyper_base_matrices.{i}"), init.normal(&[1, outp, inp], (2.0 / d).sqrt())?));
        out.push((format!("weight_hyper_projection.{i}.weight"), init.normal(&[inp, inp], 1.0 / (d * d))?));
        out.push((format!("weight_hyper_projection.{i}.bias"), init.zeros(&[inp])?));
        for kind in ["key_projections", "value_projections"] {
            out.push((format!("{kind}.{i}.weight"), init.uniform(&[inp, model_dim], model_dim)?));
            out.push((format!("{kind}.{i}.bias"), init.zeros(&[inp])?));
        }
    }
    for (j, &size) in qnet.bias_sizes().iter().enumerate() {
        out.push((format!("bias_query_embeddings.{j}"), init.normal(&[1, 1, size], 10.0)?));
        out.push((format!("hyper_base_vectors.{j}"), init.zeros(&[1, size])?));
        out.push((format!("bias_hyper_projection.{j}.weight"), init.uniform(&[size, size], size)?));
        out.push((format!("bias_hyper_projection.{j}.bias"), init.uniform(&[size], size)?));
        // The official code leaves these biases at PyTorch's default.
        for kind in ["key_projections", "value_projections"] {
            let k = n_w + j;
            out.push((format!("{kind}.{k}.weight"), init.uniform(&[size, model_dim], model_dim)?));
            out.push((format!("{kind}.{k}.bias"), init.uniform(&[size], model_dim)?));
        }
    }
    Ok(out)
}
