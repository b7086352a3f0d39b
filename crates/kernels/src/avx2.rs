//! AVX2 with FMA (x86-64): the operations of `avx512.rs` on 8-lane
//! registers, for x86-64 CPUs without AVX-512 (AMD before Zen 4, Intel's
//! client cores since Alder Lake), which otherwise ran the portable scalar
//! loops. A register-tiled micro-kernel (R <= 6 rows x 16 columns, two
//! 8-lane accumulators per row: 12 accumulators, 2 B registers and the A
//! broadcast fill the 16 registers), so a 32-column panel is done in two
//! halves; the vector exp, GELU, softmax and LayerNorm rows; and the row
//! sweeps of `sweep.rs` compiled for 256-bit registers with FMA.
//!
//! Every function here needs AVX2 and FMA; `block.rs` and `rows.rs` call
//! them only when [`crate::Isa`] says the CPU has both.

use std::arch::x86_64::*;
use std::ops::Range;

use crate::int8::QMAX;
use crate::tile::{Finish, Lhs, Out, Panels, QuantPanels, QuantRows, NR};

/// Rows per register tile.
const MR: usize = 6;
/// Columns per tile: half a panel.
const HALF: usize = 16;

/// The lanes of the first `width` of 8 (sign bit set), as `maskload` and
/// `maskstore` take them; masked-off lanes are never touched.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn mask(width: usize) -> __m256i {
    let w = width.min(8) as i32;
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(w),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// Sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// Largest of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hmax(v: __m256) -> f32 {
    let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)))
}

/// `s[i..]`, up to 8 lanes (zeros past the end of the slice).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn load(s: &[f32], i: usize) -> __m256 {
    let w = s.len() - i;
    if w >= 8 {
        // SAFETY: s[i..i + 8] is in bounds.
        unsafe { _mm256_loadu_ps(s.as_ptr().add(i)) }
    } else {
        // SAFETY: `i <= s.len()` (the subtraction above would overflow
        // otherwise) and the mask covers only the `w` values left.
        unsafe { _mm256_maskload_ps(s.as_ptr().add(i), mask(w)) }
    }
}

/// Stores the lanes of `v` that fall inside `s[i..]`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn store(s: &mut [f32], i: usize, v: __m256) {
    let w = s.len() - i;
    if w >= 8 {
        // SAFETY: s[i..i + 8] is in bounds.
        unsafe { _mm256_storeu_ps(s.as_mut_ptr().add(i), v) }
    } else {
        // SAFETY: as in `load`.
        unsafe { _mm256_maskstore_ps(s.as_mut_ptr().add(i), mask(w), v) }
    }
}

/// exp(x) for a vector: the same Cephes expf as `avx512.rs` (range
/// reduction by ln 2, degree-6 polynomial), with 2^n built in the exponent
/// bits (AVX2 has no `scalef`): x is clamped to [-88.7, 88.0], so n stays
/// in [-128, 127] and n = -128 or below gives 0.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn exp(x: __m256) -> __m256 {
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(-88.7)),
        _mm256_set1_ps(88.0),
    );
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_199_9e-3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_452e-3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_6e-2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.666_666_5e-1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5));
    let r2 = _mm256_mul_ps(r, r);
    let y = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0));
    // 2^n: (n + 127) in the exponent field; n + 127 <= 0 means 0.
    let e = _mm256_max_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
        _mm256_setzero_si256(),
    );
    _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32::<23>(e)))
}

/// erf(x) (Abramowitz & Stegun, as [`crate::erf`]) and exp(-x^2).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn erf_and_gauss(x: __m256) -> (__m256, __m256) {
    let sign_bit = _mm256_set1_ps(-0.0);
    let sign = _mm256_and_ps(x, sign_bit);
    let ax = _mm256_andnot_ps(sign_bit, x);
    let t = _mm256_div_ps(
        _mm256_set1_ps(1.0),
        _mm256_fmadd_ps(_mm256_set1_ps(0.327_591_1), ax, _mm256_set1_ps(1.0)),
    );
    let mut p = _mm256_set1_ps(1.061_405_4);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453_152_1));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421_413_7));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284_496_74));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254_829_6));
    p = _mm256_mul_ps(p, t);
    let e = exp(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(ax, ax)));
    let erf_abs = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0));
    (_mm256_or_ps(erf_abs, sign), e)
}

/// Exact-erf GELU with the Abramowitz & Stegun erf of [`crate::erf`].
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn gelu(v: __m256) -> __m256 {
    let (erf, _) = erf_and_gauss(_mm256_mul_ps(
        v,
        _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2),
    ));
    _mm256_mul_ps(
        _mm256_mul_ps(_mm256_set1_ps(0.5), v),
        _mm256_add_ps(_mm256_set1_ps(1.0), erf),
    )
}

