//! BERT encoder written on candle-core ops that all record gradients, nested
//! like Hugging Face's `BertModel` so weight names line up
//! (`embeddings.word_embeddings.weight`, `encoder.layer.3.attention.self.query.weight`, ...).
//! Differences from a literal port, for speed: query/key/value are one fused
//! projection, and projections run as one 2-D matrix multiply over all tokens.
//! Inference (no weight is a variable, f32 on a CPU with AVX-512 or AVX2, right-padded
//! mask) skips candle after the embeddings: weights are packed once
//! (`PackedLayer`) and each layer runs on the encoder kernels of
//! `hypencoder-kernels` (GEMMs with bias and GELU/residual epilogues, a
//! fused attention core that skips padded keys, LayerNorm fused into the row
//! blocks). Anything that may need
//! a gradient keeps the candle ops (`forward_candle`); tests check both agree.

use std::sync::OnceLock;

use candle_core::{DType, Module, Tensor, D};
use candle_nn::VarBuilder;

use crate::config::{Activation, BertConfig};
use hypencoder_kernels::{self as kernels, Epilogue, Isa, Rhs};

mod train;
pub use train::{Tape, WeightGrads};

/// Layer normalisation over the last dimension, without learned parameters;
/// built from primitive ops so gradients flow (candle's fused kernel has none).
pub fn layer_norm(xs: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let mean = xs.mean_keepdim(D::Minus1)?;
    let centred = xs.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)
}

/// Softmax over the last dimension. candle's fused kernel records no
/// gradient, so it is used only when nothing upstream needs one.
pub fn softmax_last(xs: &Tensor) -> candle_core::Result<Tensor> {
    if xs.track_op() {
        candle_nn::ops::softmax(xs, D::Minus1)
    } else {
        candle_nn::ops::softmax_last_dim(xs)
    }
}

/// `x W^T + b` for inputs of any rank: flattened to one matrix multiply.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer from its weight (out, in) and optional bias (out).
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Linear { weight, bias }
    }

    /// Loads `weight` (out_dim, in_dim) and `bias` (out_dim) under `vb`.
    pub fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> candle_core::Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Ok(Linear::new(weight, Some(bias)))
    }

    /// The weight matrix, (out, in).
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, when the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let dims = xs.dims().to_vec();
        let in_dim = *dims.last().expect("linear input has a last dimension");
        let rows = xs.elem_count() / in_dim.max(1);
        let flat = xs.reshape((rows, in_dim))?;
        let mut ys = flat.matmul(&self.weight.t()?)?;
        if let Some(b) = &self.bias {
            ys = ys.broadcast_add(b)?;
        }
        let mut out_dims = dims;
        *out_dims.last_mut().unwrap() = self.weight.dim(0)?;
        ys.reshape(out_dims)
    }
}

