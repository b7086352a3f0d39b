//! Scorers: what a query does to a block of document vectors.

use hypencoder_index::Dtype;
use hypencoder_model::{Activation, ModelError, QNet, QueryRepresentation, QNET_LN_EPS};

use crate::kernel::{dots, dots_at, matmul, matmul_bf16, sgemm, Bf16Rhs, Isa, Rhs, RowEpilogue};

/// Buffers a scorer reuses across blocks; one per worker thread.
#[derive(Default)]
pub struct ScratchSpace {
    a: Vec<f32>,
    b: Vec<f32>,
    /// The matrix kernel's re-laid copy of its left operand.
    pack: Vec<f32>,
    /// The same for the bf16 kernel.
    pack_bf16: Vec<u32>,
}

/// The number format q-net layers multiply in. Sums are f32 in every one;
/// LayerNorm, activations, residuals and the last layer stay f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Precision {
    /// f32 throughout (matches the reference implementation).
    #[default]
    F32,
    /// Weights and each layer's input rounded to bfloat16 (8-bit mantissa):
    /// twice the multiply-adds per instruction with AVX512_BF16.
    Bf16,
}

impl Precision {
    /// The name `--precision` takes and reports.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// Parses "f32" or "bf16".
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "f32" => Some(Precision::F32),
            "bf16" => Some(Precision::Bf16),
            _ => None,
        }
    }

    /// The precision an index stored as `dtype` is searched at unless asked
    /// otherwise: bf16 for bf16 vectors where the CPU multiplies bf16
    /// (AVX512_BF16: its layers read them exactly, at twice f32's rate), f32
    /// for the rest. Without the instructions the bf16 product is portable
    /// code, ~12x slower than f32 (measured on Zen 3, bench/storage).
    pub fn default_for(dtype: Dtype) -> Self {
        match dtype {
            Dtype::Bf16 if crate::kernel::Isa::detect().has_bf16() => Precision::Bf16,
            Dtype::F32 | Dtype::F16 | Dtype::Bf16 | Dtype::Int8 => Precision::F32,
        }
    }

    /// Whether this CPU runs it on its own instructions (bf16 otherwise
    /// runs portable code: correct, but several times slower than f32).
    pub fn native(self) -> bool {
        match self {
            Precision::F32 => true,
            Precision::Bf16 => Isa::detect().has_bf16(),
        }
    }
}

/// One hidden layer's weights, in the kernel layout of the precision.
enum Layer {
    F32(Rhs),
    Bf16(Bf16Rhs),
}

impl Layer {
    fn n(&self) -> usize {
        match self {
            Layer::F32(w) => w.n(),
            Layer::Bf16(w) => w.n(),
        }
    }

    /// `c = x . w` for `m` rows.
    fn matmul(&self, m: usize, x: &[f32], c: &mut [f32], scratch: (&mut Vec<f32>, &mut Vec<u32>)) {
        match self {
            Layer::F32(w) => matmul(m, x, w, c, scratch.0),
            Layer::Bf16(w) => matmul_bf16(m, x, w, c, scratch.1),
        }
    }
}

/// Scores a block of documents for a batch of queries.
pub trait Scorer: Sync {
    /// Width of the document vectors this scorer takes.
    fn dim(&self) -> usize;
    /// Queries scored per block (rows of the output).
    fn num_queries(&self) -> usize;
    /// `docs` holds `n` rows of `dim()` values; writes the score of row `i`
    /// for query `q` to `out[q * n + i]`.
    fn score_block(&self, docs: &[f32], n: usize, out: &mut [f32], scratch: &mut ScratchSpace);

    /// Scores rows `rows` of `table` (all vectors, `dim()` values each) for
    /// a one-query scorer where they lie, writing `out[i]` for `rows[i]`,
    /// if this scorer has such a path; false leaves the caller to copy the
    /// rows out and call [`Self::score_block`]. A graph walk scores a few
    /// scattered rows at a time, where the copy costs more than the scoring.
    fn score_in_place(&self, table: &[f32], rows: &[u32], out: &mut [f32]) -> bool {
        let _ = (table, rows, out);
        false
    }
}

/// Dot products with query vectors (bi-encoders): one GEMM per block through
/// the `gemm` crate. (Our packed AVX-512 path measured slower here: with
/// few output columns, re-laying the block costs more than it saves, and
/// the scan is memory-bound anyway.)
pub struct DotScorer {
    queries: Vec<f32>,
    count: usize,
    dim: usize,
}

impl DotScorer {
    /// `queries`: `count` rows of `dim` values.
    pub fn new(queries: Vec<f32>, dim: usize) -> Self {
        assert!(
            dim > 0 && queries.len().is_multiple_of(dim),
            "query matrix is not a multiple of dim"
        );
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
        sgemm(
            self.count,
            n,
            self.dim,
            &self.queries,
            docs,
            1,
            self.dim,
            out,
            false,
        );
    }

