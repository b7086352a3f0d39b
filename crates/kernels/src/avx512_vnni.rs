//! AVX512-VNNI (x86-64): the int8 product on quads
//! ([`crate::int8::Packing::Quads`]), R <= 12 rows x 32 columns with two
//! 16-lane i32 accumulators per row, each step one `vpdpbusd` (four u8 x
//! i8 multiply-adds per lane, added without saturation) per accumulator:
//! twice the multiply-adds per instruction of `vpdpwssd` on pairs, four
//! times f32's FMA.
//!
//! Every function here needs AVX-512F, AVX-512BW and AVX512-VNNI; `block.rs`
//! calls them only when [`crate::Isa`] says the CPU has them.

use std::arch::x86_64::*;
use std::ops::Range;

use crate::avx512::{finish_row, mask};
use crate::int8::{quantize_quads_from, QMAX};
use crate::tile::by_rows;
use crate::tile::{Finish, Out, QuantPanels, QuantRows, MR, NR};

/// `row` quantised into quads as [`crate::int8::quantize_row_quads`] does
/// it (the same integers: `vcvtps2dq` rounds to nearest even); returns the
/// scale.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) fn quantize_row_quads(row: &[f32], words: &mut [u32]) -> f32 {
    let k = row.len();
    let mut mx = _mm512_setzero_ps();
    let mut i = 0;
    while i < k {
        let m = mask(k - i);
        // SAFETY: the mask keeps the load inside row[i..k].
        let v = unsafe { _mm512_maskz_loadu_ps(m, row.as_ptr().add(i)) };
        mx = _mm512_max_ps(mx, _mm512_abs_ps(v));
        i += 16;
    }
    let max = _mm512_reduce_max_ps(mx);
    if max == 0.0 || !max.is_finite() {
        return crate::int8::quantize_row_quads(row, words);
    }
    let inv = _mm512_set1_ps(QMAX / max);
    let shift = _mm512_set1_epi32(128);
    i = 0;
    while i + 16 <= k {
        // SAFETY: row[i..i + 16] and words[i / 4..i / 4 + 4] are in bounds
        // (i + 16 <= k, and words holds k.div_ceil(4)).
        unsafe {
            let v = _mm512_loadu_ps(row.as_ptr().add(i));
            let q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v, inv)), shift);
            // Values lie in 1..=255: truncating each lane to its low byte
            // keeps it.
            let bytes = _mm512_cvtepi32_epi8(q);
            _mm_storeu_si128(words.as_mut_ptr().add(i / 4).cast(), bytes);
        }
        i += 16;
    }
    quantize_quads_from(row, max, i / 4, words);
    max / QMAX
}

/// R rows x 32 columns of the int8 product: accumulators from the
/// columns' starts, `kw` steps of `vpdpbusd`, then finish(sum x row scale x
/// column scale + bias) in f32.
///
/// # Safety
/// The CPU has AVX-512F and AVX512-VNNI; A's R rows hold `kw` quad words
/// (at `a`, stride `lda`) and their scales; B's `kw` panel rows (stride NR
/// words) are whole; starts, scales (and the bias, unless null) cover the
/// panel's 32 columns; C (and the residual) are writable (readable) over
/// the masked columns.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[allow(clippy::too_many_arguments)] // one tile's raw operands, kept flat for the hot loop
unsafe fn tile<const R: usize>(
    kw: usize,
    (a, lda, a_scales): (*const u32, usize, *const f32),
    b: *const u32,
    (starts, scales, bias): (*const i32, *const f32, *const f32),
    (c, ldc): (*mut f32, usize),
    (m0, m1): (__mmask16, __mmask16),
    finish: Finish,
) {
    // SAFETY: starts are padded to whole panels.
    let (z0, z1) = unsafe {
        (
            _mm512_loadu_si512(starts.cast()),
            _mm512_loadu_si512(starts.add(16).cast()),
        )
    };
    let (mut acc0, mut acc1) = ([z0; R], [z1; R]);
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kw {
        // SAFETY: `ap` and `bp` step through A's and B's kw rows (B's whole).
        unsafe {
            let b0 = _mm512_loadu_si512(bp.cast());
            let b1 = _mm512_loadu_si512(bp.add(16).cast());
            for r in 0..R {
                let av = _mm512_set1_epi32(*ap.add(r * lda) as i32);
                acc0[r] = _mm512_dpbusd_epi32(acc0[r], av, b0);
                acc1[r] = _mm512_dpbusd_epi32(acc1[r], av, b1);
            }
            ap = ap.add(1);
            bp = bp.add(NR);
        }
    }
    // SAFETY: scales and bias are padded to whole panels; the residual and
    // C are touched over the masked columns only.
    unsafe {
        let (s0, s1) = (_mm512_loadu_ps(scales), _mm512_loadu_ps(scales.add(16)));
        let (bias0, bias1) = if bias.is_null() {
            (_mm512_setzero_ps(), _mm512_setzero_ps())
        } else {
            (_mm512_loadu_ps(bias), _mm512_loadu_ps(bias.add(16)))
        };
        for r in 0..R {
            let sa = _mm512_set1_ps(*a_scales.add(r));
            let v0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc0[r]), _mm512_mul_ps(sa, s0), bias0);
            let v1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc1[r]), _mm512_mul_ps(sa, s1), bias1);
            finish_row(v0, v1, finish, r, (c, ldc), (m0, m1));
        }
    }
}

/// The int8 product over `panels` in quads; see
/// [`crate::block::block_int8`].
///
/// # Safety
/// The CPU has AVX-512F, AVX-512BW and AVX512-VNNI, `b.packing` is quads
/// with `b.starts` not null, and the contract of
/// [`crate::portable::block_int8`] holds.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn block_int8(
    m: usize,
    a: QuantRows,
    b: QuantPanels,
    panels: Range<usize>,
    c: Out,
    finish: Finish,
) {
    for p in panels {
        let c0 = p * NR;
        let width = NR.min(b.n - c0);
        let masks = (mask(width), mask(width.saturating_sub(16)));
        // SAFETY: offsets inside the regions the caller vouches for.
        unsafe {
            let bias = if b.bias.is_null() {
                b.bias
            } else {
                b.bias.add(c0)
            };
            let cols = (b.starts.add(c0), b.scales.add(c0), bias);
            let bp = b.words.add(p * b.kw * NR);
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(MR);
                let ar = (a.words.add(i * a.kw), a.kw, a.scales.add(i));
                let cr = (c.ptr.add(i * c.ld + c0), c.ld);
                let fin = finish.at(i, c0);
                let kw = b.kw;
                by_rows!(rows, tile(kw, ar, bp, cols, cr, masks, fin));
                i += rows;
            }
        }
    }
}
