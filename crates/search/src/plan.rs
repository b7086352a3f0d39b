//! One search request from query texts to hits, as the CLI and the server
//! both run it, so the two answer alike: [`SearchParams`] says what was
//! asked (mode, k, the graph and fusion settings), [`Plan`] checks it
//! against what the index holds (a graph, a lexical part) and runs batches
//! of queries, and [`open_model`] loads the model an index was built with,
//! checked by fingerprint.

use std::path::{Path, PathBuf};

use hypencoder_index::{analyze, Index, IndexError, Lexical, ModelInfo};
use hypencoder_model::{LoadOptions, Model, ModelError, QueryRepresentation};
use rayon::prelude::*;

use crate::corpus::{sort_hits, Corpus};
use crate::exhaustive::exhaustive;
use crate::fusion::{fuse, score_rows, Candidate, Fusion};
use crate::graph_search::{
    graph_search_many, random_entry_points, BeamParams, GraphAlgorithm, GraphParams,
};
use crate::scorer::{DotScorer, Precision, QNetScorer, Scorer};
use crate::topk::Hit;

/// What can go wrong planning or running a search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The mode needs a neighbour graph the index does not have.
    #[error("{} has no neighbour graph", dir.display())]
    NoGraph {
        /// The index folder.
        dir: PathBuf,
    },
    /// The mode needs a lexical part the index does not have.
    #[error("{} has no lexical part", dir.display())]
    NoLexical {
        /// The index folder.
        dir: PathBuf,
    },
    /// A setting is out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting's name (as the CLI flag and the API field say it).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The index's model folder cannot be loaded.
    #[error("cannot load the index's model from {}: {source}", dir.display())]
    ModelLoad {
        /// The folder tried.
        dir: PathBuf,
        /// Why it failed.
        source: Box<ModelError>,
    },
    /// The model is not the one the index was built with.
    #[error("{} was built with another {detail}", index.display())]
    ModelMismatch {
        /// The index folder.
        index: PathBuf,
        /// Which part differs and both fingerprints.
        detail: String,
    },
    /// Encoding or scoring failed in the model.
    #[error(transparent)]
    Model(Box<ModelError>),
    /// Reading the index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl From<ModelError> for SearchError {
    fn from(err: ModelError) -> Self {
        SearchError::Model(Box::new(err))
    }
}

/// The search modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// The modes `corpus` can serve: graph needs graphs; bm25, rerank and
    /// hybrid lexical parts (in every part).
    pub fn supported(corpus: &Corpus) -> Vec<Mode> {
        Mode::ALL
            .into_iter()
            .filter(|m| match m {
                Mode::Exhaustive => true,
                Mode::Graph => corpus.has_graph(),
                Mode::Bm25 | Mode::Rerank | Mode::Hybrid => corpus.has_lexical(),
            })
            .collect()
    }

    /// The mode used when none is asked for: hybrid when the index has a
    /// lexical part, else exhaustive.
    pub fn default_for(corpus: &Corpus) -> Mode {
        if corpus.has_lexical() {
            Mode::Hybrid
        } else {
            Mode::Exhaustive
        }
    }
}

/// How hybrid search's neural side finds its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeuralSide {
    /// Every document scored.
    Exhaustive,
    /// The index's neighbour graph walked.
    Graph,
}

/// Which graph walk to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Ours: best-first with a bounded frontier.
    Beam,
    /// The paper's rounds of candidate expansion.
    Paper,
}

