//! Single-threaded matrix products for callers that run many of them in
//! parallel themselves (one block of documents per task: nested GEMM
//! threading would fight their pool over the same cores).
//!
//! `C = A . B` where B ([`Rhs`]) is packed once (per query, not per block).
//! With AVX-512, A is re-laid per call into row groups interleaved by k so
//! the micro-kernel reads one stream, and k runs in fixed chunks, so a
//! row's sums never depend on the rows around it. Otherwise the `gemm`
//! crate runs (built with its `x86-v4` feature, see the root Cargo.toml).

use std::ops::Range;

use crate::block;
use crate::dispatch::Isa;
use crate::int8::{Packing, QuantWeights};
use crate::tile::{Bf16Panels, Finish, Lhs, Out, Panels, QuantPanels, MR, NR};

/// A right-hand matrix `B` (k x n) stored once in the layout the running
/// kernel wants: [`NR`]-column panels (each k rows of 32 values,
/// zero-padded) for the micro-kernel, plain row-major for the `gemm` crate;
/// optionally with one bias value per column (padded to whole panels).
/// Linear layers may instead hold their weights in bf16 or int8
/// ([`Rhs::linear_bf16`], [`Rhs::linear_int8`]).
#[derive(Debug, Clone)]
pub struct Rhs {
    k: usize,
    n: usize,
    weights: Weights,
    /// Empty, or n.div_ceil(NR) * NR values.
    bias: Vec<f32>,
}

/// The values of an [`Rhs`], in one arithmetic.
#[derive(Debug, Clone)]
enum Weights {
    /// f32, in panels or (for the `gemm` crate) row-major.
    F32 { packed: bool, data: Vec<f32> },
    /// bf16 pair words in panels (`bf16_pack.rs`).
    Bf16(Vec<u32>),
    /// int8 per column (`int8.rs`), in the packing of the CPU's kernel.
    Int8(QuantWeights),
}

impl Rhs {
    /// For [`matmul`]: `b` holds element (kk, j) at `b[kk * rs + j * cs]`;
    /// panels when the AVX-512 kernel runs, row-major for the `gemm` crate
    /// otherwise (on AVX2 its cache-blocked product scored q-nets 5-14%
    /// faster than the block kernel, bench/qnet).
    pub fn new(b: &[f32], k: usize, n: usize, rs: usize, cs: usize) -> Self {
        Self::with_layout(b, k, n, rs, cs, Isa::detect().is_avx512())
    }

    /// For [`crate::linear`]: `b` addressed as in [`Rhs::new`], always in
    /// panels, without a bias.
    pub fn strided(b: &[f32], k: usize, n: usize, rs: usize, cs: usize) -> Self {
        Self::with_layout(b, k, n, rs, cs, true)
    }

