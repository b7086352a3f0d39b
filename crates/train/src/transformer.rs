//! A step's pass through a trainable transformer. Where the model crate's
//! training pass applies (`Bert::trains_fast`: f32, GELU), every text of the
//! step (queries and documents together) goes through it once, unpadded;
//! its hidden states enter candle's graph as leaf variables, so the
//! hyper-head, pooling and loss keep their candle autograd, and after
//! candle's backward the leaves' gradients run the transformer's own
//! backward ([`Pending::finish`]). Otherwise the transformer is candle ops
//! like everything else.

use std::sync::Arc;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use hypencoder_model::bert::{Bert, Tape};
use hypencoder_model::TokenBatch;

use crate::error::Result;

/// The transformer's backward, waiting for candle's to give it the
/// gradients of its hidden states.
pub(crate) struct Pending {
    bert: Arc<Bert>,
    tape: Tape,
    /// Per batch: the (B, L, H) leaf standing for its hidden states, and
    /// its rows' real lengths.
    leaves: Vec<(Var, Vec<usize>)>,
}

/// (B, L, H) hidden states of each batch, in order; `pending` receives the
/// fast pass's backward when it ran.
pub(crate) fn hidden_states(
    bert: &Arc<Bert>,
    batches: &[&TokenBatch],
    pending: &mut Option<Pending>,
) -> Result<Vec<Tensor>> {
    if !bert.trains_fast() {
        return batches
            .iter()
            .map(|b| Ok(bert.forward(&b.input_ids, &b.attention_mask)?))
            .collect();
    }
    let mut ids = Vec::new();
    let mut lens = Vec::new();
    for b in batches {
        for (row, &len) in b.input_ids.to_vec2::<u32>()?.iter().zip(&b.lengths) {
            ids.extend_from_slice(&row[..len]);
            lens.push(len);
        }
    }
    let (hidden, tape) = bert.forward_train(&ids, &lens)?;
    let h = bert.hidden_size();
    let mut out = Vec::with_capacity(batches.len());
    let mut leaves = Vec::with_capacity(batches.len());
    let mut rows = hidden.chunks_exact(h);
    for b in batches {
        let l = b.input_ids.dim(1)?;
        let mut padded = vec![0f32; b.lengths.len() * l * h];
        for (s, &len) in b.lengths.iter().enumerate() {
            for t in 0..len {
                let row = rows.next().expect("one hidden row per token");
                padded[(s * l + t) * h..(s * l + t + 1) * h].copy_from_slice(row);
            }
        }
        let leaf = Var::from_vec(padded, (b.lengths.len(), l, h), &Device::Cpu)?;
        out.push(leaf.as_tensor().clone());
        leaves.push((leaf, b.lengths.clone()));
    }
    *pending = Some(Pending {
        bert: bert.clone(),
        tape,
        leaves,
    });
    Ok(out)
}