/// Everything a search request may set; [`Default`] gives the CLI's
/// defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchParams {
    /// Results per query.
    pub k: usize,
    /// The mode; `None` is [`Mode::default_for`] the index.
    pub mode: Option<Mode>,
    /// rerank, hybrid: candidates taken from each side (raised to `k`).
    pub candidates: usize,
    /// hybrid: how the two sides' scores become one.
    pub fusion: Fusion,
    /// hybrid: the neural side's search; `None` is the graph when the index
    /// has one, else exhaustive.
    pub neural: Option<NeuralSide>,
    /// Graph search: which walk.
    pub walk: Walk,
    /// Graph search: entry points, drawn at random; `None` is the paper's
    /// 10,000 for paper and, for beam, 16 on a bi-encoder index and 64 on a
    /// Hypencoder one (see [`Self::expand`]).
    pub entry_points: Option<usize>,
    /// Beam: size of the result pool kept while searching (at least `k`).
    pub ef: usize,
    /// Beam: candidates expanded per step; `None` is 1 on a bi-encoder
    /// index (as HNSW: dot products are scored in place one row at a time,
    /// so a wider step only scores neighbours of worse candidates) and 4 on
    /// a Hypencoder one (a q-net scores a block per GEMM, which pays off
    /// from a few dozen rows).
    pub expand: Option<usize>,
    /// The paper's walk settings.
    pub paper: GraphParams,
    /// Seed for drawing entry points.
    pub seed: u64,
    /// The number format q-net layers multiply in (dot products of
    /// bi-encoders stay f32); `None` is [`Precision::default_for`] the
    /// index's storage.
    pub precision: Option<Precision>,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            k: 10,
            mode: None,
            candidates: 100,
            fusion: Fusion::Linear { alpha: 0.5 },
            neural: None,
            walk: Walk::Beam,
            entry_points: None,
            ef: BeamParams::default().ef,
            expand: None,
            paper: GraphParams::default(),
            seed: 43,
            precision: None,
        }
    }
}

/// How the neural side finds its hits: every document, or along each
/// part's graph from fixed entry points.
enum Neural {
    Exhaustive,
    Graph {
        /// Per part: its walk's settings and entry points.
        walks: Vec<(GraphAlgorithm, Vec<u32>)>,
    },
}

/// How each batch of queries is searched.
enum Method {
    Neural(Neural),
    Bm25,
    /// BM25's top `candidates`, ordered by the neural scorer.
    Rerank {
        candidates: usize,
    },
    /// Both sides' top `candidates`, each candidate scored by both, fused.
    Hybrid {
        candidates: usize,
        fusion: Fusion,
        neural: Neural,
    },
}

/// The hits of a batch of queries, and the work it took.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Each query's hits, best first, in input order; `doc` is the global
    /// row ([`Corpus::id`], [`Corpus::text`]).
    pub hits: Vec<Vec<Hit>>,
    /// Documents the neural side scored, over all queries.
    pub scored: usize,
}

/// A search checked against an index, ready to run batches of queries.
pub struct Plan<'c, 'a> {
    corpus: &'c Corpus<'a>,
    mode: Mode,
    method: Method,
    k: usize,
    precision: Precision,
}

impl<'c, 'a> Plan<'c, 'a> {
    /// Checks `params` against `corpus`: the mode's parts must be there
    /// (graphs, lexical parts) and the settings in range.
    pub fn new(corpus: &'c Corpus<'a>, params: &SearchParams) -> Result<Self, SearchError> {
        check(params)?;
        let mode = params.mode.unwrap_or_else(|| Mode::default_for(corpus));
        let k = params.k;
        let lexical = || {
            if corpus.has_lexical() {
                Ok(())
            } else {
                Err(SearchError::NoLexical {
                    dir: corpus.dir().to_path_buf(),
                })
            }
        };
        let method = match mode {
            Mode::Exhaustive => Method::Neural(Neural::Exhaustive),
            Mode::Graph => Method::Neural(graph_walk(params, corpus)?),
            Mode::Bm25 => {
                lexical()?;
                Method::Bm25
            }
            Mode::Rerank => {
                lexical()?;
                Method::Rerank {
                    candidates: params.candidates.max(k),
                }
            }
            Mode::Hybrid => {
                lexical()?;
                let neural = match params.neural {
                    Some(NeuralSide::Exhaustive) => Neural::Exhaustive,
                    Some(NeuralSide::Graph) => graph_walk(params, corpus)?,
                    None if corpus.has_graph() => graph_walk(params, corpus)?,
                    None => Neural::Exhaustive,
                };
                Method::Hybrid {
                    candidates: params.candidates.max(k),
                    fusion: params.fusion,
                    neural,
                }
            }
        };
        Ok(Plan {
            corpus,
            mode,
            method,
            k,
            precision: params
                .precision
                .unwrap_or_else(|| Precision::default_for(corpus.dtype())),
        })
    }

