//! AdamW with decoupled weight decay, as PyTorch's `torch.optim.AdamW`, and
//! with its moments exposed so a checkpoint can save and restore them
//! (candle-nn's keeps them private, which rules out exact resumption).

use std::collections::HashMap;

use std::cell::RefCell;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Device, InplaceOp1, Layout, Storage, Tensor, Var};
use rayon::prelude::*;

use crate::error::{Result, TrainError};

/// AdamW's hyper-parameters (PyTorch's defaults but for `lr`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    /// Peak learning rate; each `step` is given the scheduled one.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the second moment's root, against division by zero.
    pub eps: f64,
    /// Decoupled weight decay, scaled by the step's learning rate.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

struct Slot {
    name: String,
    var: Var,
    m: Vec<f32>,
    v: Vec<f32>,
}

/// AdamW over named f32 variables, with its moments open for checkpoints.
/// Each step updates every variable in place, in parallel, in one pass over
/// its weights, gradient and moments (candle's tensor ops would allocate a
/// dozen temporaries per variable).
pub struct AdamW {
    slots: Vec<Slot>,
    config: AdamWConfig,
    step: u64,
}

/// Values per parallel task of the update and the norm (a fixed split, so
/// sums do not depend on the thread count).
const CHUNK: usize = 1 << 16;

impl AdamW {
    /// Parameters in a fixed order (by name), moments at zero.
    pub fn new(mut params: Vec<(String, Var)>, config: AdamWConfig) -> Result<Self> {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = params
            .into_iter()
            .map(|(name, var)| {
                if var.dtype() != DType::F32 {
                    return Err(TrainError::Invalid(format!(
                        "{name} is {:?}; AdamW trains f32 variables",
                        var.dtype()
                    )));
                }
                let n = var.elem_count();
                Ok(Slot {
                    name,
                    var,
                    m: vec![0f32; n],
                    v: vec![0f32; n],
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AdamW {
            slots,
            config,
            step: 0,
        })
    }

    /// Updates made so far (restored ones included).
    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// The global L2 norm of the gradients of every variable; the caller
    /// turns it into a clipping factor for `step`.
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut sum = 0f64;
        for s in &self.slots {
            if let Some(g) = grads.get(s.var.as_tensor()) {
                sum += with_values(g, |g| {
                    let parts: Vec<f64> = g
                        .par_chunks(CHUNK)
                        .map(|c| c.iter().map(|&x| x as f64 * x as f64).sum())
                        .collect();
                    parts.iter().sum::<f64>()
                })?;
            }
        }
        Ok(sum.sqrt())
    }

    /// One update with learning rate `lr`; gradients are multiplied by
    /// `grad_scale` first (gradient clipping).
    pub fn step(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let rule = Rule {
            lr: lr as f32,
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
            eps: c.eps as f32,
            decay: (1.0 - lr * c.weight_decay) as f32,
            bias1: (1.0 - c.beta1.powi(t)) as f32,
            bias2: (1.0 - c.beta2.powi(t)) as f32,
            grad_scale: grad_scale as f32,
        };
        for s in &mut self.slots {
            let Some(g) = grads.get(s.var.as_tensor()) else {
                continue;
            };
            let (var, m, v) = (&s.var, &mut s.m, &mut s.v);
            with_values(g, |g| {
                let update = Update {
                    rule,
                    grad: g,
                    moments: RefCell::new((m.as_mut_slice(), v.as_mut_slice())),
                };
                var.as_tensor().inplace_op1(&update)
            })??;
        }
        Ok(())
    }

    /// Moments by `m.<name>` / `v.<name>`, for a checkpoint.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for s in &self.slots {
            let shape = s.var.shape();
            let tensor = |x: &[f32]| {
                Tensor::from_slice(x, shape, &Device::Cpu).expect("moments match their variable")
            };
            out.insert(format!("m.{}", s.name), tensor(&s.m));
            out.insert(format!("v.{}", s.name), tensor(&s.v));
        }
        out
    }

    /// Restores what `state` saved after `step` updates.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>, step: u64) -> Result<()> {
        for s in &mut self.slots {
            let get = |k: String| -> Result<Vec<f32>> {
                let t = state.get(&k).ok_or_else(|| {
                    TrainError::Invalid(format!("optimizer state has no tensor {k}"))
                })?;
                if t.elem_count() != s.var.elem_count() {
                    return Err(TrainError::Invalid(format!(
                        "optimizer state {k} has {} values, the variable {}",
                        t.elem_count(),
                        s.var.elem_count()
                    )));
                }
                Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
            };
            s.m = get(format!("m.{}", s.name))?;
            s.v = get(format!("v.{}", s.name))?;
        }
        self.step = step;
        Ok(())
    }
}

