//! BERT layer steps for inference (`hypencoder-model`'s packed forward):
//! a packed-weight GEMM with bias and a fused finish (GELU or residual
//! add), the residual + LayerNorm steps fused into row blocks, a row-wise
//! LayerNorm, and a fused attention core (scores, softmax over the real keys
//! only, probabilities times values, written straight into the merged-heads
//! layout). All work runs on rayon's global pool; each block product inside
//! a task is single-threaded.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::act::Activation;
use crate::block;
use crate::dispatch::Isa;
use crate::gemm::Rhs;
use crate::tile::{Finish, Lhs, Out, Panels, MR, NR};

/// Query rows per attention task.
const QB: usize = 64;

/// What [`linear`] does to a finished output value.
#[derive(Debug, Clone, Copy)]
pub enum Epilogue<'a> {
    /// Nothing: `x W^T + b`.
    None,
    /// An activation (GELU fused into the micro-kernel, others after it).
    Act(Activation),
    /// Add the same-shaped matrix (row-major, `n` columns).
    Residual(&'a [f32]),
}

/// A LayerNorm's scale, shift and epsilon.
#[derive(Debug, Clone, Copy)]
pub struct Norm<'a> {
    /// Scale, one per column.
    pub gamma: &'a [f32],
    /// Shift, one per column.
    pub beta: &'a [f32],
    /// Added to the variance.
    pub eps: f32,
}

/// Rows per task for `m` rows: a multiple of MR, at most 96, ~4 blocks per
/// thread.
fn row_block(m: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    (m.div_ceil(4 * threads)).div_ceil(MR).clamp(1, 8) * MR
}

/// `out = epi(x W^T + b)`; `x` is (m, k) row-major, `out` (m, n), `w` from
/// [`Rhs::linear`]. Parallel over blocks of rows (and over column panels
/// when rows are few).
pub fn linear(x: &[f32], m: usize, w: &Rhs, out: &mut [f32], epi: Epilogue) {
    linear_on(Isa::detect(), x, m, w, out, epi)
}

pub(crate) fn linear_on(isa: Isa, x: &[f32], m: usize, w: &Rhs, out: &mut [f32], epi: Epilogue) {
    let (k, n) = (w.k(), w.n());
    assert!(x.len() >= m * k && out.len() >= m * n);
    if let Epilogue::Residual(r) = epi {
        assert!(r.len() >= m * n);
    }
    let np = n.div_ceil(NR);
    let threads = rayon::current_num_threads().max(1);
    let mc = row_block(m);
    let row_blocks = m.div_ceil(mc);
    // Few rows (single queries): split the columns too.
    let col_groups = if row_blocks >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(row_blocks).min(np)
    };
    let per_group = np.div_ceil(col_groups.max(1));
    let col_groups = np.div_ceil(per_group.max(1));
    let out = Out {
        ptr: out.as_mut_ptr(),
        ld: n,
    };
    (0..row_blocks * col_groups).into_par_iter().for_each(|t| {
        let (r0, cg) = ((t / col_groups) * mc, t % col_groups);
        let rows = mc.min(m - r0);
        let panels = cg * per_group..((cg + 1) * per_group).min(np);
        let finish = match epi {
            Epilogue::Act(Activation::Gelu) => Finish::Gelu,
            Epilogue::None | Epilogue::Act(_) => Finish::Store,
            Epilogue::Residual(r) => Finish::Residual {
                ptr: r[r0 * n..].as_ptr(),
                ld: n,
            },
        };
        let lhs = Lhs {
            ptr: x[r0 * k..].as_ptr(),
            ld: k,
            k,
        };
        // SAFETY: rows r0..r0+rows of `x`, `out` and the residual lie inside
        // the buffers (asserted above); `w`'s panels and bias cover all n
        // columns; tasks write disjoint (row block, panel range) tiles.
        let c = unsafe { out.add(r0 * n) };
        // SAFETY: as above.
        unsafe { w.block(isa, rows, lhs, panels.clone(), c, finish) };
        if let Epilogue::Act(act) = epi {
            if act != Activation::Gelu {
                let (c0, c1) = (panels.start * NR, (panels.end * NR).min(n));
                for r in 0..rows {
                    // SAFETY: this task's own columns c0..c1 of row r, which
                    // no other task touches.
                    let row =
                        unsafe { std::slice::from_raw_parts_mut(c.ptr.add(r * n + c0), c1 - c0) };
                    row.iter_mut().for_each(|v| *v = act.apply(*v));
                }
            }
        }
    });
}

/// Rows per task of [`fused_residual_ln`], or `None` when there are too
/// few rows to keep every thread busy (then callers run the unfused steps,
/// [`linear`] and [`layer_norm_rows`], which also split columns).
pub fn fused_rows(m: usize) -> Option<usize> {
    let threads = rayon::current_num_threads().max(1);
    let mc = row_block(m);
    (m.div_ceil(mc) >= 2 * threads).then_some(mc)
}

