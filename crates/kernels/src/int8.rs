//! The int8 product's operand layout and quantisation, below the files
//! that read it (`avx2.rs`, `portable.rs`) and the driver (`block.rs`).
//! Nothing here runs SIMD code.
//!
//! Symmetric 8-bit quantisation: weights per output column (a scale of
//! max |w| / 127 per column, fixed when they are packed), activations per
//! row (a scale per row, computed on every call: dynamic quantisation).
//! Values are stored as 16-bit integers in pairs of k, one 32-bit word per
//! pair (the even k in the low half), so a product is one `vpmaddwd` (two
//! 16 x 16-bit products summed into 32 bits per lane) with no saturation:
//! a sum is at most 127 x 127 x k, far inside 32 bits for any layer width.
//! B is stored in `NR`-column panels, each k pair one panel row of 32
//! words, as the bf16 product's panels.

use crate::tile::NR;

/// Largest magnitude of a quantised value.
pub(crate) const QMAX: f32 = 127.0;

/// The word holding quantised `lo` (even k) and `hi` (odd k).
#[inline(always)]
pub(crate) fn pair(lo: i32, hi: i32) -> u32 {
    u32::from(lo as i16 as u16) | (u32::from(hi as i16 as u16) << 16)
}

/// The two quantised values of a word.
#[inline(always)]
pub(crate) fn halves(w: u32) -> (i32, i32) {
    (
        i32::from(w as u16 as i16),
        i32::from((w >> 16) as u16 as i16),
    )
}

/// `row` quantised into `words` (`row.len().div_ceil(2)` of them; an odd
/// length's last word gets a zero high half); returns the scale (0 for a
/// row of zeros). Round to nearest even, as `vcvtps2dq` does, so the SIMD
/// quantisation gives the same integers.
pub(crate) fn quantize_row(row: &[f32], words: &mut [u32]) -> f32 {
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        words.fill(0);
        return if max == 0.0 { 0.0 } else { f32::NAN };
    }
    quantize_words_from(row, max, 0, words);
    max / QMAX
}

/// Words `q0..` of `row` quantised with the scale of `max` (its largest
/// magnitude, finite and not 0): the whole row here, the tail a SIMD loop
/// left.
pub(crate) fn quantize_words_from(row: &[f32], max: f32, q0: usize, words: &mut [u32]) {
    let inv = QMAX / max;
    let q = |i: usize| row.get(i).map_or(0, |v| (v * inv).round_ties_even() as i32);
    for (j, w) in words.iter_mut().enumerate().skip(q0) {
        *w = pair(q(2 * j), q(2 * j + 1));
    }
}

/// A PyTorch `Linear`'s weights (`w` row-major (n, k)) quantised per
/// output column, in panels: returns (panel words, one scale per column
/// padded to whole panels).
pub(crate) fn pack_linear(w: &[f32], n: usize, k: usize) -> (Vec<u32>, Vec<f32>) {
    let kp = k.div_ceil(2);
    let panels = n.div_ceil(NR);
    let mut words = vec![0u32; panels * kp * NR];
    let mut scales = vec![0f32; panels * NR];
    let mut col = vec![0u32; kp];
    for j in 0..n {
        scales[j] = quantize_row(&w[j * k..(j + 1) * k], &mut col);
        let (p, jj) = (j / NR, j % NR);
        for (q, &word) in col.iter().enumerate() {
            words[(p * kp + q) * NR + jj] = word;
        }
    }
    (words, scales)
}
