//! Products in bfloat16 with f32 sums: the right-hand matrix ([`Bf16Rhs`])
//! and the left rows are rounded to bf16 (round to nearest even), every
//! product of two bf16 values is exact in f32, and sums run in f32. With
//! AVX512_BF16 one `vdpbf16ps` does 32 multiply-adds where an f32 FMA does
//! 16; elsewhere [`crate::portable`] computes the same sums with scalar code.
//!
//! This is the driver on top of the bf16 files: the operand layout (pair
//! words, [`NR`]-column panels) and the rounding are in `bf16_pack.rs`, the
//! kernels in `avx512_bf16.rs` and `portable.rs`; this file lays out B once
//! and picks the kernel.

use crate::bf16_pack::{pack_row_from, pair};
use crate::dispatch::Isa;
use crate::tile::NR;

/// A right-hand matrix `B` (k x n) in bf16 panels, for [`matmul_bf16`].
#[derive(Debug, Clone)]
pub struct Bf16Rhs {
    k: usize,
    n: usize,
    /// Panels of `k.div_ceil(2)` rows of NR words.
    data: Vec<u32>,
}

impl Bf16Rhs {
    /// `b` holds element (kk, j) at `b[kk * rs + j * cs]` (f32, rounded
    /// here).
    pub fn new(b: &[f32], k: usize, n: usize, rs: usize, cs: usize) -> Self {
        assert!(
            k == 0 || n == 0 || b.len() > (k - 1) * rs + (n - 1) * cs,
            "Bf16Rhs: b too small"
        );
        let kp = k.div_ceil(2);
        let panels = n.div_ceil(NR);
        let mut data = vec![0u32; panels * kp * NR];
        let at = |kk: usize, j: usize| if kk < k { b[kk * rs + j * cs] } else { 0.0 };
        for p in 0..panels {
            for q in 0..kp {
                for jj in 0..NR.min(n - p * NR) {
                    let j = p * NR + jj;
                    data[(p * kp + q) * NR + jj] = pair(at(2 * q, j), at(2 * q + 1, j));
                }
            }
        }
        Bf16Rhs { k, n, data }
    }

    /// The panels' words (for [`crate::Rhs::linear_bf16`]).
    pub(crate) fn into_words(self) -> Vec<u32> {
        self.data
    }

    /// Rows (the inner dimension of the product).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns (outputs).
    pub fn n(&self) -> usize {
        self.n
    }
}

/// `c (m x n, row-major) = a (m x k, row-major, rounded to bf16) . b`, sums
/// in f32. `pack` is scratch space for `a`'s re-laid bf16 copy. Each output
/// row is computed the same way whatever `m` (fixed k order), on the
/// AVX512_BF16 kernel when the CPU has it, else the portable one.
pub fn matmul_bf16(m: usize, a: &[f32], b: &Bf16Rhs, c: &mut [f32], pack: &mut Vec<u32>) {
    matmul_bf16_on(Isa::detect(), m, a, b, c, pack)
}

/// [`matmul_bf16`] on a chosen instruction set (tests compare them).
pub(crate) fn matmul_bf16_on(
    isa: Isa,
    m: usize,
    a: &[f32],
    b: &Bf16Rhs,
    c: &mut [f32],
    pack: &mut Vec<u32>,
) {
    let (k, n) = (b.k, b.n);
    assert!(
        a.len() >= m * k && c.len() >= m * n,
        "matmul_bf16: buffers too small"
    );
    if m == 0 || n == 0 {
        return;
    }
    let kp = k.div_ceil(2);
    pack.clear();
    pack.resize(m * kp, 0);
    #[cfg(target_arch = "x86_64")]
    if isa.has_bf16() {
        // SAFETY: `isa` says AVX-512F and AVX512_BF16 are present (only
        // `Isa::detect` can); `a` holds m rows of k values, `pack` m rows
        // of kp words, `b.data` whole panels of kp rows of NR words, `c`
        // at least m * n values (asserted above), a distinct borrow.
        unsafe {
            crate::avx512_bf16::pack_rows(&a[..m * k], k, pack);
            crate::avx512_bf16::matmul(m, kp, n, pack.as_ptr(), b.data.as_ptr(), c.as_mut_ptr())
        };
        return;
    }
    let _ = isa;
    for (row, words) in a[..m * k]
        .chunks_exact(k.max(1))
        .zip(pack.chunks_exact_mut(kp.max(1)))
    {
        pack_row_from(row, 0, words);
    }
    crate::portable::matmul_bf16(m, kp, n, pack, &b.data, c);
}