/// LayerNorm with learned scale and shift (`weight`, `bias`).
#[derive(Debug, Clone)]
struct AffineLayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl AffineLayerNorm {
    fn load(vb: VarBuilder, dim: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(AffineLayerNorm {
            weight: vb.get(dim, "weight")?,
            bias: vb.get(dim, "bias")?,
            eps,
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if !xs.track_op() && !self.weight.track_op() && !self.bias.track_op() {
            // Inference: candle's fused kernel (it records no gradient).
            return candle_nn::ops::layer_norm(
                &xs.contiguous()?,
                &self.weight,
                &self.bias,
                self.eps as f32,
            );
        }
        layer_norm(xs, self.eps)?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

struct Embeddings {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    norm: AffineLayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, c: &BertConfig) -> candle_core::Result<Self> {
        let h = c.hidden_size;
        Ok(Embeddings {
            word: vb.pp("word_embeddings").get((c.vocab_size, h), "weight")?,
            position: vb
                .pp("position_embeddings")
                .get((c.max_position_embeddings, h), "weight")?,
            token_type: vb
                .pp("token_type_embeddings")
                .get((c.type_vocab_size, h), "weight")?,
            norm: AffineLayerNorm::load(vb.pp("LayerNorm"), h, c.layer_norm_eps)?,
        })
    }

    /// `input_ids` (B, L) u32 -> (B, L, H). Token type is always 0: one segment.
    fn forward(&self, input_ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        let h = self.word.dim(1)?;
        let words = self
            .word
            .embedding(&input_ids.flatten_all()?)?
            .reshape((b, l, h))?;
        let positions = self.position.narrow(0, 0, l)?;
        let segment = self.token_type.narrow(0, 0, 1)?;
        let xs = words
            .broadcast_add(&positions.unsqueeze(0)?)?
            .broadcast_add(&segment.unsqueeze(0)?)?;
        self.norm.forward(&xs)
    }
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    attn_out: Linear,
    attn_norm: AffineLayerNorm,
    inter: Linear,
    out: Linear,
    out_norm: AffineLayerNorm,
    heads: usize,
    act: Activation,
}

impl Layer {
    fn load(vb: VarBuilder, c: &BertConfig) -> candle_core::Result<Self> {
        let h = c.hidden_size;
        let att = vb.pp("attention");
        let act = Activation::parse(&c.hidden_act).expect("validated in BertConfig::from_file");
        Ok(Layer {
            q: Linear::load(att.pp("self").pp("query"), h, h)?,
            k: Linear::load(att.pp("self").pp("key"), h, h)?,
            v: Linear::load(att.pp("self").pp("value"), h, h)?,
            attn_out: Linear::load(att.pp("output").pp("dense"), h, h)?,
            attn_norm: AffineLayerNorm::load(
                att.pp("output").pp("LayerNorm"),
                h,
                c.layer_norm_eps,
            )?,
            inter: Linear::load(vb.pp("intermediate").pp("dense"), h, c.intermediate_size)?,
            out: Linear::load(vb.pp("output").pp("dense"), c.intermediate_size, h)?,
            out_norm: AffineLayerNorm::load(vb.pp("output").pp("LayerNorm"), h, c.layer_norm_eps)?,
            heads: c.num_attention_heads,
            act,
        })
    }

    /// One fused projection for Q, K and V, with the attention scale
    /// 1/sqrt(head_dim) folded into Q (saving a pass over the B*heads*L*L
    /// scores). Built per call (cheap next to the multiply) so training
    /// updates to the separate weights take effect.
    fn qkv(&self, scale: f64) -> candle_core::Result<Linear> {
        let wq = (self.q.weight() * scale)?;
        let w = Tensor::cat(&[&wq, self.k.weight(), self.v.weight()], 0)?;
        let b = match (self.q.bias(), self.k.bias(), self.v.bias()) {
            (Some(q), Some(k), Some(v)) => Some(Tensor::cat(&[&(q * scale)?, k, v], 0)?),
            _ => None,
        };
        Ok(Linear::new(w, b))
    }

    /// `xs` (B, L, H); `mask_bias` (B, 1, 1, L) additive, 0 or a large
    /// negative, or `None` when no row is padded.
    fn forward(&self, xs: &Tensor, mask_bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (b, l, h) = xs.dims3()?;
        let hd = h / self.heads;
        let qkv = self.qkv(1.0 / (hd as f64).sqrt())?.forward(xs)?; // (B, L, 3H)
        let split = |i: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(2, i * h, h)?
                .reshape((b, l, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let mut scores = q.matmul(&k.t()?)?;
        if let Some(mask_bias) = mask_bias {
            scores = scores.broadcast_add(mask_bias)?;
        }
        let probs = softmax_last(&scores)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, l, h))?;
        let attn = self
            .attn_norm
            .forward(&(self.attn_out.forward(&ctx)? + xs)?)?;
        let inter = crate::activate(self.act, &self.inter.forward(&attn)?)?;
        self.out_norm.forward(&(self.out.forward(&inter)? + attn)?)
    }
}

/// The arithmetic of the inference path's linear layers (LayerNorm,
/// softmax, GELU and attention's products stay f32 in every setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodePrecision {
    /// f32 weights and sums: the checkpoint's own results.
    #[default]
    F32,
    /// Weights quantised to int8 per output column, activations per row on
    /// every call (dynamic quantisation), integer sums: `vpdpbusd` on
    /// AVX512-VNNI, `vpmaddwd` on AVX2 (bench/encode/README.md has the
    /// speeds), at a document-vector cosine of 0.994 or more to f32's.
    Int8,
    /// Weights and activations rounded to bfloat16, sums in f32
    /// (`vdpbf16ps` on AVX512_BF16; elsewhere portable code, correct but
    /// several times slower than f32).
    Bf16,
}

impl EncodePrecision {
    /// Every setting, in the order of [`EncodePrecision::index`].
    pub const ALL: [EncodePrecision; 3] = [
        EncodePrecision::F32,
        EncodePrecision::Int8,
        EncodePrecision::Bf16,
    ];

    /// `"f32"`, `"int8"` or `"bf16"`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            EncodePrecision::F32 => "f32",
            EncodePrecision::Int8 => "int8",
            EncodePrecision::Bf16 => "bf16",
        }
    }

