//! Portable fallbacks (any CPU) of the operations `avx512.rs` implements:
//! plain scalar loops the compiler may vectorise for the target it builds
//! for. They compute the same sums in the same k order, but round
//! differently (no fused multiply-add, libm's exp), so results agree with
//! the AVX-512 path to float tolerance, not bit for bit.

use std::ops::Range;

use crate::act::{erf, gelu};
use crate::bf16_pack::from_bf16;
use crate::int8::{halves, signed_byte, unsigned_byte, Packing};
use crate::tile::{Bf16Panels, Finish, Lhs, Out, Panels, QuantPanels, QuantRows, NR};

/// See [`crate::block::block`].
///
/// # Safety
/// The contract of [`crate::block::block`].
pub(crate) unsafe fn block(
    m: usize,
    a: Lhs,
    b: Panels,
    panels: Range<usize>,
    c: Out,
    finish: Finish,
) {
    let mut acc = [0f32; NR];
    for p in panels {
        let c0 = p * NR;
        let w = NR.min(b.n - c0);
        let acc = &mut acc[..w];
        for r in 0..m {
            // SAFETY: every slice below lies in a region the caller vouches
            // for: row r of A (a.k values), panel p's rows and bias, and
            // row r of C and of the residual over panel p's `w` columns.
            unsafe {
                if b.bias.is_null() {
                    acc.fill(0.0);
                } else {
                    acc.copy_from_slice(std::slice::from_raw_parts(b.bias.add(c0), w));
                }
                let arow = std::slice::from_raw_parts(a.ptr.add(r * a.ld), a.k);
                let bp = b.ptr.add(p * b.panel_stride);
                for (kk, &av) in arow.iter().enumerate() {
                    let brow = std::slice::from_raw_parts(bp.add(kk * b.ldb), w);
                    for (s, &bv) in acc.iter_mut().zip(brow) {
                        *s += av * bv;
                    }
                }
                let out = std::slice::from_raw_parts_mut(c.ptr.add(r * c.ld + c0), w);
                match finish {
                    Finish::Store => out.copy_from_slice(acc),
                    Finish::Gelu => {
                        for (o, &s) in out.iter_mut().zip(acc.iter()) {
                            *o = gelu(s);
                        }
                    }
                    Finish::Residual { ptr, ld } => {
                        let res = std::slice::from_raw_parts(ptr.add(r * ld + c0), w);
                        for ((o, &s), &x) in out.iter_mut().zip(acc.iter()).zip(res) {
                            *o = s + x;
                        }
                    }
                }
            }
        }
    }
}

/// See [`crate::block::block_int8`]: integer sums of the quantised rows and
/// columns in either packing, exact in 32 bits, then scaled, biased and
/// finished in f32.
///
/// # Safety
/// `a` holds `m` rows of `a.kw` words (in `b`'s packing) and `m` scales,
/// `b` covers the panels in `panels` (whole panels of `b.kw` rows, scales,
/// bias and starts), row `r` of `c` (and of a residual) is writable
/// (readable) over their columns, and `c` overlaps no input.
pub(crate) unsafe fn block_int8(
    m: usize,
    a: QuantRows,
    b: QuantPanels,
    panels: Range<usize>,
    c: Out,
    finish: Finish,
) {
    let word_dot = |aw: u32, bw: u32| match b.packing {
        Packing::Pairs => {
            let ((a0, a1), (b0, b1)) = (halves(aw), halves(bw));
            a0 * b0 + a1 * b1
        }
        Packing::Quads => (0..4)
            .map(|i| unsigned_byte(aw, i) * signed_byte(bw, i))
            .sum(),
    };
    for p in panels {
        let c0 = p * NR;
        let w = NR.min(b.n - c0);
        for r in 0..m {
            // SAFETY: every slice lies in a region the caller vouches for:
            // row r of A and its scale, panel p's rows, scales, bias and
            // starts, row r of C and of the residual over the panel's `w`
            // columns.
            unsafe {
                let arow = std::slice::from_raw_parts(a.words.add(r * a.kw), a.kw);
                let sa = *a.scales.add(r);
                let panel = std::slice::from_raw_parts(b.words.add(p * b.kw * NR), b.kw * NR);
                let out = std::slice::from_raw_parts_mut(c.ptr.add(r * c.ld + c0), w);
                for (jj, o) in out.iter_mut().enumerate() {
                    let mut acc = if b.starts.is_null() {
                        0i32
                    } else {
                        *b.starts.add(c0 + jj)
                    };
                    for (q, &aw) in arow.iter().enumerate() {
                        acc += word_dot(aw, panel[q * NR + jj]);
                    }
                    let bias = if b.bias.is_null() {
                        0.0
                    } else {
                        *b.bias.add(c0 + jj)
                    };
                    let v = acc as f32 * (sa * *b.scales.add(c0 + jj)) + bias;
                    *o = match finish {
                        Finish::Store => v,
                        Finish::Gelu => gelu(v),
                        Finish::Residual { ptr, ld } => v + *ptr.add(r * ld + c0 + jj),
                    };
                }
            }
        }
    }
}

