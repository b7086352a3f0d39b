//! Every flag that takes one of a fixed set of words, as a clap `ValueEnum`,
//! and the one place each becomes the library type it stands for. The
//! spellings are the enums' kebab-case variant names (`NnDescent` is
//! `nn-descent`). Variants carry `//` comments, not doc comments, where the
//! flag's own help already explains the choices: clap would print doc
//! comments as a second list under `--help`.

use clap::ValueEnum;
use hypencoder_engine::{
    Construction, Dtype, FusionMethod, GraphMetric, Mode, NeuralSide, Precision, Walk,
};
use hypencoder_train::{InitStyle, Kind, LossKind, Mode as TrainMode};

/// `index --dtype`: how vectors are stored.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    // 4 bytes per component.
    F32,
    // 2 bytes per component: half the size.
    F16,
    // 2 bytes per component, bfloat16: half the size; searched at bf16
    // precision by default.
    Bf16,
    // 1 byte per component and a scale per vector: about a quarter of the
    // size; widened to f32 when searched.
    Int8,
}

impl From<DtypeArg> for Dtype {
    fn from(arg: DtypeArg) -> Self {
        match arg {
            DtypeArg::F32 => Dtype::F32,
            DtypeArg::F16 => Dtype::F16,
            DtypeArg::Bf16 => Dtype::Bf16,
            DtypeArg::Int8 => Dtype::Int8,
        }
    }
}

/// `train --save-dtype`: how a trained model's weights are stored.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WeightDtypeArg {
    F32,
    F16,
    Bf16,
}

impl From<WeightDtypeArg> for Dtype {
    fn from(arg: WeightDtypeArg) -> Self {
        match arg {
            WeightDtypeArg::F32 => Dtype::F32,
            WeightDtypeArg::F16 => Dtype::F16,
            WeightDtypeArg::Bf16 => Dtype::Bf16,
        }
    }
}

/// `graph --metric`, `index --graph-metric`: what "near" means in the graph.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    // Inner product.
    Ip,
    // Euclidean distance.
    L2,
    // Cosine.
    Cos,
}

impl From<MetricArg> for GraphMetric {
    fn from(arg: MetricArg) -> Self {
        match arg {
            MetricArg::Ip => GraphMetric::InnerProduct,
            MetricArg::L2 => GraphMetric::L2,
            MetricArg::Cos => GraphMetric::Cosine,
        }
    }
}

/// `graph --construction`: how neighbour lists are found.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConstructionArg {
    // Exact below 50,000 documents, insert from there on.
    Auto,
    // All pairs by GEMM.
    Exact,
    // Approximate, by nn-descent.
    NnDescent,
    // Grown by insertion, HNSW-style (O(n): the one for millions).
    Insert,
}

impl From<ConstructionArg> for Construction {
    fn from(arg: ConstructionArg) -> Self {
        match arg {
            ConstructionArg::Auto => Construction::Auto,
            ConstructionArg::Exact => Construction::Exact,
            ConstructionArg::NnDescent => Construction::NnDescent,
            ConstructionArg::Insert => Construction::Insert,
        }
    }
}

/// `search --format`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// `qid Q0 docid rank score tag`, for trec_eval and `hypencoder eval`.
    Trec,
    /// One JSON object per query: {"qid", "hits": [{"rank", "id", "score",
    /// "fields"}]} (fields when the document has any).
    Jsonl,
    /// For people: rank, score, id and a snippet of the text.
    Text,
}

/// `search --mode`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Score every document: exact.
    Exhaustive,
    /// Walk the index's neighbour graph from entry points (the paper's
    /// approximate search); needs `hypencoder graph` first.
    Graph,
    /// BM25 over the index's lexical part only (no model is loaded).
    Bm25,
    /// BM25's top --candidates, ordered by the model.
    Rerank,
    /// BM25's and the model's top --candidates, each scored by both sides,
    /// fused (--fusion).
    Hybrid,
}

impl From<ModeArg> for Mode {
    fn from(arg: ModeArg) -> Self {
        match arg {
            ModeArg::Exhaustive => Mode::Exhaustive,
            ModeArg::Graph => Mode::Graph,
            ModeArg::Bm25 => Mode::Bm25,
            ModeArg::Rerank => Mode::Rerank,
            ModeArg::Hybrid => Mode::Hybrid,
        }
    }
}