/// One step's constants of the AdamW rule.
#[derive(Clone, Copy)]
struct Rule {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    /// 1 - lr * weight_decay.
    decay: f32,
    /// 1 - beta1^t.
    bias1: f32,
    /// 1 - beta2^t.
    bias2: f32,
    grad_scale: f32,
}

impl Rule {
    /// PyTorch's AdamW for one value: decoupled decay, then the step.
    #[inline]
    fn apply(&self, theta: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        let g = g * self.grad_scale;
        *m = self.beta1 * *m + (1.0 - self.beta1) * g;
        *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
        let m_hat = *m / self.bias1;
        let v_hat = *v / self.bias2;
        *theta = *theta * self.decay - self.lr * m_hat / (v_hat.sqrt() + self.eps);
    }
}

/// The update of one variable, run on its storage in place.
struct Update<'a> {
    rule: Rule,
    grad: &'a [f32],
    /// First and second moments (the op is called through `&self`).
    moments: RefCell<(&'a mut [f32], &'a mut [f32])>,
}

impl InplaceOp1 for Update<'_> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("adamw: the variable is not contiguous f32");
        };
        let theta = &mut values[start..end];
        let mut moments = self.moments.borrow_mut();
        let (m, v) = &mut *moments;
        if theta.len() != self.grad.len() || m.len() != theta.len() {
            candle_core::bail!("adamw: gradient or moments do not match the variable");
        }
        let rule = self.rule;
        theta
            .par_chunks_mut(CHUNK)
            .zip(self.grad.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((theta, g), m), v)| {
                for (((t, &g), m), v) in theta.iter_mut().zip(g).zip(m).zip(v) {
                    rule.apply(t, g, m, v);
                }
            });
        Ok(())
    }
}

/// Runs `f` on a tensor's values as f32: borrowed when they are contiguous
/// f32 on the CPU (gradients are), else copied.
fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (Storage::Cpu(CpuStorage::F32(values)), Some((start, end))) =
            (&*storage, layout.contiguous_offsets())
        {
            return Ok(f(&values[start..end]));
        }
    }
    let values = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    Ok(f(&values))
}

/// Linear warm-up to `peak` over `warmup` steps, then linear decay to 0 at
/// `total` (the schedule of Hugging Face's default Trainer).
pub fn linear_schedule(step: u64, warmup: u64, total: u64, peak: f64) -> f64 {
    if step < warmup {
        peak * (step + 1) as f64 / warmup as f64
    } else {
        let left = total.saturating_sub(step) as f64;
        let span = total.saturating_sub(warmup).max(1) as f64;
        peak * (left / span).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two steps on f(x) = sum(x^2), against PyTorch AdamW's update rule
    /// written out by hand in f64.
    #[test]
    fn matches_the_adamw_update_rule() {
        let x0 = [1.0f64, -2.0, 0.5];
        let x32: Vec<f32> = x0.iter().map(|&x| x as f32).collect();
        let var = Var::from_slice(&x32, 3, &Device::Cpu).unwrap();
        let c = AdamWConfig {
            lr: 0.1,
            weight_decay: 0.1,
            ..Default::default()
        };
        let mut opt = AdamW::new(vec![("x".into(), var.clone())], c).unwrap();
        let mut want = x0;
        let (mut m, mut v) = ([0f64; 3], [0f64; 3]);
        for t in 1..=2 {
            let loss = var.as_tensor().sqr().unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            opt.step(&grads, c.lr, 1.0).unwrap();
            for i in 0..3 {
                let g = 2.0 * (want[i] as f32) as f64;
                m[i] = c.beta1 * m[i] + (1.0 - c.beta1) * g;
                v[i] = c.beta2 * v[i] + (1.0 - c.beta2) * g * g;
                let mh = m[i] / (1.0 - c.beta1.powi(t));
                let vh = v[i] / (1.0 - c.beta2.powi(t));
                want[i] = want[i] * (1.0 - c.lr * c.weight_decay) - c.lr * mh / (vh.sqrt() + c.eps);
            }
        }
        let got = var.as_tensor().to_vec1::<f32>().unwrap();
        for i in 0..3 {
            // f32 arithmetic against f64: a few ulps of these values.
            assert!(
                (got[i] as f64 - want[i]).abs() < 1e-5,
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        assert!((linear_schedule(0, 10, 110, 1.0) - 0.1).abs() < 1e-12);
        assert!((linear_schedule(9, 10, 110, 1.0) - 1.0).abs() < 1e-12);
        assert!((linear_schedule(60, 10, 110, 1.0) - 0.5).abs() < 1e-12);
        assert_eq!(linear_schedule(110, 10, 110, 1.0), 0.0);
    }
}