/// See [`crate::block::block_bf16`]: per pair, the even product is
/// added, then the odd one (each exact in f32), from the bias.
///
/// # Safety
/// `a` holds `m` rows of `b.kp` words, `b` covers the panels in `panels`
/// (whole panels of `b.kp` rows, and the bias unless null), row `r` of `c`
/// (and of a residual) is writable (readable) over their columns, and `c`
/// overlaps no input.
pub(crate) unsafe fn block_bf16(
    m: usize,
    a: *const u32,
    b: Bf16Panels,
    panels: Range<usize>,
    c: Out,
    finish: Finish,
) {
    let half = |w: u32| (from_bf16(w as u16), from_bf16((w >> 16) as u16));
    for p in panels {
        let c0 = p * NR;
        let w = NR.min(b.n - c0);
        for r in 0..m {
            // SAFETY: as the contract above says.
            unsafe {
                let arow = std::slice::from_raw_parts(a.add(r * b.kp), b.kp);
                let panel = std::slice::from_raw_parts(b.words.add(p * b.kp * NR), b.kp * NR);
                let out = std::slice::from_raw_parts_mut(c.ptr.add(r * c.ld + c0), w);
                for (jj, o) in out.iter_mut().enumerate() {
                    let mut acc = if b.bias.is_null() {
                        0.0
                    } else {
                        *b.bias.add(c0 + jj)
                    };
                    for (q, &aw) in arow.iter().enumerate() {
                        let ((a0, a1), (b0, b1)) = (half(aw), half(panel[q * NR + jj]));
                        acc += a0 * b0;
                        acc += a1 * b1;
                    }
                    *o = match finish {
                        Finish::Store => acc,
                        Finish::Gelu => gelu(acc),
                        Finish::Residual { ptr, ld } => acc + *ptr.add(r * ld + c0 + jj),
                    };
                }
            }
        }
    }
}

/// In-place softmax of one row.
pub(crate) fn softmax_row(row: &mut [f32]) {
    let mx = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - mx).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// `dst = (src - mean) / sqrt(var + eps) * gamma + beta` over one row.
pub(crate) fn layer_norm_row(src: &[f32], dst: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let h = src.len() as f32;
    let mean = src.iter().sum::<f32>() / h;
    let var = src.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h;
    let rstd = 1.0 / (var + eps).sqrt();
    for (((d, &s), &g), &b) in dst.iter_mut().zip(src).zip(gamma).zip(beta) {
        *d = (s - mean) * rstd * g + b;
    }
}

/// `g = gelu(u)`, element by element.
pub(crate) fn gelu_rows(u: &[f32], g: &mut [f32]) {
    for (g, &u) in g.iter_mut().zip(u) {
        *g = gelu(u);
    }
}

/// `du = dg * gelu'(u)`, where gelu'(u) = Phi(u) + u phi(u).
pub(crate) fn gelu_backward_rows(u: &[f32], dg: &[f32], du: &mut [f32]) {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    for ((du, &u), &dg) in du.iter_mut().zip(u).zip(dg) {
        let cdf = 0.5 * (1.0 + erf(u * std::f32::consts::FRAC_1_SQRT_2));
        *du = dg * (cdf + u * (-0.5 * u * u).exp() * INV_SQRT_2PI);
    }
}

/// See [`crate::bf16::matmul_bf16`]: A as `m` rows of `kp` pair words, B
/// in its panels; per pair, the even product is added, then the odd one
/// (each exact in f32).
pub(crate) fn matmul_bf16(m: usize, kp: usize, n: usize, a: &[u32], b: &[u32], c: &mut [f32]) {
    let half = |w: u32| (from_bf16(w as u16), from_bf16((w >> 16) as u16));
    for i in 0..m {
        let row = &a[i * kp..(i + 1) * kp];
        for j in 0..n {
            let (p, jj) = (j / NR, j % NR);
            let mut acc = 0f32;
            for (q, &w) in row.iter().enumerate() {
                let (a0, a1) = half(w);
                let (b0, b1) = half(b[(p * kp + q) * NR + jj]);
                acc += a0 * b0;
                acc += a1 * b1;
            }
            c[i * n + j] = acc;
        }
    }
}