/// `g = gelu(u)`, element by element (equal lengths).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn gelu_rows(u: &[f32], g: &mut [f32]) {
    let mut i = 0;
    while i < u.len() {
        store(g, i, gelu(load(u, i)));
        i += 8;
    }
}

/// `du = dg * gelu'(u)`, where gelu'(u) = Phi(u) + u phi(u) (equal lengths).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn gelu_backward_rows(u: &[f32], dg: &[f32], du: &mut [f32]) {
    let half = _mm256_set1_ps(0.5);
    let inv_sqrt_2pi = _mm256_set1_ps(0.398_942_3);
    let mut i = 0;
    while i < u.len() {
        let v = load(u, i);
        let x = _mm256_mul_ps(v, _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
        let (erf, gauss) = erf_and_gauss(x);
        let cdf = _mm256_mul_ps(half, _mm256_add_ps(_mm256_set1_ps(1.0), erf));
        let slope = _mm256_fmadd_ps(_mm256_mul_ps(v, gauss), inv_sqrt_2pi, cdf);
        store(du, i, _mm256_mul_ps(load(dg, i), slope));
        i += 8;
    }
}

/// One tile's operands: A row r at `a + r * lda`; B row kk at
/// `b + kk * ldb`, all 16 columns readable when `WHOLE_B` (zero-padded
/// panels), else masked by `m0`/`m1`; C row r at `c + r * ldc`.
#[derive(Clone, Copy)]
struct Tile {
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    m0: __m256i,
    m1: __m256i,
}

/// R rows x 16 columns of C = finish(bias + A . B), over all of `t.k` in
/// order (`bias` null: from zero).
///
/// # Safety
/// The CPU has AVX2 and FMA; A is readable for R rows x `t.k`; B rows (all
/// 16 values of each when `WHOLE_B`), the bias and the residual are
/// readable and C writable for R rows over the columns `m0`/`m1` select.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const R: usize, const WHOLE_B: bool>(t: Tile, bias: *const f32, finish: Finish) {
    let mut acc0 = [_mm256_setzero_ps(); R];
    let mut acc1 = [_mm256_setzero_ps(); R];
    // Every access below stays in the regions the caller vouches for;
    // masked lanes are not accessed.
    if !bias.is_null() {
        // SAFETY: see above.
        unsafe {
            acc0 = [_mm256_maskload_ps(bias, t.m0); R];
            acc1 = [_mm256_maskload_ps(bias.add(8), t.m1); R];
        }
    }
    let (mut ap, mut bp) = (t.a, t.b);
    for _ in 0..t.k {
        // SAFETY: see above; `ap` and `bp` step through A's and B's k rows.
        unsafe {
            let (b0, b1) = if WHOLE_B {
                (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8)))
            } else {
                (
                    _mm256_maskload_ps(bp, t.m0),
                    _mm256_maskload_ps(bp.add(8), t.m1),
                )
            };
            for r in 0..R {
                let av = _mm256_broadcast_ss(&*ap.add(r * t.lda));
                acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
                acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
            }
            ap = ap.add(1);
            bp = bp.add(t.ldb);
        }
    }
    for r in 0..R {
        let (mut v0, mut v1) = (acc0[r], acc1[r]);
        // SAFETY: see above.
        unsafe {
            match finish {
                Finish::Store => {}
                Finish::Gelu => (v0, v1) = (gelu(v0), gelu(v1)),
                Finish::Residual { ptr, ld } => {
                    let rp = ptr.add(r * ld);
                    v0 = _mm256_add_ps(v0, _mm256_maskload_ps(rp, t.m0));
                    v1 = _mm256_add_ps(v1, _mm256_maskload_ps(rp.add(8), t.m1));
                }
            }
            _mm256_maskstore_ps(t.c.add(r * t.ldc), t.m0, v0);
            _mm256_maskstore_ps(t.c.add(r * t.ldc + 8), t.m1, v1);
        }
    }
}

/// [`tile`] for a run-time row count in 1..=MR.
macro_rules! tile_rows {
    ($rows:expr, $whole:literal, $t:expr, $bias:expr, $finish:expr) => {
        match $rows {
            6 => tile::<6, $whole>($t, $bias, $finish),
            5 => tile::<5, $whole>($t, $bias, $finish),
            4 => tile::<4, $whole>($t, $bias, $finish),
            3 => tile::<3, $whole>($t, $bias, $finish),
            2 => tile::<2, $whole>($t, $bias, $finish),
            _ => tile::<1, $whole>($t, $bias, $finish),
        }
    };
}

