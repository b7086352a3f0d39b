//! BERT's training pass outside candle's autograd: a forward over unpadded
//! token rows that keeps what its backward needs ([`Tape`]), and a backward
//! that turns the hidden states' gradient into every weight's, both on the
//! training steps of `hypencoder-kernels` (parallel GEMMs, attention per
//! sequence, LayerNorm and GELU rows). The numbers are those of
//! `forward_candle` (tests hold them to it and to finite differences); the
//! work skips padding altogether and keeps about a third of the
//! activations candle's graph would.
//!
//! Per layer the tape keeps the input, Q/K/V, the attention probabilities,
//! the attention context, both LayerNorms' normalised rows, the first
//! LayerNorm's output and the intermediate pre-activation; the GELU output
//! is recomputed in the backward (cheaper than storing it).

use candle_core::{Device, Tensor};
use hypencoder_kernels::train::{self as k, Attention, LayerNormSaved, View};

use super::{vec1, AffineLayerNorm, Bert, Layer, Linear};
use crate::config::Activation;

/// A linear layer's weights as plain rows: (out, in) and (out).
struct Dense {
    w: Vec<f32>,
    b: Vec<f32>,
    out: usize,
    inp: usize,
}

impl Dense {
    fn of(parts: &[&Linear]) -> candle_core::Result<Self> {
        let (mut w, mut b) = (Vec::new(), Vec::new());
        let inp = parts[0].weight.dim(1)?;
        for l in parts {
            w.extend(vec1(&l.weight)?);
            match &l.bias {
                Some(bias) => b.extend(vec1(bias)?),
                None => b.extend(std::iter::repeat_n(0f32, l.weight.dim(0)?)),
            }
        }
        let out = b.len();
        Ok(Dense { w, b, out, inp })
    }

    /// `y = x W^T + b [+ residual]` over `rows` rows.
    fn forward(&self, x: &[f32], rows: usize, residual: Option<&[f32]>) -> Vec<f32> {
        let mut y = match residual {
            Some(r) => r.to_vec(),
            None => vec![0f32; rows * self.out],
        };
        for row in y.chunks_exact_mut(self.out) {
            row.iter_mut().zip(&self.b).for_each(|(y, b)| *y += b);
        }
        let w = View::rows(&self.w, self.out, self.inp);
        k::gemm(
            View::rows(x, rows, self.inp),
            w.t(),
            &mut y,
            self.out,
            true,
            true,
        );
        y
    }

    /// From `dy` (rows x out): the weight's and bias's gradients, and
    /// `dx = dy W` added to `dx_into` (or written when it is empty).
    fn backward(&self, x: &[f32], dy: &[f32], rows: usize, dx_into: &mut Vec<f32>) -> Grads {
        let mut dw = vec![0f32; self.out * self.inp];
        let dyv = View::rows(dy, rows, self.out);
        k::gemm(
            dyv.t(),
            View::rows(x, rows, self.inp),
            &mut dw,
            self.inp,
            false,
            true,
        );
        let mut db = vec![0f32; self.out];
        k::column_sums(dy, self.out, &mut db);
        let accumulate = !dx_into.is_empty();
        if !accumulate {
            dx_into.resize(rows * self.inp, 0.0);
        }
        let w = View::rows(&self.w, self.out, self.inp);
        k::gemm(dyv, w, dx_into, self.inp, accumulate, true);
        Grads { dw, db }
    }
}

struct Grads {
    dw: Vec<f32>,
    db: Vec<f32>,
}

/// A LayerNorm's scale, shift and epsilon as plain values.
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn of(n: &AffineLayerNorm) -> candle_core::Result<Self> {
        Ok(Norm {
            gamma: vec1(&n.weight)?,
            beta: vec1(&n.bias)?,
            eps: n.eps as f32,
        })
    }

    fn forward(&self, x: &[f32]) -> (Vec<f32>, LayerNormSaved) {
        let mut y = vec![0f32; x.len()];
        let saved = k::layer_norm_forward(
            x,
            self.gamma.len(),
            &self.gamma,
            &self.beta,
            self.eps,
            &mut y,
        );
        (y, saved)
    }

    /// `dx` from `dy`; the scale's and shift's gradients.
    fn backward(&self, dy: &[f32], saved: &LayerNormSaved) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let h = self.gamma.len();
        let (mut dx, mut dg, mut db) = (vec![0f32; dy.len()], vec![0f32; h], vec![0f32; h]);
        k::layer_norm_backward(dy, saved, &self.gamma, &mut dx, false, &mut dg, &mut db);
        (dx, dg, db)
    }
}

