//! The dense kernels search uses, from `hypencoder-kernels` (which holds all
//! the workspace's SIMD code behind one runtime CPU check). All are
//! single-threaded: one block of documents is scored on one core and blocks
//! run in parallel on rayon's pool (nested GEMM threading would fight that
//! pool over the same cores).
//!
//! - [`matmul`] with a packed [`Rhs`]: the q-net layers. With AVX-512 the
//!   kernels crate's own micro-kernel runs; elsewhere the `gemm` crate (built
//!   with its `x86-v4` feature, see the root Cargo.toml).
//! - [`matmul_bf16`] with a [`Bf16Rhs`]: the q-net layers at
//!   `Precision::Bf16` (AVX512_BF16's `vdpbf16ps`, portable code elsewhere).
//! - [`dots_at`]: one query's dot products with rows read in place (a
//!   graph walk's dot-product scoring); [`dot_wide`]: one pair of rows (a
//!   graph build's comparisons).
//! - [`sgemm`]: the `gemm` crate on strided operands (dot-product scoring,
//!   graph builds).
//! - [`quantize_codes`], [`dot_codes`]: int8 codes of rows and their
//!   products (a growing graph's comparisons while it searches).
//! - [`RowEpilogue`]: bias, activation, LayerNorm, residual and the final
//!   dot product of a q-net layer, row by row.
//!
//! Every output row is computed the same way whatever the block size or the
//! row's position in it (fixed k order, no k-splitting), so scores do not
//! depend on block boundaries or thread count.

pub(crate) use hypencoder_kernels::{
    dot_codes, dot_wide, dots, dots_at, matmul, matmul_bf16, prefetch, quantize_codes, sgemm,
    Bf16Rhs, Isa, Rhs, RowEpilogue,
};
