//! The block product that `avx512.rs` and `portable.rs` both implement, and
//! the per-row operations beside it; the functions here pick the file by
//! [`Isa`]. Drivers (`gemm.rs`, `encoder.rs`) are written once above them;
//! the operands are in `tile.rs`.

use std::ops::Range;

use crate::dispatch::Isa;
use crate::tile::{Finish, Lhs, Out, Panels};

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

/// `g = gelu(u)` element by element.
pub(crate) fn gelu_rows(isa: Isa, u: &[f32], g: &mut [f32]) {
    assert_eq!(u.len(), g.len());
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx512() {
        // SAFETY: AVX-512F is present; both slices have the same length.
        return unsafe { crate::avx512::gelu_rows(u, g) };
    }
    let _ = isa;
    crate::portable::gelu_rows(u, g)
}

/// `du = dg * gelu'(u)` element by element.
pub(crate) fn gelu_backward_rows(isa: Isa, u: &[f32], dg: &[f32], du: &mut [f32]) {
    assert!(u.len() == dg.len() && u.len() == du.len());
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx512() {
        // SAFETY: AVX-512F is present; the three slices have the same length.
        return unsafe { crate::avx512::gelu_backward_rows(u, dg, du) };
    }
    let _ = isa;
    crate::portable::gelu_backward_rows(u, dg, du)
}
