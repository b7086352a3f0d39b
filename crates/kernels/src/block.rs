//! The block product that `avx512.rs` and `portable.rs` both implement, and
//! the per-row operations beside it; the functions here pick the file by
//! [`Isa`]. Drivers (`gemm.rs`, `encoder.rs`) are written once above them.
//!
//! Layout: the right-hand matrix is read in panels of up to [`NR`] columns;
//! in panel `p`, row `kk` starts at `ptr + p * panel_stride + kk * ldb`.
//! Packed weights ([`crate::Rhs`]) are contiguous zero-padded panels
//! (`ldb = NR`); attention reads K^T packed the same way and V in place.

use std::ops::Range;

use crate::dispatch::Isa;

/// Columns per panel: two 16-lane AVX-512 registers.
pub(crate) const NR: usize = 32;
/// Rows per register tile: 12 x 2 accumulators + 2 B registers fit in 32.
pub(crate) const MR: usize = 12;
/// k per pass of the packed-A product: a KC x NR slice of a B panel (8 KB)
/// and the row group's A slice stay in L1 across the block's row groups.
/// 64-96 measured best (768-d layers, 48 KB L1); 256 was ~30% slower, 32
/// ~35% slower.
pub(crate) const KC: usize = 64;

/// Left operand: row `r` at `ptr + r * ld`, `k` values each.
#[derive(Clone, Copy)]
pub(crate) struct Lhs {
    pub ptr: *const f32,
    pub ld: usize,
    pub k: usize,
}

/// Right operand, in panels (see the module doc). `bias` (or null) holds
/// one value per column, added to the sums before any product term.
/// `ldb == NR` means whole panels: every panel row is readable for all NR
/// values, padding included (the kernel then loads it unmasked).
#[derive(Clone, Copy)]
pub(crate) struct Panels {
    pub ptr: *const f32,
    pub ldb: usize,
    pub panel_stride: usize,
    /// Columns in all (the last panel may be narrower than NR).
    pub n: usize,
    pub bias: *const f32,
}

/// Output: row `r` at `ptr + r * ld`.
#[derive(Clone, Copy)]
pub(crate) struct Out {
    pub ptr: *mut f32,
    pub ld: usize,
}

impl Out {
    /// The same view starting `off` values further (a method, so closures
    /// capture the whole `Out`, which is `Sync`, not its raw pointer).
    ///
    /// # Safety
    /// `ptr + off` stays inside the buffer `ptr` points into.
    pub(crate) unsafe fn add(self, off: usize) -> Out {
        Out {
            // SAFETY: the caller keeps the offset inside the buffer.
            ptr: unsafe { self.ptr.add(off) },
            ld: self.ld,
        }
    }
}

/// What a tile does with its finished sums before storing them.
#[derive(Clone, Copy)]
pub(crate) enum Finish {
    /// Store as they are.
    Store,
    /// Exact-erf GELU.
    Gelu,
    /// Add a same-shaped matrix, row `r` at `ptr + r * ld` (block origin).
    Residual { ptr: *const f32, ld: usize },
}

// SAFETY: these are plain views of buffers that outlive the parallel loops
// that share them; every task writes disjoint rows or columns of `Out`, and
// the rest is only read.
unsafe impl Send for Lhs {}
// SAFETY: as for `Send`: shared reads only.
unsafe impl Sync for Lhs {}
// SAFETY: read-only view, see `Lhs`.
unsafe impl Send for Panels {}
// SAFETY: read-only view, see `Lhs`.
unsafe impl Sync for Panels {}
// SAFETY: tasks given the same `Out` write disjoint tiles of it (each
// driver partitions rows or panels between tasks).
unsafe impl Send for Out {}
// SAFETY: as for `Send`.
unsafe impl Sync for Out {}
// SAFETY: the residual pointer is only read.
unsafe impl Send for Finish {}
// SAFETY: the residual pointer is only read.
unsafe impl Sync for Finish {}

/// `c[0..m, cols of panels] = finish(bias + a (m x a.k) . b)`,
/// single-threaded, k in one fixed order.
///
/// # Safety
/// For every row `r < m`, `a.ptr + r * a.ld` is readable for `a.k` values;
/// for every panel `p` in `panels` and `kk < a.k`, the panel row at
/// `b.ptr + p * b.panel_stride + kk * b.ldb` is readable for that panel's
/// width (`min(NR, b.n - p * NR)`; all NR values when `b.ldb == NR`), and so is `b.bias + p * NR` when not
/// null; row `r` of `c` (and of a residual) is writable (readable) over
/// those columns; `c` does not overlap the inputs.
pub(crate) unsafe fn block(
    isa: Isa,
    m: usize,
    a: Lhs,
    b: Panels,
    panels: Range<usize>,
    c: Out,
    finish: Finish,
) {
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx512() {
        // SAFETY: `isa` says AVX-512F is present (only `Isa::detect` can);
        // the caller upholds the pointer contract above.
        return unsafe { crate::avx512::block(m, a, b, panels, c, finish) };
    }
    let _ = isa;
    // SAFETY: the caller upholds the pointer contract above.
    unsafe { crate::portable::block(m, a, b, panels, c, finish) }
}

/// In-place softmax of one row.
pub(crate) fn softmax_row(isa: Isa, row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx512() {
        // SAFETY: AVX-512F is present; the kernel stays inside `row`.
        return unsafe { crate::avx512::softmax_row(row) };
    }
    let _ = isa;
    crate::portable::softmax_row(row)
}

/// `dst = (src - mean) / sqrt(var + eps) * gamma + beta` over one row.
pub(crate) fn layer_norm_row(
    isa: Isa,
    src: &[f32],
    dst: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let h = src.len();
    assert!(dst.len() == h && gamma.len() == h && beta.len() == h);
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx512() {
        // SAFETY: AVX-512F is present; all four slices are `h` long.
        return unsafe { crate::avx512::layer_norm_row(src, dst, gamma, beta, eps) };
    }
    let _ = isa;
    crate::portable::layer_norm_row(src, dst, gamma, beta, eps)
}