/// One layer's weights, read from its tensors for this pass.
struct LayerWeights {
    qkv: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    inter: Dense,
    out: Dense,
    out_norm: Norm,
}

/// What one layer's backward needs.
struct LayerTape {
    x: Vec<f32>,
    qkv: Vec<f32>,
    probs: Vec<f32>,
    ctx: Vec<f32>,
    norm1: LayerNormSaved,
    y1: Vec<f32>,
    u: Vec<f32>,
    norm2: LayerNormSaved,
}

/// What [`Bert::forward_train`] keeps for [`Bert::backward`].
pub struct Tape {
    ids: Vec<u32>,
    lens: Vec<usize>,
    emb_norm: LayerNormSaved,
    layers: Vec<(LayerWeights, LayerTape)>,
}

impl Tape {
    /// Real tokens of each sequence, as given.
    pub fn lens(&self) -> &[usize] {
        &self.lens
    }
}

/// Each weight tensor of the encoder with its gradient (same shape).
pub type WeightGrads = Vec<(Tensor, Tensor)>;

impl Layer {
    fn attention(&self, h: usize) -> Attention<'static> {
        let hd = h / self.heads;
        Attention {
            lens: &[],
            heads: self.heads,
            head_dim: hd,
            scale: 1.0 / (hd as f32).sqrt(),
        }
    }

    fn weights(&self) -> candle_core::Result<LayerWeights> {
        Ok(LayerWeights {
            qkv: Dense::of(&[&self.q, &self.k, &self.v])?,
            attn_out: Dense::of(&[&self.attn_out])?,
            attn_norm: Norm::of(&self.attn_norm)?,
            inter: Dense::of(&[&self.inter])?,
            out: Dense::of(&[&self.out])?,
            out_norm: Norm::of(&self.out_norm)?,
        })
    }

    /// `x` (rows x H) through the layer; the output and the tape.
    fn forward_train(
        &self,
        x: Vec<f32>,
        lens: &[usize],
    ) -> candle_core::Result<(Vec<f32>, LayerWeights, LayerTape)> {
        let w = self.weights()?;
        let h = w.attn_out.out;
        let rows = x.len() / h;
        let att = Attention {
            lens,
            ..self.attention(h)
        };
        let qkv = w.qkv.forward(&x, rows, None);
        let mut ctx = vec![0f32; rows * h];
        let mut probs = vec![0f32; att.probs_len()];
        k::attention_forward(att, &qkv, &mut ctx, &mut probs);
        let a = w.attn_out.forward(&ctx, rows, Some(&x));
        let (y1, norm1) = w.attn_norm.forward(&a);
        let u = w.inter.forward(&y1, rows, None);
        let mut g = vec![0f32; u.len()];
        k::gelu_forward(&u, &mut g);
        let o = w.out.forward(&g, rows, Some(&y1));
        let (y, norm2) = w.out_norm.forward(&o);
        let tape = LayerTape {
            x,
            qkv,
            probs,
            ctx,
            norm1,
            y1,
            u,
            norm2,
        };
        Ok((y, w, tape))
    }

    /// From the output's gradient: the input's, and the weights' in the
    /// order of [`Layer::tensors`].
    fn backward(
        &self,
        w: &LayerWeights,
        t: LayerTape,
        dy: &[f32],
        lens: &[usize],
    ) -> (Vec<f32>, Vec<Vec<f32>>) {
        let h = w.attn_out.out;
        let rows = dy.len() / h;
        let (d_o, dg2, db2) = w.out_norm.backward(dy, &t.norm2);
        let mut g = vec![0f32; t.u.len()];
        k::gelu_forward(&t.u, &mut g);
        let mut dg = Vec::new();
        let out = w.out.backward(&g, &d_o, rows, &mut dg);
        drop(g);
        let mut du = vec![0f32; t.u.len()];
        k::gelu_backward(&t.u, &dg, &mut du);
        drop(dg);
        let mut dy1 = d_o;
        let inter = w.inter.backward(&t.y1, &du, rows, &mut dy1);
        drop(du);
        let (da, dg1, db1) = w.attn_norm.backward(&dy1, &t.norm1);
        let mut dctx = Vec::new();
        let attn_out = w.attn_out.backward(&t.ctx, &da, rows, &mut dctx);
        let att = Attention {
            lens,
            ..self.attention(h)
        };
        let mut dqkv = vec![0f32; t.qkv.len()];
        k::attention_backward(att, &t.qkv, &t.probs, &dctx, &mut dqkv);
        let mut dx = da;
        let qkv = w.qkv.backward(&t.x, &dqkv, rows, &mut dx);
        // Q, K, V weights and biases, in the order of `tensors`.
        let mut grads: Vec<Vec<f32>> = qkv
            .dw
            .chunks(h * h)
            .zip(qkv.db.chunks(h))
            .flat_map(|(w, b)| [w.to_vec(), b.to_vec()])
            .collect();
        grads.extend([
            attn_out.dw,
            attn_out.db,
            dg1,
            db1,
            inter.dw,
            inter.db,
            out.dw,
            out.db,
            dg2,
            db2,
        ]);
        (dx, grads)
    }

    /// The weight tensors, in the order `backward` gives their gradients.
    fn tensors(&self) -> Vec<Option<&Tensor>> {
        let mut out: Vec<Option<&Tensor>> = Vec::new();
        for l in [&self.q, &self.k, &self.v, &self.attn_out] {
            out.push(Some(&l.weight));
            out.push(l.bias.as_ref());
        }
        out.push(Some(&self.attn_norm.weight));
        out.push(Some(&self.attn_norm.bias));
        for l in [&self.inter, &self.out] {
            out.push(Some(&l.weight));
            out.push(l.bias.as_ref());
        }
        out.push(Some(&self.out_norm.weight));
        out.push(Some(&self.out_norm.bias));
        out
    }
}

