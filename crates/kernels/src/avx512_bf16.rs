//! AVX512_BF16 (x86-64): the bf16 products' micro-kernels, R <= 12 rows x
//! 32 columns with two 16-lane f32 accumulators per row, each step one
//! `vdpbf16ps` (two multiply-adds per lane) per accumulator: the q-net's
//! (k in chunks, C reloaded between them) and the encoder's (from the
//! bias, all of k, then a finish). Operands as `bf16_pack.rs` lays them
//! out.
//!
//! Every function here needs AVX-512F and AVX512_BF16; `bf16.rs` calls
//! them only when [`crate::Isa`] says the CPU has both.

use std::arch::x86_64::*;
use std::ops::Range;

use crate::avx512::{finish_row, mask};
use crate::bf16_pack::{pack_row_from, KCP};
use crate::tile::by_rows;
use crate::tile::{Bf16Panels, Finish, Out, MR, NR};

/// R rows x 32 columns of C = (C if `load` else 0) + A . B over `kp` k
/// pairs: A word (r, q) at `a + r * lda + q`, B panel row q at
/// `b + q * NR` (NR words), C row r at `c + r * ldc`, columns masked by
/// `m0`/`m1`.
///
/// # Safety
/// The CPU has AVX-512F and AVX512_BF16; A's R rows are readable for `kp`
/// words each,
/// B for `kp * NR`, C readable (with `load`) and writable for R rows over
/// the masked columns.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
#[allow(clippy::too_many_arguments)] // one tile's raw operands, kept flat for the hot loop
unsafe fn tile<const R: usize>(
    kp: usize,
    (a, lda): (*const u32, usize),
    b: *const u32,
    c: *mut f32,
    ldc: usize,
    m0: __mmask16,
    m1: __mmask16,
    load: bool,
) {
    let zero = _mm512_setzero_ps();
    let (mut acc0, mut acc1) = ([zero; R], [zero; R]);
    if load {
        for r in 0..R {
            // SAFETY: C's rows are readable over the masked columns.
            unsafe {
                acc0[r] = _mm512_maskz_loadu_ps(m0, c.add(r * ldc));
                acc1[r] = _mm512_maskz_loadu_ps(m1, c.add(r * ldc + 16));
            }
        }
    }
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kp {
        // SAFETY: `ap` and `bp` step through A's and B's kp rows; B's panel
        // rows are whole (zero-padded), so unmasked loads stay inside.
        unsafe {
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.cast()));
            let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(16).cast()));
            for r in 0..R {
                let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*ap.add(r * lda) as i32));
                acc0[r] = _mm512_dpbf16_ps(acc0[r], av, b0);
                acc1[r] = _mm512_dpbf16_ps(acc1[r], av, b1);
            }
            ap = ap.add(1);
            bp = bp.add(NR);
        }
    }
    for r in 0..R {
        // SAFETY: C's rows are writable over the masked columns.
        unsafe {
            _mm512_mask_storeu_ps(c.add(r * ldc), m0, acc0[r]);
            _mm512_mask_storeu_ps(c.add(r * ldc + 16), m1, acc1[r]);
        }
    }
}

/// `c (m x n) = a . b` with A as rows of `kp` pair words and B in its bf16
/// panels of `kp` rows; k pairs in chunks of [`KCP`], in order, so a row's
/// sums never depend on the rows around it.
///
/// # Safety
/// The CPU has AVX-512F and AVX512_BF16; `a` holds `m * kp` words, `b`
/// `n.div_ceil(NR) * kp * NR`, `c` is writable for `m * n` values and
/// overlaps neither.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(crate) unsafe fn matmul(
    m: usize,
    kp: usize,
    n: usize,
    a: *const u32,
    b: *const u32,
    c: *mut f32,
) {
    for q0 in (0..kp).step_by(KCP) {
        let qc = KCP.min(kp - q0);
        for p in 0..n.div_ceil(NR) {
            let width = (n - p * NR).min(NR);
            let (m0, m1) = (mask(width), mask(width.saturating_sub(16)));
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(MR);
                // SAFETY: row i's chunk q0.. starts at a + i * kp + q0;
                // panel p's chunk at (p * kp + q0) * NR; C's tile at row i,
                // column p * NR; all inside what the caller vouches for.
                unsafe {
                    let (ap, bp, cp) = (
                        (a.add(i * kp + q0), kp),
                        b.add((p * kp + q0) * NR),
                        c.add(i * n + p * NR),
                    );
                    let load = q0 > 0;
                    by_rows!(rows, tile(qc, ap, bp, cp, n, m0, m1, load));
                }
                i += rows;
            }
        }
    }
}

