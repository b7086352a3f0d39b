//! The int8 product's operand layouts and quantisation, below the files
//! that read them (`avx2.rs`, `avx512_vnni.rs`, `portable.rs`) and the
//! driver (`block.rs`). Nothing here runs SIMD code.
//!
//! Symmetric 8-bit quantisation: weights per output column (a scale of
//! max |w| / 127 per column, fixed when they are packed), activations per
//! row (a scale per row, computed on every call: dynamic quantisation).
//! Both layouts hold the same integers, so every kernel computes the same
//! exact sums; they differ in how many k share a 32-bit word:
//! - [`Packing::Pairs`] (AVX2, portable): 16-bit integers in pairs of k,
//!   the even k in the low half, so a product is one `vpmaddwd` (two 16 x
//!   16-bit products summed into 32 bits per lane) with no saturation.
//! - [`Packing::Quads`] (AVX512-VNNI): bytes in quads of k, the first k in
//!   the low byte, for `vpdpbusd` (four u8 x i8 products added into 32 bits
//!   per lane, no intermediate saturation). Its left side must be unsigned:
//!   activations are stored plus 128 (1..=255), and each column's
//!   accumulator starts at -128 x (the column's sum of weights), which
//!   takes the shift back out exactly.
//!
//! A sum is at most 127 x 127 x k (plus the shift), far inside 32 bits for
//! any layer width. B is stored in `NR`-column panels, one panel row of 32
//! words per word of k, as the bf16 product's panels.

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

/// How quantised values share a 32-bit word (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packing {
    Pairs,
    Quads,
}

impl Packing {
    /// Values of k per word.
    pub(crate) fn per_word(self) -> usize {
        match self {
            Packing::Pairs => 2,
            Packing::Quads => 4,
        }
    }

    /// Words per row of `k` values.
    pub(crate) fn words(self, k: usize) -> usize {
        k.div_ceil(self.per_word())
    }
}

/// Byte `i` of a quad word, signed (weights).
#[inline(always)]
pub(crate) fn signed_byte(w: u32, i: usize) -> i32 {
    i32::from((w >> (8 * i)) as u8 as i8)
}

/// Byte `i` of a quad word, unsigned (activations plus 128).
#[inline(always)]
pub(crate) fn unsigned_byte(w: u32, i: usize) -> i32 {
    i32::from((w >> (8 * i)) as u8)
}

/// Linear weights quantised per output column, in one [`Packing`].
#[derive(Debug, Clone)]
pub(crate) struct QuantWeights {
    pub packing: Packing,
    /// Panels of `packing.words(k)` rows of NR words.
    pub words: Vec<u32>,
    /// One scale per column, padded to whole panels.
    pub scales: Vec<f32>,
    /// Quads only: -128 x each column's sum of quantised weights (padded
    /// to whole panels), the accumulators' start; empty for pairs.
    pub starts: Vec<i32>,
}

/// A PyTorch `Linear`'s weights (`w` row-major (n, k)) quantised per
/// output column into panels of `packing`.
pub(crate) fn pack_linear(w: &[f32], n: usize, k: usize, packing: Packing) -> QuantWeights {
    let kw = packing.words(k);
    let panels = n.div_ceil(NR);
    let mut words = vec![0u32; panels * kw * NR];
    let mut scales = vec![0f32; panels * NR];
    let mut starts = match packing {
        Packing::Pairs => Vec::new(),
        Packing::Quads => vec![0i32; panels * NR],
    };
    let mut pairs = vec![0u32; k.div_ceil(2)];
    for j in 0..n {
        scales[j] = quantize_row(&w[j * k..(j + 1) * k], &mut pairs);
        let values = pairs.iter().flat_map(|&p| {
            let (lo, hi) = halves(p);
            [lo, hi]
        });
        let (p, jj) = (j / NR, j % NR);
        match packing {
            Packing::Pairs => {
                for (q, &word) in pairs.iter().enumerate() {
                    words[(p * kw + q) * NR + jj] = word;
                }
            }
            Packing::Quads => {
                let values: Vec<i32> = values.collect();
                starts[j] = -128 * values.iter().sum::<i32>();
                for (q, quad) in values.chunks(4).enumerate() {
                    words[(p * kw + q) * NR + jj] = quad
                        .iter()
                        .enumerate()
                        .fold(0u32, |w, (i, &v)| w | (u32::from(v as i8 as u8) << (8 * i)));
                }
            }
        }
    }
    QuantWeights {
        packing,
        words,
        scales,
        starts,
    }
}

/// `row` quantised as [`quantize_row`] does it, stored as quads of bytes
/// plus 128 (`row.len().div_ceil(4)` words; missing values of the last
/// word are 128, a zero); returns the scale.
pub(crate) fn quantize_row_quads(row: &[f32], words: &mut [u32]) -> f32 {
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        words.fill(0x8080_8080);
        return if max == 0.0 { 0.0 } else { f32::NAN };
    }
    quantize_quads_from(row, max, 0, words);
    max / QMAX
}

/// Words `q0..` of `row` as quads with the scale of `max` (finite, not 0).
pub(crate) fn quantize_quads_from(row: &[f32], max: f32, q0: usize, words: &mut [u32]) {
    let inv = QMAX / max;
    let q = |i: usize| row.get(i).map_or(0, |v| (v * inv).round_ties_even() as i32);
    for (j, w) in words.iter_mut().enumerate().skip(q0) {
        *w = (0..4).fold(0u32, |acc, i| {
            acc | (u32::from((q(4 * j + i) + 128) as u8) << (8 * i))
        });
    }
}