    /// The precision to encode documents at when none is asked for: the
    /// fastest one this CPU runs whose retrieval quality held on every
    /// collection measured (MRR@10 at most 0.003 below f32's, document
    /// vectors at cosine 0.99 or more; bench/encode/README.md). That is
    /// int8 wherever the SIMD kernels run (AVX512-VNNI or AVX2), and f32
    /// elsewhere, where the portable int8 loops would be the slow path.
    pub fn fastest() -> Self {
        if Isa::detect().is_simd() {
            EncodePrecision::Int8
        } else {
            EncodePrecision::F32
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One layer's weights for the inference kernels (`kernels::linear` etc.): Q/K/V
/// concatenated with 1/sqrt(head_dim) folded into Q, all transposed into
/// panels once.
struct PackedLayer {
    qkv: Rhs,
    attn_out: Rhs,
    attn_norm: (Vec<f32>, Vec<f32>, f32),
    inter: Rhs,
    out: Rhs,
    out_norm: (Vec<f32>, Vec<f32>, f32),
}

fn vec1(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

fn pack_linear(
    l: &Linear,
    scale_rows: Option<(usize, f64)>,
    precision: EncodePrecision,
) -> candle_core::Result<Rhs> {
    let (n, k) = l.weight.dims2()?;
    let mut w = vec1(&l.weight)?;
    let mut b = match &l.bias {
        Some(b) => Some(vec1(b)?),
        None => None,
    };
    if let Some((rows, scale)) = scale_rows {
        w[..rows * k]
            .iter_mut()
            .for_each(|v| *v = (*v as f64 * scale) as f32);
        if let Some(b) = &mut b {
            b[..rows]
                .iter_mut()
                .for_each(|v| *v = (*v as f64 * scale) as f32);
        }
    }
    Ok(match precision {
        EncodePrecision::F32 => Rhs::linear(&w, b.as_deref(), n, k),
        EncodePrecision::Int8 => Rhs::linear_int8(&w, b.as_deref(), n, k),
        EncodePrecision::Bf16 => Rhs::linear_bf16(&w, b.as_deref(), n, k),
    })
}

fn cat_linear(parts: &[&Linear]) -> candle_core::Result<Linear> {
    let w = Tensor::cat(&parts.iter().map(|l| l.weight()).collect::<Vec<_>>(), 0)?;
    let biases: Option<Vec<&Tensor>> = parts.iter().map(|l| l.bias()).collect();
    let b = match biases {
        Some(bs) => Some(Tensor::cat(&bs, 0)?),
        None if parts.iter().all(|l| l.bias().is_none()) => None,
        None => {
            // Mixed: zeros stand in for the missing biases.
            let bs = parts
                .iter()
                .map(|l| match l.bias() {
                    Some(b) => Ok(b.clone()),
                    None => {
                        Tensor::zeros(l.weight().dim(0)?, l.weight().dtype(), l.weight().device())
                    }
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            Some(Tensor::cat(&bs, 0)?)
        }
    };
    Ok(Linear::new(w, b))
}

impl Layer {
    fn tracks(&self) -> bool {
        let lin = |l: &Linear| l.weight.track_op() || l.bias.as_ref().is_some_and(|b| b.track_op());
        let norm = |n: &AffineLayerNorm| n.weight.track_op() || n.bias.track_op();
        [
            &self.q,
            &self.k,
            &self.v,
            &self.attn_out,
            &self.inter,
            &self.out,
        ]
        .into_iter()
        .any(lin)
            || norm(&self.attn_norm)
            || norm(&self.out_norm)
    }

    fn pack(&self, precision: EncodePrecision) -> candle_core::Result<PackedLayer> {
        let h = self.q.weight.dim(0)?;
        let hd = h / self.heads;
        let qkv = cat_linear(&[&self.q, &self.k, &self.v])?;
        let norm = |n: &AffineLayerNorm| -> candle_core::Result<(Vec<f32>, Vec<f32>, f32)> {
            Ok((vec1(&n.weight)?, vec1(&n.bias)?, n.eps as f32))
        };
        Ok(PackedLayer {
            qkv: pack_linear(&qkv, Some((h, 1.0 / (hd as f64).sqrt())), precision)?,
            attn_out: pack_linear(&self.attn_out, None, precision)?,
            attn_norm: norm(&self.attn_norm)?,
            inter: pack_linear(&self.inter, None, precision)?,
            out: pack_linear(&self.out, None, precision)?,
            out_norm: norm(&self.out_norm)?,
        })
    }
}

/// Activations of the inference path, reused from layer to layer.
struct Buffers {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    /// Unfused path only (few rows).
    tmp: Vec<f32>,
}

impl PackedLayer {
    /// `buf.x` (B*L, H) in and out.
    fn forward(
        &self,
        buf: &mut Buffers,
        b: usize,
        l: usize,
        heads: usize,
        lens: &[usize],
        act: Activation,
    ) {
        let m = b * l;
        let h = self.attn_out.n();
        kernels::linear(&buf.x, m, &self.qkv, &mut buf.qkv, Epilogue::None);
        kernels::attention(&buf.qkv, b, l, h, heads, lens, &mut buf.ctx);
        let (g1, b1, e1) = &self.attn_norm;
        let (g2, b2, e2) = &self.out_norm;
        let n1 = kernels::Norm {
            gamma: g1,
            beta: b1,
            eps: *e1,
        };
        let n2 = kernels::Norm {
            gamma: g2,
            beta: b2,
            eps: *e2,
        };
        if let Some(mc) = kernels::fused_rows(m) {
            kernels::fused_residual_ln(&mut buf.x, Some(&buf.ctx), mc, None, &self.attn_out, &n1);
            kernels::fused_residual_ln(
                &mut buf.x,
                None,
                mc,
                Some((&self.inter, act)),
                &self.out,
                &n2,
            );
            return;
        }
        kernels::linear(
            &buf.ctx,
            m,
            &self.attn_out,
            &mut buf.tmp,
            Epilogue::Residual(&buf.x),
        );
        kernels::layer_norm_rows(&buf.tmp, &mut buf.x, h, g1, b1, *e1);
        let mut inter = vec![0f32; m * self.inter.n()];
        kernels::linear(&buf.x, m, &self.inter, &mut inter, Epilogue::Act(act));
        kernels::linear(
            &inter,
            m,
            &self.out,
            &mut buf.tmp,
            Epilogue::Residual(&buf.x),
        );
        kernels::layer_norm_rows(&buf.tmp, &mut buf.x, h, g2, b2, *e2);
    }
}

/// A BERT encoder: token ids and attention mask in, last hidden states out.
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    config: BertConfig,
    /// Packed weights for the inference kernels at each precision, made on
    /// first use; `None` when they cannot be used (weights are variables,
    /// not f32, not on the CPU, or, for f32, the CPU lacks AVX-512 and AVX2).
    packed: [OnceLock<Option<Vec<PackedLayer>>>; EncodePrecision::ALL.len()],
}

impl Bert {
    /// `vb` points at the module root (the tensors `embeddings.*`, `encoder.*`).
    pub fn load(vb: VarBuilder, config: &BertConfig) -> candle_core::Result<Self> {
        let embeddings = Embeddings::load(vb.pp("embeddings"), config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp("encoder").pp("layer").pp(i), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Bert {
            embeddings,
            layers,
            config: config.clone(),
            packed: Default::default(),
        })
    }

    /// The configuration this encoder was built from.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Width of the hidden states (`hidden_size`).
    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// `input_ids` (B, L) u32, `attention_mask` (B, L) f32 of 0/1 -> (B, L, H).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        self.forward_at(input_ids, attention_mask, EncodePrecision::F32)
    }

    /// [`Bert::forward`] with the linear layers at `precision`. Int8 runs
    /// on the inference kernels only; where they cannot run (weights being
    /// trained, not f32) it is the f32 forward.
    pub fn forward_at(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        precision: EncodePrecision,
    ) -> candle_core::Result<Tensor> {
        if let Some(packed) = self.packed_layers(precision)? {
            if let Some(lens) = prefix_lengths(attention_mask)? {
                if !input_ids.track_op() {
                    return self.forward_packed(packed, input_ids, &lens);
                }
            }
        }
        self.forward_candle(input_ids, attention_mask)
    }

    /// The packed weights, when the inference kernels apply to this model.
    fn packed_layers(
        &self,
        precision: EncodePrecision,
    ) -> candle_core::Result<Option<&[PackedLayer]>> {
        let cell = &self.packed[precision.index()];
        if let Some(p) = cell.get() {
            return Ok(p.as_deref());
        }
        // Without SIMD kernels candle's f32 ops are faster than the
        // portable ones; int8 and bf16 have no candle path, so they run
        // portable.
        let usable = (Isa::detect().is_simd() || precision != EncodePrecision::F32)
            && self.embeddings.word.device().is_cpu()
            && self.embeddings.word.dtype() == DType::F32
            && !self.embeddings.word.track_op()
            && !self.layers.iter().any(Layer::tracks)
            && self.layers.iter().all(|l| l.q.weight.dtype() == DType::F32);
        let packed = if usable {
            Some(
                self.layers
                    .iter()
                    .map(|l| l.pack(precision))
                    .collect::<candle_core::Result<Vec<_>>>()?,
            )
        } else {
            None
        };
        let _ = cell.set(packed);
        Ok(cell.get().and_then(|p| p.as_deref()))
    }

    /// Inference forward on the kernels crate (AVX-512 or AVX2); `lens` real tokens per row.
    fn forward_packed(
        &self,
        packed: &[PackedLayer],
        input_ids: &Tensor,
        lens: &[usize],
    ) -> candle_core::Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        let h = self.config.hidden_size;
        let m = b * l;
        let emb = self.embeddings.forward(input_ids)?;
        let device = emb.device().clone();
        let mut buf = Buffers {
            x: vec1(&emb)?,
            qkv: vec![0f32; m * 3 * h],
            ctx: vec![0f32; m * h],
            tmp: if kernels::fused_rows(m).is_some() {
                Vec::new()
            } else {
                vec![0f32; m * h]
            },
        };
        drop(emb);
        for (layer, p) in self.layers.iter().zip(packed) {
            p.forward(&mut buf, b, l, layer.heads, lens, layer.act);
        }
        Tensor::from_vec(buf.x, (b, l, h), &device)
    }

    /// The differentiable forward on candle ops (also inference without SIMD kernels).
    fn forward_candle(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        // Length-sorted batches are often unpadded: then the mask is a no-op.
        let mask = attention_mask.to_dtype(DType::F32)?;
        let padded = mask.min_all()?.to_scalar::<f32>()? < 1.0;
        let mut xs = self.embeddings.forward(input_ids)?;
        let mask_bias = if padded {
            let bias = additive_mask(&mask)?.to_dtype(xs.dtype())?;
            Some(bias.unsqueeze(1)?.unsqueeze(1)?)
        } else {
            None
        };
        for layer in &self.layers {
            xs = layer.forward(&xs, mask_bias.as_ref())?;
        }
        Ok(xs)
    }
}

/// Real tokens per row when `mask` (B, L) is 1s then 0s on every row (right
/// padding, what the tokenizer makes) and needs no gradient; `None` otherwise.
fn prefix_lengths(mask: &Tensor) -> candle_core::Result<Option<Vec<usize>>> {
    if mask.track_op() || mask.rank() != 2 {
        return Ok(None);
    }
    let rows = mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let mut lens = Vec::with_capacity(rows.len());
    for row in rows {
        let len = row.iter().take_while(|&&v| v == 1.0).count();
        if len == 0 || row[len..].iter().any(|&v| v != 0.0) {
            return Ok(None);
        }
        lens.push(len);
    }
    Ok(Some(lens))
}

/// 0 where `mask` is 1, the most negative f32 where it is 0: adding it before
/// a softmax gives padding exactly zero weight, as Hugging Face does.
pub fn additive_mask(mask: &Tensor) -> candle_core::Result<Tensor> {
    let ones = mask.ones_like()?;
    (ones - mask)? * f32::MIN as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds a random tensor: name, shape, mean, standard deviation.
    type Put<'a> = dyn FnMut(String, &[usize], f32, f32) + 'a;
    use candle_core::{Device, Var};

    fn close(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn fused_and_differentiable_paths_agree() {
        let dev = Device::Cpu;
        let xs = Tensor::randn(0f32, 3.0, (2, 5, 16), &dev).unwrap();
        let norm = AffineLayerNorm {
            weight: Tensor::randn(1f32, 0.1, 16, &dev).unwrap(),
            bias: Tensor::randn(0f32, 0.1, 16, &dev).unwrap(),
            eps: 1e-12,
        };
        let fused = norm.forward(&xs).unwrap();
        let tracked = Var::from_tensor(&xs).unwrap();
        let slow = norm.forward(tracked.as_tensor()).unwrap();
        assert!(
            slow.track_op(),
            "a variable input takes the differentiable path"
        );
        assert!(close(&fused, &slow) < 1e-5);

        let soft_fused = softmax_last(&xs).unwrap();
        let soft_slow = softmax_last(tracked.as_tensor()).unwrap();
        assert!(close(&soft_fused, &soft_slow) < 1e-6);
    }

    #[test]
    fn gradients_reach_layer_norm_parameters() {
        let dev = Device::Cpu;
        let weight = Var::ones(8, candle_core::DType::F32, &dev).unwrap();
        let bias = Var::zeros(8, candle_core::DType::F32, &dev).unwrap();
        let norm = AffineLayerNorm {
            weight: weight.as_tensor().clone(),
            bias: bias.as_tensor().clone(),
            eps: 1e-12,
        };
        let xs = Tensor::randn(0f32, 1.0, (3, 8), &dev).unwrap();
        let loss = norm.forward(&xs).unwrap().sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        assert!(
            grads.get(weight.as_tensor()).is_some(),
            "no gradient for the scale"
        );
        assert!(
            grads.get(bias.as_tensor()).is_some(),
            "no gradient for the shift"
        );
    }

    /// Random weights for a small BERT, named as in a checkpoint.
    pub(super) fn random_weights(c: &BertConfig) -> std::collections::HashMap<String, Tensor> {
        let dev = Device::Cpu;
        let mut t = std::collections::HashMap::new();
        let mut put = |name: String, shape: &[usize], mean: f32, std: f32| {
            t.insert(name, Tensor::randn(mean, std, shape, &dev).unwrap());
        };
        let (h, i) = (c.hidden_size, c.intermediate_size);
        put(
            "embeddings.word_embeddings.weight".into(),
            &[c.vocab_size, h],
            0.0,
            1.0,
        );
        put(
            "embeddings.position_embeddings.weight".into(),
            &[c.max_position_embeddings, h],
            0.0,
            0.5,
        );
        put(
            "embeddings.token_type_embeddings.weight".into(),
            &[c.type_vocab_size, h],
            0.0,
            0.5,
        );
        put("embeddings.LayerNorm.weight".into(), &[h], 1.0, 0.1);
        put("embeddings.LayerNorm.bias".into(), &[h], 0.0, 0.1);
        for l in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            let lin = |put: &mut Put, name: &str, out: usize, inp: usize| {
                put(
                    format!("{p}{name}.weight"),
                    &[out, inp],
                    0.0,
                    1.0 / (inp as f32).sqrt(),
                );
                put(format!("{p}{name}.bias"), &[out], 0.0, 0.1);
            };
            for name in [
                "attention.self.query",
                "attention.self.key",
                "attention.self.value",
                "attention.output.dense",
            ] {
                lin(&mut put, name, h, h);
            }
            lin(&mut put, "intermediate.dense", i, h);
            lin(&mut put, "output.dense", h, i);
            for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
                put(format!("{p}{name}.weight"), &[h], 1.0, 0.1);
                put(format!("{p}{name}.bias"), &[h], 0.0, 0.1);
            }
        }
        t
    }

    pub(super) fn small_config(h: usize, heads: usize, act: &str) -> BertConfig {
        BertConfig {
            vocab_size: 50,
            hidden_size: h,
            num_hidden_layers: 2,
            num_attention_heads: heads,
            intermediate_size: 4 * h,
            hidden_act: act.into(),
            max_position_embeddings: 128,
            ..BertConfig::bert_base_uncased()
        }
    }

    /// Right-padded batch: row i has `lens[i]` real tokens.
    pub(super) fn batch(lens: &[usize], l: usize) -> (Tensor, Tensor) {
        let dev = Device::Cpu;
        let ids: Vec<u32> = (0..lens.len() * l)
            .map(|i| ((i * 7 + 3) % 50) as u32)
            .collect();
        let mask: Vec<f32> = lens
            .iter()
            .flat_map(|&n| (0..l).map(move |j| if j < n { 1.0 } else { 0.0 }))
            .collect();
        (
            Tensor::from_vec(ids, (lens.len(), l), &dev).unwrap(),
            Tensor::from_vec(mask, (lens.len(), l), &dev).unwrap(),
        )
    }

    #[test]
    fn inference_kernels_match_candle_forward() {
        // Head sizes 8 (partial panels) and 32 (MiniLM's); a batch big enough
        // for the fused row-block path and a single short row for the
        // column-split path; padded and unpadded rows.
        for (h, heads, act) in [(48, 6, "gelu"), (64, 2, "gelu"), (32, 4, "relu")] {
            let c = small_config(h, heads, act);
            let vb =
                VarBuilder::from_tensors(random_weights(&c), candle_core::DType::F32, &Device::Cpu);
            let bert = Bert::load(vb, &c).unwrap();
            if bert.packed_layers(EncodePrecision::F32).unwrap().is_none() {
                return; // no SIMD kernels: forward is the candle path
            }
            for (lens, l) in [(vec![70, 33, 1, 70], 70), (vec![5], 5), (vec![3, 2], 3)] {
                let (ids, mask) = batch(&lens, l);
                let fast = bert.forward(&ids, &mask).unwrap();
                let slow = bert.forward_candle(&ids, &mask).unwrap();
                assert_eq!(fast.dims(), slow.dims());
                let diff = close(&fast, &slow);
                assert!(
                    diff < 1e-5,
                    "h {h}, heads {heads}, lens {lens:?}: max difference {diff}"
                );
            }
        }
    }

    /// bf16 and int8 forwards: every token's state close in direction to
    /// the f32 one (bf16 closer), yet not equal to it.
    #[test]
    fn low_precision_forwards_stay_close_to_f32() {
        let c = small_config(64, 2, "gelu");
        let vb =
            VarBuilder::from_tensors(random_weights(&c), candle_core::DType::F32, &Device::Cpu);
        let bert = Bert::load(vb, &c).unwrap();
        let (ids, mask) = batch(&[40, 17, 40], 40);
        let rows = |t: Tensor| t.flatten_to(1).unwrap().to_vec2::<f32>().unwrap();
        let exact = rows(bert.forward_candle(&ids, &mask).unwrap());
        for (precision, floor) in [
            (EncodePrecision::Bf16, 0.9995),
            (EncodePrecision::Int8, 0.99),
        ] {
            let got = rows(bert.forward_at(&ids, &mask, precision).unwrap());
            let mut moved = false;
            for (g, e) in got.iter().zip(&exact) {
                let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
                let cos = dot(g, e) / (dot(g, g) * dot(e, e)).sqrt();
                assert!(cos > floor, "{precision:?}: cosine {cos} to f32");
                moved |= g != e;
            }
            assert!(moved, "{precision:?} gave f32's states exactly");
        }
    }

    #[test]
    fn variable_weights_take_the_differentiable_path() {
        let c = small_config(32, 4, "gelu");
        let weights = random_weights(&c);
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &Device::Cpu);
        let bert = Bert::load(vb, &c).unwrap();
        for (name, var) in varmap.data().lock().unwrap().iter() {
            var.set(&weights[name]).unwrap();
        }
        assert!(
            bert.packed_layers(EncodePrecision::F32).unwrap().is_none(),
            "variables must not be packed"
        );
        let (ids, mask) = batch(&[6, 4], 6);
        let out = bert.forward(&ids, &mask).unwrap();
        assert!(out.track_op());
        // Same numbers as the inference kernels on the same weights.
        let frozen = Bert::load(
            VarBuilder::from_tensors(weights, candle_core::DType::F32, &Device::Cpu),
            &c,
        )
        .unwrap();
        assert!(close(&out, &frozen.forward(&ids, &mask).unwrap()) < 1e-5);
        let grads = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let data = varmap.data().lock().unwrap();
        for name in [
            "encoder.layer.0.attention.self.query.weight",
            "encoder.layer.1.intermediate.dense.bias",
            "embeddings.word_embeddings.weight",
        ] {
            assert!(
                grads.get(data[name].as_tensor()).is_some(),
                "no gradient for {name}"
            );
        }
    }
}
