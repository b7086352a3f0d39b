//! Row-at-a-time operations: dot products, parameter-free LayerNorm, and
//! the sweep that finishes a q-net layer after its matrix product. The
//! bodies are in `sweep.rs`; where the CPU has AVX-512 or AVX2 the ones that run
//! over many rows are compiled for it (`avx512.rs`, `avx2.rs`), chosen by [`Isa`].

use crate::dispatch::Isa;
use crate::sweep::{dot, dots_at_body, dots_body, row_epilogue_body, RowEpilogue};

/// `out[q * n + i] = dot(docs row i, query q)` for few queries, where a
/// panel of 32 columns would be mostly padding; memory-bound anyway.
pub fn dots(docs: &[f32], n: usize, dim: usize, queries: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if Isa::detect().is_avx512() {
        // SAFETY: `Isa::detect` found AVX-512F; the body is safe code.
        return unsafe { crate::avx512::dots(docs, n, dim, queries, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if Isa::detect().is_avx2() {
        // SAFETY: `Isa::detect` found AVX2 and FMA; the body is safe code.
        return unsafe { crate::avx2::dots(docs, n, dim, queries, out) };
    }
    dots_body(docs, n, dim, queries, out)
}

/// `out[i] = dot(table row rows[i], query)`, reading each row where it
/// lies in `table` (`dim` values per row) rather than copying it out, and
/// prefetching the next row while scoring one: a graph walk's scoring,
/// where rows are few, scattered and cold. Each score depends only on its
/// row and the query (not on the other rows), but may differ from
/// [`dots`]'s in the last bits: the sum is taken in another order.
pub fn dots_at(table: &[f32], dim: usize, rows: &[u32], query: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if Isa::detect().is_avx512() {
        // SAFETY: `Isa::detect` found AVX-512F; the body is safe code.
        return unsafe { crate::avx512::dots_at(table, dim, rows, query, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if Isa::detect().is_avx2() {
        // SAFETY: `Isa::detect` found AVX2 and FMA; the body is safe code.
        return unsafe { crate::avx2::dots_at(table, dim, rows, query, out) };
    }
    dots_at_body(table, dim, rows, query, out, dot)
}

/// One dot product on the widest registers this CPU has (four FMA
/// chains, a masked tail): a graph build's comparison of two rows, one pair
/// at a time. The sum is taken in another order than [`dot`]'s, so the two
/// may differ in the last bits.
pub fn dot_wide(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        let isa = Isa::detect();
        if isa.is_avx512() {
            // SAFETY: `Isa::detect` found AVX-512F; the body is safe code.
            return unsafe { crate::avx512::dot(a, b) };
        }
        if isa.is_avx2() {
            // SAFETY: `Isa::detect` found AVX2 and FMA; the body is safe code.
            return unsafe { crate::avx2::dot(a, b) };
        }
    }
    dot(a, b)
}

impl RowEpilogue<'_> {
    /// Applies this to `n` rows of `y` (each `width` wide), in place. Rows
    /// are independent and each is done in one sweep while it sits in L1.
    pub fn apply(&mut self, y: &mut [f32], n: usize, width: usize) {
        #[cfg(target_arch = "x86_64")]
        if Isa::detect().is_avx512() {
            // SAFETY: `Isa::detect` found AVX-512F; the body is safe code.
            return unsafe { crate::avx512::row_epilogue(y, n, width, self) };
        }
        #[cfg(target_arch = "x86_64")]
        if Isa::detect().is_avx2() {
            // SAFETY: `Isa::detect` found AVX2 and FMA; the body is safe code.
            return unsafe { crate::avx2::row_epilogue(y, n, width, self) };
        }
        row_epilogue_body(y, n, width, self)
    }
}

/// In-place softmax of each `width`-wide row of `x`.
pub fn softmax_rows(x: &mut [f32], width: usize) {
    let isa = Isa::detect();
    for row in x.chunks_exact_mut(width.max(1)) {
        crate::block::softmax_row(isa, row);
    }
}
