//! Scorers: what a query does to a block of document vectors.

use hypencoder_model::{QNet, QNET_LN_EPS};

use crate::kernel::{dot, layer_norm, sgemm};

/// Buffers a scorer reuses across blocks; one per worker thread.
#[derive(Default)]
pub struct ScratchSpace {
    a: Vec<f32>,
    b: Vec<f32>,
}

/// Scores a block of documents for a batch of queries.
pub trait Scorer: Sync {
    /// Width of the document vectors this scorer takes.
    fn dim(&self) -> usize;
    fn num_queries(&self) -> usize;
    /// `docs` holds `n` rows of `dim()` values; writes the score of row `i`
    /// for query `q` to `out[q * n + i]`.
    fn score_block(&self, docs: &[f32], n: usize, out: &mut [f32], scratch: &mut ScratchSpace);
}

/// Dot products with query vectors (bi-encoders): one GEMM per block.
pub struct DotScorer {
    queries: Vec<f32>,
    count: usize,
    dim: usize,
}

impl DotScorer {
    /// `queries`: `count` rows of `dim` values.
    pub fn new(queries: Vec<f32>, dim: usize) -> Self {
        assert!(dim > 0 && queries.len() % dim == 0, "query matrix is not a multiple of dim");
        DotScorer {
            count: queries.len() / dim,
            queries,
            dim,
        }
    }
}

impl Scorer for DotScorer {
    fn dim(&self) -> usize {
        self.dim
    }

    fn num_queries(&self) -> usize {
        self.count
    }

    fn score_block(&self, docs: &[f32], n: usize, out: &mut [f32], _: &mut ScratchSpace) {
        // out (Q x n) = queries (Q x d) . docs^T
        sgemm(self.count, n, self.dim, &self.queries, docs, 1, self.dim, out, false);
    }
}

/// Hypencoder q-nets: per query, each hidden layer is one GEMM over the
/// block (bias pre-filled into the output so the GEMM adds onto it), then
/// activation, LayerNorm and residual row by row; the last layer a dot product.
pub struct QNetScorer {
    qnets: Vec<QNet>,
    dim: usize,
}

impl QNetScorer {
    pub fn new(qnets: Vec<QNet>) -> Self {
        let dim = qnets.first().map_or(0, |q| q.config.vector_dimensions[0]);
        assert!(
            qnets.iter().all(|q| q.config.vector_dimensions[0] == dim),
            "q-nets of one batch take vectors of one width"
        );
        QNetScorer { qnets, dim }
    }

    fn score_one(&self, qnet: &QNet, docs: &[f32], n: usize, out: &mut [f32], scratch: &mut ScratchSpace) {
        let c = &qnet.config;
        let dims = &c.vector_dimensions;
        let eps = QNET_LN_EPS as f32;
        let ScratchSpace { a, b } = scratch;
        let mut input_is_docs = true;
        for j in 0..c.hidden_layers() {
            let (inp, width) = (dims[j], dims[j + 1]);
            b.resize(n * width, 0.0);
            for row in b.chunks_exact_mut(width) {
                row.copy_from_slice(&qnet.biases[j]);
            }
            let x: &[f32] = if input_is_docs { docs } else { a };
            sgemm(n, width, inp, x, &qnet.weights[j], width, 1, b, true);
            let residual = c.residual_on(j);
            for (i, row) in b.chunks_exact_mut(width).enumerate() {
                for v in row.iter_mut() {
                    *v = c.activation.apply_f32(*v);
                }
                if c.do_layer_norm && c.layer_norm_before_residual {
                    layer_norm(row, eps);
                }
                if residual {
                    for (v, x) in row.iter_mut().zip(&x[i * inp..(i + 1) * inp]) {
                        *v += x;
                    }
                }
                if c.do_layer_norm && !c.layer_norm_before_residual {
                    layer_norm(row, eps);
                }
            }
            std::mem::swap(a, b);
            input_is_docs = false;
        }
        let last = qnet.weights.last().expect("a q-net has a last layer");
        let width = last.len();
        let x: &[f32] = if input_is_docs { docs } else { a };
        for (i, o) in out.iter_mut().enumerate().take(n) {
            *o = dot(&x[i * width..(i + 1) * width], last);
        }
    }
}

impl Scorer for QNetScorer {
    fn dim(&self) -> usize {
        self.dim
    }

    fn num_queries(&self) -> usize {
        self.qnets.len()
    }

    fn score_block(&self, docs: &[f32], n: usize, out: &mut [f32], scratch: &mut ScratchSpace) {
        for (q, qnet) in self.qnets.iter().enumerate() {
            self.score_one(qnet, docs, n, &mut out[q * n..(q + 1) * n], scratch);
        }
    }
}