    /// For [`crate::linear`] and the fused encoder steps: the weights of a
    /// PyTorch `Linear` (`w` row-major (n, k), computing `x W^T + b`), in
    /// panels of W^T, with `bias` (zeros when absent).
    pub fn linear(w: &[f32], bias: Option<&[f32]>, n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "Rhs::linear: weights are not n x k");
        let mut rhs = Self::with_layout(w, k, n, 1, k, true);
        rhs.set_bias(bias);
        rhs
    }

    /// As [`Rhs::linear`], with the weights rounded to bf16; the encoder
    /// steps then round their input rows too and sum in f32 (`vdpbf16ps`
    /// with AVX512_BF16: twice the multiply-adds per instruction of f32;
    /// portable code elsewhere, correct but slow). Only the encoder steps
    /// take it, not [`matmul`].
    pub fn linear_bf16(w: &[f32], bias: Option<&[f32]>, n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "Rhs::linear_bf16: weights are not n x k");
        let panels = crate::bf16::Bf16Rhs::new(w, k, n, 1, k).into_words();
        let mut rhs = Rhs {
            k,
            n,
            weights: Weights::Bf16(panels),
            bias: Vec::new(),
        };
        rhs.set_bias(bias);
        rhs
    }

    /// As [`Rhs::linear`], with the weights quantised to int8, one scale
    /// per output column; the encoder steps then quantise their input rows
    /// on the fly (dynamic quantisation) and multiply in integers: on
    /// AVX512-VNNI four products per lane and instruction (`vpdpbusd`),
    /// on AVX2 two (`vpmaddwd`). Only the encoder steps take it, not
    /// [`matmul`].
    pub fn linear_int8(w: &[f32], bias: Option<&[f32]>, n: usize, k: usize) -> Self {
        Self::linear_int8_for(Isa::detect(), w, bias, n, k)
    }

    /// [`Rhs::linear_int8`] packed for `isa`'s kernel (tests build the
    /// AVX2 layout on VNNI CPUs with it).
    pub(crate) fn linear_int8_for(
        isa: Isa,
        w: &[f32],
        bias: Option<&[f32]>,
        n: usize,
        k: usize,
    ) -> Self {
        assert_eq!(w.len(), n * k, "Rhs::linear_int8: weights are not n x k");
        let packing = if isa.has_vnni() {
            Packing::Quads
        } else {
            Packing::Pairs
        };
        let mut rhs = Rhs {
            k,
            n,
            weights: Weights::Int8(crate::int8::pack_linear(w, n, k, packing)),
            bias: Vec::new(),
        };
        rhs.set_bias(bias);
        rhs
    }

    fn set_bias(&mut self, bias: Option<&[f32]>) {
        self.bias = vec![0f32; self.n.div_ceil(NR) * NR];
        if let Some(bias) = bias {
            self.bias[..self.n].copy_from_slice(bias);
        }
    }

    /// `c[0..m, cols of panels] = finish(bias + a . self)` on `isa`: the
    /// block product of this matrix's arithmetic.
    ///
    /// # Safety
    /// `a` holds `m` rows of `self.k()` values; `c` (and a residual) rows
    /// are writable (readable) over the panels' columns and `c` overlaps
    /// neither input.
    pub(crate) unsafe fn block(
        &self,
        isa: Isa,
        m: usize,
        a: Lhs,
        panels: Range<usize>,
        c: Out,
        finish: Finish,
    ) {
        debug_assert_eq!(a.k, self.k);
        match &self.weights {
            // SAFETY: the panels are this matrix's own, whole, with scales,
            // starts and bias for every panel column; the caller vouches
            // for the rest.
            Weights::Int8(q) => unsafe {
                let b = QuantPanels {
                    words: q.words.as_ptr(),
                    kw: q.packing.words(self.k),
                    packing: q.packing,
                    n: self.n,
                    scales: q.scales.as_ptr(),
                    bias: self.bias.as_ptr(),
                    starts: if q.starts.is_empty() {
                        std::ptr::null()
                    } else {
                        q.starts.as_ptr()
                    },
                };
                block::block_int8(isa, m, a, b, panels, c, finish)
            },
            // SAFETY: as above, for the bf16 panels.
            Weights::Bf16(words) => unsafe {
                let b = Bf16Panels {
                    words: words.as_ptr(),
                    kp: self.k.div_ceil(2),
                    n: self.n,
                    bias: self.bias.as_ptr(),
                };
                block::block_bf16(isa, m, a, b, panels, c, finish)
            },
            // SAFETY: as above, for the f32 panels.
            Weights::F32 { .. } => unsafe {
                block::block(isa, m, a, self.panels(true), panels, c, finish)
            },
        }
    }

    pub(crate) fn with_layout(
        b: &[f32],
        k: usize,
        n: usize,
        rs: usize,
        cs: usize,
        packed: bool,
    ) -> Self {
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
        Rhs {
            k,
            n,
            weights: Weights::F32 { packed, data },
            bias: Vec::new(),
        }
    }

    /// Rows (the inner dimension of the product).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns (outputs).
    pub fn n(&self) -> usize {
        self.n
    }

    /// The panel view the block kernels read; `bias` says whether to add
    /// this matrix's bias (null when it has none).
    pub(crate) fn panels(&self, bias: bool) -> Panels {
        let Weights::F32 { packed: true, data } = &self.weights else {
            panic!("Rhs is not in f32 panels");
        };
        Panels {
            ptr: data.as_ptr(),
            ldb: NR,
            panel_stride: self.k * NR,
            n: self.n,
            bias: if bias && !self.bias.is_empty() {
                self.bias.as_ptr()
            } else {
                std::ptr::null()
            },
        }
    }
}

/// `c (m x n, row-major) = a (m x k, row-major) . b`, without `b`'s bias.
/// `pack` is scratch space for the AVX-512 path's re-laid copy of `a`.
/// Each output row is computed the same way whatever `m` (fixed k order).
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
    let (packed, data) = match &b.weights {
        Weights::F32 { packed, data } => (*packed, data),
        _ => panic!("matmul: bf16 and int8 weights run only through linear"),
    };
    if !packed {
        let _ = pack;
        return sgemm(m, n, k, a, data, n, 1, c, false);
    }
    let isa = Isa::detect();
    #[cfg(target_arch = "x86_64")]
    if isa.is_avx512() {
        pack_rows(&a[..m * k], k, pack);
        // SAFETY: `Isa::detect` found AVX-512F; `pack` holds m * k values,
        // `data` whole zero-padded panels of k rows, `c` at least m * n
        // (asserted above), and `c` is a distinct borrow.
        unsafe {
            crate::avx512::matmul_packed(m, k, n, pack.as_ptr(), data.as_ptr(), c.as_mut_ptr())
        };
        return;
    }
    let lhs = Lhs {
        ptr: a.as_ptr(),
        ld: k,
        k,
    };
    let out = Out {
        ptr: c.as_mut_ptr(),
        ld: n,
    };
    // SAFETY: `a` holds m rows of k, `b`'s panels k rows each over n
    // columns, `c` m rows of n (asserted above); `c` is a distinct borrow.
    unsafe {
        block::block(
            isa,
            m,
            lhs,
            b.panels(false),
            0..n.div_ceil(NR),
            out,
            Finish::Store,
        )
    };
}

/// `a` (rows of `k`) re-laid into `pack`: row groups of MR, each group
/// interleaved by k ((kk, r) at kk * rows + r), so the micro-kernel reads
/// the group's A values as one stream.
fn pack_rows(a: &[f32], k: usize, pack: &mut Vec<f32>) {
    pack.resize(a.len(), 0.0);
    for (src, dst) in a.chunks(MR * k).zip(pack.chunks_mut(MR * k)) {
        let rows = src.len() / k;
        for (r, row) in src.chunks_exact(k).enumerate() {
            for (kk, &v) in row.iter().enumerate() {
                dst[kk * rows + r] = v;
            }
        }
    }
}

/// `c (m x n, row-major) = [c +] a (m x k, row-major) . b`, where `b` is
/// addressed by strides: element (kk, j) at `b[kk * b_rs + j * b_cs]`.
/// The `gemm` crate, single-threaded.
#[allow(clippy::too_many_arguments)] // the strided BLAS shape, kept flat for callers
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
    // three slices are distinct borrows. `gemm` picks its own instruction
    // set at run time.
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
