//! Building the neighbour graph: exact k-nearest neighbours by blocked GEMM.
//!
//! Every document is compared with every other: a block of rows against a
//! block of columns is one matrix multiply, row blocks run in parallel, and
//! each row keeps its `degree` best in a [`TopK`]. O(n^2 d) work: about 15 s
//! for 60k 384-d vectors on two cores, minutes for a million.

use std::borrow::Cow;

use hypencoder_index::{Vectors, NO_NEIGHBOUR};
use rayon::prelude::*;

use crate::kernel::sgemm;
use crate::topk::{Hit, TopK};

/// What "near" means for the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphMetric {
    /// Larger dot product is nearer (cosine for normalised vectors).
    InnerProduct,
    /// Smaller Euclidean distance is nearer.
    L2,
}

impl GraphMetric {
    pub fn name(self) -> &'static str {
        match self {
            GraphMetric::InnerProduct => "ip",
            GraphMetric::L2 => "l2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ip" => Some(GraphMetric::InnerProduct),
            "l2" => Some(GraphMetric::L2),
            _ => None,
        }
    }
}

const ROWS: usize = 128;
const COLS: usize = 2048;

/// For each document, its `degree` nearest other documents, nearest first,
/// as a flat `count x degree` array (`NO_NEIGHBOUR` pads short rows). Ties
/// go to the lower document number. `progress` is called with rows done.
pub fn exact_knn(vectors: &Vectors, degree: usize, metric: GraphMetric, progress: &(dyn Fn(usize) + Sync)) -> Vec<u32> {
    let (n, d) = (vectors.count(), vectors.dim());
    let all: Cow<[f32]> = vectors.rows(0, n);
    // For L2, ranking by 2 x.y - |y|^2 equals ranking by -|x - y|^2 per row.
    let col_bias: Vec<f32> = match metric {
        GraphMetric::InnerProduct => vec![0.0; n],
        GraphMetric::L2 => all.chunks_exact(d).map(|y| -y.iter().map(|v| v * v).sum::<f32>()).collect(),
    };
    let scale = if metric == GraphMetric::L2 { 2.0 } else { 1.0 };
    let mut out = vec![NO_NEIGHBOUR; n * degree];
    out.par_chunks_mut(ROWS * degree).enumerate().for_each(|(block, out_rows)| {
        let start = block * ROWS;
        let rows = ROWS.min(n - start);
        let x = &all[start * d..(start + rows) * d];
        let mut tops = vec![TopK::new(degree); rows];
        let mut sims = vec![0f32; rows * COLS];
        for cstart in (0..n).step_by(COLS) {
            let cols = COLS.min(n - cstart);
            let y = &all[cstart * d..(cstart + cols) * d];
            // sims (rows x cols) = x . y^T
            sgemm(rows, cols, d, x, y, 1, d, &mut sims[..rows * cols], false);
            for (r, top) in tops.iter_mut().enumerate() {
                let row = &sims[r * cols..(r + 1) * cols];
                for (c, &s) in row.iter().enumerate() {
                    let doc = cstart + c;
                    if doc != start + r {
                        top.push(Hit {
                            doc: doc as u32,
                            score: scale * s + col_bias[doc],
                        });
                    }
                }
            }
        }
        for (r, top) in tops.into_iter().enumerate() {
            for (slot, hit) in out_rows[r * degree..(r + 1) * degree].iter_mut().zip(top.into_sorted()) {
                *slot = hit.doc;
            }
        }
        progress(rows);
    });
    out
}

/// Prunes candidate lists into a navigable graph (the neighbour selection of
/// HNSW and NSG): a candidate is kept only if it is nearer to the document
/// than to every neighbour kept before it, so near-duplicates do not crowd
/// out links to other regions; then every kept edge is also added in
/// reverse, and free slots are filled from the remaining candidates.
///
/// `candidates`: `count x pool` ids nearest first (from [`exact_knn`]);
/// returns `count x degree`.
pub fn diversify(vectors: &Vectors, candidates: &[u32], pool: usize, degree: usize, metric: GraphMetric) -> Vec<u32> {
    let (n, d) = (vectors.count(), vectors.dim());
    let all: Cow<[f32]> = vectors.rows(0, n);
    let row = |i: u32| &all[i as usize * d..(i as usize + 1) * d];
    // Larger is nearer for both metrics.
    let near = |a: u32, b: u32| -> f32 {
        let (x, y) = (row(a), row(b));
        match metric {
            GraphMetric::InnerProduct => x.iter().zip(y).map(|(p, q)| p * q).sum(),
            GraphMetric::L2 => -x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum::<f32>(),
        }
    };
    let kept: Vec<Vec<u32>> = (0..n)
        .into_par_iter()
        .map(|u| {
            let mut kept: Vec<u32> = Vec::with_capacity(degree);
            for &v in candidates[u * pool..(u + 1) * pool].iter().take_while(|&&v| v != NO_NEIGHBOUR) {
                if kept.len() == degree {
                    break;
                }
                let to_u = near(u as u32, v);
                if kept.iter().all(|&w| near(v, w) <= to_u) {
                    kept.push(v);
                }
            }
            kept
        })
        .collect();
    let mut reverse: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (u, list) in kept.iter().enumerate() {
        for &v in list {
            reverse[v as usize].push(u as u32);
        }
    }
    let mut out = vec![NO_NEIGHBOUR; n * degree];
    out.par_chunks_mut(degree).enumerate().for_each(|(u, slots)| {
        let mut list: Vec<u32> = kept[u].clone();
        let add = |v: u32, list: &mut Vec<u32>| {
            if list.len() < degree && v as usize != u && !list.contains(&v) {
                list.push(v);
            }
        };
        // Reverse edges nearest first, then the rest of the candidates.
        let mut rev = reverse[u].clone();
        rev.sort_by(|&a, &b| near(u as u32, b).total_cmp(&near(u as u32, a)).then(a.cmp(&b)));
        for v in rev {
            add(v, &mut list);
        }
        for &v in candidates[u * pool..(u + 1) * pool].iter().take_while(|&&v| v != NO_NEIGHBOUR) {
            add(v, &mut list);
        }
        slots[..list.len()].copy_from_slice(&list);
    });
    out
}
