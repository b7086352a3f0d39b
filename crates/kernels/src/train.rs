//! The steps of a BERT layer's training pass: forwards that keep what the
//! backward needs, and the backwards. Rows are tokens of unpadded
//! sequences laid end to end (`lens` real tokens each), so no work is spent
//! on padding.
//!
//! - [`gemm`]: `C = [C +] A . B` over strided views (transposes are stride
//!   swaps), parallel on rayon's pool or single-threaded: a linear layer's
//!   forward (`X W^T`) and both of its backward products (`dY W`, `dY^T X`).
//! - [`layer_norm_forward`] / [`layer_norm_backward`], [`gelu_forward`] /
//!   [`gelu_backward`], [`column_sums`] (bias gradients).
//! - [`attention_forward`] / [`attention_backward`]: per sequence and head,
//!   scaled scores, softmax over the sequence's own tokens, times values;
//!   the probabilities are kept for the backward.
//!
//! Results do not depend on the thread count: every reduction over rows
//! runs over fixed chunks whose partial sums are added in chunk order.

use rayon::prelude::*;

use crate::block;
use crate::dispatch::Isa;

/// Rows per task of the row-wise steps (a fixed split, so sums over rows
/// are added in the same order on any pool).
const ROWS: usize = 64;

/// A strided matrix: element (i, j) at `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The values; must reach the last element.
    pub data: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Step between rows.
    pub rs: usize,
    /// Step between columns.
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The same view with another step between rows.
    fn with_rs(self, rs: usize) -> Self {
        View { rs, ..self }
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        View {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    fn check(&self, what: &str) {
        assert!(
            self.rows == 0
                || self.cols == 0
                || self.data.len() > (self.rows - 1) * self.rs + (self.cols - 1) * self.cs,
            "gemm: {what} ({} x {}, strides {} {}) outruns its {} values",
            self.rows,
            self.cols,
            self.rs,
            self.cs,
            self.data.len()
        );
    }
}

/// `c = [c +] a . b`, where `c` holds element (i, j) at `c[i * ldc + j]`;
/// on rayon's pool when `parallel` (the `gemm` crate splits the output, not
/// the sum, so the result does not depend on the thread count).
pub fn gemm(a: View, b: View, c: &mut [f32], ldc: usize, accumulate: bool, parallel: bool) {
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions differ");
    a.check("a");
    b.check("b");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        ldc >= n && c.len() >= (m - 1) * ldc + n,
        "gemm: c is too small"
    );
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc).take(m).for_each(|r| r[..n].fill(0.0));
        }
        return;
    }
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the checks above bound every element the product reads in
    // `a` and `b` and writes in `c`; `c` is a distinct (mutable) borrow.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// What a LayerNorm's backward needs: the normalised rows and 1/std of each.
#[derive(Debug, Default, Clone)]
pub struct LayerNormSaved {
    /// `(x - mean) / std`, row-major like the input.
    pub xhat: Vec<f32>,
    /// One per row.
    pub rstd: Vec<f32>,
}

/// `y = xhat * gamma + beta` for each `h`-wide row of `x`, keeping `xhat`
/// and 1/std for [`layer_norm_backward`].
pub fn layer_norm_forward(
    x: &[f32],
    h: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    y: &mut [f32],
) -> LayerNormSaved {
    assert!(h > 0 && x.len().is_multiple_of(h) && y.len() == x.len());
    assert!(gamma.len() == h && beta.len() == h);
    let rows = x.len() / h;
    let mut saved = LayerNormSaved {
        xhat: vec![0f32; x.len()],
        rstd: vec![0f32; rows],
    };
    x.par_chunks(ROWS * h)
        .zip(y.par_chunks_mut(ROWS * h))
        .zip(saved.xhat.par_chunks_mut(ROWS * h))
        .zip(saved.rstd.par_chunks_mut(ROWS))
        .for_each(|(((x, y), xhat), rstd)| {
            for (((x, y), xhat), rstd) in x
                .chunks_exact(h)
                .zip(y.chunks_exact_mut(h))
                .zip(xhat.chunks_exact_mut(h))
                .zip(rstd.iter_mut())
            {
                let mean = x.iter().sum::<f32>() / h as f32;
                let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
                *rstd = 1.0 / (var + eps).sqrt();
                for (((xh, y), &x), (&g, &b)) in
                    xhat.iter_mut().zip(y).zip(x).zip(gamma.iter().zip(beta))
                {
                    *xh = (x - mean) * *rstd;
                    *y = *xh * g + b;
                }
            }
        });
    saved
}