    /// The mode this plan runs (the index's default filled in).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether the plan needs the model (every mode but bm25).
    pub fn needs_model(&self) -> bool {
        !matches!(self.method, Method::Bm25)
    }

    /// The top k hits of each query. `model` must be given unless
    /// [`Plan::needs_model`] is false.
    pub fn search(&self, model: Option<&Model>, queries: &[&str]) -> Result<Found, SearchError> {
        if let Method::Bm25 = &self.method {
            let hits = queries
                .par_iter()
                .map(|q| self.bm25_top(&self.bm25_scores(q)?, self.k))
                .collect::<Result<_, _>>()?;
            return Ok(Found { hits, scored: 0 });
        }
        let model = model.expect("every mode but bm25 is given the model");
        let reps = model.encode_queries(queries)?;
        match &self.method {
            Method::Neural(Neural::Exhaustive) => {
                let scorer = batch_scorer(reps, model.dim(), self.precision)?;
                let hits = self.corpus.merged(queries.len(), self.k, |part, k| {
                    Ok::<_, SearchError>(exhaustive(part.index.vectors(), scorer.as_ref(), k))
                })?;
                Ok(Found {
                    hits,
                    scored: self.corpus.rows() * queries.len(),
                })
            }
            Method::Neural(neural) => {
                let scorers = query_scorers(reps, model.dim(), self.precision)?;
                Ok(self.neural_hits(neural, &scorers, self.k))
            }
            Method::Bm25 => unreachable!("answered above"),
            Method::Rerank { candidates } => {
                let scorers = query_scorers(reps, model.dim(), self.precision)?;
                let found: Vec<(Vec<Hit>, usize)> = queries
                    .par_iter()
                    .zip(&scorers)
                    .map(|(query, scorer)| {
                        let top = self.bm25_top(&self.bm25_scores(query)?, *candidates)?;
                        let rows: Vec<u32> = top.iter().map(|h| h.doc).collect();
                        let mut hits = self.score_global(&rows, scorer.as_ref());
                        sort_hits(&mut hits);
                        hits.truncate(self.k);
                        Ok((hits, rows.len()))
                    })
                    .collect::<Result<_, SearchError>>()?;
                Ok(gathered(found))
            }
            Method::Hybrid {
                candidates,
                fusion,
                neural,
            } => {
                let scorers = query_scorers(reps, model.dim(), self.precision)?;
                let neural = self.neural_hits(neural, &scorers, *candidates);
                let found: Vec<(Vec<Hit>, usize)> = queries
                    .par_iter()
                    .zip(&scorers)
                    .zip(&neural.hits)
                    .map(|((query, scorer), side)| {
                        let bm25 = self.bm25_scores(query)?;
                        let top = self.bm25_top(&bm25, *candidates)?;
                        let both = self.candidates(&bm25, &top, side, scorer.as_ref());
                        let extra = both.len().saturating_sub(side.len());
                        Ok((fuse(&both, *fusion, self.k), extra))
                    })
                    .collect::<Result<_, SearchError>>()?;
                let mut out = gathered(found);
                out.scored += neural.scored;
                Ok(out)
            }
        }
    }

