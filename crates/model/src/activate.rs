//! Activations of tensors ([`activate`]): candle's differentiable ops, with
//! one exception for inference when no gradient is needed: exact-erf GELU
//! as a parallel candle op, because candle's `gelu_erf` runs one scalar
//! `erf` at a time on one thread and BERT spends ~12% of its time there on
//! long documents (candle path only; the packed forward fuses GELU into its
//! GEMM). The scalar math is `hypencoder_kernels::Activation::Gelu`.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use hypencoder_kernels::Activation;
use rayon::prelude::*;

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-parallel"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("gelu-erf-parallel expects f32");
        };
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
            candle_core::Error::Msg("gelu-erf-parallel expects a contiguous tensor".into())
        })?;
        let mut out = data[start..end].to_vec();
        out.par_chunks_mut(16 * 1024).for_each(|chunk| {
            for v in chunk {
                *v = Activation::Gelu.apply(*v);
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// `act` applied to every element of `xs`; differentiable unless the
/// parallel GELU applies (no gradient tracked, f32 on the CPU).
pub fn activate(act: Activation, xs: &Tensor) -> candle_core::Result<Tensor> {
    match act {
        Activation::Relu => xs.relu(),
        Activation::Gelu => gelu_erf(xs),
        Activation::Tanh => xs.tanh(),
        Activation::Sigmoid => candle_nn::ops::sigmoid(xs),
        Activation::LeakyRelu => candle_nn::ops::leaky_relu(xs, 0.01),
    }
}

/// Exact-erf GELU: parallel kernel for plain f32 tensors, candle's
/// differentiable op when a gradient may be needed.
pub fn gelu_erf(xs: &Tensor) -> candle_core::Result<Tensor> {
    if xs.track_op() || xs.dtype() != candle_core::DType::F32 || !xs.device().is_cpu() {
        return xs.gelu_erf();
    }
    xs.contiguous()?.apply_op1_no_bwd(&GeluErf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_gelu_matches_candle() {
        let xs = Tensor::randn(0f32, 4.0, (3, 1000), &candle_core::Device::Cpu).unwrap();
        let fast = gelu_erf(&xs).unwrap();
        let exact = xs.gelu_erf().unwrap();
        let diff: f32 = (fast - exact)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff < 2e-6, "max difference {diff}");
    }
}