/// The backward of [`layer_norm_forward`]: from `dy`, writes (or with
/// `accumulate` adds) `dx`, and adds the scale's and shift's gradients to
/// `dgamma` and `dbeta`.
#[allow(clippy::too_many_arguments)] // one LayerNorm's tensors, kept flat
pub fn layer_norm_backward(
    dy: &[f32],
    saved: &LayerNormSaved,
    gamma: &[f32],
    dx: &mut [f32],
    accumulate: bool,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let h = gamma.len();
    assert!(h > 0 && dy.len() == saved.xhat.len() && dx.len() == dy.len());
    assert!(dgamma.len() == h && dbeta.len() == h && saved.rstd.len() * h == dy.len());
    let partials: Vec<Vec<f32>> = dy
        .par_chunks(ROWS * h)
        .zip(dx.par_chunks_mut(ROWS * h))
        .zip(saved.xhat.par_chunks(ROWS * h))
        .zip(saved.rstd.par_chunks(ROWS))
        .map(|(((dy, dx), xhat), rstd)| {
            // dgamma then dbeta for this chunk.
            let mut part = vec![0f32; 2 * h];
            let mut dxhat = vec![0f32; h];
            for (((dy, dx), xhat), &rstd) in dy
                .chunks_exact(h)
                .zip(dx.chunks_exact_mut(h))
                .zip(xhat.chunks_exact(h))
                .zip(rstd)
            {
                let (mut mean_d, mut mean_dx) = (0f32, 0f32);
                for j in 0..h {
                    dxhat[j] = dy[j] * gamma[j];
                    mean_d += dxhat[j];
                    mean_dx += dxhat[j] * xhat[j];
                    part[j] += dy[j] * xhat[j];
                    part[h + j] += dy[j];
                }
                mean_d /= h as f32;
                mean_dx /= h as f32;
                for j in 0..h {
                    let g = rstd * (dxhat[j] - mean_d - xhat[j] * mean_dx);
                    dx[j] = if accumulate { dx[j] + g } else { g };
                }
            }
            part
        })
        .collect();
    for part in partials {
        dgamma.iter_mut().zip(&part[..h]).for_each(|(d, p)| *d += p);
        dbeta.iter_mut().zip(&part[h..]).for_each(|(d, p)| *d += p);
    }
}

/// `g = gelu(u)` (exact erf), in parallel.
pub fn gelu_forward(u: &[f32], g: &mut [f32]) {
    let isa = Isa::detect();
    assert_eq!(u.len(), g.len());
    u.par_chunks(ROWS * 256)
        .zip(g.par_chunks_mut(ROWS * 256))
        .for_each(|(u, g)| block::gelu_rows(isa, u, g));
}

/// `du = dg * gelu'(u)`, in parallel.
pub fn gelu_backward(u: &[f32], dg: &[f32], du: &mut [f32]) {
    let isa = Isa::detect();
    assert!(u.len() == dg.len() && u.len() == du.len());
    u.par_chunks(ROWS * 256)
        .zip(dg.par_chunks(ROWS * 256))
        .zip(du.par_chunks_mut(ROWS * 256))
        .for_each(|((u, dg), du)| block::gelu_backward_rows(isa, u, dg, du));
}

/// Adds the column sums of the `n`-wide rows of `x` to `out` (a bias's
/// gradient from its layer's output gradient).
pub fn column_sums(x: &[f32], n: usize, out: &mut [f32]) {
    assert!(n > 0 && x.len().is_multiple_of(n) && out.len() == n);
    let partials: Vec<Vec<f32>> = x
        .par_chunks(ROWS * n)
        .map(|rows| {
            let mut part = vec![0f32; n];
            for row in rows.chunks_exact(n) {
                part.iter_mut().zip(row).for_each(|(p, v)| *p += v);
            }
            part
        })
        .collect();
    for part in partials {
        out.iter_mut().zip(&part).for_each(|(o, p)| *o += p);
    }
}

/// The shape of an attention pass: unpadded sequences of `lens` tokens in
/// rows of `3 * heads * head_dim` (Q, K, V side by side).
#[derive(Debug, Clone, Copy)]
pub struct Attention<'a> {
    /// Real tokens of each sequence, laid end to end.
    pub lens: &'a [usize],
    /// Heads.
    pub heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Multiplies the scores (1/sqrt(head_dim) in BERT).
    pub scale: f32,
}

impl Attention<'_> {
    fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Values of saved probabilities: heads x len x len per sequence.
    pub fn probs_len(&self) -> usize {
        self.lens.iter().map(|l| self.heads * l * l).sum()
    }

    /// Per sequence: (its rows of Q/K/V, its probabilities' length).
    fn split(&self) -> Vec<(usize, usize)> {
        self.lens.iter().map(|&l| (l, self.heads * l * l)).collect()
    }
}

/// Splits `buf` into consecutive pieces of the given lengths.
fn pieces(mut buf: &mut [f32], lens: impl Iterator<Item = usize>) -> Vec<&mut [f32]> {
    let mut out = Vec::new();
    for n in lens {
        let (head, tail) = buf.split_at_mut(n);
        out.push(head);
        buf = tail;
    }
    out
}

