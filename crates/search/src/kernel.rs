//! Dense kernels, single-threaded: one block of documents is scored on one
//! core and blocks run in parallel on rayon's pool (nested GEMM threading
//! would fight that pool over the same cores).
//!
//! The matrix product `C = A . B` (A: a block of document rows or
//! activations; B: a q-net layer's weights, or query vectors) has two paths,
//! chosen once per process at run time:
//! - x86-64 with AVX-512F: our own kernel. B is packed once (per query, not
//!   per block) into 32-column panels; A is re-laid per block so the inner
//!   loop reads one stream. The `gemm` crate as this workspace builds it
//!   (without its `x86-v4` feature) runs AVX2 code only: half the FLOP rate
//!   of cores that have AVX-512.
//! - elsewhere: the `gemm` crate.
//!
//! Every output row is computed the same way whatever the block size or the
//! row's position in it (fixed k order, no k-splitting), so scores do not
//! depend on block boundaries or thread count.

use hypencoder_model::Activation;

/// Columns per packed panel: two 16-lane AVX-512 registers.
const NR: usize = 32;
/// Rows per register tile: 12 x 2 accumulators + 2 B registers fit in 32.
const MR: usize = 12;
/// k per pass: a KC x NR slice of a B panel (8 KB) and the row group's A
/// slice stay in L1 across the block's row groups. 64-96 measured best here
/// (768-d layers, 48 KB L1); 256 was ~30% slower, 32 ~35% slower.
const KC: usize = 64;

/// Whether the AVX-512 path runs (checked once; std caches CPUID).
#[inline]
fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The right-hand matrix `B` (k x n) of `C = A . B`, stored once in the
/// layout the running kernel wants: 32-column panels (each k rows of 32
/// values, zero-padded) for AVX-512, plain row-major otherwise.
#[derive(Debug, Clone)]
pub struct Rhs {
    k: usize,
    n: usize,
    packed: bool,
    data: Vec<f32>,
}

impl Rhs {
    /// `b` holds element (kk, j) at `b[kk * rs + j * cs]`.
    pub fn new(b: &[f32], k: usize, n: usize, rs: usize, cs: usize) -> Self {
        Self::with_layout(b, k, n, rs, cs, avx512())
    }

    fn with_layout(b: &[f32], k: usize, n: usize, rs: usize, cs: usize, packed: bool) -> Self {
        assert!(
            k == 0 || n == 0 || b.len() > (k - 1) * rs + (n - 1) * cs,
            "Rhs: b too small"
        );
        let data = if packed {
            let panels = n.div_ceil(NR);
            let mut d = vec![0f32; panels * k * NR];
            for p in 0..panels {
                for kk in 0..k {
                    for jj in 0..NR.min(n - p * NR) {
                        d[(p * k + kk) * NR + jj] = b[kk * rs + (p * NR + jj) * cs];
                    }
                }
            }
            d
        } else {
            (0..k)
                .flat_map(|kk| (0..n).map(move |j| b[kk * rs + j * cs]))
                .collect()
        };
        Rhs { k, n, packed, data }
    }

    pub fn n(&self) -> usize {
        self.n
    }
}