/// `out` (rows of `k.div_ceil(2)` words) = `a` (rows of `k` f32) rounded to
/// bf16 pairs, 32 values per `vcvtne2ps2bf16` (round to nearest even; an
/// odd k's last word gets a zero high half).
///
/// # Safety
/// The CPU has AVX-512F and AVX512_BF16.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(crate) unsafe fn pack_rows(a: &[f32], k: usize, out: &mut [u32]) {
    let kp = k.div_ceil(2);
    for (row, words) in a
        .chunks_exact(k.max(1))
        .zip(out.chunks_exact_mut(kp.max(1)))
    {
        let mut j = 0;
        while j + 32 <= k {
            // SAFETY: row[j..j + 32] and words[j / 2..j / 2 + 16] are in
            // bounds (j + 32 <= k, and kp >= k / 2).
            unsafe {
                let lo = _mm512_loadu_ps(row.as_ptr().add(j));
                let hi = _mm512_loadu_ps(row.as_ptr().add(j + 16));
                let packed = _mm512_cvtne2ps_pbh(hi, lo);
                _mm512_storeu_si512(
                    words.as_mut_ptr().add(j / 2).cast(),
                    std::mem::transmute::<__m512bh, __m512i>(packed),
                );
            }
            j += 32;
        }
        pack_row_from(row, j / 2, words);
    }
}

/// R rows x 32 columns of `finish(bias + A . B)` for the encoder's linear
/// layers: accumulators from the bias, all `kp` pairs in order, then the
/// finish.
///
/// # Safety
/// The CPU has AVX-512F and AVX512_BF16; A's R rows hold `kp` words (at
/// `a`, stride `lda`); B's `kp` panel rows are whole; the bias (unless
/// null) covers the panel's 32 columns; C (and the residual) are writable
/// (readable) over the masked columns.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile_finish<const R: usize>(
    kp: usize,
    (a, lda): (*const u32, usize),
    (b, bias): (*const u32, *const f32),
    (c, ldc): (*mut f32, usize),
    (m0, m1): (__mmask16, __mmask16),
    finish: Finish,
) {
    let (z0, z1) = if bias.is_null() {
        (_mm512_setzero_ps(), _mm512_setzero_ps())
    } else {
        // SAFETY: the bias is padded to whole panels.
        unsafe { (_mm512_loadu_ps(bias), _mm512_loadu_ps(bias.add(16))) }
    };
    let (mut acc0, mut acc1) = ([z0; R], [z1; R]);
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kp {
        // SAFETY: `ap` and `bp` step through A's and B's kp rows (B's whole).
        unsafe {
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.cast()));
            let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(16).cast()));
            for r in 0..R {
                let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*ap.add(r * lda) as i32));
                acc0[r] = _mm512_dpbf16_ps(acc0[r], av, b0);
                acc1[r] = _mm512_dpbf16_ps(acc1[r], av, b1);
            }
            ap = ap.add(1);
            bp = bp.add(NR);
        }
    }
    for r in 0..R {
        // SAFETY: the residual and C over the masked columns.
        unsafe { finish_row(acc0[r], acc1[r], finish, r, (c, ldc), (m0, m1)) };
    }
}

/// `c[0..m, cols of panels] = finish(bias + a . b)` with `a` as `m` rows of
/// `b.kp` bf16 pair words (stride `b.kp`); see [`crate::block::block_bf16`].
///
/// # Safety
/// The CPU has AVX-512F and AVX512_BF16, and the contract of
/// [`crate::portable::block_bf16`] holds.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(crate) unsafe fn block(
    m: usize,
    a: *const u32,
    b: Bf16Panels,
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
            let bp = (b.words.add(p * b.kp * NR), bias);
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(MR);
                let ar = (a.add(i * b.kp), b.kp);
                let cr = (c.ptr.add(i * c.ld + c0), c.ld);
                let fin = finish.at(i, c0);
                let kp = b.kp;
                by_rows!(rows, tile_finish(kp, ar, bp, cr, masks, fin));
                i += rows;
            }
        }
    }
}