/// `c[0..m, panels] = finish(bias + a . b)` with A read in place, all of k
/// per tile, each panel in two 16-column halves; see
/// [`crate::block::block`].
///
/// # Safety
/// The CPU has AVX2 and FMA, and the contract of [`crate::block::block`].
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn block(
    m: usize,
    a: Lhs,
    b: Panels,
    panels: Range<usize>,
    c: Out,
    finish: Finish,
) {
    for p in panels {
        let width = NR.min(b.n - p * NR);
        for h0 in (0..width).step_by(HALF) {
            let c0 = p * NR + h0;
            let wh = (width - h0).min(HALF);
            let (m0, m1) = (mask(wh), mask(wh.saturating_sub(8)));
            // SAFETY: offsets inside the regions the caller vouches for (the
            // bias and residual columns of this half panel, rows i.. of A,
            // C and the residual); with `ldb == NR` both halves of every
            // panel row are readable (zero padding).
            unsafe {
                let bias = if b.bias.is_null() {
                    b.bias
                } else {
                    b.bias.add(c0)
                };
                let bp = b.ptr.add(p * b.panel_stride + h0);
                let mut i = 0;
                while i < m {
                    let rows = (m - i).min(MR);
                    let t = Tile {
                        k: a.k,
                        a: a.ptr.add(i * a.ld),
                        lda: a.ld,
                        b: bp,
                        ldb: b.ldb,
                        c: c.ptr.add(i * c.ld + c0),
                        ldc: c.ld,
                        m0,
                        m1,
                    };
                    let fin = finish.at(i, c0);
                    if b.ldb == NR {
                        tile_rows!(rows, true, t, bias, fin);
                    } else {
                        tile_rows!(rows, false, t, bias, fin);
                    }
                    i += rows;
                }
            }
        }
    }
}

/// `row` quantised into `words` as [`crate::int8::quantize_row`] does it
/// (the same integers: `vcvtps2dq` rounds to nearest even); returns the
/// scale.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn quantize_row(row: &[f32], words: &mut [u32]) -> f32 {
    let k = row.len();
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
    let mut mx = _mm256_setzero_ps();
    let mut i = 0;
    while i < k {
        mx = _mm256_max_ps(mx, _mm256_and_ps(load(row, i), abs));
        i += 8;
    }
    let max = hmax(mx);
    if max == 0.0 || !max.is_finite() {
        return crate::int8::quantize_row(row, words);
    }
    let inv = _mm256_set1_ps(QMAX / max);
    i = 0;
    while i + 16 <= k {
        let lo = _mm256_cvtps_epi32(_mm256_mul_ps(load(row, i), inv));
        let hi = _mm256_cvtps_epi32(_mm256_mul_ps(load(row, i + 8), inv));
        // packs interleaves the 128-bit lanes (lo0 hi0 lo1 hi1): put them
        // back in order.
        let packed = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(lo, hi));
        // SAFETY: words[i / 2..i / 2 + 8] is in bounds (i + 16 <= k).
        unsafe { _mm256_storeu_si256(words.as_mut_ptr().add(i / 2).cast(), packed) };
        i += 16;
    }
    crate::int8::quantize_words_from(row, max, i / 2, words);
    max / QMAX
}