/// `search --fusion`: how hybrid search combines the two sides.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FusionArg {
    // Reciprocal rank fusion (--rrf-k).
    Rrf,
    // Min-max-normalised convex combination (--alpha).
    Linear,
    // Z-score-normalised convex combination (--alpha).
    Zscore,
    // Mean +- 3 sd mapped onto 0..1, then combined (--alpha).
    Dbsf,
    // Z-scores weighted per query by each side's confidence.
    Adaptive,
}

impl From<FusionArg> for FusionMethod {
    fn from(arg: FusionArg) -> Self {
        match arg {
            FusionArg::Rrf => FusionMethod::Rrf,
            FusionArg::Linear => FusionMethod::Linear,
            FusionArg::Zscore => FusionMethod::Zscore,
            FusionArg::Dbsf => FusionMethod::Dbsf,
            FusionArg::Adaptive => FusionMethod::Adaptive,
        }
    }
}

/// `search --neural`: how hybrid search's neural side finds candidates.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NeuralArg {
    // Every document scored.
    Exhaustive,
    // The index's neighbour graph walked.
    Graph,
}

impl From<NeuralArg> for NeuralSide {
    fn from(arg: NeuralArg) -> Self {
        match arg {
            NeuralArg::Exhaustive => NeuralSide::Exhaustive,
            NeuralArg::Graph => NeuralSide::Graph,
        }
    }
}

/// `search --algorithm`: how the graph is walked.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmArg {
    // Best-first with a bounded frontier.
    Beam,
    // The paper's rounds of candidate expansion.
    Paper,
}

impl From<AlgorithmArg> for Walk {
    fn from(arg: AlgorithmArg) -> Self {
        match arg {
            AlgorithmArg::Beam => Walk::Beam,
            AlgorithmArg::Paper => Walk::Paper,
        }
    }
}

/// `search --precision`: the number format q-net layers multiply in.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    // f32 throughout, as the reference implementation.
    F32,
    // Weights and layer inputs rounded to bfloat16, sums in f32.
    Bf16,
}

impl From<PrecisionArg> for Precision {
    fn from(arg: PrecisionArg) -> Self {
        match arg {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::Bf16 => Precision::Bf16,
        }
    }
}

/// `train --kind`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    // Queries become q-nets.
    Hypencoder,
    // Queries become vectors.
    BiEncoder,
}

impl From<KindArg> for Kind {
    fn from(arg: KindArg) -> Self {
        match arg {
            KindArg::Hypencoder => Kind::Hypencoder,
            KindArg::BiEncoder => Kind::BiEncoder,
        }
    }
}

/// `train --mode`: which parts train.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrainModeArg {
    // The hyper-head only.
    Frozen,
    // The query transformer too.
    Query,
    // One shared transformer, documents re-encoded.
    Full,
}

impl From<TrainModeArg> for TrainMode {
    fn from(arg: TrainModeArg) -> Self {
        match arg {
            TrainModeArg::Frozen => TrainMode::Frozen,
            TrainModeArg::Query => TrainMode::Query,
            TrainModeArg::Full => TrainMode::Full,
        }
    }
}

/// `train --init`: how a new hyper-head starts.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitArg {
    // Scores like the base's mean-pooled similarity.
    BiEncoder,
    // Random q-nets, as the official code.
    Official,
}

impl From<InitArg> for InitStyle {
    fn from(arg: InitArg) -> Self {
        match arg {
            InitArg::BiEncoder => InitStyle::BiEncoder,
            InitArg::Official => InitStyle::Official,
        }
    }
}

/// `train --loss`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    // Against in-batch and hard negatives.
    CrossEntropy,
    // Against teacher scores.
    MarginMse,
}

impl From<LossArg> for LossKind {
    fn from(arg: LossArg) -> Self {
        match arg {
            LossArg::CrossEntropy => LossKind::CrossEntropy,
            LossArg::MarginMse => LossKind::MarginMse,
        }
    }
}
