//! AVX-512F (x86-64): one register-tiled micro-kernel (R <= 12 rows x 32
//! columns, two 16-lane accumulators per row) serving every product, and
//! the vector exp, GELU, softmax and LayerNorm rows.
//!
//! Every function here needs AVX-512F; `block.rs`, `gemm.rs` and `rows.rs`
//! call them only when [`crate::Isa`] says the CPU has it.

use std::arch::x86_64::*;
use std::ops::Range;

use crate::tile::{Finish, Lhs, Out, Panels, KC, MR, NR};

/// The lanes of the first `width` columns of a 16-lane vector.
#[inline(always)]
pub(crate) fn mask(width: usize) -> __mmask16 {
    if width >= 16 {
        0xffff
    } else {
        ((1u32 << width) - 1) as __mmask16
    }
}

/// exp(x) for a vector: Cephes' expf (range reduction by ln 2, degree-6
/// polynomial, scaling by 2^n); within 2 ulp, 0 for very negative x.
#[inline]
#[target_feature(enable = "avx512f")]
pub(crate) fn exp(x: __m512) -> __m512 {
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-104.0)),
        _mm512_set1_ps(88.376_26),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm512_set1_ps(1.987_569_1e-4);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.398_199_9e-3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.333_452e-3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.166_579_6e-2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.666_666_5e-1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5));
    let r2 = _mm512_mul_ps(r, r);
    let y = _mm512_add_ps(_mm512_fmadd_ps(p, r2, r), _mm512_set1_ps(1.0));
    _mm512_scalef_ps(y, n)
}

/// erf(x) (Abramowitz & Stegun, as [`crate::erf`]) and exp(-x^2), which
/// the erf evaluates on the way and GELU's derivative needs.
#[inline]
#[target_feature(enable = "avx512f")]
fn erf_and_gauss(x: __m512) -> (__m512, __m512) {
    let sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN));
    let ax = _mm512_castsi512_ps(_mm512_andnot_si512(
        _mm512_set1_epi32(i32::MIN),
        _mm512_castps_si512(x),
    ));
    let t = _mm512_div_ps(
        _mm512_set1_ps(1.0),
        _mm512_fmadd_ps(_mm512_set1_ps(0.327_591_1), ax, _mm512_set1_ps(1.0)),
    );
    let mut p = _mm512_set1_ps(1.061_405_4);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453_152_1));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421_413_7));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284_496_74));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254_829_6));
    p = _mm512_mul_ps(p, t);
    let e = exp(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(ax, ax)));
    let erf_abs = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0));
    let erf = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(erf_abs), sign));
    (erf, e)
}

/// Exact-erf GELU with the Abramowitz & Stegun erf of [`crate::erf`].
#[inline]
#[target_feature(enable = "avx512f")]
pub(crate) fn gelu(v: __m512) -> __m512 {
    let (erf, _) = erf_and_gauss(_mm512_mul_ps(
        v,
        _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2),
    ));
    _mm512_mul_ps(
        _mm512_mul_ps(_mm512_set1_ps(0.5), v),
        _mm512_add_ps(_mm512_set1_ps(1.0), erf),
    )
}

/// `g = gelu(u)`, element by element (equal lengths).
#[target_feature(enable = "avx512f")]
pub(crate) fn gelu_rows(u: &[f32], g: &mut [f32]) {
    let mut i = 0;
    while i < u.len() {
        store(g, i, gelu(load(u, i)));
        i += 16;
    }
}

