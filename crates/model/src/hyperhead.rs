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

use std::sync::OnceLock;

use candle_core::{DType, Module, Tensor};
use candle_nn::VarBuilder;
use hypencoder_kernels::{self as kernels, Epilogue, Isa, Rhs};

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

impl Generator {
    /// Whether the inference kernels can run this generator: f32 weights
    /// on the CPU that need no gradient.
    fn packable(&self) -> bool {
        let plain = |t: &Tensor| t.dtype() == DType::F32 && t.device().is_cpu() && !t.track_op();
        [
            &self.queries,
            self.keys.weight(),
            self.values.weight(),
            self.projection.weight(),
            &self.base,
        ]
        .into_iter()
        .all(plain)
    }

    fn pack(&self) -> candle_core::Result<PackedGenerator> {
        let (_, out, inp) = self.queries.dims3()?;
        let vec1 = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        let linear = |l: &Linear| -> candle_core::Result<Rhs> {
            let (n, k) = l.weight().dims2()?;
            let bias = l.bias().map(vec1).transpose()?;
            Ok(Rhs::linear(&vec1(l.weight())?, bias.as_deref(), n, k))
        };
        // The attention's 1/sqrt(out) folded into the query rows.
        let scale = 1.0 / (self.out as f64).sqrt();
        let queries = vec1(&self.queries)?
            .into_iter()
            .map(|q| (q as f64 * scale) as f32)
            .collect();
        let base = vec1(&self.base.broadcast_as((1, out, inp))?.contiguous()?)?;
        Ok(PackedGenerator {
            queries,
            keys: linear(&self.keys)?,
            values: linear(&self.values)?,
            projection: linear(&self.projection)?,
            base,
            out,
            inp,
        })
    }
}

/// One generator's weights for the inference kernels (`kernels::linear`),
/// packed once: the same computation as [`Generator::forward`] for one
/// query's unpadded hidden states.
struct PackedGenerator {
    /// (out, in) learned query rows, times 1/sqrt(out).
    queries: Vec<f32>,
    keys: Rhs,
    values: Rhs,
    projection: Rhs,
    /// (out, in), added after the projection.
    base: Vec<f32>,
    out: usize,
    inp: usize,
}

impl PackedGenerator {
    /// One query's (out, in) matrix from its `len` hidden states (rows of
    /// the model's width). `ones`/`zeros`: `inp` each, the parameter-free
    /// LayerNorm's scale and shift.
    fn forward(&self, hidden: &[f32], len: usize, ones: &[f32], zeros: &[f32]) -> Vec<f32> {
        let (out, inp) = (self.out, self.inp);
        let mut keys = vec![0f32; len * inp];
        let mut values = vec![0f32; len * inp];
        kernels::linear(hidden, len, &self.keys, &mut keys, Epilogue::None);
        kernels::linear(hidden, len, &self.values, &mut values, Epilogue::None);
        // scores (out x len) = Q K^T, softmax over the query's tokens.
        let mut scores = vec![0f32; out * len];
        let keys_t = Rhs::linear(&keys, None, len, inp);
        kernels::linear(&self.queries, out, &keys_t, &mut scores, Epilogue::None);
        kernels::softmax_rows(&mut scores, len);
        // context (out x in) = scores V, then ReLU and LayerNorm.
        let mut context = vec![0f32; out * inp];
        let values_rhs = Rhs::strided(&values, len, inp, inp, 1);
        kernels::linear(&scores, out, &values_rhs, &mut context, Epilogue::None);
        context.iter_mut().for_each(|v| *v = v.max(0.0));
        let mut normed = vec![0f32; out * inp];
        kernels::layer_norm_rows(&context, &mut normed, inp, ones, zeros, HEAD_LN_EPS as f32);
        let mut matrix = vec![0f32; out * inp];
        kernels::linear(
            &normed,
            out,
            &self.projection,
            &mut matrix,
            Epilogue::Residual(&self.base),
        );
        matrix
    }
}

/// The learned hyper-head of a Hypencoder query encoder.
pub struct HyperHead {
    weights: Vec<Generator>,
    biases: Vec<Generator>,
    config: QNetConfig,
    /// Weight and bias generators packed for the inference kernels, made on
    /// first use; `None` when they cannot run (neither AVX-512 nor AVX2,
    /// weights that are variables or not f32).
    packed: OnceLock<Option<(Vec<PackedGenerator>, Vec<PackedGenerator>)>>,
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
            packed: OnceLock::new(),
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
        if let Some((weights, biases)) = self.packed()? {
            return self.forward_each_packed(weights, biases, hidden, lengths);
        }
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

    /// The packed generators, when the inference kernels apply.
    #[allow(clippy::type_complexity)] // (weight generators, bias generators)
    fn packed(&self) -> candle_core::Result<Option<&(Vec<PackedGenerator>, Vec<PackedGenerator>)>> {
        if let Some(p) = self.packed.get() {
            return Ok(p.as_ref());
        }
        let all = || self.weights.iter().chain(&self.biases);
        let packed = if Isa::detect().is_simd() && all().all(Generator::packable) {
            let pack = |gs: &[Generator]| {
                gs.iter()
                    .map(Generator::pack)
                    .collect::<candle_core::Result<Vec<_>>>()
            };
            Some((pack(&self.weights)?, pack(&self.biases)?))
        } else {
            None
        };
        let _ = self.packed.set(packed);
        Ok(self.packed.get().and_then(Option::as_ref))
    }

