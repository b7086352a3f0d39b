//! What a search request may set, with every default in one place
//! ([`SearchParams::DEFAULT`]). The CLI's flags, the server's JSON fields
//! and Python's keyword arguments are these fields under these names (a
//! flag spells `_` as `-`); the type reads and writes that JSON itself
//! (unknown fields refused, absent ones defaulted), and with the `openapi`
//! feature it describes itself to utoipa.
//!
//! An index may record settings of its own (`hypencoder tune` does):
//! a request's explicit settings ([`Overrides`]) are laid over the index's
//! defaults ([`SearchParams::with`]), not over [`SearchParams::DEFAULT`].

use crate::error::SearchError;
use crate::fusion::Fusion;
use crate::graph_search::GraphParams;
use crate::scorer::Precision;

/// The search modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Mode {
    /// Every document scored: exact.
    Exhaustive,
    /// A walk over the index's neighbour graph: approximate.
    Graph,
    /// BM25 over the index's lexical part alone (no model).
    Bm25,
    /// BM25's candidates ordered by the model.
    Rerank,
    /// Both sides' candidates, each scored by both, fused.
    Hybrid,
}

impl Mode {
    /// Every mode, in the order the CLI lists them.
    pub const ALL: [Mode; 5] = [
        Mode::Exhaustive,
        Mode::Graph,
        Mode::Bm25,
        Mode::Rerank,
        Mode::Hybrid,
    ];

    /// The mode's name, as the CLI and the API spell it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Exhaustive => "exhaustive",
            Mode::Graph => "graph",
            Mode::Bm25 => "bm25",
            Mode::Rerank => "rerank",
            Mode::Hybrid => "hybrid",
        }
    }

    /// The mode named `name` ([`Mode::name`]'s spelling).
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the mode needs a neighbour graph in every segment.
    pub fn needs_graph(self) -> bool {
        self == Mode::Graph
    }

    /// Whether the mode needs a lexical part in every segment.
    pub fn needs_lexical(self) -> bool {
        matches!(self, Mode::Bm25 | Mode::Rerank | Mode::Hybrid)
    }
}

/// How hybrid search's two sides' scores become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FusionMethod {
    /// Min-max-normalised convex combination (`alpha`).
    Linear,
    /// Reciprocal rank fusion (`rrf_k`).
    Rrf,
    /// Z-score-normalised convex combination (`alpha`).
    Zscore,
    /// Distribution-based score fusion: each side's mean +- 3 sd mapped
    /// onto 0..1, then the convex combination (`alpha`).
    Dbsf,
    /// Z-scores weighted per query by how far each side's best candidate
    /// stands out (no `alpha`).
    Adaptive,
}

/// How hybrid search's neural side finds its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NeuralSide {
    /// Every document scored.
    Exhaustive,
    /// The index's neighbour graph walked.
    Graph,
}

/// Which graph walk to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Walk {
    /// Ours: best-first with a bounded frontier.
    Beam,
    /// The paper's rounds of candidate expansion.
    Paper,
}

/// Everything a search request may set. A field's name is the setting's
/// everywhere: the CLI's flag (`--rrf-k`), the server's JSON field and
/// query parameter (`rrf_k`), Python's keyword argument.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchParams {
    /// Results per query [default: 10].
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub k: usize,
    /// exhaustive, graph, bm25, rerank or hybrid [default: hybrid when the
    /// index has a lexical part, else exhaustive].
    pub mode: Option<Mode>,
    /// rerank, hybrid: candidates taken from each side, raised to `k`
    /// [default: 100; as good as 1000 on debian-pkg dev at less than half
    /// the time].
    pub candidates: usize,
    /// hybrid: how the two sides' scores become one: linear (min-max),
    /// zscore, dbsf (mean +- 3 sd), adaptive (z-scores weighted per query by
    /// each side's confidence) or rrf [default: linear].
    pub fusion: FusionMethod,
    /// hybrid with linear, zscore or dbsf: weight of the neural side, 0-1,
    /// after normalising both sides over the candidates [default: 0.7: the
    /// best mean MRR@10 over debian-pkg and two out-of-domain dev sets, and
    /// ahead of both sides on each (bench/quality/README.md)].
    pub alpha: f32,
    /// hybrid with rrf: the constant added to each rank [default: 60].
    pub rrf_k: f32,
    /// hybrid: the neural side's search [default: graph when the index has
    /// one, else exhaustive].
    pub neural: Option<NeuralSide>,
    /// Graph search: beam (ours) or paper [default: beam].
    pub algorithm: Walk,
    /// Graph search: entry points, drawn at random [default: paper 10000,
    /// as published; beam 16 on a bi-encoder index, 64 on a Hypencoder
    /// one].
    pub entry_points: Option<usize>,
    /// Beam: documents kept in the search pool, at least `k` [default:
    /// 128].
    pub ef: usize,
    /// Beam: candidates expanded per step [default: 1 on a bi-encoder
    /// index, as HNSW: dot products are scored in place one row at a time;
    /// 4 on a Hypencoder one: a q-net scores a block per GEMM].
    pub expand: Option<usize>,
    /// Paper: candidates whose neighbours are expanded per round [default:
    /// 50].
    pub ncandidates: usize,
    /// Paper: most expansion rounds [default: 16].
    pub max_iter: usize,
    /// Paper: keep expanding after a round that improved no result (the
    /// paper stops early) [default: false].
    pub no_early_stop: bool,
    /// Graph search: seed for drawing entry points [default: 43].
    pub seed: u64,
    /// Number format of the q-net layers' products: f32 or bf16 (weights
    /// and layer inputs rounded to bfloat16, sums in f32) [default: bf16
    /// for an index stored in bf16, else f32]. Dot products stay f32.
    pub precision: Option<Precision>,
    /// bm25, rerank, hybrid: BM25's term-frequency saturation, 0 or more
    /// [default: the index's lexical part's, 0.5 when built].
    pub bm25_k1: Option<f32>,
    /// bm25, rerank, hybrid: BM25's length normalisation, 0-1 [default:
    /// the index's lexical part's, 0.75 when built].
    pub bm25_b: Option<f32>,
}