/// `du = dg * gelu'(u)`, where gelu'(u) = Phi(u) + u phi(u) (equal lengths).
#[target_feature(enable = "avx512f")]
pub(crate) fn gelu_backward_rows(u: &[f32], dg: &[f32], du: &mut [f32]) {
    let half = _mm512_set1_ps(0.5);
    // 1 / sqrt(2 pi): phi(u) = exp(-u^2 / 2) / sqrt(2 pi).
    let inv_sqrt_2pi = _mm512_set1_ps(0.398_942_3);
    let mut i = 0;
    while i < u.len() {
        let v = load(u, i);
        let x = _mm512_mul_ps(v, _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
        let (erf, gauss) = erf_and_gauss(x);
        let cdf = _mm512_mul_ps(half, _mm512_add_ps(_mm512_set1_ps(1.0), erf));
        let slope = _mm512_fmadd_ps(_mm512_mul_ps(v, gauss), inv_sqrt_2pi, cdf);
        store(du, i, _mm512_mul_ps(load(dg, i), slope));
        i += 16;
    }
}

/// Where a tile's sums start.
#[derive(Clone, Copy)]
enum Start {
    Zero,
    /// One value per column (the tile's first column at the pointer).
    Bias(*const f32),
    /// The tile's current contents of C (a later pass over k).
    Load,
}

/// One tile's operands. A: element (r, kk) at `a + kk * R + r` when packed
/// (rows interleaved by k, one stream), else at `a + r * lda + kk`. B: row
/// kk of the panel at `b + kk * NR` when whole panels (all NR columns
/// readable, unmasked loads), else at `b + kk * ldb` with columns masked by
/// `m0`/`m1`.
#[derive(Clone, Copy)]
struct Tile {
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    m0: __mmask16,
    m1: __mmask16,
}

/// The micro-kernel: R rows x 32 columns of C = finish(start + A . B),
/// accumulated in registers over all of `t.k` in order.
///
/// # Safety
/// The CPU has AVX-512F; A is readable for R rows x `t.k` in its layout;
/// B rows (all NR values of each when `WHOLE_B`), bias and residual are
/// readable and C writable for R rows over the columns `m0`/`m1` select
/// (masked lanes are never touched).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize, const PACKED_A: bool, const WHOLE_B: bool>(
    t: Tile,
    start: Start,
    finish: Finish,
) {
    let zero = _mm512_setzero_ps();
    let (mut acc0, mut acc1) = ([zero; R], [zero; R]);
    // All loads and stores below stay within the regions the caller vouches
    // for; masked lanes are not accessed.
    match start {
        Start::Zero => {}
        // SAFETY: see above (the bias of the tile's columns).
        Start::Bias(bias) => unsafe {
            acc0 = [_mm512_maskz_loadu_ps(t.m0, bias); R];
            acc1 = [_mm512_maskz_loadu_ps(t.m1, bias.add(16)); R];
        },
        Start::Load => {
            for r in 0..R {
                // SAFETY: see above.
                unsafe {
                    acc0[r] = _mm512_maskz_loadu_ps(t.m0, t.c.add(r * t.ldc));
                    acc1[r] = _mm512_maskz_loadu_ps(t.m1, t.c.add(r * t.ldc + 16));
                }
            }
        }
    }
    let (mut ap, mut bp) = (t.a, t.b);
    for _ in 0..t.k {
        // SAFETY: see above; `ap`, `bp` step through A's and B's k rows.
        unsafe {
            let (b0, b1) = if WHOLE_B {
                (_mm512_loadu_ps(bp), _mm512_loadu_ps(bp.add(16)))
            } else {
                (
                    _mm512_maskz_loadu_ps(t.m0, bp),
                    _mm512_maskz_loadu_ps(t.m1, bp.add(16)),
                )
            };
            for r in 0..R {
                let off = if PACKED_A { r } else { r * t.lda };
                let av = _mm512_set1_ps(*ap.add(off));
                acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
                acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
            }
            bp = bp.add(if WHOLE_B { NR } else { t.ldb });
            ap = ap.add(if PACKED_A { R } else { 1 });
        }
    }
    for r in 0..R {
        // SAFETY: see above.
        unsafe { finish_row(acc0[r], acc1[r], finish, r, (t.c, t.ldc), (t.m0, t.m1)) };
    }
}

/// Row `r` of a 32-column tile (its two halves `v0`, `v1`) finished and
/// stored: the shared last step of every AVX-512 tile.
///
/// # Safety
/// The CPU has AVX-512F; row `r` of C (at `c + r * ldc`) and of the
/// residual are writable (readable) over the columns `m0`/`m1` select.
#[inline]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn finish_row(
    mut v0: __m512,
    mut v1: __m512,
    finish: Finish,
    r: usize,
    (c, ldc): (*mut f32, usize),
    (m0, m1): (__mmask16, __mmask16),
) {
    // SAFETY: as the contract says; masked lanes are not accessed.
    unsafe {
        match finish {
            Finish::Store => {}
            Finish::Gelu => (v0, v1) = (gelu(v0), gelu(v1)),
            Finish::Residual { ptr, ld } => {
                let rp = ptr.add(r * ld);
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, rp));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, rp.add(16)));
            }
        }
        _mm512_mask_storeu_ps(c.add(r * ldc), m0, v0);
        _mm512_mask_storeu_ps(c.add(r * ldc + 16), m1, v1);
    }
}