thread_local! {
    static ROWS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// In place, block of `mc` rows at a time (all in cache):
/// `x = LN(x + act(x W1 + b1) W2 + b2)` when `w1` is given (the feed-forward
/// block), else `x = LN(x + a W2 + b2)` (attention output, `a` (m, k2)).
pub fn fused_residual_ln(
    x: &mut [f32],
    a: Option<&[f32]>,
    mc: usize,
    w1: Option<(&Rhs, Activation)>,
    w2: &Rhs,
    norm: &Norm,
) {
    fused_residual_ln_on(Isa::detect(), x, a, mc, w1, w2, norm)
}

pub(crate) fn fused_residual_ln_on(
    isa: Isa,
    x: &mut [f32],
    a: Option<&[f32]>,
    mc: usize,
    w1: Option<(&Rhs, Activation)>,
    w2: &Rhs,
    norm: &Norm,
) {
    let h = w2.n();
    assert!(mc > 0 && x.len().is_multiple_of(h) && norm.gamma.len() == h && norm.beta.len() == h);
    let m = x.len() / h;
    if let Some((w1, _)) = w1 {
        assert!(w1.k() == h && w1.n() == w2.k());
    } else {
        assert!(a.is_some_and(|a| a.len() >= m * w2.k()));
    }
    x.par_chunks_mut(mc * h).enumerate().for_each(|(blk, xs)| {
        ROWS.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let a = a.map(|a| &a[blk * mc * w2.k()..]);
            residual_ln_block(isa, xs, a, w1, w2, norm, &mut scratch);
        })
    });
}

/// One row block of [`fused_residual_ln`]; `scratch` grows as needed.
fn residual_ln_block(
    isa: Isa,
    xs: &mut [f32],
    a: Option<&[f32]>,
    w1: Option<(&Rhs, Activation)>,
    w2: &Rhs,
    norm: &Norm,
    scratch: &mut Vec<f32>,
) {
    let h = w2.n();
    let rows = xs.len() / h;
    let inter_len = w1.map_or(0, |(w1, _)| rows * w1.n());
    if scratch.len() < inter_len + rows * h {
        scratch.resize(inter_len + rows * h, 0.0);
    }
    let (inter, tmp) = scratch.split_at_mut(inter_len);
    let src: &[f32] = match w1 {
        Some((w1, act)) => {
            let finish = if act == Activation::Gelu {
                Finish::Gelu
            } else {
                Finish::Store
            };
            let lhs = Lhs {
                ptr: xs.as_ptr(),
                ld: h,
                k: h,
            };
            let out = Out {
                ptr: inter.as_mut_ptr(),
                ld: w1.n(),
            };
            let panels = 0..w1.n().div_ceil(NR);
            // SAFETY: `xs` holds `rows` rows of h = w1.k(), `inter` rows of
            // w1.n(); `w1` covers its columns; `inter` is a distinct buffer.
            unsafe { w1.block(isa, rows, lhs, panels, out, finish) };
            if act != Activation::Gelu {
                inter.iter_mut().for_each(|v| *v = act.apply(*v));
            }
            inter
        }
        // `fused_residual_ln_on` asserted that `a` is given here.
        None => a.expect("attention output"),
    };
    let k2 = w2.k();
    assert!(src.len() >= rows * k2);
    let lhs = Lhs {
        ptr: src.as_ptr(),
        ld: k2,
        k: k2,
    };
    let out = Out {
        ptr: tmp.as_mut_ptr(),
        ld: h,
    };
    let finish = Finish::Residual {
        ptr: xs.as_ptr(),
        ld: h,
    };
    // SAFETY: `src` holds `rows` rows of k2 (asserted), `tmp` and `xs` rows
    // of h; `tmp` is distinct from both inputs.
    unsafe { w2.block(isa, rows, lhs, 0..h.div_ceil(NR), out, finish) };
    for (drow, srow) in xs.chunks_exact_mut(h).zip(tmp[..rows * h].chunks_exact(h)) {
        block::layer_norm_row(isa, srow, drow, norm.gamma, norm.beta, norm.eps);
    }
}