impl Bert {
    /// Whether [`Bert::forward_train`] applies: f32 weights with GELU
    /// layers (BERT's and MiniLM's). Otherwise train on `forward` (candle).
    pub fn trains_fast(&self) -> bool {
        self.embeddings.word.dtype() == candle_core::DType::F32
            && self.embeddings.word.device().is_cpu()
            && self.layers.iter().all(|l| l.act == Activation::Gelu)
    }

    /// The last hidden states (tokens x H, sequences end to end) of the
    /// sequences `ids` holds (`lens` tokens each, no padding), with the
    /// tape [`Bert::backward`] needs.
    pub fn forward_train(
        &self,
        ids: &[u32],
        lens: &[usize],
    ) -> candle_core::Result<(Vec<f32>, Tape)> {
        assert_eq!(
            ids.len(),
            lens.iter().sum::<usize>(),
            "forward_train: ids and lens disagree"
        );
        let (x, emb_norm) = self.embed_train(ids, lens)?;
        let mut x = x;
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (y, w, t) = layer.forward_train(x, lens)?;
            layers.push((w, t));
            x = y;
        }
        let tape = Tape {
            ids: ids.to_vec(),
            lens: lens.to_vec(),
            emb_norm,
            layers,
        };
        Ok((x, tape))
    }

    /// Word + position + token-type embeddings (position restarts with each
    /// sequence), then the embedding LayerNorm.
    fn embed_train(
        &self,
        ids: &[u32],
        lens: &[usize],
    ) -> candle_core::Result<(Vec<f32>, LayerNormSaved)> {
        let e = &self.embeddings;
        let h = e.word.dim(1)?;
        let idx = Tensor::from_slice(ids, ids.len(), e.word.device())?;
        let mut x = vec1(&e.word.index_select(&idx, 0)?)?;
        let longest = lens.iter().copied().max().unwrap_or(0);
        let pos = vec1(&e.position.narrow(0, 0, longest)?)?;
        let segment = vec1(&e.token_type.narrow(0, 0, 1)?)?;
        let mut rows = x.chunks_exact_mut(h);
        for &l in lens {
            for p in 0..l {
                let row = rows.next().expect("lens sum to the rows");
                for ((v, &pv), &sv) in row.iter_mut().zip(&pos[p * h..(p + 1) * h]).zip(&segment) {
                    *v += pv + sv;
                }
            }
        }
        Ok(Norm::of(&e.norm)?.forward(&x))
    }

    /// Every weight's gradient from the gradient of the hidden states
    /// [`Bert::forward_train`] returned (same layout).
    pub fn backward(&self, tape: Tape, d_hidden: &[f32]) -> candle_core::Result<WeightGrads> {
        let mut out = Vec::new();
        let mut dy = d_hidden.to_vec();
        for (layer, (w, t)) in self.layers.iter().zip(tape.layers).rev() {
            let (dx, grads) = layer.backward(&w, t, &dy, &tape.lens);
            for (tensor, grad) in layer.tensors().into_iter().zip(grads) {
                if let Some(tensor) = tensor {
                    out.push((
                        tensor.clone(),
                        Tensor::from_vec(grad, tensor.shape(), &Device::Cpu)?,
                    ));
                }
            }
            dy = dx;
        }
        out.extend(self.embeddings_backward(&tape.ids, &tape.lens, &tape.emb_norm, &dy)?);
        Ok(out)
    }

    fn embeddings_backward(
        &self,
        ids: &[u32],
        lens: &[usize],
        saved: &LayerNormSaved,
        dy: &[f32],
    ) -> candle_core::Result<WeightGrads> {
        let e = &self.embeddings;
        let (vocab, h) = e.word.dims2()?;
        let (de, dgamma, dbeta) = Norm::of(&e.norm)?.backward(dy, saved);
        let mut dword = vec![0f32; vocab * h];
        let mut dpos = vec![0f32; e.position.elem_count()];
        let mut dseg = vec![0f32; e.token_type.elem_count()];
        let mut rows = de.chunks_exact(h).zip(ids);
        for &l in lens {
            for p in 0..l {
                let (row, &id) = rows.next().expect("lens sum to the rows");
                let add = |dst: &mut [f32]| dst.iter_mut().zip(row).for_each(|(d, g)| *d += g);
                add(&mut dword[id as usize * h..(id as usize + 1) * h]);
                add(&mut dpos[p * h..(p + 1) * h]);
                add(&mut dseg[..h]);
            }
        }
        let grad = |t: &Tensor, v: Vec<f32>| -> candle_core::Result<(Tensor, Tensor)> {
            Ok((t.clone(), Tensor::from_vec(v, t.shape(), &Device::Cpu)?))
        };
        Ok(vec![
            grad(&e.word, dword)?,
            grad(&e.position, dpos)?,
            grad(&e.token_type, dseg)?,
            grad(&e.norm.weight, dgamma)?,
            grad(&e.norm.bias, dbeta)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::{DType, Var};
    use candle_nn::{VarBuilder, VarMap};

    use super::super::tests::{batch, random_weights, small_config};
    use super::*;

    const LENS: [usize; 3] = [7, 3, 5];

    /// A small BERT whose weights are variables of `dtype`.
    fn bert(
        weights: &HashMap<String, Tensor>,
        h: usize,
        heads: usize,
        dtype: DType,
    ) -> (Bert, VarMap) {
        let c = small_config(h, heads, "gelu");
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu);
        let bert = Bert::load(vb, &c).unwrap();
        for (name, var) in varmap.data().lock().unwrap().iter() {
            var.set(&weights[name].to_dtype(dtype).unwrap()).unwrap();
        }
        (bert, varmap)
    }

    /// The rows of `batch(&LENS, 7)` without padding.
    fn unpadded_ids() -> Vec<u32> {
        let (ids, _) = batch(&LENS, 7);
        let ids = ids.to_vec2::<u32>().unwrap();
        LENS.iter()
            .zip(ids)
            .flat_map(|(&l, row)| row[..l].to_vec())
            .collect()
    }

    /// Fixed weights for the loss `sum(hidden * r)` over real tokens:
    /// unpadded rows, and padded (B, L, H) with zeros on padding.
    fn loss_weights(h: usize, dtype: DType) -> (Vec<f32>, Tensor) {
        let rows: usize = LENS.iter().sum();
        let r: Vec<f32> = (0..rows * h)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let mut padded = vec![0f32; LENS.len() * 7 * h];
        let mut at = 0;
        for (s, &l) in LENS.iter().enumerate() {
            padded[s * 7 * h..(s * 7 + l) * h].copy_from_slice(&r[at * h..(at + l) * h]);
            at += l;
        }
        let padded = Tensor::from_vec(padded, (LENS.len(), 7, h), &Device::Cpu).unwrap();
        (r, padded.to_dtype(dtype).unwrap())
    }

    /// A tensor's values as f64.
    fn f64s(t: &Tensor) -> Vec<f64> {
        t.flatten_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    /// Candle's gradients of the loss, by variable name, as f64.
    fn candle_grads(bert: &Bert, varmap: &VarMap, r: &Tensor) -> HashMap<String, Vec<f64>> {
        let (ids, mask) = batch(&LENS, 7);
        let hidden = bert.forward_candle(&ids, &mask).unwrap();
        let grads = (hidden * r).unwrap().sum_all().unwrap().backward().unwrap();
        let data = varmap.data().lock().unwrap();
        data.iter()
            .map(|(name, var)| {
                let g = grads
                    .get(var.as_tensor())
                    .unwrap_or_else(|| panic!("no gradient for {name}"));
                let g = f64s(g);
                (name.clone(), g)
            })
            .collect()
    }

    /// Our gradients of the same loss, by variable name.
    fn fast_grads(bert: &Bert, varmap: &VarMap, r: &[f32]) -> HashMap<String, Vec<f64>> {
        let (_, tape) = bert.forward_train(&unpadded_ids(), &LENS).unwrap();
        let grads = bert.backward(tape, r).unwrap();
        let data = varmap.data().lock().unwrap();
        let mut out = HashMap::new();
        for (tensor, grad) in grads {
            let name = data
                .iter()
                .find(|(_, v)| v.as_tensor().id() == tensor.id())
                .map(|(n, _)| n.clone())
                .expect("a gradient for a variable");
            let g = f64s(&grad);
            out.insert(name, g);
        }
        out
    }

    #[test]
    fn forward_matches_the_candle_forward() {
        for (h, heads) in [(48, 6), (64, 2)] {
            let weights = random_weights(&small_config(h, heads, "gelu"));
            let (bert, _) = bert(&weights, h, heads, DType::F32);
            let (fast, tape) = bert.forward_train(&unpadded_ids(), &LENS).unwrap();
            assert_eq!(tape.lens(), LENS);
            let (ids, mask) = batch(&LENS, 7);
            let slow = bert
                .forward_candle(&ids, &mask)
                .unwrap()
                .to_vec3::<f32>()
                .unwrap();
            let mut rows = fast.chunks_exact(h);
            for (s, &l) in LENS.iter().enumerate() {
                for (t, want) in slow[s].iter().take(l).enumerate() {
                    let row = rows.next().unwrap();
                    for (a, b) in row.iter().zip(want) {
                        assert!(
                            (a - b).abs() < 1e-5,
                            "h {h}: sequence {s} token {t}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    /// Every weight's gradient against candle's autograd in f64 (itself
    /// checked against finite differences below).
    #[test]
    fn gradients_match_candle_autograd_in_f64() {
        let h = 48;
        let weights = random_weights(&small_config(h, 6, "gelu"));
        let (fast_bert, fast_vars) = bert(&weights, h, 6, DType::F32);
        let (ref_bert, ref_vars) = bert(&weights, h, 6, DType::F64);
        let (r, padded) = loss_weights(h, DType::F64);
        let want = candle_grads(&ref_bert, &ref_vars, &padded);
        let got = fast_grads(&fast_bert, &fast_vars, &r);
        assert_eq!(got.len(), want.len(), "every variable has a gradient");
        let mut bad = Vec::new();
        for (name, w) in &want {
            let g = &got[name];
            let scale = w.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-3);
            let worst = g
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0f64, f64::max);
            // Key biases have no true gradient (softmax ignores a shift): f32 noise.
            if worst > 2e-4 * scale + 1e-6 {
                bad.push(format!("{name}: max difference {worst} at scale {scale}"));
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }

    /// The f64 reference: candle's autograd against central differences.
    #[test]
    fn candle_reference_matches_finite_differences() {
        let h = 48;
        let weights = random_weights(&small_config(h, 6, "gelu"));
        let (bert, vars) = bert(&weights, h, 6, DType::F64);
        let (_, padded) = loss_weights(h, DType::F64);
        let grads = candle_grads(&bert, &vars, &padded);
        let (ids, mask) = batch(&LENS, 7);
        let loss = || -> f64 {
            let hidden = bert.forward_candle(&ids, &mask).unwrap();
            (hidden * &padded)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        let data = vars.data().lock().unwrap();
        for name in [
            "embeddings.word_embeddings.weight",
            "embeddings.position_embeddings.weight",
            "encoder.layer.0.attention.self.query.weight",
            "encoder.layer.0.attention.self.key.bias",
            "encoder.layer.1.attention.self.value.weight",
            "encoder.layer.1.intermediate.dense.weight",
            "encoder.layer.1.output.LayerNorm.weight",
        ] {
            let var: &Var = &data[name];
            let n = var.as_tensor().elem_count();
            let at = |k: usize| {
                let mut v = var
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap();
                v[k] += 1e-6;
                v
            };
            for k in [0, n / 2, n - 1] {
                let base = var
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap();
                let shape = var.as_tensor().shape().clone();
                let set = |v: Vec<f64>| {
                    var.set(&Tensor::from_vec(v, &shape, &Device::Cpu).unwrap())
                        .unwrap()
                };
                set(at(k));
                let up = loss();
                let mut down = base.clone();
                down[k] -= 1e-6;
                set(down);
                let lo = loss();
                set(base);
                let numeric = (up - lo) / 2e-6;
                let g = grads[name][k];
                assert!(
                    (numeric - g).abs() <= 1e-6 + 1e-5 * numeric.abs(),
                    "{name}[{k}]: {g} vs {numeric}"
                );
            }
        }
    }
}