/// [`tile`] for a run-time row count in 1..=MR, every count expanded inline
/// in the calling driver: blocks end in a short tile (the q-net's 256 rows
/// = 21 x 12 + 4), and a call per short tile measured ~3% slower there.
/// Expands to unsafe calls: the caller's `unsafe` block carries the
/// contract of [`tile`] with R = `$rows`.
macro_rules! tile_rows {
    ($rows:expr, $packed:literal, $whole:literal, $t:expr, $start:expr, $finish:expr) => {
        match $rows {
            12 => tile::<12, $packed, $whole>($t, $start, $finish),
            11 => tile::<11, $packed, $whole>($t, $start, $finish),
            10 => tile::<10, $packed, $whole>($t, $start, $finish),
            9 => tile::<9, $packed, $whole>($t, $start, $finish),
            8 => tile::<8, $packed, $whole>($t, $start, $finish),
            7 => tile::<7, $packed, $whole>($t, $start, $finish),
            6 => tile::<6, $packed, $whole>($t, $start, $finish),
            5 => tile::<5, $packed, $whole>($t, $start, $finish),
            4 => tile::<4, $packed, $whole>($t, $start, $finish),
            3 => tile::<3, $packed, $whole>($t, $start, $finish),
            2 => tile::<2, $packed, $whole>($t, $start, $finish),
            _ => tile::<1, $packed, $whole>($t, $start, $finish),
        }
    };
}

/// The two lane masks of a panel `width` columns wide.
#[inline(always)]
fn panel_masks(width: usize) -> (__mmask16, __mmask16) {
    (mask(width), mask(width.saturating_sub(16)))
}

/// `c[0..m, panels] = finish(bias + a . b)` with A read in place (rows at
/// stride `a.ld`), all of k per tile; see [`crate::block::block`].
///
/// # Safety
/// The CPU has AVX-512F, and the contract of [`crate::block::block`].
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn block(
    m: usize,
    a: Lhs,
    b: Panels,
    panels: Range<usize>,
    c: Out,
    finish: Finish,
) {
    for p in panels {
        let c0 = p * NR;
        let (m0, m1) = panel_masks(NR.min(b.n - c0));
        // SAFETY: offsets inside the regions the caller vouches for (the
        // bias and residual columns of panel p, rows i.. of A, C, residual).
        unsafe {
            let start = if b.bias.is_null() {
                Start::Zero
            } else {
                Start::Bias(b.bias.add(c0))
            };
            let bp = b.ptr.add(p * b.panel_stride);
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
                    tile_rows!(rows, false, true, t, start, fin);
                } else {
                    tile_rows!(rows, false, false, t, start, fin);
                }
                i += rows;
            }
        }
    }
}

/// `c (m x n, row-major) = a . b` for the q-net scorer: `a` re-laid in row
/// groups of MR interleaved by k (`gemm::pack_rows`), `b` contiguous
/// zero-padded panels (`k` x NR each). k runs in chunks of KC; within one,
/// panel by panel, so a KC x 32 slice of a B panel stays in L1 while every
/// row group passes over it; C holds the partial sums between chunks
/// (stored and reloaded exactly, so each row's sums are the same whatever
/// the block).
///
/// # Safety
/// The CPU has AVX-512F; `a` holds m * k values, `b` n.div_ceil(NR) * k *
/// NR, `c` is writable for m * n and overlaps neither.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn matmul_packed(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
) {
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        let start = if k0 > 0 { Start::Load } else { Start::Zero };
        for p in 0..n.div_ceil(NR) {
            let (m0, m1) = panel_masks((n - p * NR).min(NR));
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(MR);
                // SAFETY: row group i..i+rows starts at a + i * k and is
                // interleaved by k, so its chunk k0.. starts k0 * rows
                // further; panel p's chunk at (p * k + k0) * NR; all inside
                // the sizes the caller vouches for.
                unsafe {
                    let t = Tile {
                        k: kc,
                        a: a.add(i * k + k0 * rows),
                        lda: 0,
                        b: b.add((p * k + k0) * NR),
                        ldb: NR,
                        c: c.add(i * n + p * NR),
                        ldc: n,
                        m0,
                        m1,
                    };
                    tile_rows!(rows, true, true, t, start, Finish::Store);
                }
                i += rows;
            }
        }
    }
}

/// `s[i..]`, up to 16 lanes (fewer at the end of the slice).
#[inline]
#[target_feature(enable = "avx512f")]
fn load(s: &[f32], i: usize) -> __m512 {
    let w = (s.len() - i).min(16);
    // SAFETY: `i < s.len()` (the subtraction above would overflow
    // otherwise) and the mask covers only the `w` values left.
    unsafe { _mm512_maskz_loadu_ps(mask(w), s.as_ptr().add(i)) }
}