/// LayerNorm of each `h`-wide row of `src` with scale and shift, into `dst`.
pub fn layer_norm_rows(
    src: &[f32],
    dst: &mut [f32],
    h: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let isa = Isa::detect();
    assert!(h > 0 && src.len() == dst.len() && gamma.len() == h && beta.len() == h);
    let rows_per_task = (16 * 1024 / h).max(1);
    dst.par_chunks_mut(rows_per_task * h)
        .zip(src.par_chunks(rows_per_task * h))
        .for_each(|(d, s)| {
            for (drow, srow) in d.chunks_exact_mut(h).zip(s.chunks_exact(h)) {
                block::layer_norm_row(isa, srow, drow, gamma, beta, eps);
            }
        });
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The shape of one [`attention`] call.
#[derive(Clone, Copy)]
pub(crate) struct Heads {
    /// Batch items.
    pub b: usize,
    /// Sequence length (rows per batch item).
    pub l: usize,
    /// Hidden width (all heads).
    pub h: usize,
    /// Number of heads.
    pub heads: usize,
}

/// Multi-head self-attention core from the fused projection `qkv`
/// (B*L rows of [Q | K | V], each `h` wide, Q already scaled by 1/sqrt(d)).
/// Row b attends only to its first `lens[b]` keys (right padding; 0 means
/// all). Writes the merged-heads context (B*L, h) into `ctx`.
pub fn attention(
    qkv: &[f32],
    b: usize,
    l: usize,
    h: usize,
    heads: usize,
    lens: &[usize],
    ctx: &mut [f32],
) {
    attention_on(Isa::detect(), qkv, Heads { b, l, h, heads }, lens, ctx)
}

pub(crate) fn attention_on(isa: Isa, qkv: &[f32], s: Heads, lens: &[usize], ctx: &mut [f32]) {
    let Heads { b, l, h, heads } = s;
    let hd = h / heads.max(1);
    assert!(
        heads > 0
            && hd * heads == h
            && qkv.len() >= b * l * 3 * h
            && ctx.len() >= b * l * h
            && lens.len() == b
    );
    let qblocks = l.div_ceil(QB);
    let ctx = Out {
        ptr: ctx.as_mut_ptr(),
        ld: h,
    };
    (0..b * heads * qblocks).into_par_iter().for_each(|t| {
        let bi = t / (qblocks * heads);
        let task = Task {
            q0: (t % qblocks) * QB,
            head: (t / qblocks) % heads,
            len: if lens[bi] == 0 { l } else { lens[bi].min(l) },
        };
        let item = &qkv[bi * l * 3 * h..(bi + 1) * l * 3 * h];
        // SAFETY: row bi * l + q0, column head * hd is inside `ctx`
        // (asserted above).
        let c = unsafe { ctx.add((bi * l + task.q0) * h + task.head * hd) };
        SCRATCH.with(|cell| {
            // SAFETY: `c` is this task's (query block, head) corner of
            // `ctx`; no other task writes those rows x head columns.
            unsafe { attend(isa, s, item, task, c, &mut cell.borrow_mut()) }
        });
    });
}

/// One attention task: query rows `q0..q0 + QB` (or fewer) of one head,
/// attending to the first `len` keys.
#[derive(Clone, Copy)]
struct Task {
    q0: usize,
    head: usize,
    len: usize,
}

/// `ctx = softmax(Q K^T over the first len keys) V` for one [`Task`] of one
/// batch item; `item` holds the item's l rows of [Q | K | V].
///
/// # Safety
/// `c` is writable for the task's rows (stride `c.ld`) over hd columns,
/// and nothing else accesses them meanwhile.
unsafe fn attend(isa: Isa, s: Heads, item: &[f32], t: Task, c: Out, scratch: &mut Vec<f32>) {
    let (h, hd, len) = (s.h, s.h / s.heads, t.len);
    let rows = QB.min(s.l - t.q0);
    let kp = len.div_ceil(NR);
    let ld = len.div_ceil(16) * 16;
    let need = kp * hd * NR + rows * ld;
    if scratch.len() < need {
        scratch.resize(need, 0.0);
    }
    let (kt, sc) = scratch.split_at_mut(kp * hd * NR);
    // K^T of this head in panels of NR keys: kt[p][d][j] = K[p*NR+j][d].
    for j in 0..len {
        let krow = &item[j * 3 * h + h + t.head * hd..][..hd];
        let (p, col) = (j / NR, j % NR);
        let panel = &mut kt[p * hd * NR..(p + 1) * hd * NR];
        for (d, &v) in krow.iter().enumerate() {
            panel[d * NR + col] = v;
        }
    }
    let q = Lhs {
        ptr: item[t.q0 * 3 * h + t.head * hd..].as_ptr(),
        ld: 3 * h,
        k: hd,
    };
    let kmat = Panels {
        ptr: kt.as_ptr(),
        ldb: NR,
        panel_stride: hd * NR,
        n: len,
        bias: std::ptr::null(),
    };
    let scores = Out {
        ptr: sc.as_mut_ptr(),
        ld,
    };
    // SAFETY: Q rows q0.. of this head lie in `item`; `kt` holds kp panels
    // of hd rows; `sc` has rows x ld >= len values.
    unsafe { block::block(isa, rows, q, kmat, 0..kp, scores, Finish::Store) };
    for r in 0..rows {
        block::softmax_row(isa, &mut sc[r * ld..r * ld + len]);
    }
    let p = Lhs {
        ptr: sc.as_ptr(),
        ld,
        k: len,
    };
    // V of this head read in place: panel rows are the item's rows (stride
    // 3h); the masks keep reads of the last panel inside the head.
    let vmat = Panels {
        ptr: item[2 * h + t.head * hd..].as_ptr(),
        ldb: 3 * h,
        panel_stride: NR,
        n: hd,
        bias: std::ptr::null(),
    };
    // SAFETY: `sc` rows hold `len` probabilities; V rows 0..len of this head
    // lie in `item`; the caller vouches for `c`.
    unsafe { block::block(isa, rows, p, vmat, 0..hd.div_ceil(NR), c, Finish::Store) };
}