    /// [`Self::forward_each`] on the inference kernels: per query, every
    /// generator on its own unpadded hidden states.
    fn forward_each_packed(
        &self,
        weights: &[PackedGenerator],
        biases: &[PackedGenerator],
        hidden: &Tensor,
        lengths: &[usize],
    ) -> candle_core::Result<QNetBatch> {
        let (b, l, h) = hidden.dims3()?;
        let states = hidden.flatten_all()?.to_vec1::<f32>()?;
        let device = hidden.device();
        let widest = weights
            .iter()
            .chain(biases)
            .map(|g| g.inp)
            .max()
            .unwrap_or(0);
        let (ones, zeros) = (vec![1f32; widest], vec![0f32; widest]);
        let run = |g: &PackedGenerator, q: usize| {
            let own = &states[q * l * h..(q * l + lengths[q]) * h];
            g.forward(own, lengths[q], &ones[..g.inp], &zeros[..g.inp])
        };
        // Weights: the generator's (out, in) transposed to the q-net's (in, out).
        let weight_tensors = weights
            .iter()
            .map(|g| {
                let mut all = vec![0f32; b * g.inp * g.out];
                for q in 0..b {
                    let m = run(g, q);
                    let dst = &mut all[q * g.inp * g.out..][..g.inp * g.out];
                    for (o, row) in m.chunks_exact(g.inp).enumerate() {
                        for (i, &v) in row.iter().enumerate() {
                            dst[i * g.out + o] = v;
                        }
                    }
                }
                Tensor::from_vec(all, (b, g.inp, g.out), device)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let bias_tensors = biases
            .iter()
            .map(|g| {
                let all: Vec<f32> = (0..b).flat_map(|q| run(g, q)).collect();
                Tensor::from_vec(all, (b, g.inp), device)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(QNetBatch::new(
            weight_tensors,
            bias_tensors,
            self.config.clone(),
        ))
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::{Device, Tensor};
    use candle_nn::VarBuilder;

    use super::*;
    use crate::config::Activation;

    /// A head of random weights with the official tensor names.
    fn random_head(config: &QNetConfig, model_dim: usize) -> HyperHead {
        let dev = Device::Cpu;
        let mut t: HashMap<String, Tensor> = HashMap::new();
        let mut put = |name: String, shape: &[usize], std: f32| {
            t.insert(name, Tensor::randn(0f32, std, shape, &dev).unwrap());
        };
        let shapes = config.weight_shapes();
        let sizes = config.bias_sizes();
        for (i, &(inp, out)) in shapes.iter().enumerate() {
            put(format!("weight_query_embeddings.{i}"), &[1, out, inp], 1.0);
            put(format!("hyper_base_matrices.{i}"), &[1, out, inp], 0.1);
            put(
                format!("weight_hyper_projection.{i}.weight"),
                &[inp, inp],
                0.2,
            );
            put(format!("weight_hyper_projection.{i}.bias"), &[inp], 0.1);
        }
        for (j, &size) in sizes.iter().enumerate() {
            put(format!("bias_query_embeddings.{j}"), &[1, 1, size], 1.0);
            put(format!("hyper_base_vectors.{j}"), &[1, size], 0.1);
            put(
                format!("bias_hyper_projection.{j}.weight"),
                &[size, size],
                0.2,
            );
            put(format!("bias_hyper_projection.{j}.bias"), &[size], 0.1);
        }
        let dims = shapes.iter().map(|s| s.0).chain(sizes.iter().copied());
        for (i, inp) in dims.enumerate() {
            for kind in ["key_projections", "value_projections"] {
                put(format!("{kind}.{i}.weight"), &[inp, model_dim], 0.2);
                put(format!("{kind}.{i}.bias"), &[inp], 0.1);
            }
        }
        let vb = VarBuilder::from_tensors(t, DType::F32, &dev);
        HyperHead::load(vb, config, model_dim).unwrap()
    }

    /// The kernels' path gives the candle path's q-nets, query by query.
    #[test]
    fn packed_generators_match_candle_ops() {
        if !Isa::detect().is_simd() {
            return;
        }
        let config = QNetConfig {
            vector_dimensions: vec![40, 40, 40, 1],
            activation: Activation::Relu,
            do_layer_norm: true,
            do_residual: true,
            do_residual_on_last: false,
            layer_norm_before_residual: true,
        };
        let (model_dim, l, lengths) = (48, 9, [9usize, 4, 1]);
        let head = random_head(&config, model_dim);
        let hidden = Tensor::randn(0f32, 1.0, (lengths.len(), l, model_dim), &Device::Cpu).unwrap();
        let mask_rows: Vec<f32> = lengths
            .iter()
            .flat_map(|&n| (0..l).map(move |i| f32::from(u8::from(i < n))))
            .collect();
        let mask = Tensor::from_vec(mask_rows, (lengths.len(), l), &Device::Cpu).unwrap();
        let (weights, biases) = head.packed().unwrap().expect("packable on this CPU");
        let fast = head
            .forward_each_packed(weights, biases, &hidden, &lengths)
            .unwrap();
        for (q, &n) in lengths.iter().enumerate() {
            let own = hidden.narrow(0, q, 1).unwrap().narrow(1, 0, n).unwrap();
            let own_mask = mask.narrow(0, q, 1).unwrap().narrow(1, 0, n).unwrap();
            let slow = head.forward(&own, &own_mask).unwrap();
            let pairs = fast
                .weights()
                .iter()
                .zip(slow.weights())
                .chain(fast.biases().iter().zip(slow.biases()));
            for (f, s) in pairs {
                let f = f
                    .narrow(0, q, 1)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                let s = s.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                assert_eq!(f.len(), s.len());
                for (a, b) in f.iter().zip(&s) {
                    assert!(
                        (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                        "query {q}: {a} vs {b}"
                    );
                }
            }
        }
    }
}