/// R rows x 16 columns of the int8 product: 32-bit integer sums of word
/// products (`vpmaddwd`), then finish(sum x row scale x column scale +
/// bias) in f32.
///
/// # Safety
/// The CPU has AVX2 and FMA; A's R rows hold `kp` words (at `a`, stride
/// `lda`) and their scales; B's `kp` panel rows (stride NR words) are
/// whole; scales (and the bias, unless null) cover the masked columns; C
/// (and the residual) are writable (readable) over them.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)] // one tile's raw operands, kept flat for the hot loop
unsafe fn tile_int8<const R: usize>(
    kp: usize,
    (a, lda, a_scales): (*const u32, usize, *const f32),
    b: *const u32,
    (scales, bias): (*const f32, *const f32),
    (c, ldc): (*mut f32, usize),
    (m0, m1): (__m256i, __m256i),
    finish: Finish,
) {
    let mut acc0 = [_mm256_setzero_si256(); R];
    let mut acc1 = [_mm256_setzero_si256(); R];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kp {
        // SAFETY: `ap` and `bp` step through A's and B's kp rows (B's whole).
        unsafe {
            let b0 = _mm256_loadu_si256(bp.cast());
            let b1 = _mm256_loadu_si256(bp.add(8).cast());
            for r in 0..R {
                let av = _mm256_set1_epi32(*ap.add(r * lda) as i32);
                acc0[r] = _mm256_add_epi32(acc0[r], _mm256_madd_epi16(av, b0));
                acc1[r] = _mm256_add_epi32(acc1[r], _mm256_madd_epi16(av, b1));
            }
            ap = ap.add(1);
            bp = bp.add(NR);
        }
    }
    // SAFETY: the scales, bias, residual and C over the masked columns.
    unsafe {
        let (s0, s1) = (
            _mm256_maskload_ps(scales, m0),
            _mm256_maskload_ps(scales.add(8), m1),
        );
        let (bias0, bias1) = if bias.is_null() {
            (_mm256_setzero_ps(), _mm256_setzero_ps())
        } else {
            (
                _mm256_maskload_ps(bias, m0),
                _mm256_maskload_ps(bias.add(8), m1),
            )
        };
        for r in 0..R {
            let sa = _mm256_set1_ps(*a_scales.add(r));
            let mut v0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc0[r]), _mm256_mul_ps(sa, s0), bias0);
            let mut v1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc1[r]), _mm256_mul_ps(sa, s1), bias1);
            match finish {
                Finish::Store => {}
                Finish::Gelu => (v0, v1) = (gelu(v0), gelu(v1)),
                Finish::Residual { ptr, ld } => {
                    let rp = ptr.add(r * ld);
                    v0 = _mm256_add_ps(v0, _mm256_maskload_ps(rp, m0));
                    v1 = _mm256_add_ps(v1, _mm256_maskload_ps(rp.add(8), m1));
                }
            }
            _mm256_maskstore_ps(c.add(r * ldc), m0, v0);
            _mm256_maskstore_ps(c.add(r * ldc + 8), m1, v1);
        }
    }
}

/// The int8 product over `panels` in pairs ([`crate::int8::Packing::Pairs`]),
/// each panel in two 16-column halves; see [`crate::block::block_int8`].
///
/// # Safety
/// The CPU has AVX2 and FMA, and the contract of
/// [`crate::portable::block_int8`].
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn block_int8(
    m: usize,
    a: QuantRows,
    b: QuantPanels,
    panels: Range<usize>,
    c: Out,
    finish: Finish,
) {
    for p in panels {
        let width = NR.min(b.n - p * NR);
        for h0 in (0..width).step_by(HALF) {
            let c0 = p * NR + h0;
            let wh = (width - h0).min(HALF);
            let masks = (mask(wh), mask(wh.saturating_sub(8)));
            // SAFETY: offsets inside the regions the caller vouches for.
            unsafe {
                let bias = if b.bias.is_null() {
                    b.bias
                } else {
                    b.bias.add(c0)
                };
                let bp = b.words.add(p * b.kw * NR + h0);
                let mut i = 0;
                while i < m {
                    let rows = (m - i).min(MR);
                    let ar = (a.words.add(i * a.kw), a.kw, a.scales.add(i));
                    let cr = (c.ptr.add(i * c.ld + c0), c.ld);
                    let sb = (b.scales.add(c0), bias);
                    let fin = finish.at(i, c0);
                    let kp = b.kw;
                    match rows {
                        6 => tile_int8::<6>(kp, ar, bp, sb, cr, masks, fin),
                        5 => tile_int8::<5>(kp, ar, bp, sb, cr, masks, fin),
                        4 => tile_int8::<4>(kp, ar, bp, sb, cr, masks, fin),
                        3 => tile_int8::<3>(kp, ar, bp, sb, cr, masks, fin),
                        2 => tile_int8::<2>(kp, ar, bp, sb, cr, masks, fin),
                        _ => tile_int8::<1>(kp, ar, bp, sb, cr, masks, fin),
                    }
                    i += rows;
                }
            }
        }
    }
}

/// In-place softmax of one row.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn softmax_row(row: &mut [f32]) {
    let n = row.len();
    let mut mx = _mm256_set1_ps(f32::NEG_INFINITY);
    let mut i = 0;
    while i + 8 <= n {
        mx = _mm256_max_ps(mx, load(row, i));
        i += 8;
    }
    let mut top = hmax(mx);
    for &v in &row[i..] {
        top = top.max(v);
    }
    let mx = _mm256_set1_ps(top);
    let mut sum = _mm256_setzero_ps();
    i = 0;
    while i < n {
        let w = (n - i).min(8);
        let e = _mm256_and_ps(
            exp(_mm256_sub_ps(load(row, i), mx)),
            _mm256_castsi256_ps(mask(w)),
        );
        sum = _mm256_add_ps(sum, e);
        store(row, i, e);
        i += 8;
    }
    let inv = _mm256_set1_ps(1.0 / hsum(sum));
    i = 0;
    while i < n {
        store(row, i, _mm256_mul_ps(load(row, i), inv));
        i += 8;
    }
}

