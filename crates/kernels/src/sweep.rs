//! Row-at-a-time bodies in safe Rust that the compiler vectorises: dot
//! products, parameter-free LayerNorm, and the sweep that finishes a q-net
//! layer after its matrix product. `rows.rs` runs them as they are, or
//! compiled with wider registers through `avx512.rs` or `avx2.rs`; the sums
//! are taken in the same order either way, so all give the same results.

use crate::act::Activation;

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

/// Dot product with 16 independent accumulators (vectorisable; the order
/// of the sum is fixed, so the result does not depend on the caller).
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

#[inline(always)]
pub(crate) fn dots_body(docs: &[f32], n: usize, dim: usize, queries: &[f32], out: &mut [f32]) {
    for (i, row) in docs[..n * dim].chunks_exact(dim).enumerate() {
        for (q, query) in queries.chunks_exact(dim).enumerate() {
            out[q * n + i] = dot(row, query);
        }
    }
}

/// Asks the CPU to start loading `row` into cache: a hint, never a fault.
/// A graph walk's rows (vectors, neighbour lists) sit at random places in
/// files far larger than the caches, so each read would otherwise wait for
/// memory.
#[inline(always)]
pub fn prefetch<T>(row: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(row);
        for line in (0..bytes).step_by(64) {
            // SAFETY: the address is inside `row`; a prefetch reads nothing
            // and cannot fault.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().cast::<i8>().add(line)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// The walk of [`crate::dots_at`] over the rows, scoring each with `dot`.
#[inline(always)]
pub(crate) fn dots_at_body(
    table: &[f32],
    dim: usize,
    rows: &[u32],
    query: &[f32],
    out: &mut [f32],
    dot: impl Fn(&[f32], &[f32]) -> f32,
) {
    assert!(query.len() == dim && out.len() >= rows.len());
    let row = |r: u32| &table[r as usize * dim..][..dim];
    // Every row's first lines at once (the misses overlap), then each next
    // row whole while one is scored.
    for &r in rows {
        prefetch(&row(r)[..dim.min(32)]);
    }
    if let Some(&second) = rows.get(1) {
        prefetch(row(second));
    }
    for (i, (&r, score)) in rows.iter().zip(out.iter_mut()).enumerate() {
        if let Some(&next) = rows.get(i + 2) {
            prefetch(row(next));
        }
        *score = dot(row(r), query);
    }
}

/// What follows a q-net hidden layer's matrix product, row by row: bias and
/// activation, parameter-free LayerNorm before or after the residual, and
/// on the last hidden layer the final layer's dot product.
pub struct RowEpilogue<'a> {
    /// One value per column, added before the activation.
    pub bias: &'a [f32],
    /// Applied to each biased value.
    pub activation: Activation,
    /// LayerNorm (no parameters) before the residual.
    pub norm_before: bool,
    /// LayerNorm (no parameters) after the residual.
    pub norm_after: bool,
    /// LayerNorm's epsilon.
    pub eps: f32,
    /// The layer's input rows, added back (residual), when given.
    pub residual: Option<&'a [f32]>,
    /// The final layer's weights, when this is the last hidden layer: each
    /// row's score is written to `scores` while the row is in L1.
    pub last: Option<(&'a [f32], &'a mut [f32])>,
}

#[inline(always)]
pub(crate) fn row_epilogue_body(y: &mut [f32], n: usize, width: usize, e: &mut RowEpilogue<'_>) {
    assert!(y.len() >= n * width && e.bias.len() == width);
    for (i, row) in y[..n * width].chunks_exact_mut(width).enumerate() {
        // Activation with the bias added; relu as a select the compiler
        // vectorises (NaN -> 0, as `f32::max` in Activation::apply).
        match e.activation {
            Activation::Relu => {
                for (v, b) in row.iter_mut().zip(e.bias) {
                    let x = *v + b;
                    *v = if x > 0.0 { x } else { 0.0 };
                }
            }
            act => {
                for (v, b) in row.iter_mut().zip(e.bias) {
                    *v = act.apply(*v + b);
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
