//! The block product that `avx512.rs` and `portable.rs` both implement, and
//! the per-row operations beside it; the functions here pick the file by
//! [`Isa`]. Drivers (`gemm.rs`, `encoder.rs`) are written once above them;
//! the operands are in `tile.rs`.

use std::cell::RefCell;
use std::ops::Range;

use crate::dispatch::Isa;
use crate::int8::Packing;
use crate::tile::{Bf16Panels, Finish, Lhs, Out, Panels, QuantPanels, QuantRows};

thread_local! {
    /// A block's rows quantised for [`block_int8`]: words, then scales.
    static QUANT: RefCell<(Vec<u32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// A block's rows rounded to bf16 pairs for [`block_bf16`].
    static BF16_ROWS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

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
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx2() {
        // SAFETY: `isa` says AVX2 and FMA are present; the caller upholds
        // the pointer contract above.
        return unsafe { crate::avx2::block(m, a, b, panels, c, finish) };
    }
    let _ = isa;
    // SAFETY: the caller upholds the pointer contract above.
    unsafe { crate::portable::block(m, a, b, panels, c, finish) }
}

/// `c[0..m, cols of panels] = finish(bias + a . b)` with `b` quantised to
/// int8 per column and `a`'s rows quantised per row here (dynamic
/// quantisation) in `b`'s packing: integer sums, then scaled in f32.
/// Single-threaded.
///
/// # Safety
/// Row `r < m` of `a` is readable for `a.k` values, `a.k` is `b`'s k, and
/// the rest of the contract of [`crate::portable::block_int8`] holds.
pub(crate) unsafe fn block_int8(
    isa: Isa,
    m: usize,
    a: Lhs,
    b: QuantPanels,
    panels: Range<usize>,
    c: Out,
    finish: Finish,
) {
    let kw = b.packing.words(a.k);
    debug_assert_eq!(kw, b.kw);
    QUANT.with(|cell| {
        let (words, scales) = &mut *cell.borrow_mut();
        words.resize(m * kw, 0);
        scales.resize(m, 0.0);
        for r in 0..m {
            // SAFETY: the caller vouches for row r of `a`.
            let row = unsafe { std::slice::from_raw_parts(a.ptr.add(r * a.ld), a.k) };
            let dst = &mut words[r * kw..(r + 1) * kw];
            scales[r] = quantize_row(isa, b.packing, row, dst);
        }
        let rows = QuantRows {
            words: words.as_ptr(),
            kw,
            scales: scales.as_ptr(),
        };
        #[cfg(target_arch = "x86_64")]
        match b.packing {
            Packing::Quads if isa.has_vnni() => {
                // SAFETY: `isa` says AVX-512F, AVX-512BW and VNNI are
                // present; quads come with their starts; `rows` holds m
                // quantised rows; the caller upholds the rest.
                return unsafe { crate::avx512_vnni::block_int8(m, rows, b, panels, c, finish) };
            }
            Packing::Pairs if isa.has_avx2() => {
                // SAFETY: `isa` says AVX2 and FMA are present; as above.
                return unsafe { crate::avx2::block_int8(m, rows, b, panels, c, finish) };
            }
            _ => {}
        }
        // SAFETY: as above.
        unsafe { crate::portable::block_int8(m, rows, b, panels, c, finish) }
    })
}

/// `c[0..m, cols of panels] = finish(bias + a . b)` with `b` in bf16 and
/// `a`'s rows rounded to bf16 here, sums in f32. Single-threaded.
///
/// # Safety
/// Row `r < m` of `a` is readable for `a.k` values, `a.k.div_ceil(2)` is
/// `b.kp`, and the rest of the contract of [`crate::portable::block_bf16`]
/// holds.
pub(crate) unsafe fn block_bf16(
    isa: Isa,
    m: usize,
    a: Lhs,
    b: Bf16Panels,
    panels: Range<usize>,
    c: Out,
    finish: Finish,
) {
    debug_assert_eq!(a.k.div_ceil(2), b.kp);
    BF16_ROWS.with(|cell| {
        let words = &mut *cell.borrow_mut();
        words.resize(m * b.kp, 0);
        for (r, dst) in words.chunks_exact_mut(b.kp.max(1)).enumerate().take(m) {
            // SAFETY: the caller vouches for row r of `a`.
            let row = unsafe { std::slice::from_raw_parts(a.ptr.add(r * a.ld), a.k) };
            #[cfg(target_arch = "x86_64")]
            if isa.has_bf16() {
                // SAFETY: `isa` says AVX-512F and AVX512_BF16 are present.
                unsafe { crate::avx512_bf16::pack_rows(row, a.k, dst) };
                continue;
            }
            crate::bf16_pack::pack_row_from(row, 0, dst);
        }
        #[cfg(target_arch = "x86_64")]
        if isa.has_bf16() {
            // SAFETY: as above; `words` holds m rows of kp words.
            return unsafe { crate::avx512_bf16::block(m, words.as_ptr(), b, panels, c, finish) };
        }
        let _ = isa;
        // SAFETY: as above.
        unsafe { crate::portable::block_bf16(m, words.as_ptr(), b, panels, c, finish) }
    })
}

/// `row` quantised to int8 words in `packing` (`crate::int8`); returns its
/// scale.
pub(crate) fn quantize_row(isa: Isa, packing: Packing, row: &[f32], words: &mut [u32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    match packing {
        Packing::Quads if isa.has_vnni() => {
            // SAFETY: AVX-512F and AVX-512BW are present.
            return unsafe { crate::avx512_vnni::quantize_row_quads(row, words) };
        }
        Packing::Pairs if isa.has_avx2() => {
            // SAFETY: AVX2 and FMA are present.
            return unsafe { crate::avx2::quantize_row(row, words) };
        }
        _ => {}
    }
    let _ = isa;
    match packing {
        Packing::Pairs => crate::int8::quantize_row(row, words),
        Packing::Quads => crate::int8::quantize_row_quads(row, words),
    }
}

/// In-place softmax of one row.
pub(crate) fn softmax_row(isa: Isa, row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx512() {
        // SAFETY: AVX-512F is present; the kernel stays inside `row`.
        return unsafe { crate::avx512::softmax_row(row) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx2() {
        // SAFETY: AVX2 and FMA are present; the kernel stays inside `row`.
        return unsafe { crate::avx2::softmax_row(row) };
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
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx2() {
        // SAFETY: AVX2 and FMA are present; all four slices are `h` long.
        return unsafe { crate::avx2::layer_norm_row(src, dst, gamma, beta, eps) };
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
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx2() {
        // SAFETY: AVX2 and FMA are present; both slices have the same length.
        return unsafe { crate::avx2::gelu_rows(u, g) };
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
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx2() {
        // SAFETY: AVX2 and FMA are present; the three slices have the same length.
        return unsafe { crate::avx2::gelu_backward_rows(u, dg, du) };
    }
    let _ = isa;
    crate::portable::gelu_backward_rows(u, dg, du)
}