/// `c (m x n, row-major) = a (m x k, row-major) . b`. `pack` is scratch
/// space for the AVX-512 path's re-laid copy of `a`.
pub fn matmul(m: usize, a: &[f32], b: &Rhs, c: &mut [f32], pack: &mut Vec<f32>) {
    let (k, n) = (b.k, b.n);
    assert!(
        a.len() >= m * k && c.len() >= m * n,
        "matmul: buffers too small"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].fill(0.0);
        return;
    }
    if b.packed {
        #[cfg(target_arch = "x86_64")]
        {
            // Rows grouped by MR, each group interleaved by k: (kk, r) at kk * rows + r.
            pack.resize(m * k, 0.0);
            for (src, dst) in a[..m * k].chunks(MR * k).zip(pack.chunks_mut(MR * k)) {
                let rows = src.len() / k;
                for (r, row) in src.chunks_exact(k).enumerate() {
                    for (kk, &v) in row.iter().enumerate() {
                        dst[kk * rows + r] = v;
                    }
                }
            }
            // SAFETY: `b.packed` is only set when AVX-512F is present; the
            // asserts above and Rhs's construction bound every access.
            unsafe { avx512::matmul(m, k, n, pack.as_ptr(), b.data.as_ptr(), c.as_mut_ptr()) };
            return;
        }
    }
    let _ = pack;
    sgemm(m, n, k, a, &b.data, n, 1, c, false);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{KC, MR, NR};

    /// k in chunks of KC; within one, panel by panel: a KC x 32 slice of
    /// a B panel stays in L1 while every row group of the block passes over
    /// it; C accumulates in memory between chunks. Chunk boundaries are fixed, so each row's sums are
    /// the same whatever the block.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn matmul(m: usize, k: usize, n: usize, a: *const f32, b: *const f32, c: *mut f32) {
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let acc = k0 > 0;
            for p in 0..n.div_ceil(NR) {
                let cols = (n - p * NR).min(NR);
                let mask = |lo: usize| -> __mmask16 {
                    let v = cols.saturating_sub(lo).min(16);
                    ((1u32 << v) - 1) as __mmask16
                };
                let (m0, m1) = (mask(0), mask(16));
                let bp = b.add((p * k + k0) * NR);
                let mut i = 0;
                while i + MR <= m {
                    tile::<MR>(
                        kc,
                        a.add(i * k + k0 * MR),
                        bp,
                        c.add(i * n + p * NR),
                        n,
                        m0,
                        m1,
                        acc,
                    );
                    i += MR;
                }
                let rest = m - i;
                let (ap, cp) = (a.add(i * k + k0 * rest), c.add(i * n + p * NR));
                match rest {
                    0 => {}
                    1 => tile::<1>(kc, ap, bp, cp, n, m0, m1, acc),
                    2 => tile::<2>(kc, ap, bp, cp, n, m0, m1, acc),
                    3 => tile::<3>(kc, ap, bp, cp, n, m0, m1, acc),
                    4 => tile::<4>(kc, ap, bp, cp, n, m0, m1, acc),
                    5 => tile::<5>(kc, ap, bp, cp, n, m0, m1, acc),
                    6 => tile::<6>(kc, ap, bp, cp, n, m0, m1, acc),
                    7 => tile::<7>(kc, ap, bp, cp, n, m0, m1, acc),
                    8 => tile::<8>(kc, ap, bp, cp, n, m0, m1, acc),
                    9 => tile::<9>(kc, ap, bp, cp, n, m0, m1, acc),
                    10 => tile::<10>(kc, ap, bp, cp, n, m0, m1, acc),
                    11 => tile::<11>(kc, ap, bp, cp, n, m0, m1, acc),
                    _ => unreachable!(),
                }
            }
        }
    }

    /// R rows x 32 columns of C, accumulated in registers over `k` steps,
    /// starting from zero or (`add`) from C. `a`: R rows interleaved by k;
    /// `b`: k rows of one packed panel.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize>(
        k: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        m0: __mmask16,
        m1: __mmask16,
        add: bool,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        if add {
            for (r, acc) in acc.iter_mut().enumerate() {
                acc[0] = _mm512_maskz_loadu_ps(m0, c.add(r * ldc));
                acc[1] = _mm512_maskz_loadu_ps(m1, c.add(r * ldc + 16));
            }
        }
        for kk in 0..k {
            let b0 = _mm512_loadu_ps(b.add(kk * NR));
            let b1 = _mm512_loadu_ps(b.add(kk * NR + 16));
            let ak = a.add(kk * R);
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ak.add(r));
                acc[0] = _mm512_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(av, b1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            _mm512_mask_storeu_ps(c.add(r * ldc), m0, acc[0]);
            _mm512_mask_storeu_ps(c.add(r * ldc + 16), m1, acc[1]);
        }
    }
}

/// `c (m x n, row-major) = [c +] a (m x k, row-major) . b`, where `b` is
/// addressed by strides: element (kk, j) at `b[kk * b_rs + j * b_cs]`.
/// The `gemm` crate, single-threaded.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(
        a.len() >= m * k && c.len() >= m * n,
        "sgemm: buffers too small"
    );
    assert!(
        k == 0 || n == 0 || b.len() > (k - 1) * b_rs + (n - 1) * b_cs,
        "sgemm: b too small"
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the asserts above bound every index the kernel touches; the
    // three slices are distinct borrows.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// What follows a hidden layer's matrix product, row by row.
pub struct Epilogue<'a> {
    pub bias: &'a [f32],
    pub activation: Activation,
    /// LayerNorm (no parameters) before the residual, after it, or neither.
    pub norm_before: bool,
    pub norm_after: bool,
    pub eps: f32,
    /// The layer's input rows, added back (residual), when given.
    pub residual: Option<&'a [f32]>,
    /// The final layer's weights, when this is the last hidden layer: each
    /// row's score is written to `scores` while the row is in L1.
    pub last: Option<(&'a [f32], &'a mut [f32])>,
}

/// Applies `e` to `n` rows of `y` (each `width` wide), in place. Rows are
/// independent and each is done in one sweep while it sits in L1.
pub fn epilogue(y: &mut [f32], n: usize, width: usize, e: &mut Epilogue<'_>) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: AVX-512F is present; the body is safe code, compiled
        // with wider vectors.
        return unsafe { epilogue_avx512(y, n, width, e) };
    }
    epilogue_body(y, n, width, e)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn epilogue_avx512(y: &mut [f32], n: usize, width: usize, e: &mut Epilogue<'_>) {
    epilogue_body(y, n, width, e)
}