/// Context rows (`ctx`, tokens x width) from `qkv`, keeping each
/// sequence's softmax probabilities in `probs` (`a.probs_len()` values).
/// Parallel over sequences.
pub fn attention_forward(a: Attention, qkv: &[f32], ctx: &mut [f32], probs: &mut [f32]) {
    let (w, hd) = (a.width(), a.head_dim);
    let tokens: usize = a.lens.iter().sum();
    assert!(qkv.len() == tokens * 3 * w && ctx.len() == tokens * w);
    assert_eq!(probs.len(), a.probs_len());
    let isa = Isa::detect();
    let split = a.split();
    let ctx = pieces(ctx, split.iter().map(|s| s.0 * w));
    let probs = pieces(probs, split.iter().map(|s| s.1));
    let starts = starts(a.lens.iter().copied());
    ctx.into_par_iter()
        .zip(probs)
        .zip(starts)
        .for_each(|((ctx, probs), start)| {
            let l = ctx.len() / w;
            if l == 0 {
                return;
            }
            let rows = &qkv[start * 3 * w..(start + l) * 3 * w];
            for h in 0..a.heads {
                let [q, k, v] = head_views(rows, h, w, hd, l);
                let p = &mut probs[h * l * l..(h + 1) * l * l];
                gemm(q, k.t(), p, l, false, false);
                for row in p.chunks_exact_mut(l) {
                    row.iter_mut().for_each(|s| *s *= a.scale);
                    block::softmax_row(isa, row);
                }
                gemm(View::rows(p, l, l), v, &mut ctx[h * hd..], w, false, false);
            }
        });
}

/// The backward of [`attention_forward`]: from `dctx`, writes `dqkv`
/// (tokens x 3 width). Parallel over sequences.
pub fn attention_backward(
    a: Attention,
    qkv: &[f32],
    probs: &[f32],
    dctx: &[f32],
    dqkv: &mut [f32],
) {
    let (w, hd) = (a.width(), a.head_dim);
    let tokens: usize = a.lens.iter().sum();
    assert!(qkv.len() == tokens * 3 * w && dctx.len() == tokens * w);
    assert!(dqkv.len() == qkv.len() && probs.len() == a.probs_len());
    let split = a.split();
    let dqkv = pieces(dqkv, split.iter().map(|s| s.0 * 3 * w));
    let work: Vec<_> = dqkv
        .into_iter()
        .zip(starts(a.lens.iter().copied()))
        .zip(starts(split.iter().map(|s| s.1)))
        .collect();
    work.into_par_iter().for_each(|((dqkv, start), p0)| {
        let l = dqkv.len() / (3 * w);
        if l == 0 {
            return;
        }
        let rows = &qkv[start * 3 * w..(start + l) * 3 * w];
        let drows = &dctx[start * w..(start + l) * w];
        let mut ds = vec![0f32; l * l];
        for h in 0..a.heads {
            let [q, k, v] = head_views(rows, h, w, hd, l);
            let dc = View::rows(&drows[h * hd..], l, hd).with_rs(w);
            let p = &probs[p0 + h * l * l..p0 + (h + 1) * l * l];
            // dV = P^T dctx; dP = dctx V^T.
            gemm(
                View::rows(p, l, l).t(),
                dc,
                &mut dqkv[2 * w + h * hd..],
                3 * w,
                false,
                false,
            );
            gemm(dc, v.t(), &mut ds, l, false, false);
            // dS = P * (dP - rowsum(dP * P)), times the scale.
            for (d, p) in ds.chunks_exact_mut(l).zip(p.chunks_exact(l)) {
                let dot: f32 = d.iter().zip(p).map(|(d, p)| d * p).sum();
                d.iter_mut()
                    .zip(p)
                    .for_each(|(d, &p)| *d = a.scale * p * (*d - dot));
            }
            // dQ = dS K; dK = dS^T Q.
            let dsv = View::rows(&ds, l, l);
            gemm(dsv, k, &mut dqkv[h * hd..], 3 * w, false, false);
            gemm(dsv.t(), q, &mut dqkv[w + h * hd..], 3 * w, false, false);
        }
    });
}

/// Where each of consecutive pieces of the given lengths starts.
fn starts(lens: impl Iterator<Item = usize>) -> Vec<usize> {
    lens.scan(0, |at, n| {
        let start = *at;
        *at += n;
        Some(start)
    })
    .collect()
}

/// Head `h`'s Q, K and V in the rows of one sequence (`l` rows of
/// `3 * w`, Q/K/V side by side).
fn head_views(rows: &[f32], h: usize, w: usize, hd: usize, l: usize) -> [View<'_>; 3] {
    [0, w, 2 * w].map(|at| View::rows(&rows[at + h * hd..], l, hd).with_rs(3 * w))
}