impl Pending {
    /// Runs the transformer's backward from the gradients candle's gave
    /// its hidden states and adds every weight's gradient to `grads`.
    pub(crate) fn finish(self, grads: &mut GradStore) -> Result<()> {
        let h = self.bert.hidden_size();
        let mut d_hidden = Vec::with_capacity(self.tape.lens().iter().sum::<usize>() * h);
        for (leaf, lens) in &self.leaves {
            let l = leaf.as_tensor().dim(1)?;
            let g = match grads.remove(leaf.as_tensor()) {
                Some(g) => g.flatten_all()?.to_vec1::<f32>()?,
                None => vec![0f32; lens.len() * l * h],
            };
            for (s, &len) in lens.iter().enumerate() {
                d_hidden.extend_from_slice(&g[s * l * h..(s * l + len) * h]);
            }
        }
        for (weight, grad) in self.bert.backward(self.tape, &d_hidden)? {
            let grad = match grads.remove(&weight) {
                Some(other) => (other + grad)?,
                None => grad,
            };
            grads.insert(&weight, grad);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::DType;
    use candle_nn::VarBuilder;
    use hypencoder_model::{BertConfig, TextTokenizer};
    use hypencoder_test_support::fixture;

    use super::*;

    /// The tiny fixture's base BERT with its weights as variables.
    fn tiny_bert() -> (Arc<Bert>, Vec<Var>) {
        let base = fixture("tiny-2layer").join("base");
        let config = BertConfig::from_file(&base.join("config.json")).unwrap();
        let tensors =
            candle_core::safetensors::load(base.join("model.safetensors"), &Device::Cpu).unwrap();
        let vars: std::collections::HashMap<String, Var> = tensors
            .into_iter()
            .filter(|(n, _)| !n.ends_with("position_ids") && !n.contains("pooler"))
            .map(|(n, t)| {
                (
                    n,
                    Var::from_tensor(&t.to_dtype(DType::F32).unwrap()).unwrap(),
                )
            })
            .collect();
        let map = vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        let vb = VarBuilder::from_tensors(map, DType::F32, &Device::Cpu);
        let vb = if vars.keys().any(|n| n.starts_with("bert.")) {
            vb.pp("bert")
        } else {
            vb
        };
        let bert = Arc::new(Bert::load(vb, &config).unwrap());
        (bert, vars.into_values().collect())
    }

    /// A loss that weighs every hidden value differently, padding excluded.
    fn loss(hidden: &[Tensor], batches: &[&TokenBatch]) -> Tensor {
        let mut total = Tensor::new(0f32, &Device::Cpu).unwrap();
        for (k, (h, b)) in hidden.iter().zip(batches).enumerate() {
            let n = h.elem_count();
            let w: Vec<f32> = (0..n)
                .map(|i| ((i * 31 + k * 7) % 17) as f32 / 8.0 - 1.0)
                .collect();
            let w = Tensor::from_vec(w, h.shape(), &Device::Cpu).unwrap();
            let mask = b.attention_mask.unsqueeze(2).unwrap();
            let term = h
                .mul(&w)
                .unwrap()
                .broadcast_mul(&mask)
                .unwrap()
                .sum_all()
                .unwrap();
            total = (total + term).unwrap();
        }
        total
    }

    /// The fast pass joined to candle gives every weight the gradient
    /// candle's own graph gives it, over two padded batches of different
    /// lengths (queries and documents).
    #[test]
    fn gradients_equal_candles_over_padded_batches() {
        let (bert, vars) = tiny_bert();
        assert!(bert.trains_fast());
        let tok =
            TextTokenizer::from_file(&fixture("tiny-2layer").join("tokenizer.json"), 16).unwrap();
        let qb = tok
            .batch(&["a query", "a somewhat longer query text"], &Device::Cpu)
            .unwrap();
        let db = tok
            .batch(
                &[
                    "one document",
                    "two",
                    "the third document is the longest one here",
                ],
                &Device::Cpu,
            )
            .unwrap();
        let batches = [&qb, &db];

        let slow: Vec<Tensor> = batches
            .iter()
            .map(|b| bert.forward(&b.input_ids, &b.attention_mask).unwrap())
            .collect();
        let want = loss(&slow, &batches).backward().unwrap();

        let mut pending = None;
        let fast = hidden_states(&bert, &batches, &mut pending).unwrap();
        let mut got = loss(&fast, &batches).backward().unwrap();
        pending
            .expect("the fast pass ran")
            .finish(&mut got)
            .unwrap();

        for var in &vars {
            let w = want
                .get(var.as_tensor())
                .expect("candle reached every weight");
            let g = got
                .get(var.as_tensor())
                .expect("the fast pass reached every weight");
            let w = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let g = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = w
                .iter()
                .zip(&g)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-4 * scale + 1e-6,
                "{:?}: {worst} at scale {scale}",
                var.shape()
            );
        }
    }
}