#[inline(always)]
fn epilogue_body(y: &mut [f32], n: usize, width: usize, e: &mut Epilogue<'_>) {
    assert!(y.len() >= n * width && e.bias.len() == width);
    for (i, row) in y[..n * width].chunks_exact_mut(width).enumerate() {
        // Activation with the bias added; relu as a select the compiler
        // vectorises (NaN -> 0, as `f32::max` in Activation::apply_f32).
        match e.activation {
            Activation::Relu => {
                for (v, b) in row.iter_mut().zip(e.bias) {
                    let x = *v + b;
                    *v = if x > 0.0 { x } else { 0.0 };
                }
            }
            act => {
                for (v, b) in row.iter_mut().zip(e.bias) {
                    *v = act.apply_f32(*v + b);
                }
            }
        }
        if e.norm_before {
            layer_norm(row, e.eps);
        }
        if let Some(x) = e.residual {
            for (v, x) in row.iter_mut().zip(&x[i * width..(i + 1) * width]) {
                *v += x;
            }
        }
        if e.norm_after {
            layer_norm(row, e.eps);
        }
        if let Some((w, scores)) = e.last.as_mut() {
            scores[i] = dot(row, w);
        }
    }
}

/// Sum with 16 independent accumulators, so the compiler can vectorise it
/// (a plain `sum()` is one serial dependency chain).
#[inline(always)]
fn sum16(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..16 {
            acc[l] += f(c[l]);
        }
    }
    let mut s = 0.0;
    for (l, a) in acc.iter().enumerate() {
        s += a + rest.get(l).map_or(0.0, |&v| f(v));
    }
    s
}

/// Parameter-free LayerNorm of one row, in place (two-pass variance).
#[inline(always)]
pub fn layer_norm(row: &mut [f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum16(row, |v| v) / n;
    let var = sum16(row, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for v in row.iter_mut() {
        *v = (*v - mean) * inv;
    }
}

#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = 0.0;
    for (l, a) in acc.iter().enumerate() {
        s += a + ra.get(l).zip(rb.get(l)).map_or(0.0, |(x, y)| x * y);
    }
    s
}

/// `out[q * n + i] = dot(docs row i, query q)` for few queries, where a
/// panel of 32 columns would be mostly padding; memory-bound anyway.
pub fn dots(docs: &[f32], n: usize, dim: usize, queries: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: AVX-512F is present; the body is safe code.
        return unsafe { dots_avx512(docs, n, dim, queries, out) };
    }
    dots_body(docs, n, dim, queries, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dots_avx512(docs: &[f32], n: usize, dim: usize, queries: &[f32], out: &mut [f32]) {
    dots_body(docs, n, dim, queries, out)
}

#[inline(always)]
fn dots_body(docs: &[f32], n: usize, dim: usize, queries: &[f32], out: &mut [f32]) {
    for (i, row) in docs[..n * dim].chunks_exact(dim).enumerate() {
        for (q, query) in queries.chunks_exact(dim).enumerate() {
            out[q * n + i] = dot(row, query);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// Both layouts against a naive product, over tails in every direction,
    /// and each row bit-identical whatever the number of rows around it.
    #[test]
    fn matmul_matches_naive_and_rows_are_independent() {
        let mut seed = 3;
        for &(m, k, n) in &[
            (1, 1, 1),
            (5, 3, 7),
            (12, 16, 32),
            (13, 17, 33),
            (30, 64, 70),
            (40, 48, 48),
            (25, 32, 96),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
            let b: Vec<f32> = (0..k * n).map(|_| lcg(&mut seed)).collect();
            let want: Vec<f32> = (0..m * n)
                .map(|ij| {
                    (0..k)
                        .map(|kk| a[ij / n * k + kk] * b[kk * n + ij % n])
                        .sum()
                })
                .collect();
            for packed in [false, avx512()] {
                let rhs = Rhs::with_layout(&b, k, n, n, 1, packed);
                let mut c = vec![f32::NAN; m * n];
                let mut pack = Vec::new();
                matmul(m, &a, &rhs, &mut c, &mut pack);
                for (g, w) in c.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-5 * k as f32,
                        "{m}x{k}x{n} packed={packed}: {g} vs {w}"
                    );
                }
                if packed {
                    for i in 0..m {
                        let mut one = vec![0f32; n];
                        matmul(1, &a[i * k..(i + 1) * k], &rhs, &mut one, &mut pack);
                        assert_eq!(
                            one,
                            c[i * n..(i + 1) * n],
                            "{m}x{k}x{n}: row {i} depends on its block"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn strided_rhs_is_the_transpose() {
        let mut seed = 5;
        let (m, k, n) = (7, 20, 9);
        let a: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
        let bt: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed)).collect(); // n x k
        let rhs = Rhs::new(&bt, k, n, 1, k);
        let mut c = vec![0f32; m * n];
        matmul(m, &a, &rhs, &mut c, &mut Vec::new());
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|kk| a[i * k + kk] * bt[j * k + kk]).sum();
                assert!((c[i * n + j] - want).abs() < 1e-4);
            }
        }
    }
}
