//! int8 codes of document vectors: each row quantised symmetrically with
//! its own scale (max |x| / 127), and the integer dot product of two codes.
//! A graph build compares rows through them (a quarter of the bytes to
//! fetch per comparison), and an index can store them instead of floats.
//!
//! Codes lie in -127..=127 (never -128), which the AVX2 product needs: it
//! multiplies |a| (unsigned) by b with a's sign, `vpmaddubsw`, whose
//! pairwise i16 sums then stay below 2 x 127 x 127 < 2^15.

use crate::dispatch::Isa;
use crate::int8::QMAX;

/// `row` quantised into `codes` (same length); returns the scale, so that
/// `codes[i] as f32 * scale` approximates `row[i]` (0 for a row of zeros,
/// NaN for a row with a non-finite value). Rounds to nearest even.
pub fn quantize_codes(row: &[f32], codes: &mut [i8]) -> f32 {
    assert_eq!(row.len(), codes.len(), "one code per value");
    codes.fill(0);
    if row.iter().any(|v| !v.is_finite()) {
        return f32::NAN;
    }
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 {
        return 0.0;
    }
    let inv = QMAX / max;
    for (c, v) in codes.iter_mut().zip(row) {
        *c = (v * inv).round_ties_even().clamp(-QMAX, QMAX) as i8;
    }
    max / QMAX
}

/// The exact integer dot product of two codes of equal length.
pub fn dot_codes(a: &[i8], b: &[i8]) -> i32 {
    assert_eq!(a.len(), b.len(), "codes of one length");
    #[cfg(target_arch = "x86_64")]
    if Isa::detect().has_avx2() {
        // SAFETY: `Isa::detect` found AVX2; the body reads only inside the
        // slices.
        return unsafe { crate::avx2::dot_codes(a, b) };
    }
    dot_codes_portable(a, b)
}

/// [`dot_codes`] in plain code: the reference, and the tail of the SIMD one.
pub(crate) fn dot_codes_portable(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}
