//! The bf16 product's operand layout, below the files that read it
//! (`avx512_bf16.rs`, `portable.rs`) and the driver that picks between
//! them (`bf16.rs`): rounding f32 to bfloat16 (round to nearest even) and
//! back, and packing rows into pair words. Nothing here runs SIMD code.
//!
//! Layout: k is taken in pairs (an odd k gets a zero pair half). A pair of
//! bf16 values is one 32-bit word, the even k in the low half, as
//! `vdpbf16ps` reads it. B is stored in `NR`-column panels, each k pair
//! one panel row of 32 words (16 columns per register); A is converted per
//! call into rows of `k.div_ceil(2)` words (with AVX512_BF16, 32 values per
//! `vcvtne2ps2bf16`).

/// k pairs per pass over a panel (64 values of k, as the f32 kernel's `KC`).
pub(crate) const KCP: usize = 32;

/// `x` rounded to the nearest bf16 (ties to even); NaN stays NaN.
#[inline]
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x40;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// The f32 that bf16 value `h` stands for (exact).
#[inline]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// The word holding bf16 `lo` (even k) and `hi` (odd k).
#[inline]
pub(crate) fn pair(lo: f32, hi: f32) -> u32 {
    u32::from(to_bf16(lo)) | (u32::from(to_bf16(hi)) << 16)
}

/// Words `q0..` of `row` (k f32 values) as bf16 pairs into `words`; an odd
/// k's last word gets a zero high half.
pub(crate) fn pack_row_from(row: &[f32], q0: usize, words: &mut [u32]) {
    let k = row.len();
    for (q, w) in words.iter_mut().enumerate().skip(q0) {
        let hi = if 2 * q + 1 < k { row[2 * q + 1] } else { 0.0 };
        *w = pair(row[2 * q], hi);
    }
}