/// Settings given by name with JSON values (a request's explicit ones, an
/// index's recorded ones): what [`SearchParams::with`] lays over defaults.
pub type Overrides = serde_json::Map<String, serde_json::Value>;

impl SearchParams {
    /// The defaults, which every front end shows and fills in.
    pub const DEFAULT: SearchParams = SearchParams {
        k: 10,
        mode: None,
        candidates: 100,
        fusion: FusionMethod::Linear,
        alpha: 0.7,
        rrf_k: 60.0,
        neural: None,
        algorithm: Walk::Beam,
        entry_points: None,
        ef: 128,
        expand: None,
        ncandidates: 50,
        max_iter: 16,
        no_early_stop: false,
        seed: 43,
        precision: None,
        bm25_k1: None,
        bm25_b: None,
    };

    /// Every setting's name, in declaration order (what a front end must
    /// accept; a test holds each front end to it).
    pub const NAMES: [&'static str; 18] = [
        "k",
        "mode",
        "candidates",
        "fusion",
        "alpha",
        "rrf_k",
        "neural",
        "algorithm",
        "entry_points",
        "ef",
        "expand",
        "ncandidates",
        "max_iter",
        "no_early_stop",
        "seed",
        "precision",
        "bm25_k1",
        "bm25_b",
    ];

    /// These settings with `overrides` laid over them, each by its name;
    /// an unknown name or a value of the wrong type is an error naming it.
    pub fn with(&self, overrides: &Overrides) -> Result<SearchParams, SearchError> {
        if overrides.is_empty() {
            return Ok(self.clone());
        }
        let serde_json::Value::Object(mut all) =
            serde_json::to_value(self).expect("settings serialise")
        else {
            unreachable!("a struct serialises to an object")
        };
        for (name, value) in overrides {
            if !SearchParams::NAMES.contains(&name.as_str()) {
                return Err(SearchError::Invalid {
                    field: name.clone(),
                    message: format!(
                        "is not a search setting (known: {})",
                        SearchParams::NAMES.join(", ")
                    ),
                });
            }
            all.insert(name.clone(), value.clone());
        }
        serde_json::from_value(serde_json::Value::Object(all)).map_err(|e| {
            // Named by the one that fails alone, as serde does not say.
            let field = overrides
                .iter()
                .find(|(name, value)| {
                    let one = Overrides::from_iter([((*name).clone(), (*value).clone())]);
                    serde_json::from_value::<SearchParams>(serde_json::Value::Object(one)).is_err()
                })
                .map_or_else(String::new, |(name, _)| name.clone());
            SearchError::Invalid {
                field,
                message: e.to_string(),
            }
        })
    }

    /// The settings among `names` as [`Overrides`] (what a front end that
    /// knows which were given explicitly passes on).
    pub fn overrides<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Overrides {
        let serde_json::Value::Object(all) =
            serde_json::to_value(self).expect("settings serialise")
        else {
            unreachable!("a struct serialises to an object")
        };
        names
            .into_iter()
            .filter_map(|n| all.get(n).map(|v| (n.to_string(), v.clone())))
            .collect()
    }

    /// The fusion `fusion`, `alpha` and `rrf_k` describe.
    pub fn fusion(&self) -> Fusion {
        match self.fusion {
            FusionMethod::Linear => Fusion::Linear { alpha: self.alpha },
            FusionMethod::Rrf => Fusion::Rrf { k: self.rrf_k },
            FusionMethod::Zscore => Fusion::Zscore { alpha: self.alpha },
            FusionMethod::Dbsf => Fusion::Dbsf { alpha: self.alpha },
            FusionMethod::Adaptive => Fusion::Adaptive,
        }
    }

    /// The paper walk's settings.
    pub fn paper(&self) -> GraphParams {
        GraphParams {
            ncandidates: self.ncandidates,
            max_iter: self.max_iter,
            early_stop: !self.no_early_stop,
        }
    }
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams::DEFAULT
    }
}