    /// The neural side's top `k` per query, one single-query scorer each.
    fn neural_hits(&self, neural: &Neural, scorers: &[Box<dyn Scorer>], k: usize) -> Found {
        let corpus = self.corpus;
        match neural {
            Neural::Exhaustive => {
                let hits = scorers
                    .iter()
                    .map(|s| {
                        corpus
                            .merged(1, k, |part, k| {
                                Ok::<_, SearchError>(exhaustive(
                                    part.index.vectors(),
                                    s.as_ref(),
                                    k,
                                ))
                            })
                            .map(|mut h| h.remove(0))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .expect("exhaustive search cannot fail");
                Found {
                    hits,
                    scored: corpus.rows() * scorers.len(),
                }
            }
            Neural::Graph { walks } => {
                let mut scored = 0;
                let mut place = 0;
                let hits = corpus
                    .merged(scorers.len(), k, |part, k| {
                        let graph = part.index.graph().expect("checked by Plan::new");
                        let (algorithm, entry) = &walks[place];
                        let found = graph_search_many(
                            part.index.vectors(),
                            graph,
                            scorers,
                            entry,
                            k,
                            algorithm,
                        );
                        place += 1;
                        scored += found.iter().map(|(_, s)| s.scored).sum::<usize>();
                        Ok::<_, SearchError>(found.into_iter().map(|(h, _)| h).collect())
                    })
                    .expect("graph search cannot fail");
                Found { hits, scored }
            }
        }
    }

    /// Every part's BM25 scores for `query`, with the whole index's
    /// statistics.
    fn bm25_scores(&self, query: &str) -> Result<Vec<Vec<f32>>, SearchError> {
        let terms = analyze(query);
        let stats = self.corpus.bm25_stats(&terms)?;
        self.corpus
            .parts()
            .iter()
            .map(|p| {
                let lexical = p.index.lexical().expect("checked by Plan::new");
                Ok(lexical.scores_with(&terms, &stats)?)
            })
            .collect()
    }

    /// BM25's best `k` over all parts (rows with no query term left out).
    fn bm25_top(&self, scores: &[Vec<f32>], k: usize) -> Result<Vec<Hit>, SearchError> {
        let mut part_scores = scores.iter();
        let mut hits = self.corpus.merged(1, k, |_, k| {
            let own = part_scores.next().expect("one score list per part");
            Ok::<_, SearchError>(vec![Lexical::top(own, k)
                .into_iter()
                .map(|h| Hit {
                    doc: h.row,
                    score: h.score,
                })
                .collect()])
        })?;
        Ok(hits.remove(0))
    }

    /// Neural scores of global `rows` for a one-query scorer.
    fn score_global(&self, rows: &[u32], scorer: &dyn Scorer) -> Vec<Hit> {
        let mut out = Vec::with_capacity(rows.len());
        for part in self.corpus.parts() {
            let end = part.base + part.index.len();
            let mine: Vec<u32> = rows
                .iter()
                .filter(|&&r| (part.base..end).contains(&(r as usize)))
                .map(|&r| r - part.base as u32)
                .collect();
            let scores = score_rows(part.index.vectors(), &mine, scorer);
            out.extend(mine.iter().zip(scores).map(|(&r, score)| Hit {
                doc: r + part.base as u32,
                score,
            }));
        }
        out
    }

    /// The union of BM25's top rows and the neural hits, each with both
    /// scores (missing neural scores computed).
    fn candidates(
        &self,
        bm25: &[Vec<f32>],
        top: &[Hit],
        neural: &[Hit],
        scorer: &dyn Scorer,
    ) -> Vec<Candidate> {
        let mut neural_of: std::collections::HashMap<u32, f32> =
            neural.iter().map(|h| (h.doc, h.score)).collect();
        let missing: Vec<u32> = top
            .iter()
            .map(|h| h.doc)
            .filter(|d| !neural_of.contains_key(d))
            .collect();
        for hit in self.score_global(&missing, scorer) {
            neural_of.insert(hit.doc, hit.score);
        }
        let mut seen = std::collections::HashSet::with_capacity(neural_of.len());
        let mut out = Vec::with_capacity(neural_of.len());
        for doc in top.iter().chain(neural).map(|h| h.doc) {
            if seen.insert(doc) {
                let (place, row) = self.corpus.place_of(doc);
                out.push(Candidate {
                    doc,
                    lexical: bm25[place][row],
                    neural: neural_of[&doc],
                });
            }
        }
        out
    }
}

/// Settings no index could serve.
fn check(params: &SearchParams) -> Result<(), SearchError> {
    let invalid = |field, message: &str| {
        Err(SearchError::Invalid {
            field,
            message: message.to_string(),
        })
    };
    if params.k == 0 {
        return invalid("k", "must be at least 1");
    }
    if let Fusion::Linear { alpha } = params.fusion {
        if !(0.0..=1.0).contains(&alpha) {
            return invalid("alpha", "must be between 0 and 1");
        }
    }
    if let Fusion::Rrf { k } = params.fusion {
        if !(k.is_finite() && k >= 0.0) {
            return invalid("rrf_k", "must be a finite number, 0 or more");
        }
    }
    if params.entry_points == Some(0) {
        return invalid("entry_points", "must be at least 1");
    }
    if params.expand == Some(0) {
        return invalid("expand", "must be at least 1");
    }
    if params.paper.ncandidates == 0 {
        return invalid("ncandidates", "must be at least 1");
    }
    Ok(())
}

/// The graph walk `params` describe, with each part's entry points; every
/// part must hold a graph.
fn graph_walk(params: &SearchParams, corpus: &Corpus) -> Result<Neural, SearchError> {
    if !corpus.has_graph() {
        return Err(SearchError::NoGraph {
            dir: corpus.dir().to_path_buf(),
        });
    }
    let dots = corpus.is_bi_encoder();
    let (algorithm, default_entries) = match params.walk {
        Walk::Beam => (
            GraphAlgorithm::Beam(BeamParams {
                ef: params.ef,
                expand: params.expand.unwrap_or(if dots { 1 } else { 4 }),
            }),
            if dots { 16 } else { 64 },
        ),
        Walk::Paper => (GraphAlgorithm::Paper(params.paper.clone()), 10_000),
    };
    // Over several segments each part gets its share, by size, of the entry
    // points and of the beam's pool (at least k), so a walk over many
    // segments costs about what one over their merge would.
    let entries = params.entry_points.unwrap_or(default_entries);
    let rows = corpus.rows().max(1);
    let single = corpus.parts().len() == 1;
    let walks = corpus
        .parts()
        .iter()
        .map(|p| {
            let share = |n: usize, least: usize| {
                if single {
                    n
                } else {
                    (n * p.index.len()).div_ceil(rows).max(least)
                }
            };
            let algorithm = match &algorithm {
                GraphAlgorithm::Beam(b) => GraphAlgorithm::Beam(BeamParams {
                    ef: share(b.ef, params.k + p.deleted()),
                    expand: b.expand,
                }),
                paper => paper.clone(),
            };
            let entry = random_entry_points(share(entries, 8), p.index.len(), params.seed);
            (algorithm, entry)
        })
        .collect();
    Ok(Neural::Graph { walks })
}

/// Per-query hits and counts joined into one [`Found`].
fn gathered(found: Vec<(Vec<Hit>, usize)>) -> Found {
    let scored = found.iter().map(|(_, n)| n).sum();
    Found {
        hits: found.into_iter().map(|(hits, _)| hits).collect(),
        scored,
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

/// Loads the model `index` was built with (or `override_dir`, if it moved)
/// and checks it computes the same document vectors: the same document
/// encoder's fingerprint (queries may come from another head), or for
/// indexes that record none, the whole model's.
pub fn open_model(
    index: &Index,
    override_dir: Option<&Path>,
    options: &LoadOptions,
) -> Result<Model, SearchError> {
    open_model_for(&index.manifest().model, index.dir(), override_dir, options)
}

/// [`open_model`] for the model an index folder records (`info`), e.g. a
/// live index's.
pub fn open_model_for(
    info: &ModelInfo,
    index_dir: &Path,
    override_dir: Option<&Path>,
    options: &LoadOptions,
) -> Result<Model, SearchError> {
    let dir = override_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(&info.path));
    let model = Model::load_with(&dir, options).map_err(|source| SearchError::ModelLoad {
        dir: dir.clone(),
        source: Box::new(source),
    })?;
    check_model(info, index_dir, &model)?;
    Ok(model)
}

/// Checks that `model` computes the document vectors of the index at
/// `index_dir`, whose manifest records `info` (see [`open_model_for`]).
pub fn check_model(info: &ModelInfo, index_dir: &Path, model: &Model) -> Result<(), SearchError> {
    let dir = model.dir();
    let (theirs, ours, what) = match &info.doc_encoder {
        Some(doc) => (
            doc.clone(),
            model.doc_encoder_fingerprint()?,
            "document encoder",
        ),
        None => (info.fingerprint.clone(), model.fingerprint()?, "model"),
    };
    if theirs != ours {
        return Err(SearchError::ModelMismatch {
            index: index_dir.to_path_buf(),
            detail: format!(
                "{what}: the index's model {} has {what} fingerprint {}, {} has {}",
                info.path,
                &theirs[..12.min(theirs.len())],
                dir.display(),
                &ours[..12.min(ours.len())]
            ),
        });
    }
    Ok(())
}
