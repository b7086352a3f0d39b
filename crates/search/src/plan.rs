//! One search request from query texts to hits, as every front end runs
//! it: [`Plan`] checks [`SearchParams`] against what the index holds (a
//! graph, a lexical segment) and runs batches of queries over a [`Searcher`].
//! [`Pools`] exposes a hybrid plan's candidate pools, for tuning.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use hypencoder_index::{analyze, Bm25, Bm25Stats, Filter, Lexical, RowSet};
use hypencoder_model::Model;
use rayon::prelude::*;

use crate::error::SearchError;
use crate::exhaustive::{exhaustive, exhaustive_rows};
use crate::fusion::{fuse, score_rows, union, Candidate, Fusion};
use crate::graph_search::{
    graph_search_many, random_entry_points, BeamParams, GraphAlgorithm, Restrict,
};
use crate::request::{Mode, NeuralSide, SearchParams, Walk};
use crate::scorer::{batch_scorer, query_scorers, DotScorer, Precision, Scorer};
use crate::searcher::{sort_hits, Searcher, SegmentReader};
use crate::shard::{ShardCandidates, ShardHits};
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

/// The rows of one segment a filter keeps, as a set (to test a row) and
/// as a list (to score them or start a walk from them), made once per
/// request.
struct Kept {
    rows: RowSet,
    count: usize,
    /// `rows` listed, made when first needed (a walk needs no list).
    list: OnceLock<Vec<u32>>,
    /// What a graph walk here would cost, in documents scored
    /// ([`filtered_walk_cost`]); infinite without a graph.
    walk_cost: f64,
    /// Whether the vectors are scored by dot products (a bi-encoder's).
    dots: bool,
}

impl Kept {
    fn list(&self) -> &[u32] {
        self.list.get_or_init(|| self.rows.to_rows())
    }

    /// Whether scoring the kept rows is cheaper than walking, for a batch
    /// of `queries`. A q-net scores a row at about what the walk pays per
    /// document; a bi-encoder's dot products cost little beside bringing
    /// the row in, which one pass does once for the whole batch (at a
    /// million rows, 10% kept: 300 ns a row for one query, 4.4 ns per
    /// query for 500, against ~300 ns per document the walk scores;
    /// bench/filter/README.md).
    fn score_all(&self, queries: usize) -> bool {
        let per_row = if self.dots {
            1.0 / queries.max(1) as f64 + 0.015
        } else {
            1.0
        };
        self.walk_cost >= self.count as f64 * per_row
    }
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
    kept: Option<Vec<Kept>>,
}

impl<'c, 'a> Plan<'c, 'a> {
    /// Checks `params` against `searcher`: the mode's parts must be there
    /// (graphs, lexical parts) and the settings in range.
    pub fn new(searcher: &'c Searcher<'a>, params: &SearchParams) -> Result<Self, SearchError> {
        Self::for_shard(searcher, params, searcher.rows())
    }

    /// [`Plan::new`] for one shard of a collection of `whole_rows` rows
    /// (every shard's, deleted included): a graph walk takes the shard's
    /// share of the beam and entry points, as a segment of one index does.
    /// Run with [`Plan::search_shard`].
    pub fn for_shard(
        searcher: &'c Searcher<'a>,
        params: &SearchParams,
        whole_rows: usize,
    ) -> Result<Self, SearchError> {
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
            Mode::Graph => Method::Neural(graph_walk(params, searcher, whole_rows)?),
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
                    Some(NeuralSide::Graph) => graph_walk(params, searcher, whole_rows)?,
                    None if searcher.has_graph() => graph_walk(params, searcher, whole_rows)?,
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
        let walks = match &self.method {
            Method::Neural(Neural::Graph { walks }) => Some(walks),
            Method::Hybrid {
                neural: Neural::Graph { walks },
                ..
            } => Some(walks),
            _ => None,
        };
        let dots = self.searcher.is_bi_encoder();
        let kept = self
            .searcher
            .segments()
            .par_iter()
            .enumerate()
            .map(|(place, p)| {
                let mut rows = filter.rows(p.segment.fields(), p.segment.len());
                if p.deleted() > 0 {
                    for row in 0..p.segment.len() {
                        if p.is_deleted(row) {
                            rows.remove(row);
                        }
                    }
                }
                let count = rows.count();
                let share = count as f64 / p.segment.len().max(1) as f64;
                let walk_cost = walks.map_or(f64::INFINITY, |walks| {
                    let (algorithm, entry) = &walks[place];
                    let degree = p.segment.graph().map_or(0, |g| g.degree());
                    filtered_walk_cost(algorithm, entry.len(), degree, share, dots)
                });
                Kept {
                    rows,
                    count,
                    list: OnceLock::new(),
                    walk_cost,
                    dots,
                }
            })
            .collect();
        self.kept = Some(kept);
        Ok(unknown)
    }

