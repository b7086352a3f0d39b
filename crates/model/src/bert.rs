//! BERT encoder written on candle-core ops that all record gradients, nested
//! like Hugging Face's `BertModel` so weight names line up
//! (`embeddings.word_embeddings.weight`, `encoder.layer.3.attention.self.query.weight`, ...).
//! Differences from a literal port, for speed: query/key/value are one fused
//! projection, and projections run as one 2-D matrix multiply over all tokens.

use candle_core::{Module, Tensor, D};
use candle_nn::VarBuilder;

use crate::config::{Activation, BertConfig};

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
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Linear { weight, bias }
    }

    pub fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> candle_core::Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Ok(Linear::new(weight, Some(bias)))
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

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
            return candle_nn::ops::layer_norm(&xs.contiguous()?, &self.weight, &self.bias, self.eps as f32);
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
        let words = self.word.embedding(&input_ids.flatten_all()?)?.reshape((b, l, h))?;
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
            attn_norm: AffineLayerNorm::load(att.pp("output").pp("LayerNorm"), h, c.layer_norm_eps)?,
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
        let attn = self.attn_norm.forward(&(self.attn_out.forward(&ctx)? + xs)?)?;
        let inter = self.act.apply(&self.inter.forward(&attn)?)?;
        self.out_norm.forward(&(self.out.forward(&inter)? + attn)?)
    }
}

/// A BERT encoder: token ids and attention mask in, last hidden states out.
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    config: BertConfig,
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
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// `input_ids` (B, L) u32, `attention_mask` (B, L) f32 of 0/1 -> (B, L, H).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
        // Length-sorted batches are often unpadded: then the mask is a no-op.
        let padded = attention_mask.min_all()?.to_scalar::<f32>()? < 1.0;
        let mask_bias = if padded {
            Some(additive_mask(attention_mask)?.unsqueeze(1)?.unsqueeze(1)?)
        } else {
            None
        };
        let mut xs = self.embeddings.forward(input_ids)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, mask_bias.as_ref())?;
        }
        Ok(xs)
    }
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
    use candle_core::{Device, Var};

    fn close(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
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
        assert!(slow.track_op(), "a variable input takes the differentiable path");
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
        assert!(grads.get(weight.as_tensor()).is_some(), "no gradient for the scale");
        assert!(grads.get(bias.as_tensor()).is_some(), "no gradient for the shift");
    }
}