    /// One query: a dot product per row in place, the next row prefetched.
    fn score_in_place(&self, table: &[f32], rows: &[u32], out: &mut [f32]) -> bool {
        if self.count != 1 {
            return false;
        }
        dots_at(table, self.dim, rows, &self.queries, out);
        true
    }
}

/// One q-net with its weights in the kernel's layout (packed once here, not
/// per block).
struct Prepared {
    layers: Vec<Layer>,
    biases: Vec<Vec<f32>>,
    last: Vec<f32>,
    activation: Activation,
    norm_before: bool,
    norm_after: bool,
    /// Per hidden layer: whether it adds its input back.
    residual: Vec<bool>,
}

/// Hypencoder q-nets: per query, each hidden layer is one GEMM over the
/// block, then bias, activation, LayerNorm and residual in one sweep per row
/// (the last hidden layer's sweep also takes the final dot product).
pub struct QNetScorer {
    qnets: Vec<Prepared>,
    dim: usize,
}

impl QNetScorer {
    /// Scores with these q-nets, one per query; all take vectors of one
    /// width. Weights are packed for the kernel here, once.
    pub fn new(qnets: Vec<QNet>) -> Self {
        Self::with_precision(qnets, Precision::F32)
    }

    /// As [`Self::new`], multiplying in `precision`.
    pub fn with_precision(qnets: Vec<QNet>, precision: Precision) -> Self {
        let dim = qnets.first().map_or(0, |q| q.config.vector_dimensions[0]);
        assert!(
            qnets.iter().all(|q| q.config.vector_dimensions[0] == dim),
            "q-nets of one batch take vectors of one width"
        );
        let qnets = qnets
            .into_iter()
            .map(|q| {
                let c = &q.config;
                let mut weights = q.weights;
                let last = weights.pop().expect("a q-net has a last layer");
                let layers = weights
                    .iter()
                    .zip(c.weight_shapes())
                    .map(|(w, (i, o))| match precision {
                        Precision::F32 => Layer::F32(Rhs::new(w, i, o, o, 1)),
                        Precision::Bf16 => Layer::Bf16(Bf16Rhs::new(w, i, o, o, 1)),
                    })
                    .collect();
                Prepared {
                    layers,
                    biases: q.biases,
                    last,
                    activation: c.activation,
                    norm_before: c.do_layer_norm && c.layer_norm_before_residual,
                    norm_after: c.do_layer_norm && !c.layer_norm_before_residual,
                    residual: (0..c.hidden_layers()).map(|j| c.residual_on(j)).collect(),
                }
            })
            .collect();
        QNetScorer { qnets, dim }
    }

    fn score_one(
        &self,
        qnet: &Prepared,
        docs: &[f32],
        n: usize,
        out: &mut [f32],
        scratch: &mut ScratchSpace,
    ) {
        let ScratchSpace {
            a,
            b,
            pack,
            pack_bf16,
        } = scratch;
        let hidden = qnet.layers.len();
        if hidden == 0 {
            return dots(docs, n, self.dim, &qnet.last, out);
        }
        for (j, w) in qnet.layers.iter().enumerate() {
            let x: &[f32] = if j == 0 { docs } else { a };
            b.resize(n * w.n(), 0.0);
            w.matmul(n, x, b, (pack, pack_bf16));
            let mut e = RowEpilogue {
                bias: &qnet.biases[j],
                activation: qnet.activation,
                norm_before: qnet.norm_before,
                norm_after: qnet.norm_after,
                eps: QNET_LN_EPS as f32,
                residual: qnet.residual[j].then_some(x),
                last: (j + 1 == hidden).then_some((&qnet.last[..], &mut out[..n])),
            };
            e.apply(b, n, w.n());
            std::mem::swap(a, b);
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

/// One scorer for a batch of encoded queries, for exhaustive search: q-nets
/// for a Hypencoder, dot products for a bi-encoder.
pub fn batch_scorer(
    reps: QueryRepresentation,
    dim: usize,
    precision: Precision,
) -> Result<Box<dyn Scorer>, ModelError> {
    Ok(match reps {
        QueryRepresentation::QNets(q) => {
            Box::new(QNetScorer::with_precision(q.split()?, precision))
        }
        QueryRepresentation::Vectors(v) => {
            let flat: Vec<f32> = v.flatten_all()?.to_vec1()?;
            Box::new(DotScorer::new(flat, dim))
        }
    })
}

/// One single-query scorer per query, for graph search and the hybrid
/// modes (each query is searched on its own).
pub fn query_scorers(
    reps: QueryRepresentation,
    dim: usize,
    precision: Precision,
) -> Result<Vec<Box<dyn Scorer>>, ModelError> {
    Ok(match reps {
        QueryRepresentation::QNets(q) => q
            .split()?
            .into_iter()
            .map(|qnet| {
                Box::new(QNetScorer::with_precision(vec![qnet], precision)) as Box<dyn Scorer>
            })
            .collect(),
        QueryRepresentation::Vectors(v) => v
            .to_vec2::<f32>()?
            .into_iter()
            .map(|row| Box::new(DotScorer::new(row, dim)) as Box<dyn Scorer>)
            .collect(),
    })
}
