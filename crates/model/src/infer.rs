//! AVX-512 kernels for the inference-only BERT forward (`bert.rs` uses them
//! when no tensor tracks gradients): a packed-weight GEMM with bias and a
//! fused epilogue (GELU or residual add), a fused attention core (scores,
//! softmax over the real keys only, probabilities times values, written
//! straight into the merged-heads layout), and a row-wise LayerNorm.
//! All work runs on rayon's global pool; each GEMM inside a task is
//! single-threaded. `available()` is false on CPUs without AVX-512F, and
//! then callers keep candle's ops.

use rayon::prelude::*;

use crate::config::Activation;

/// Columns of one packed weight panel (two AVX-512 vectors).
const NR: usize = 32;
/// Rows of one register tile.
const MR: usize = 12;
/// Query rows per attention task.
const QB: usize = 64;

pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX512.get_or_init(|| std::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x W^T + b` weights of a PyTorch `Linear` (W is (n, k)), transposed into
/// panels of NR output columns, each k x NR contiguous (zero padded), and the
/// bias padded to whole panels.
pub(crate) struct PackedWeight {
    k: usize,
    n: usize,
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedWeight {
    /// `w` row-major (n, k); `bias` of length n (zeros when absent).
    pub(crate) fn new(w: &[f32], bias: Option<&[f32]>, n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k);
        let np = n.div_ceil(NR);
        let mut panels = vec![0f32; np * k * NR];
        for j in 0..n {
            let (p, c) = (j / NR, j % NR);
            let dst = &mut panels[p * k * NR..(p + 1) * k * NR];
            for (kk, &v) in w[j * k..(j + 1) * k].iter().enumerate() {
                dst[kk * NR + c] = v;
            }
        }
        let mut b = vec![0f32; np * NR];
        if let Some(bias) = bias {
            b[..n].copy_from_slice(bias);
        }
        PackedWeight {
            k,
            n,
            panels,
            bias: b,
        }
    }

    pub(crate) fn out_dim(&self) -> usize {
        self.n
    }
}

/// What happens to a finished output tile.
#[derive(Clone, Copy)]
pub(crate) enum Epilogue<'a> {
    None,
    Act(Activation),
    /// Add the same-shaped matrix (row-major, `n` columns).
    Residual(&'a [f32]),
}

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
impl<T> SendPtr<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

/// `out = epilogue(x W^T + b)`; `x` is (m, k) row-major, `out` (m, n).
/// Parallel over blocks of rows (and over column panels when rows are few).
pub(crate) fn linear(x: &[f32], m: usize, w: &PackedWeight, out: &mut [f32], epi: Epilogue) {
    let (k, n) = (w.k, w.n);
    assert!(x.len() >= m * k && out.len() >= m * n);
    if let Epilogue::Residual(r) = epi {
        assert!(r.len() >= m * n);
    }
    let np = n.div_ceil(NR);
    let threads = rayon::current_num_threads().max(1);
    // Row blocks: a multiple of MR, at most 96 rows, ~4 blocks per thread.
    let mc = (m.div_ceil(4 * threads)).div_ceil(MR).clamp(1, 8) * MR;
    let row_blocks = m.div_ceil(mc);
    // Few rows (single queries): split the columns too.
    let col_groups = if row_blocks >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(row_blocks).min(np)
    };
    let panels_per_group = np.div_ceil(col_groups);
    let col_groups = np.div_ceil(panels_per_group);
    let out_ptr = SendPtr(out.as_mut_ptr());
    let b = BMat::packed(w);
    (0..row_blocks * col_groups).into_par_iter().for_each(|t| {
        let (rb, cg) = (t / col_groups, t % col_groups);
        let r0 = rb * mc;
        let rows = mc.min(m - r0);
        let p0 = cg * panels_per_group;
        let p1 = (p0 + panels_per_group).min(np);
        let (kind, res) = match epi {
            Epilogue::None => (EPI_NONE, std::ptr::null()),
            Epilogue::Act(Activation::Gelu) => (EPI_GELU, std::ptr::null()),
            Epilogue::Act(_) => (EPI_NONE, std::ptr::null()),
            Epilogue::Residual(r) => (EPI_RESIDUAL, r[r0 * n..].as_ptr()),
        };
        // SAFETY: AVX-512F was detected (callers check `available()`); the
        // tasks write disjoint (row block, panel range) tiles of `out`.
        unsafe {
            let c = out_ptr.get().add(r0 * n);
            gemm_block(
                rows,
                k,
                x[r0 * k..].as_ptr(),
                k,
                b,
                p0..p1,
                c,
                n,
                kind,
                res,
                n,
            );
            if let Epilogue::Act(act) = epi {
                if act != Activation::Gelu {
                    let (c0, c1) = (p0 * NR, (p1 * NR).min(n));
                    for r in 0..rows {
                        let row = std::slice::from_raw_parts_mut(c.add(r * n), n);
                        for v in &mut row[c0..c1] {
                            *v = act.apply_f32(*v);
                        }
                    }
                }
            }
        }
    });
}

/// One row block's share of a LayerNorm.
pub(crate) struct Norm<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub eps: f32,
}

/// Rows per task of the fused row-block kernels below, or `None` when there
/// are too few rows to keep every thread busy (then callers run the
/// unfused steps, which also split columns).
pub(crate) fn fused_rows(m: usize) -> Option<usize> {
    let threads = rayon::current_num_threads().max(1);
    let mc = (m.div_ceil(4 * threads)).div_ceil(MR).clamp(1, 8) * MR;
    (m.div_ceil(mc) >= 2 * threads).then_some(mc)
}

/// In place, block of `mc` rows at a time (all in cache):
/// `x = LN(x + act(x W1 + b1) W2 + b2)` when `w1` is given (the feed-forward
/// block), else `x = LN(x + a W2 + b2)` (attention output, `a` (m, k2)).
pub(crate) fn fused_residual_ln(
    x: &mut [f32],
    a: Option<&[f32]>,
    mc: usize,
    w1: Option<(&PackedWeight, Activation)>,
    w2: &PackedWeight,
    norm: &Norm,
) {
    let h = w2.n;
    assert!(x.len() % h == 0);
    let m = x.len() / h;
    if let Some((w1, _)) = w1 {
        assert!(w1.k == h && w1.n == w2.k);
    } else {
        assert!(a.is_some_and(|a| a.len() >= m * w2.k));
    }
    x.par_chunks_mut(mc * h).enumerate().for_each(|(blk, xs)| {
        let rows = xs.len() / h;
        ROWS.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let inter_len = w1.map_or(0, |(w1, _)| rows * w1.n);
            if scratch.len() < inter_len + rows * h {
                scratch.resize(inter_len + rows * h, 0.0);
            }
            let (inter, tmp) = scratch.split_at_mut(inter_len);
            // SAFETY: AVX-512F was detected by the caller; all pointers
            // address this block's rows of buffers sized above.
            unsafe {
                let (src, k2): (*const f32, usize) = match w1 {
                    Some((w1, act)) => {
                        let b1 = BMat::packed(w1);
                        let kind = if act == Activation::Gelu {
                            EPI_GELU
                        } else {
                            EPI_NONE
                        };
                        gemm_block(
                            rows,
                            h,
                            xs.as_ptr(),
                            h,
                            b1,
                            0..w1.n.div_ceil(NR),
                            inter.as_mut_ptr(),
                            w1.n,
                            kind,
                            std::ptr::null(),
                            0,
                        );
                        if act != Activation::Gelu {
                            inter.iter_mut().for_each(|v| *v = act.apply_f32(*v));
                        }
                        (inter.as_ptr(), w1.n)
                    }
                    None => (a.unwrap()[blk * mc * w2.k..].as_ptr(), w2.k),
                };
                let b2 = BMat::packed(w2);
                gemm_block(
                    rows,
                    k2,
                    src,
                    k2,
                    b2,
                    0..h.div_ceil(NR),
                    tmp.as_mut_ptr(),
                    h,
                    EPI_RESIDUAL,
                    xs.as_ptr(),
                    h,
                );
                for (drow, srow) in xs.chunks_exact_mut(h).zip(tmp[..rows * h].chunks_exact(h)) {
                    layer_norm_row(srow, drow, norm.gamma, norm.beta, norm.eps);
                }
            }
        });
    });
}

thread_local! {
    static ROWS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// LayerNorm of each `h`-wide row of `src` with scale and shift, into `dst`.
pub(crate) fn layer_norm_rows(
    src: &[f32],
    dst: &mut [f32],
    h: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    assert!(src.len() == dst.len() && gamma.len() == h && beta.len() == h);
    let rows_per_task = (16 * 1024 / h).max(1);
    dst.par_chunks_mut(rows_per_task * h)
        .zip(src.par_chunks(rows_per_task * h))
        .for_each(|(d, s)| {
            for (drow, srow) in d.chunks_exact_mut(h).zip(s.chunks_exact(h)) {
                // SAFETY: AVX-512F was detected by the caller.
                unsafe { layer_norm_row(srow, drow, gamma, beta, eps) }
            }
        });
}

/// Multi-head self-attention core from the fused projection `qkv`
/// (B*L rows of [Q | K | V], each `h` wide, Q already scaled by 1/sqrt(d)).
/// Row b attends only to its first `lens[b]` keys (right padding). Writes
/// the merged-heads context (B*L, h) into `ctx`.
pub(crate) fn attention(
    qkv: &[f32],
    b: usize,
    l: usize,
    h: usize,
    heads: usize,
    lens: &[usize],
    ctx: &mut [f32],
) {
    let hd = h / heads;
    assert!(
        hd * heads == h && qkv.len() >= b * l * 3 * h && ctx.len() >= b * l * h && lens.len() == b
    );
    let qblocks = l.div_ceil(QB);
    let ctx_ptr = SendPtr(ctx.as_mut_ptr());
    (0..b * heads * qblocks).into_par_iter().for_each(|t| {
        let qb = t % qblocks;
        let head = (t / qblocks) % heads;
        let bi = t / (qblocks * heads);
        let len = if lens[bi] == 0 { l } else { lens[bi].min(l) };
        let q0 = qb * QB;
        let rows = QB.min(l - q0);
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let kp = len.div_ceil(NR);
            let ld = len.div_ceil(16) * 16;
            let need = kp * hd * NR + rows * ld;
            if scratch.len() < need {
                scratch.resize(need, 0.0);
            }
            let (kt, s) = scratch.split_at_mut(kp * hd * NR);
            let base = bi * l * 3 * h;
            // K^T of this head in panels of NR keys: kt[p][d][j] = K[p*NR+j][d].
            for j in 0..len {
                let krow = &qkv[base + j * 3 * h + h + head * hd..][..hd];
                let (p, c) = (j / NR, j % NR);
                let panel = &mut kt[p * hd * NR..(p + 1) * hd * NR];
                for (d, &v) in krow.iter().enumerate() {
                    panel[d * NR + c] = v;
                }
            }
            // SAFETY: AVX-512F was detected by the caller; each task writes
            // its own rows x head columns of `ctx`; masked loads keep reads
            // of the last panels inside `kt`, `s` and `qkv`.
            unsafe {
                let q = qkv.as_ptr().add(base + q0 * 3 * h + head * hd);
                let kmat = BMat {
                    ptr: kt.as_ptr(),
                    ldb: NR,
                    panel_stride: hd * NR,
                    n: len,
                    bias: std::ptr::null(),
                };
                gemm_block(
                    rows,
                    hd,
                    q,
                    3 * h,
                    kmat,
                    0..kp,
                    s.as_mut_ptr(),
                    ld,
                    EPI_NONE,
                    std::ptr::null(),
                    0,
                );
                for r in 0..rows {
                    softmax_row(&mut s[r * ld..r * ld + len]);
                }
                let vmat = BMat {
                    ptr: qkv.as_ptr().add(base + 2 * h + head * hd),
                    ldb: 3 * h,
                    panel_stride: NR,
                    n: hd,
                    bias: std::ptr::null(),
                };
                let c = ctx_ptr.get().add((bi * l + q0) * h + head * hd);
                gemm_block(
                    rows,
                    len,
                    s.as_ptr(),
                    ld,
                    vmat,
                    0..hd.div_ceil(NR),
                    c,
                    h,
                    EPI_NONE,
                    std::ptr::null(),
                    0,
                );
            }
        });
    });
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The right-hand matrix of a GEMM: panels of up to NR columns; in panel p,
/// row kk starts at `ptr + p * panel_stride + kk * ldb`. `bias` (or null)
/// holds one value per column (read with the same column masks).
#[derive(Clone, Copy)]
struct BMat {
    ptr: *const f32,
    ldb: usize,
    panel_stride: usize,
    n: usize,
    bias: *const f32,
}
impl BMat {
    fn packed(w: &PackedWeight) -> Self {
        BMat {
            ptr: w.panels.as_ptr(),
            ldb: NR,
            panel_stride: w.k * NR,
            n: w.n,
            bias: w.bias.as_ptr(),
        }
    }
}

// SAFETY: read-only views of buffers that outlive the parallel loops.
unsafe impl Send for BMat {}
unsafe impl Sync for BMat {}

const EPI_NONE: u8 = 0;
const EPI_GELU: u8 = 1;
const EPI_RESIDUAL: u8 = 2;

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_block(
    m: usize,
    k: usize,
    a: *const f32,
    lda: usize,
    b: BMat,
    panels: std::ops::Range<usize>,
    c: *mut f32,
    ldc: usize,
    epi: u8,
    res: *const f32,
    ldr: usize,
) {
    avx512::gemm_block(m, k, a, lda, b, panels, c, ldc, epi, res, ldr)
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_block(
    _: usize,
    _: usize,
    _: *const f32,
    _: usize,
    _: BMat,
    _: std::ops::Range<usize>,
    _: *mut f32,
    _: usize,
    _: u8,
    _: *const f32,
    _: usize,
) {
    unreachable!("infer kernels need AVX-512")
}

#[cfg(target_arch = "x86_64")]
unsafe fn softmax_row(row: &mut [f32]) {
    avx512::softmax_row(row)
}
#[cfg(not(target_arch = "x86_64"))]
unsafe fn softmax_row(_: &mut [f32]) {
    unreachable!("infer kernels need AVX-512")
}

#[cfg(target_arch = "x86_64")]
unsafe fn layer_norm_row(src: &[f32], dst: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    avx512::layer_norm_row(src, dst, gamma, beta, eps)
}
#[cfg(not(target_arch = "x86_64"))]
unsafe fn layer_norm_row(_: &[f32], _: &mut [f32], _: &[f32], _: &[f32], _: f32) {
    unreachable!("infer kernels need AVX-512")
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{BMat, EPI_GELU, EPI_RESIDUAL, MR, NR};
    use std::arch::x86_64::*;

    #[inline(always)]
    fn mask(width: usize) -> __mmask16 {
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
    pub(super) fn exp(x: __m512) -> __m512 {
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

    /// Exact-erf GELU with the Abramowitz & Stegun erf of `kernels::erf`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn gelu(v: __m512) -> __m512 {
        let x = _mm512_mul_ps(v, _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
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
        _mm512_mul_ps(
            _mm512_mul_ps(_mm512_set1_ps(0.5), v),
            _mm512_add_ps(_mm512_set1_ps(1.0), erf),
        )
    }

    /// One R x NR output tile: `c = epi(bias + a * b)` over all of k.
    #[inline]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize>(
        k: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        bias: *const f32,
        c: *mut f32,
        ldc: usize,
        m0: __mmask16,
        m1: __mmask16,
        epi: u8,
        res: *const f32,
        ldr: usize,
    ) {
        let (mut acc0, mut acc1) = if bias.is_null() {
            ([_mm512_setzero_ps(); R], [_mm512_setzero_ps(); R])
        } else {
            (
                [_mm512_maskz_loadu_ps(m0, bias); R],
                [_mm512_maskz_loadu_ps(m1, bias.add(16)); R],
            )
        };
        let mut bp = b;
        let mut ap = a;
        for _ in 0..k {
            let b0 = _mm512_maskz_loadu_ps(m0, bp);
            let b1 = _mm512_maskz_loadu_ps(m1, bp.add(16));
            for r in 0..R {
                let av = _mm512_set1_ps(*ap.add(r * lda));
                acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
                acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
            }
            bp = bp.add(ldb);
            ap = ap.add(1);
        }
        for r in 0..R {
            let (mut v0, mut v1) = (acc0[r], acc1[r]);
            if epi == EPI_GELU {
                v0 = gelu(v0);
                v1 = gelu(v1);
            } else if epi == EPI_RESIDUAL {
                let rp = res.add(r * ldr);
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, rp));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, rp.add(16)));
            }
            _mm512_mask_storeu_ps(c.add(r * ldc), m0, v0);
            _mm512_mask_storeu_ps(c.add(r * ldc + 16), m1, v1);
        }
    }

    /// `c[0..m, panels] = epi(a (m x k) * b + bias)`, single-threaded.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn gemm_block(
        m: usize,
        k: usize,
        a: *const f32,
        lda: usize,
        b: BMat,
        panels: std::ops::Range<usize>,
        c: *mut f32,
        ldc: usize,
        epi: u8,
        res: *const f32,
        ldr: usize,
    ) {
        for p in panels {
            let c0 = p * NR;
            let width = NR.min(b.n - c0);
            let (m0, m1) = (mask(width), mask(width.saturating_sub(16)));
            let bp = b.ptr.add(p * b.panel_stride);
            let bias = if b.bias.is_null() {
                b.bias
            } else {
                b.bias.add(c0)
            };
            let mut i = 0;
            while i < m {
                let ap = a.add(i * lda);
                let cp = c.add(i * ldc + c0);
                let rp = if res.is_null() {
                    res
                } else {
                    res.add(i * ldr + c0)
                };
                let rows = (m - i).min(MR);
                macro_rules! go {
                    ($r:literal) => {
                        tile::<$r>(k, ap, lda, bp, b.ldb, bias, cp, ldc, m0, m1, epi, rp, ldr)
                    };
                }
                match rows {
                    12 => go!(12),
                    11 => go!(11),
                    10 => go!(10),
                    9 => go!(9),
                    8 => go!(8),
                    7 => go!(7),
                    6 => go!(6),
                    5 => go!(5),
                    4 => go!(4),
                    3 => go!(3),
                    2 => go!(2),
                    _ => go!(1),
                }
                i += rows;
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(s: &[f32], i: usize) -> __m512 {
        let w = (s.len() - i).min(16);
        _mm512_maskz_loadu_ps(mask(w), s.as_ptr().add(i))
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store(s: &mut [f32], i: usize, v: __m512) {
        let w = (s.len() - i).min(16);
        _mm512_mask_storeu_ps(s.as_mut_ptr().add(i), mask(w), v)
    }

    /// In-place softmax of one row.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn softmax_row(row: &mut [f32]) {
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

    /// `dst = (src - mean) / sqrt(var + eps) * gamma + beta` over one row.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn layer_norm_row(
        src: &[f32],
        dst: &mut [f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn packed_linear_matches_naive() {
        if !available() {
            return;
        }
        for &(m, k, n) in &[(1, 3, 5), (13, 17, 40), (100, 64, 96), (25, 8, 33)] {
            let x = rand(m * k, 1);
            let w = rand(n * k, 2);
            let b = rand(n, 3);
            let res = rand(m * n, 4);
            let packed = PackedWeight::new(&w, Some(&b), n, k);
            for epi in [
                Epilogue::None,
                Epilogue::Act(Activation::Gelu),
                Epilogue::Act(Activation::Relu),
                Epilogue::Residual(&res),
            ] {
                let mut out = vec![0f32; m * n];
                linear(&x, m, &packed, &mut out, epi);
                for i in 0..m {
                    for j in 0..n {
                        let mut v =
                            b[j] + (0..k).map(|kk| x[i * k + kk] * w[j * k + kk]).sum::<f32>();
                        v = match epi {
                            Epilogue::None => v,
                            Epilogue::Act(a) => a.apply_f32(v),
                            Epilogue::Residual(r) => v + r[i * n + j],
                        };
                        assert!(
                            (v - out[i * n + j]).abs() < 1e-5,
                            "{m}x{k}x{n} ({i},{j}): {v} vs {}",
                            out[i * n + j]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn vector_exp_and_gelu_are_accurate() {
        if !available() {
            return;
        }
        let xs: Vec<f32> = (0..4000).map(|i| (i as f32 - 3000.0) * 0.03).collect();
        let mut row = xs.clone();
        unsafe { softmax_row(&mut row) };
        let mx = xs.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = xs.iter().map(|&x| ((x - mx) as f64).exp()).sum();
        for (x, p) in xs.iter().zip(&row) {
            let want = ((x - mx) as f64).exp() / sum;
            assert!(
                (want - *p as f64).abs() <= 1e-6 * want + 1e-30,
                "softmax {x}: {p} vs {want}"
            );
        }
        let mut out = vec![0f32; 16];
        for chunk in xs.chunks(16) {
            if chunk.len() < 16 {
                break;
            }
            unsafe {
                use std::arch::x86_64::*;
                _mm512_storeu_ps(
                    out.as_mut_ptr(),
                    avx512::gelu(_mm512_loadu_ps(chunk.as_ptr())),
                );
            }
            for (x, g) in chunk.iter().zip(&out) {
                let want = Activation::Gelu.apply_f32(*x);
                assert!(
                    (want - g).abs() <= 2e-6 * want.abs().max(1.0),
                    "gelu {x}: {g} vs {want}"
                );
            }
        }
    }
}