/// Stores the lanes of `v` that fall inside `s[i..]`.
#[inline]
#[target_feature(enable = "avx512f")]
fn store(s: &mut [f32], i: usize, v: __m512) {
    let w = (s.len() - i).min(16);
    // SAFETY: as in `load`.
    unsafe { _mm512_mask_storeu_ps(s.as_mut_ptr().add(i), mask(w), v) }
}

/// In-place softmax of one row.
#[target_feature(enable = "avx512f")]
pub(crate) fn softmax_row(row: &mut [f32]) {
    let n = row.len();
    let mut mx = _mm512_set1_ps(f32::NEG_INFINITY);
    let mut i = 0;
    while i < n {
        let w = (n - i).min(16);
        mx = _mm512_mask_max_ps(mx, mask(w), mx, load(row, i));
        i += 16;
    }
    let mx = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    let mut sum = _mm512_setzero_ps();
    i = 0;
    while i < n {
        let w = (n - i).min(16);
        let e = exp(_mm512_sub_ps(load(row, i), mx));
        sum = _mm512_mask_add_ps(sum, mask(w), sum, e);
        store(row, i, e);
        i += 16;
    }
    let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(sum));
    i = 0;
    while i < n {
        store(row, i, _mm512_mul_ps(load(row, i), inv));
        i += 16;
    }
}

/// `dst = (src - mean) / sqrt(var + eps) * gamma + beta` over one row; all
/// four slices have the same length (the caller asserts it).
#[target_feature(enable = "avx512f")]
pub(crate) fn layer_norm_row(src: &[f32], dst: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let h = src.len();
    let mut sum = _mm512_setzero_ps();
    let mut i = 0;
    while i < h {
        sum = _mm512_add_ps(sum, load(src, i));
        i += 16;
    }
    let mean = _mm512_reduce_add_ps(sum) / h as f32;
    let mv = _mm512_set1_ps(mean);
    let mut sq = _mm512_setzero_ps();
    i = 0;
    while i < h {
        let w = (h - i).min(16);
        let d = _mm512_maskz_sub_ps(mask(w), load(src, i), mv);
        sq = _mm512_fmadd_ps(d, d, sq);
        i += 16;
    }
    let var = _mm512_reduce_add_ps(sq) / h as f32;
    let rstd = _mm512_set1_ps(1.0 / (var + eps).sqrt());
    i = 0;
    while i < h {
        let d = _mm512_mul_ps(_mm512_sub_ps(load(src, i), mv), rstd);
        store(dst, i, _mm512_fmadd_ps(d, load(gamma, i), load(beta, i)));
        i += 16;
    }
}

/// [`crate::sweep`]'s row sweep of a q-net layer, compiled for AVX-512 (the
/// body is safe scalar code the compiler vectorises with wider registers).
#[target_feature(enable = "avx512f")]
pub(crate) fn row_epilogue(
    y: &mut [f32],
    n: usize,
    width: usize,
    e: &mut crate::sweep::RowEpilogue<'_>,
) {
    crate::sweep::row_epilogue_body(y, n, width, e)
}

/// [`crate::dots`] compiled for AVX-512.
#[target_feature(enable = "avx512f")]
pub(crate) fn dots(docs: &[f32], n: usize, dim: usize, queries: &[f32], out: &mut [f32]) {
    crate::sweep::dots_body(docs, n, dim, queries, out)
}

/// [`crate::dots_at`] on AVX-512: the sweep's walk over the rows with this
/// dot product.
#[target_feature(enable = "avx512f")]
pub(crate) fn dots_at(table: &[f32], dim: usize, rows: &[u32], query: &[f32], out: &mut [f32]) {
    crate::sweep::dots_at_body(table, dim, rows, query, out, |a, b| dot(a, b))
}

/// One dot product with four independent FMA chains and a masked tail: a
/// graph walk scores one row at a time, so the latency of a single chain
/// and a scalar reduction would be most of its cost.
#[target_feature(enable = "avx512f")]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            *s = _mm512_fmadd_ps(load(a, i + 16 * j), load(b, i + 16 * j), *s);
        }
        i += 64;
    }
    while i < n {
        let w = (n - i).min(16);
        let prod = _mm512_maskz_mul_ps(mask(w), load(a, i), load(b, i));
        acc[0] = _mm512_add_ps(acc[0], prod);
        i += 16;
    }
    let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(sum)
}
