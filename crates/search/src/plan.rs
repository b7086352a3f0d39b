//! One search request from query texts to hits, as every front end runs
//! it: [`Plan`] checks [`SearchParams`] against what the index holds (a
//! graph, a lexical segment) and runs batches of queries over a [`Searcher`].
//! [`Pools`] exposes a hybrid plan's candidate pools, for tuning.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use hypencoder_index::{analyze, Bm25, Filter, Lexical, RowSet};
use hypencoder_model::Model;
use rayon::prelude::*;

use crate::error::SearchError;
use crate::exhaustive::{exhaustive, exhaustive_rows};
use crate::fusion::{fuse, score_rows, Candidate, Fusion};
use crate::graph_search::{
    graph_search_many, random_entry_points, BeamParams, GraphAlgorithm, Restrict,
};
use crate::request::{Mode, NeuralSide, SearchParams, Walk};
use crate::scorer::{batch_scorer, query_scorers, Precision, Scorer};
use crate::searcher::{sort_hits, Searcher, SegmentReader};
use crate::topk::Hit;

/// How the neural side finds its hits: every document, or along each
/// segment's graph from fixed entry points.
enum Neural {
    Exhaustive,
    Graph {
        /// Per segment: its walk's settings and entry points.
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
    /// row ([`Searcher::id`], [`Searcher::text`]).
    pub hits: Vec<Vec<Hit>>,
    /// Documents the neural side scored, over all queries.
    pub scored: usize,
    /// What the caller should know about the request (a filter's field
    /// no document has).
    pub warnings: Vec<String>,
}

/// A search checked against an index, ready to run batches of queries.
pub struct Plan<'c, 'a> {
    searcher: &'c Searcher<'a>,
    mode: Mode,
    method: Method,
    k: usize,
    precision: Precision,
    /// BM25's k1 and b where the request sets them (else each lexical
    /// part's own).
    bm25_k1: Option<f32>,
    bm25_b: Option<f32>,
    /// Per segment, the rows a filter keeps (deleted ones left out);
    /// `None` searches every document.
    kept: Option<Vec<RowSet>>,
}

impl<'c, 'a> Plan<'c, 'a> {
    /// Checks `params` against `searcher`: the mode's parts must be there
    /// (graphs, lexical parts) and the settings in range.
    pub fn new(searcher: &'c Searcher<'a>, params: &SearchParams) -> Result<Self, SearchError> {
        check(params)?;
        let mode = params.mode.unwrap_or_else(|| searcher.default_mode());
        let k = params.k;
        let lexical = || {
            if searcher.has_lexical() {
                Ok(())
            } else {
                Err(SearchError::NoLexical {
                    dir: searcher.dir().to_path_buf(),
                })
            }
        };
        let method = match mode {
            Mode::Exhaustive => Method::Neural(Neural::Exhaustive),
            Mode::Graph => Method::Neural(graph_walk(params, searcher)?),
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
                    Some(NeuralSide::Graph) => graph_walk(params, searcher)?,
                    None if searcher.has_graph() => graph_walk(params, searcher)?,
                    None => Neural::Exhaustive,
                };
                Method::Hybrid {
                    candidates: params.candidates.max(k),
                    fusion: params.fusion(),
                    neural,
                }
            }
        };
        Ok(Plan {
            searcher,
            mode,
            method,
            k,
            precision: params
                .precision
                .unwrap_or_else(|| Precision::default_for(searcher.dtype())),
            bm25_k1: params.bm25_k1,
            bm25_b: params.bm25_b,
            kept: None,
        })
    }

    /// Restricts every search of this plan to the documents `filter`
    /// keeps, in every mode: checked against the index's fields (a
    /// condition that does not suit its field's type is an error), then
    /// evaluated once per segment. Returns the fields no document has
    /// (they match nothing), for a warning.
    pub fn filter(&mut self, filter: &Filter) -> Result<Vec<String>, SearchError> {
        let unknown = filter.check(&self.searcher.schema()?)?;
        let kept = self
            .searcher
            .segments()
            .par_iter()
            .map(|p| {
                let mut rows = filter.rows(p.segment.fields(), p.segment.len());
                if p.deleted() > 0 {
                    for row in 0..p.segment.len() {
                        if p.is_deleted(row) {
                            rows.remove(row);
                        }
                    }
                }
                rows
            })
            .collect();
        self.kept = Some(kept);
        Ok(unknown)
    }

    /// The rows of `segment` a filter keeps, if the plan has one.
    fn kept_in(&self, segment: &SegmentReader) -> Option<&RowSet> {
        let kept = self.kept.as_ref()?;
        let place = self
            .searcher
            .segments()
            .iter()
            .position(|s| std::ptr::eq(s, segment))
            .expect("a segment of this plan's searcher");
        Some(&kept[place])
    }

    /// The `k` best of `segment` for `scorer`'s queries, scoring only the
    /// rows the filter keeps.
    fn exhaustive_in(
        &self,
        segment: &SegmentReader,
        scorer: &dyn Scorer,
        k: usize,
    ) -> Vec<Vec<Hit>> {
        let vectors = segment.segment.vectors();
        match self.kept_in(segment) {
            None => exhaustive(vectors, scorer, k),
            Some(kept) => exhaustive_rows(vectors, scorer, k, &kept.to_rows()),
        }
    }

    /// Documents an exhaustive search scores per query.
    fn exhaustive_cost(&self) -> usize {
        match &self.kept {
            Some(kept) => kept.iter().map(RowSet::count).sum(),
            None => self.searcher.rows(),
        }
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
            return Ok(Found {
                hits,
                scored: 0,
                warnings: Vec::new(),
            });
        }
        let model = model.expect("every mode but bm25 is given the model");
        let reps = model.encode_queries(queries)?;
        match &self.method {
            Method::Neural(Neural::Exhaustive) => {
                let scorer = batch_scorer(reps, model.dim(), self.precision)?;
                let hits = self.searcher.merged(queries.len(), self.k, |segment, k| {
                    Ok::<_, SearchError>(self.exhaustive_in(segment, scorer.as_ref(), k))
                })?;
                Ok(Found {
                    hits,
                    scored: self.exhaustive_cost() * queries.len(),
                    ..Found::default()
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
                        let both = self.candidates(
                            &bm25,
                            &top,
                            side,
                            scorer.as_ref(),
                            &mut HashMap::new(),
                        );
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
        let searcher = self.searcher;
        match neural {
            Neural::Exhaustive => {
                let hits = scorers
                    .iter()
                    .map(|s| {
                        searcher
                            .merged(1, k, |segment, k| {
                                Ok::<_, SearchError>(self.exhaustive_in(segment, s.as_ref(), k))
                            })
                            .map(|mut h| h.remove(0))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .expect("exhaustive search cannot fail");
                Found {
                    hits,
                    scored: self.exhaustive_cost() * scorers.len(),
                    ..Found::default()
                }
            }
            Neural::Graph { walks } => {
                let mut scored = 0;
                let mut place = 0;
                let hits = searcher
                    .merged(scorers.len(), k, |segment, k| {
                        let graph = segment.segment.graph().expect("checked by Plan::new");
                        let (algorithm, entry) = &walks[place];
                        let kept = self.kept_in(segment);
                        let count = kept.map_or(0, RowSet::count);
                        let rows_in = segment.segment.len();
                        let walk_loses = |_: &&RowSet| {
                            walk_costs_more(algorithm, entry.len(), graph.degree(), count, rows_in)
                        };
                        if let Some(rows) = kept.filter(walk_loses) {
                            // Scoring the kept rows is cheaper than the walk.
                            place += 1;
                            let list = rows.to_rows();
                            scored += list.len() * scorers.len();
                            let vectors = segment.segment.vectors();
                            return Ok(scorers
                                .iter()
                                .map(|s| exhaustive_rows(vectors, s.as_ref(), k, &list).remove(0))
                                .collect());
                        }
                        let algorithm = match kept {
                            Some(_) => widened(algorithm, count, rows_in),
                            None => algorithm.clone(),
                        };
                        let restrict = kept.map(|rows| Restrict {
                            rows,
                            budget: count,
                        });
                        let found = graph_search_many(
                            segment.segment.vectors(),
                            graph,
                            scorers,
                            entry,
                            k,
                            &algorithm,
                            restrict,
                        );
                        place += 1;
                        scored += found.iter().map(|(_, s)| s.scored).sum::<usize>();
                        Ok::<_, SearchError>(found.into_iter().map(|(h, _)| h).collect())
                    })
                    .expect("graph search cannot fail");
                Found {
                    hits,
                    scored,
                    ..Found::default()
                }
            }
        }
    }

    /// Every segment's BM25 scores for `query`, with the whole index's
    /// statistics.
    fn bm25_scores(&self, query: &str) -> Result<Vec<Vec<f32>>, SearchError> {
        self.bm25_scores_as(query, self.bm25_k1, self.bm25_b)
    }

    /// [`Self::bm25_scores`] with k1 and b where given, else each part's.
    fn bm25_scores_as(
        &self,
        query: &str,
        k1: Option<f32>,
        b: Option<f32>,
    ) -> Result<Vec<Vec<f32>>, SearchError> {
        let terms = analyze(query);
        let stats = self.searcher.bm25_stats(&terms)?;
        self.searcher
            .segments()
            .iter()
            .map(|p| {
                let lexical = p.segment.lexical().expect("checked by Plan::new");
                let own = lexical.params();
                let bm25 = Bm25 {
                    k1: k1.unwrap_or(own.k1),
                    b: b.unwrap_or(own.b),
                };
                Ok(lexical.scores_with(&terms, &stats, bm25)?)
            })
            .collect()
    }

    /// BM25's best `k` over all parts (rows with no query term left out,
    /// and rows a filter leaves out).
    fn bm25_top(&self, scores: &[Vec<f32>], k: usize) -> Result<Vec<Hit>, SearchError> {
        let mut part_scores = scores.iter();
        let mut hits = self.searcher.merged(1, k, |segment, k| {
            let own = part_scores.next().expect("one score list per segment");
            let masked: Vec<f32>;
            let own = match self.kept_in(segment) {
                None => own,
                Some(kept) => {
                    masked = own
                        .iter()
                        .enumerate()
                        .map(|(row, &s)| if kept.contains(row) { s } else { 0.0 })
                        .collect();
                    &masked
                }
            };
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
        for segment in self.searcher.segments() {
            let end = segment.base + segment.segment.len();
            let mine: Vec<u32> = rows
                .iter()
                .filter(|&&r| (segment.base..end).contains(&(r as usize)))
                .map(|&r| r - segment.base as u32)
                .collect();
            let scores = score_rows(segment.segment.vectors(), &mine, scorer);
            out.extend(mine.iter().zip(scores).map(|(&r, score)| Hit {
                doc: r + segment.base as u32,
                score,
            }));
        }
        out
    }

    /// The union of BM25's top rows and the neural hits, each with both
    /// scores; neural scores not in `known` (row to score, the neural
    /// hits added to it here) are computed and added.
    fn candidates(
        &self,
        bm25: &[Vec<f32>],
        top: &[Hit],
        neural: &[Hit],
        scorer: &dyn Scorer,
        known: &mut HashMap<u32, f32>,
    ) -> Vec<Candidate> {
        known.extend(neural.iter().map(|h| (h.doc, h.score)));
        let missing: Vec<u32> = top
            .iter()
            .map(|h| h.doc)
            .filter(|d| !known.contains_key(d))
            .collect();
        for hit in self.score_global(&missing, scorer) {
            known.insert(hit.doc, hit.score);
        }
        let mut seen = HashSet::with_capacity(top.len() + neural.len());
        let mut out = Vec::with_capacity(top.len() + neural.len());
        for doc in top.iter().chain(neural).map(|h| h.doc) {
            if seen.insert(doc) {
                let (place, row) = self.searcher.place_of(doc);
                out.push(Candidate {
                    doc,
                    lexical: bm25[place][row],
                    neural: known[&doc],
                });
            }
        }
        out
    }
}

/// A hybrid plan's pieces for tuning it on judged queries: the queries'
/// scorers made once, the neural side searched once per depth and BM25
/// once per setting, joined into the candidate pools fusion ranks. Fusing
/// a pool with [`fuse`] gives what [`Plan::search`] would for the same
/// settings.
pub struct Pools<'p, 'c, 'a> {
    plan: &'p Plan<'c, 'a>,
    neural: &'p Neural,
    queries: Vec<String>,
    scorers: Vec<Box<dyn Scorer>>,
    /// Per query, the neural scores computed so far (they do not depend
    /// on BM25's settings, so each row is scored once).
    known: Vec<Mutex<HashMap<u32, f32>>>,
}

impl<'c, 'a> Plan<'c, 'a> {
    /// Encodes `queries` for tuning this plan, which must be hybrid (its
    /// neural side is the one searched).
    pub fn pools<'p>(
        &'p self,
        model: &Model,
        queries: &[&str],
    ) -> Result<Pools<'p, 'c, 'a>, SearchError> {
        let Method::Hybrid { neural, .. } = &self.method else {
            return Err(SearchError::Invalid {
                field: "mode".into(),
                message: format!("tuning needs hybrid search, not {}", self.mode.name()),
            });
        };
        let reps = model.encode_queries(queries)?;
        Ok(Pools {
            plan: self,
            neural,
            known: queries.iter().map(|_| Mutex::default()).collect(),
            queries: queries.iter().map(|q| q.to_string()).collect(),
            scorers: query_scorers(reps, model.dim(), self.precision)?,
        })
    }
}

impl Pools<'_, '_, '_> {
    /// The neural side's top `depth` per query.
    pub fn neural(&self, depth: usize) -> Found {
        self.plan.neural_hits(self.neural, &self.scorers, depth)
    }

    /// Whether the neural side is exact (exhaustive), so its top `d` are
    /// the first `d` of any deeper search's: one search serves every depth.
    pub fn neural_is_exact(&self) -> bool {
        matches!(self.neural, Neural::Exhaustive)
    }

    /// Per query, the union of BM25's top `depth` (with `bm25`'s k1 and b)
    /// and the query's `neural` hits, each candidate with both scores.
    pub fn candidates(
        &self,
        neural: &Found,
        depth: usize,
        bm25: Bm25,
    ) -> Result<Vec<Vec<Candidate>>, SearchError> {
        let plan = self.plan;
        self.queries
            .par_iter()
            .zip(&self.scorers)
            .zip(&neural.hits)
            .zip(&self.known)
            .map(|(((query, scorer), side), known)| {
                let scores = plan.bm25_scores_as(query, Some(bm25.k1), Some(bm25.b))?;
                let top = plan.bm25_top(&scores, depth)?;
                let mut known = known.lock().expect("no panic holding a query's scores");
                Ok(plan.candidates(&scores, &top, side, scorer.as_ref(), &mut known))
            })
            .collect()
    }
}

/// Settings no index could serve.
fn check(params: &SearchParams) -> Result<(), SearchError> {
    let invalid = |field: &str, message: &str| {
        Err(SearchError::Invalid {
            field: field.to_string(),
            message: message.to_string(),
        })
    };
    if params.k == 0 {
        return invalid("k", "must be at least 1");
    }
    if let Fusion::Linear { alpha } | Fusion::Zscore { alpha } | Fusion::Dbsf { alpha } =
        params.fusion()
    {
        if !(0.0..=1.0).contains(&alpha) {
            return invalid("alpha", "must be between 0 and 1");
        }
    }
    if let Fusion::Rrf { k } = params.fusion() {
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
    if params.ncandidates == 0 {
        return invalid("ncandidates", "must be at least 1");
    }
    if params
        .bm25_k1
        .is_some_and(|k1| !(k1.is_finite() && k1 >= 0.0))
    {
        return invalid("bm25_k1", "must be a finite number, 0 or more");
    }
    if params.bm25_b.is_some_and(|b| !(0.0..=1.0).contains(&b)) {
        return invalid("bm25_b", "must be between 0 and 1");
    }
    Ok(())
}

/// The graph walk `params` describe, with each segment's entry points; every
/// segment must hold a graph.
fn graph_walk(params: &SearchParams, searcher: &Searcher) -> Result<Neural, SearchError> {
    if !searcher.has_graph() {
        return Err(SearchError::NoGraph {
            dir: searcher.dir().to_path_buf(),
        });
    }
    let dots = searcher.is_bi_encoder();
    let (algorithm, default_entries) = match params.algorithm {
        Walk::Beam => (
            GraphAlgorithm::Beam(BeamParams {
                ef: params.ef,
                expand: params.expand.unwrap_or(if dots { 1 } else { 4 }),
            }),
            if dots { 16 } else { 64 },
        ),
        Walk::Paper => (GraphAlgorithm::Paper(params.paper()), 10_000),
    };
    // Over several segments each segment gets its share, by size, of the entry
    // points and of the beam's pool (at least k), so a walk over many
    // segments costs about what one over their merge would.
    let entries = params.entry_points.unwrap_or(default_entries);
    let rows = searcher.rows().max(1);
    let single = searcher.segments().len() == 1;
    let walks = searcher
        .segments()
        .iter()
        .map(|p| {
            let share = |n: usize, least: usize| {
                if single {
                    n
                } else {
                    (n * p.segment.len()).div_ceil(rows).max(least)
                }
            };
            let algorithm = match &algorithm {
                GraphAlgorithm::Beam(b) => GraphAlgorithm::Beam(BeamParams {
                    ef: share(b.ef, params.k + p.deleted()),
                    expand: b.expand,
                }),
                paper => paper.clone(),
            };
            let entry = random_entry_points(share(entries, 8), p.segment.len(), params.seed);
            (algorithm, entry)
        })
        .collect();
    Ok(Neural::Graph { walks })
}

/// Whether a filtered walk would likely score more documents than the
/// filter keeps. An unfiltered beam scores about ef x degree / 2 documents
/// (2,048 estimated, 2,342 measured on debian-pkg at ef 128, degree 32),
/// the paper's walk its entry points and its rounds' expansions. A filter
/// keeping a share s of the rows makes the walk pass about 1/s as many to
/// fill its pool, while exhaustive scoring of the kept rows costs s x n.
/// Below the crossing, sqrt(walk / n), scoring the kept rows wins.
fn walk_costs_more(
    algorithm: &GraphAlgorithm,
    entries: usize,
    degree: usize,
    kept: usize,
    rows: usize,
) -> bool {
    let share = (kept.max(1) as f64 / rows.max(1) as f64).min(1.0);
    let walk = match algorithm {
        GraphAlgorithm::Beam(b) => (b.ef * degree) as f64 / 2.0,
        GraphAlgorithm::Paper(p) => (entries + p.max_iter * p.ncandidates * degree) as f64,
    };
    walk / share >= kept as f64
}

/// A filtered beam walk's pool, widened as the filter keeps fewer rows:
/// results come only from the kept rows, so the walk must look further to
/// fill the same pool (by 1/sqrt(share), at most 8 times).
fn widened(algorithm: &GraphAlgorithm, kept: usize, rows: usize) -> GraphAlgorithm {
    match algorithm {
        GraphAlgorithm::Beam(b) => {
            let share = (kept.max(1) as f64 / rows.max(1) as f64).min(1.0);
            let ef = ((b.ef as f64 / share.sqrt()).ceil() as usize).min(b.ef * 8);
            GraphAlgorithm::Beam(BeamParams {
                ef,
                expand: b.expand,
            })
        }
        paper => paper.clone(),
    }
}

/// Per-query hits and counts joined into one [`Found`].
fn gathered(found: Vec<(Vec<Hit>, usize)>) -> Found {
    let scored = found.iter().map(|(_, n)| n).sum();
    Found {
        hits: found.into_iter().map(|(hits, _)| hits).collect(),
        scored,
        ..Found::default()
    }
}
