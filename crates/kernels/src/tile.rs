//! The operands of the block product, shared by the instruction-set files
//! (`avx512.rs`, `portable.rs`) and the drivers above them: raw views of
//! row-major buffers, the panel geometry, and what a tile does with its
//! sums. Nothing here runs SIMD code.
//!
//! Layout: the right-hand matrix is read in panels of up to [`NR`] columns;
//! in panel `p`, row `kk` starts at `ptr + p * panel_stride + kk * ldb`.
//! Packed weights ([`crate::Rhs`]) are contiguous zero-padded panels
//! (`ldb = NR`); attention reads K^T packed the same way and V in place.

use crate::int8::Packing;

/// Columns per panel: two 16-lane AVX-512 registers.
pub(crate) const NR: usize = 32;
/// Rows per register tile: 12 x 2 accumulators + 2 B registers fit in 32.
pub(crate) const MR: usize = 12;
/// k per pass of the packed-A product: a KC x NR slice of a B panel (8 KB)
/// and the row group's A slice stay in L1 across the block's row groups.
/// 64-96 measured best (768-d layers, 48 KB L1); 256 was ~30% slower, 32
/// ~35% slower.
pub(crate) const KC: usize = 64;

/// Left operand: row `r` at `ptr + r * ld`, `k` values each.
#[derive(Clone, Copy)]
pub(crate) struct Lhs {
    pub ptr: *const f32,
    pub ld: usize,
    pub k: usize,
}

/// Right operand, in panels (see the module doc). `bias` (or null) holds
/// one value per column, added to the sums before any product term.
/// `ldb == NR` means whole panels: every panel row is readable for all NR
/// values, padding included (the kernel then loads it unmasked).
#[derive(Clone, Copy)]
pub(crate) struct Panels {
    pub ptr: *const f32,
    pub ldb: usize,
    pub panel_stride: usize,
    /// Columns in all (the last panel may be narrower than NR).
    pub n: usize,
    pub bias: *const f32,
}

/// Right operand of the int8 product (`int8.rs`): panel `p`'s word row
/// `q` is NR words at `words + (p * kw + q) * NR` (whole, zero-padded),
/// `kw` words of k per column in `packing`; `scales` holds one value per
/// column and `bias` (or null) too, both padded to whole panels; `starts`
/// (quads only, else null) the accumulators' starts, also padded.
#[derive(Clone, Copy)]
pub(crate) struct QuantPanels {
    pub words: *const u32,
    pub kw: usize,
    pub packing: Packing,
    /// Columns in all.
    pub n: usize,
    pub scales: *const f32,
    pub bias: *const f32,
    pub starts: *const i32,
}

/// Right operand of the bf16 product with a finish (`bf16_pack.rs`):
/// panel `p`'s k-pair row `q` is NR words at `words + (p * kp + q) * NR`
/// (whole, zero-padded); `bias` (or null) one value per column, padded to
/// whole panels.
#[derive(Clone, Copy)]
pub(crate) struct Bf16Panels {
    pub words: *const u32,
    pub kp: usize,
    /// Columns in all.
    pub n: usize,
    pub bias: *const f32,
}

/// Left operand of the int8 product: row `r`'s `kw` words (in the right
/// operand's packing) at `words + r * kw`, its scale at `scales + r`.
#[derive(Clone, Copy)]
pub(crate) struct QuantRows {
    pub words: *const u32,
    pub kw: usize,
    pub scales: *const f32,
}

/// Output: row `r` at `ptr + r * ld`.
#[derive(Clone, Copy)]
pub(crate) struct Out {
    pub ptr: *mut f32,
    pub ld: usize,
}

impl Out {
    /// The same view starting `off` values further (a method, so closures
    /// capture the whole `Out`, which is `Sync`, not its raw pointer).
    ///
    /// # Safety
    /// `ptr + off` stays inside the buffer `ptr` points into.
    pub(crate) unsafe fn add(self, off: usize) -> Out {
        Out {
            // SAFETY: the caller keeps the offset inside the buffer.
            ptr: unsafe { self.ptr.add(off) },
            ld: self.ld,
        }
    }
}

/// What a tile does with its finished sums before storing them.
#[derive(Clone, Copy)]
pub(crate) enum Finish {
    /// Store as they are.
    Store,
    /// Exact-erf GELU.
    Gelu,
    /// Add a same-shaped matrix, row `r` at `ptr + r * ld` (block origin).
    Residual { ptr: *const f32, ld: usize },
}

impl Finish {
    /// The same finish for the tile at row `r`, column `col` of the block.
    ///
    /// # Safety
    /// That element lies inside the residual (when there is one).
    #[inline(always)]
    pub(crate) unsafe fn at(self, r: usize, col: usize) -> Finish {
        match self {
            Finish::Residual { ptr, ld } => Finish::Residual {
                // SAFETY: the caller keeps (r, col) inside the residual.
                ptr: unsafe { ptr.add(r * ld + col) },
                ld,
            },
            f => f,
        }
    }
}

/// `$tile::<R>($args)` for a run-time row count `$rows` in 1..=MR (12),
/// every count expanded inline: the 8-bit and bf16 drivers' dispatch to
/// their const-generic tiles. Expands to calls of `$tile`, so the caller's
/// `unsafe` block carries the tile's contract.
macro_rules! by_rows {
    ($rows:expr, $tile:ident($($arg:expr),*)) => {
        match $rows {
            12 => $tile::<12>($($arg),*),
            11 => $tile::<11>($($arg),*),
            10 => $tile::<10>($($arg),*),
            9 => $tile::<9>($($arg),*),
            8 => $tile::<8>($($arg),*),
            7 => $tile::<7>($($arg),*),
            6 => $tile::<6>($($arg),*),
            5 => $tile::<5>($($arg),*),
            4 => $tile::<4>($($arg),*),
            3 => $tile::<3>($($arg),*),
            2 => $tile::<2>($($arg),*),
            _ => $tile::<1>($($arg),*),
        }
    };
}
pub(crate) use by_rows;

// SAFETY: these are plain views of buffers that outlive the parallel loops
// that share them; every task writes disjoint rows or columns of `Out`, and
// the rest is only read.
unsafe impl Send for Lhs {}
// SAFETY: as for `Send`: shared reads only.
unsafe impl Sync for Lhs {}
// SAFETY: read-only view, see `Lhs`.
unsafe impl Send for Panels {}
// SAFETY: read-only view, see `Lhs`.
unsafe impl Sync for Panels {}
// SAFETY: read-only view, see `Lhs`.
unsafe impl Send for QuantPanels {}
// SAFETY: read-only view, see `Lhs`.
unsafe impl Sync for QuantPanels {}
// SAFETY: read-only view, see `Lhs`.
unsafe impl Send for Bf16Panels {}
// SAFETY: read-only view, see `Lhs`.
unsafe impl Sync for Bf16Panels {}
// SAFETY: tasks given the same `Out` write disjoint tiles of it (each
// driver partitions rows or panels between tasks).
unsafe impl Send for Out {}
// SAFETY: as for `Send`.
unsafe impl Sync for Out {}
// SAFETY: the residual pointer is only read.
unsafe impl Send for Finish {}
// SAFETY: the residual pointer is only read.
unsafe impl Sync for Finish {}
