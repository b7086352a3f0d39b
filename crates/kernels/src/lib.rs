//! The CPU SIMD kernels of the workspace, in one place: encoding (BERT's
//! linear layers, attention, LayerNorm in `hypencoder-model`) and scoring
//! (q-net layers, dot products in `hypencoder-search`) run on them, and no
//! other crate holds SIMD code.
//!
//! - [`Rhs`]: a right-hand matrix (weights) stored once in the kernels'
//!   layout, 32-column panels, with an optional bias.
//! - [`matmul`] / [`sgemm`]: single-threaded products for callers that
//!   parallelise over blocks themselves (the q-net scorer, graph builds);
//!   [`RowEpilogue`] then finishes a q-net layer row by row.
//! - [`matmul_bf16`] with [`Bf16Rhs`]: the same product with both sides
//!   rounded to bfloat16 and f32 sums (`vdpbf16ps` with AVX512_BF16: twice
//!   the multiply-adds per instruction).
//! - [`linear`], [`fused_residual_ln`], [`layer_norm_rows`], [`attention`]:
//!   BERT layer steps, parallel on rayon's pool.
//! - [`train`]: the steps of BERT's training pass (forwards that keep what
//!   their backwards need, and the backwards), on unpadded token rows.
//! - [`dot`], [`dot_wide`], [`dots`], [`layer_norm`], [`erf`], [`Activation`]:
//!   row and scalar helpers.
//!
//! Every public function is safe on every CPU: it asks the one cached
//! runtime check ([`Isa::detect`]) and runs `avx512.rs` (x86-64 with
//! AVX-512F), `avx2.rs` (x86-64 with AVX2 and FMA: AMD before Zen 4,
//! Intel's client cores) or `portable.rs` (anything else). All three
//! implement the same internal operations (a register-tiled block product
//! with fused start and finish, softmax and LayerNorm rows); the drivers
//! above them are written once. Results of one path do not depend on how rows are blocked or on
//! the thread count (fixed k order, no k-splitting).
//!
//! Modules depend one way (no module imports one that imports it back):
//! `dispatch`, `act`, `tile` (the block product's operands), `bf16_pack`
//! (bf16 rounding and the bf16 product's pair-word layout) and `sweep`
//! (row bodies, on `act`) at the bottom; the instruction-set files
//! `avx512`, `avx512_bf16` (also on `avx512`'s lane masks) and `portable`
//! on them; `block` and `bf16`, which choose between those files, and
//! `rows` (on `block`); the drivers `gemm`, `encoder` (on `gemm`'s `Rhs`)
//! and `train` on top. Code inside the crate names items by their module,
//! not through the re-exports below.

mod act;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avx512_bf16;
#[cfg(target_arch = "x86_64")]
mod avx512_vnni;
mod bf16;
mod bf16_pack;
mod block;
mod codes;
mod dispatch;
mod encoder;
mod gemm;
mod int8;
mod portable;
mod rows;
mod sweep;
mod tile;
pub mod train;

pub use act::{erf, Activation};
pub use bf16::{matmul_bf16, Bf16Rhs};
pub use bf16_pack::{from_bf16, to_bf16};
pub use codes::{dot_codes, quantize_codes};
pub use dispatch::Isa;
pub use encoder::{
    attention, fused_residual_ln, fused_rows, layer_norm_rows, linear, Epilogue, Norm,
};
pub use gemm::{matmul, sgemm, Rhs};
pub use rows::{dot_wide, dots, dots_at, softmax_rows};
pub use sweep::{dot, layer_norm, prefetch, RowEpilogue};

#[cfg(test)]
mod tests;