    /// The rows of `segment` a filter keeps, if the plan has one.
    fn kept_in(&self, segment: &SegmentReader) -> Option<&Kept> {
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
            Some(kept) => exhaustive_rows(vectors, scorer, k, kept.list()),
        }
    }

    /// Documents an exhaustive search scores per query.
    fn exhaustive_cost(&self) -> usize {
        match &self.kept {
            Some(kept) => kept.iter().map(|k| k.count).sum(),
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
            Method::Neural(neural) if self.scores_kept_rows(neural, queries.len()) => {
                let scorer = batch_scorer(reps, model.dim(), self.precision)?;
                self.exhaustive_batch(scorer.as_ref())
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

    /// This shard's part of a search over shards ([`crate::shard`]), for
    /// [`combine`](crate::combine): per query, its top of each side the
    /// mode ranks by, every candidate with both scores. `whole`: per
    /// query, the BM25 statistics of the whole collection (every shard's
    /// [`Searcher::bm25_stats`] summed); the modes with a lexical side need
    /// them. Plan it with [`Plan::for_shard`].
    pub fn search_shard(
        &self,
        model: Option<&Model>,
        queries: &[&str],
        whole: &[Bm25Stats],
    ) -> Result<ShardHits, SearchError> {
        let (depth, fusion) = match &self.method {
            Method::Rerank { candidates } => (*candidates, None),
            Method::Hybrid {
                candidates, fusion, ..
            } => (*candidates, Some(*fusion)),
            Method::Neural(_) | Method::Bm25 => (self.k, None),
        };
        if !matches!(self.method, Method::Neural(_)) && whole.len() != queries.len() {
            return Err(SearchError::Invalid {
                field: "stats".into(),
                message: format!(
                    "{} queries, but the whole collection's BM25 statistics for {}",
                    queries.len(),
                    whole.len()
                ),
            });
        }
        let (hits, scored) = match &self.method {
            Method::Neural(_) => {
                let found = self.search(model, queries)?;
                let hits = found
                    .hits
                    .iter()
                    .map(|hits| ShardCandidates {
                        lexical: Vec::new(),
                        neural: hits.iter().map(|h| side_hit(h, 0.0, h.score)).collect(),
                    })
                    .collect();
                (hits, found.scored)
            }
            Method::Bm25 => {
                let hits = queries
                    .par_iter()
                    .zip(whole)
                    .map(|(query, stats)| {
                        let scores =
                            self.bm25_scores_as(query, self.bm25_k1, self.bm25_b, Some(stats))?;
                        let top = self.bm25_top(&scores, self.k)?;
                        Ok(ShardCandidates {
                            lexical: top.iter().map(|h| side_hit(h, h.score, 0.0)).collect(),
                            neural: Vec::new(),
                        })
                    })
                    .collect::<Result<_, SearchError>>()?;
                (hits, 0)
            }
            Method::Rerank { .. } | Method::Hybrid { .. } => {
                let model = model.expect("every mode but bm25 is given the model");
                self.shard_sides(model, queries, whole, depth)?
            }
        };
        Ok(ShardHits {
            rows: u32::try_from(self.searcher.rows()).expect("a shard's rows fit u32"),
            mode: self.mode,
            k: self.k,
            depth,
            fusion,
            queries: hits,
            scored,
        })
    }

    /// Rerank's and hybrid's candidates in this shard: BM25's top `depth`
    /// with the whole's statistics, and (hybrid) the neural side's, each
    /// with both scores; and the documents the neural side scored.
    fn shard_sides(
        &self,
        model: &Model,
        queries: &[&str],
        whole: &[Bm25Stats],
        depth: usize,
    ) -> Result<(Vec<ShardCandidates>, usize), SearchError> {
        let reps = model.encode_queries(queries)?;
        let scorers = query_scorers(reps, model.dim(), self.precision)?;
        let neural = match &self.method {
            Method::Hybrid { neural, .. } => self.neural_hits(neural, &scorers, depth),
            _ => Found {
                hits: vec![Vec::new(); queries.len()],
                ..Found::default()
            },
        };
        let found: Vec<(ShardCandidates, usize)> = queries
            .par_iter()
            .zip(&scorers)
            .zip(&neural.hits)
            .zip(whole)
            .map(|(((query, scorer), side), stats)| {
                let bm25 = self.bm25_scores_as(query, self.bm25_k1, self.bm25_b, Some(stats))?;
                let top = self.bm25_top(&bm25, depth)?;
                let (lexical, neural) =
                    self.sides(&bm25, &top, side, scorer.as_ref(), &mut HashMap::new());
                let extra = union(&lexical, &neural).len() - side.len();
                Ok((ShardCandidates { lexical, neural }, extra))
            })
            .collect::<Result<_, SearchError>>()?;
        let scored = neural.scored + found.iter().map(|(_, n)| n).sum::<usize>();
        Ok((found.into_iter().map(|(c, _)| c).collect(), scored))
    }

    /// The top k hits of queries given as vectors (a bi-encoder index's
    /// query embeddings computed elsewhere, one `dim`-row each, row-major):
    /// exhaustive and graph modes, which need no query text.
    pub fn search_vectors(&self, queries: &[f32], dim: usize) -> Result<Found, SearchError> {
        let expected = self
            .searcher
            .segments()
            .first()
            .map(|p| p.segment.vectors().dim());
        let wrong = |message: String| {
            Err(SearchError::Invalid {
                field: "queries".into(),
                message,
            })
        };
        if !self.searcher.is_bi_encoder() {
            return wrong("vectors are searched only in a bi-encoder index".into());
        }
        if expected.is_some_and(|d| d != dim) || dim == 0 || !queries.len().is_multiple_of(dim) {
            return wrong(format!(
                "{} numbers are not whole {dim}-d vectors of an index of {}-d vectors",
                queries.len(),
                expected.unwrap_or(0)
            ));
        }
        let Method::Neural(neural) = &self.method else {
            return wrong("vectors are searched in exhaustive or graph mode only".into());
        };
        if self.scores_kept_rows(neural, queries.len() / dim) {
            return self.exhaustive_batch(&DotScorer::new(queries.to_vec(), dim));
        }
        let scorers: Vec<Box<dyn Scorer>> = queries
            .chunks(dim)
            .map(|q| Box::new(DotScorer::new(q.to_vec(), dim)) as Box<dyn Scorer>)
            .collect();
        Ok(self.neural_hits(neural, &scorers, self.k))
    }

    /// Whether `neural` comes down to scoring every (kept) row: exhaustive
    /// search, or a graph search under a filter whose walks would all cost
    /// more. Then every query is scored in one pass, which a batch makes
    /// cheaper per query (one gather of the rows, block products).
    fn scores_kept_rows(&self, neural: &Neural, queries: usize) -> bool {
        match neural {
            Neural::Exhaustive => true,
            Neural::Graph { .. } => self
                .kept
                .as_ref()
                .is_some_and(|kept| kept.iter().all(|k| k.score_all(queries))),
        }
    }

    /// Exhaustive search of all of `scorer`'s queries in one pass over
    /// the (kept) rows.
    fn exhaustive_batch(&self, scorer: &dyn Scorer) -> Result<Found, SearchError> {
        let n = scorer.num_queries();
        let hits = self.searcher.merged(n, self.k, |segment, k| {
            Ok::<_, SearchError>(self.exhaustive_in(segment, scorer, k))
        })?;
        Ok(Found {
            hits,
            scored: self.exhaustive_cost() * n,
            ..Found::default()
        })
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
                        if let Some(kept) = kept.filter(|k| k.score_all(scorers.len())) {
                            // Scoring the kept rows is cheaper than the walk.
                            place += 1;
                            scored += kept.count * scorers.len();
                            let vectors = segment.segment.vectors();
                            return Ok(scorers
                                .par_iter()
                                .map(|s| {
                                    exhaustive_rows(vectors, s.as_ref(), k, kept.list()).remove(0)
                                })
                                .collect());
                        }
                        let share = kept.map_or(1.0, |k| {
                            k.count as f64 / segment.segment.len().max(1) as f64
                        });
                        let (algorithm, entry) = match kept {
                            Some(kept) => (
                                widened(algorithm, share),
                                kept_entries(entry.len(), &kept.rows),
                            ),
                            None => (algorithm.clone(), entry.clone()),
                        };
                        let restrict = kept.map(|kept| Restrict {
                            rows: &kept.rows,
                            count: kept.count,
                        });
                        let found = graph_search_many(
                            segment.segment.vectors(),
                            graph,
                            scorers,
                            &entry,
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
        self.bm25_scores_as(query, self.bm25_k1, self.bm25_b, None)
    }

    /// [`Self::bm25_scores`] with k1 and b where given, else each part's,
    /// and with collection statistics `whole` where given (a whole
    /// collection's, for a shard of it), else this index's.
    fn bm25_scores_as(
        &self,
        query: &str,
        k1: Option<f32>,
        b: Option<f32>,
        whole: Option<&Bm25Stats>,
    ) -> Result<Vec<Vec<f32>>, SearchError> {
        let terms = analyze(query);
        let own;
        let stats = match whole {
            Some(stats) => stats,
            None => {
                own = self.searcher.bm25_stats(&terms)?;
                &own
            }
        };
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
                Ok(lexical.scores_with(&terms, stats, bm25)?)
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
                        .map(|(row, &s)| if kept.rows.contains(row) { s } else { 0.0 })
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
    /// scores ([`Self::sides`]).
    fn candidates(
        &self,
        bm25: &[Vec<f32>],
        top: &[Hit],
        neural: &[Hit],
        scorer: &dyn Scorer,
        known: &mut HashMap<u32, f32>,
    ) -> Vec<Candidate> {
        let (lexical, neural) = self.sides(bm25, top, neural, scorer, known);
        union(&lexical, &neural)
    }

    /// BM25's top rows and the neural hits, in their orders, each with
    /// both scores; neural scores not in `known` (row to score, the neural
    /// hits added to it here) are computed and added.
    fn sides(
        &self,
        bm25: &[Vec<f32>],
        top: &[Hit],
        neural: &[Hit],
        scorer: &dyn Scorer,
        known: &mut HashMap<u32, f32>,
    ) -> (Vec<Candidate>, Vec<Candidate>) {
        known.extend(neural.iter().map(|h| (h.doc, h.score)));
        let missing: Vec<u32> = top
            .iter()
            .map(|h| h.doc)
            .filter(|d| !known.contains_key(d))
            .collect();
        for hit in self.score_global(&missing, scorer) {
            known.insert(hit.doc, hit.score);
        }
        let both = |hits: &[Hit]| -> Vec<Candidate> {
            hits.iter()
                .map(|h| {
                    let (place, row) = self.searcher.place_of(h.doc);
                    Candidate {
                        doc: h.doc,
                        lexical: bm25[place][row],
                        neural: known[&h.doc],
                    }
                })
                .collect()
        };
        (both(top), both(neural))
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
                let scores = plan.bm25_scores_as(query, Some(bm25.k1), Some(bm25.b), None)?;
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
fn graph_walk(
    params: &SearchParams,
    searcher: &Searcher,
    whole_rows: usize,
) -> Result<Neural, SearchError> {
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
    // segments costs about what one over their merge would; so does each
    // shard of a collection.
    let entries = params.entry_points.unwrap_or(default_entries);
    let rows = whole_rows.max(1);
    let single = searcher.segments().len() == 1 && whole_rows == searcher.rows();
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

/// What a filtered walk would cost, in documents scored, to weigh against
/// scoring the `share` of rows the filter keeps (the Lucene way: exact
/// search where the walk would cost more).
///
/// Scored: unfiltered, a beam scores about ef x degree / 2 (2,048
/// estimated, 2,342 measured on debian-pkg at ef 128, degree 32), the
/// paper's walk its entry points and its rounds' expansions. Filtered, the
/// walk scores only kept rows, so the share itself costs nothing, and a
/// pool widened by w ([`widening`]) about sqrt(w) more (debian-pkg, the
/// pool at 1/sqrt(share): 3,070 scored at 26% kept, w 1.96; 3,466 at 10%,
/// w 3.1).
///
/// Stepped through: each expansion reads neighbour lists until it has
/// `degree` kept rows; with s kept, a list yields degree x s of them, so
/// a step reads 1 + min(degree (1 - s), (1 - s) / s) lists, and lists
/// about degree x s x (1 + degree) rows (at most degree), half of them
/// new. A list read costs about what a dot product of a row does (both
/// a cache miss), far less than a q-net's score: at a million 384-d
/// bi-encoder vectors and 1% kept, reading cost 7x the unfiltered walk
/// (bench/filter/README.md).
fn filtered_walk_cost(
    algorithm: &GraphAlgorithm,
    entries: usize,
    degree: usize,
    share: f64,
    dots: bool,
) -> f64 {
    let (d, s) = (degree.max(1) as f64, share.clamp(1e-9, 1.0));
    let scored = match algorithm {
        GraphAlgorithm::Beam(b) => b.ef as f64 * d / 2.0 * widening(share).sqrt(),
        GraphAlgorithm::Paper(p) => entries as f64 + p.max_iter as f64 * p.ncandidates as f64 * d,
    };
    let listed = (d * s * (1.0 + d)).min(d);
    let reads_per_step = 1.0 + (d * (1.0 - s)).min((1.0 - s) / s);
    let reads = scored / (listed / 2.0) * reads_per_step;
    let read_cost = if dots { 1.0 } else { 0.05 };
    scored + reads * read_cost
}

/// How much a filtered beam's pool grows as the filter keeps a smaller
/// share: the kept rows near the query are fewer and further apart, so
/// the walk holds more of them to keep its recall: share^(-1/4), at most
/// 8. Unwidened, recall@10 fell to 0.954 at 10% kept on debian-pkg and
/// 0.873 at 1% of a million vectors; 1/sqrt(share) cost up to 2.5x the
/// unfiltered walk for little more (bench/filter/README.md).
fn widening(share: f64) -> f64 {
    share.clamp(1e-9, 1.0).powf(-0.25).min(8.0)
}

/// A filtered beam walk's settings: the pool [`widening`] times wider.
fn widened(algorithm: &GraphAlgorithm, share: f64) -> GraphAlgorithm {
    match algorithm {
        GraphAlgorithm::Beam(b) => GraphAlgorithm::Beam(BeamParams {
            ef: (b.ef as f64 * widening(share)).ceil() as usize,
            expand: b.expand,
        }),
        paper => paper.clone(),
    }
}

/// A filtered walk's entry points: up to `count` kept rows, the first at
/// or after each of `count` evenly spaced rows (a walk that scores only
/// kept rows must start on them).
fn kept_entries(count: usize, kept: &RowSet) -> Vec<u32> {
    let n = kept.len();
    let mut entry: Vec<u32> = (0..count.max(1))
        .filter_map(|i| kept.next_from(i * n / count.max(1)))
        .map(|row| row as u32)
        .collect();
    entry.dedup();
    entry
}

/// A hit as a side's candidate, with both scores.
fn side_hit(hit: &Hit, lexical: f32, neural: f32) -> Candidate {
    Candidate {
        doc: hit.doc,
        lexical,
        neural,
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