/// `dst = (src - mean) / sqrt(var + eps) * gamma + beta` over one row; all
/// four slices have the same length (the caller asserts it).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn layer_norm_row(src: &[f32], dst: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let h = src.len();
    let mut sum = _mm256_setzero_ps();
    let mut i = 0;
    while i < h {
        sum = _mm256_add_ps(sum, load(src, i));
        i += 8;
    }
    let mean = hsum(sum) / h as f32;
    let mv = _mm256_set1_ps(mean);
    let mut sq = _mm256_setzero_ps();
    i = 0;
    while i < h {
        let w = (h - i).min(8);
        let d = _mm256_and_ps(
            _mm256_sub_ps(load(src, i), mv),
            _mm256_castsi256_ps(mask(w)),
        );
        sq = _mm256_fmadd_ps(d, d, sq);
        i += 8;
    }
    let var = hsum(sq) / h as f32;
    let rstd = _mm256_set1_ps(1.0 / (var + eps).sqrt());
    i = 0;
    while i < h {
        let d = _mm256_mul_ps(_mm256_sub_ps(load(src, i), mv), rstd);
        store(dst, i, _mm256_fmadd_ps(d, load(gamma, i), load(beta, i)));
        i += 8;
    }
}

/// [`crate::sweep`]'s row sweep of a q-net layer, compiled for AVX2 (safe
/// scalar code the compiler vectorises with 256-bit registers).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn row_epilogue(
    y: &mut [f32],
    n: usize,
    width: usize,
    e: &mut crate::sweep::RowEpilogue<'_>,
) {
    crate::sweep::row_epilogue_body(y, n, width, e)
}

/// [`crate::dots`] compiled for AVX2.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn dots(docs: &[f32], n: usize, dim: usize, queries: &[f32], out: &mut [f32]) {
    crate::sweep::dots_body(docs, n, dim, queries, out)
}

/// [`crate::dots_at`] on AVX2: the sweep's walk over the rows with this
/// dot product.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn dots_at(table: &[f32], dim: usize, rows: &[u32], query: &[f32], out: &mut [f32]) {
    crate::sweep::dots_at_body(table, dim, rows, query, out, |a, b| dot(a, b))
}

/// One dot product with four independent FMA chains and a masked tail (a
/// graph walk scores one row at a time: one chain's latency would be most
/// of its cost).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            *s = _mm256_fmadd_ps(load(a, i + 8 * j), load(b, i + 8 * j), *s);
        }
        i += 32;
    }
    while i < n {
        // Past the end both loads read zeros, so the products there are 0.
        acc[0] = _mm256_fmadd_ps(load(a, i), load(b, i), acc[0]);
        i += 8;
    }
    hsum(_mm256_add_ps(
        _mm256_add_ps(acc[0], acc[1]),
        _mm256_add_ps(acc[2], acc[3]),
    ))
}

/// [`crate::dot_codes`]: 32 codes per step as |a| x (b with a's sign)
/// (`vpmaddubsw`: pairs summed into i16, which codes within +-127 cannot
/// overflow), widened to i32 pairs with `vpmaddwd` by ones.
#[target_feature(enable = "avx2")]
pub(crate) fn dot_codes(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_si256(); 2];
    let mut i = 0;
    while i + 64 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            // SAFETY: i + 32 (j + 1) <= n, inside both slices.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(a.as_ptr().add(i + 32 * j).cast()),
                    _mm256_loadu_si256(b.as_ptr().add(i + 32 * j).cast()),
                )
            };
            let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
            *s = _mm256_add_epi32(*s, _mm256_madd_epi16(pairs, ones));
        }
        i += 64;
    }
    while i + 32 <= n {
        // SAFETY: i + 32 <= n, inside both slices.
        let (x, y) = unsafe {
            (
                _mm256_loadu_si256(a.as_ptr().add(i).cast()),
                _mm256_loadu_si256(b.as_ptr().add(i).cast()),
            )
        };
        let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(pairs, ones));
        i += 32;
    }
    let v = _mm256_add_epi32(acc[0], acc[1]);
    let v = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b01_00_11_10>(v));
    let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b10_11_00_01>(v));
    _mm_cvtsi128_si32(v) + crate::codes::dot_codes_portable(&a[i..n], &b[i..n])
}
