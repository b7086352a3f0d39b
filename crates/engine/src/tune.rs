//! Hybrid settings chosen on a user's own judged queries (`hypencoder
//! tune`). Every combination of a grid of fusions, candidate depths and
//! BM25 k1/b is scored on the index as it is: BM25's settings apply to the
//! stored postings and each side's candidates are computed once per depth
//! or BM25 setting ([`Pools`]), so a grid of hundreds costs a few searches.
//! The best setting is then held against the shipped defaults twice:
//! - on held-out folds: the best of the other folds, scored on each fold,
//!   so the gain reported is not the in-sample maximum over hundreds of
//!   settings (which always looks like a gain);
//! - by a paired bootstrap over the queries' held-out gains, which must
//!   make the gain clear (p < 0.05) when fewer than [`MIN_QUERIES`]
//!   queries are judged.
//!
//! The decision is what [`Tuning::record`] returns: the chosen settings,
//! or none (the shipped defaults) when the gain does not hold up. Writing
//! it into the index is the caller's ([`crate::Writer::set_search_defaults`]).

use std::collections::HashMap;
use std::time::Instant;

use hypencoder_eval::{trec_order, Metric, Qrels, ScoredDoc};
use hypencoder_index::Bm25;
use hypencoder_search::{fuse, Found, FusionMethod, Mode, Overrides, Plan, SearchParams};
use rayon::prelude::*;

use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Below this many judged queries a gain must be clear in a paired
/// bootstrap before it replaces the shipped defaults.
pub const MIN_QUERIES: usize = 50;
/// Folds of the held-out estimate.
pub const FOLDS: usize = 5;
/// Times the folds are drawn afresh (the estimate is their mean: one
/// draw's is noisy on a few hundred queries).
const REPEATS: u64 = 4;
/// Resamples of the paired bootstrap.
const RESAMPLES: usize = 10_000;
/// The largest p-value that counts as a clear gain.
const CLEAR: f64 = 0.05;

/// The settings tried: every combination of one depth, one BM25 setting
/// and one fusion.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Candidates taken from each side.
    pub candidates: Vec<usize>,
    /// BM25's k1 and b.
    pub bm25: Vec<Bm25>,
    /// Fusions, as (method, alpha for linear, zscore and dbsf, rrf_k for rrf).
    pub fusions: Vec<(FusionMethod, Option<f32>, Option<f32>)>,
}

impl Default for Grid {
    /// The grid around the shipped defaults (which [`tune`] adds, with the
    /// index's own BM25 settings, where missing): depths 50-200; k1 from
    /// our 0.5 to Lucene's 1.2 and past it, b 0.4-0.9; linear fusion from
    /// BM25 alone (0) to the model alone (1), z-score and DBSF at the
    /// weights that were ever best on our collections, RRF and the adaptive
    /// fusion.
    fn default() -> Grid {
        let mut bm25 = Vec::new();
        for k1 in [0.5, 0.9, 1.2, 1.6] {
            for b in [0.75, 0.4, 0.9] {
                bm25.push(Bm25 { k1, b });
            }
        }
        let mut fusions = Vec::new();
        for alpha in [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] {
            fusions.push((FusionMethod::Linear, Some(alpha), None));
        }
        for method in [FusionMethod::Zscore, FusionMethod::Dbsf] {
            for alpha in [0.5, 0.6, 0.7, 0.8] {
                fusions.push((method, Some(alpha), None));
            }
        }
        fusions.push((FusionMethod::Rrf, None, Some(SearchParams::DEFAULT.rrf_k)));
        fusions.push((FusionMethod::Adaptive, None, None));
        Grid {
            candidates: vec![50, SearchParams::DEFAULT.candidates, 200],
            bm25,
            fusions,
        }
    }
}

impl Grid {
    /// Adds what `setting` needs to be among the combinations (it is the
    /// baseline), and raises depths to the metric's `cutoff`.
    fn hold(&mut self, setting: &Setting, cutoff: usize) {
        for depth in &mut self.candidates {
            *depth = (*depth).max(cutoff);
        }
        if !self.candidates.contains(&setting.candidates) {
            self.candidates.push(setting.candidates);
        }
        self.candidates.sort_unstable();
        self.candidates.dedup();
        let bm25 = Bm25 {
            k1: setting.bm25_k1,
            b: setting.bm25_b,
        };
        if !self.bm25.contains(&bm25) {
            self.bm25.push(bm25);
        }
        let fusion = (setting.fusion, setting.alpha, setting.rrf_k);
        if !self.fusions.contains(&fusion) {
            self.fusions.push(fusion);
        }
    }

    /// Combinations in the grid.
    pub fn len(&self) -> usize {
        self.candidates.len() * self.bm25.len() * self.fusions.len()
    }

    /// Whether it tries nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One hybrid setting: what `tune` records, by request names.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Setting {
    /// How the sides' scores become one.
    pub fusion: FusionMethod,
    /// Weight of the neural side (linear, zscore, dbsf).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f32>,
    /// RRF's constant (rrf).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrf_k: Option<f32>,
    /// Candidates from each side.
    pub candidates: usize,
    /// BM25's k1.
    pub bm25_k1: f32,
    /// BM25's b.
    pub bm25_b: f32,
}

impl Setting {
    /// The setting as search settings by name (what the index records),
    /// numbers as their shortest decimals (0.4, not f32's 0.4000000059...).
    pub fn overrides(&self) -> Overrides {
        let number = |x: f32| -> serde_json::Value {
            let shortest: f64 = x.to_string().parse().expect("an f32 prints as a number");
            serde_json::json!(shortest)
        };
        let mut map = Overrides::new();
        let fusion = serde_json::to_value(self.fusion).expect("a fusion serialises");
        map.insert("fusion".into(), fusion);
        if let Some(alpha) = self.alpha {
            map.insert("alpha".into(), number(alpha));
        }
        if let Some(rrf_k) = self.rrf_k {
            map.insert("rrf_k".into(), number(rrf_k));
        }
        map.insert("candidates".into(), self.candidates.into());
        map.insert("bm25_k1".into(), number(self.bm25_k1));
        map.insert("bm25_b".into(), number(self.bm25_b));
        map
    }

    /// The full search settings: `base` with this setting over it.
    pub fn params(&self, base: &SearchParams) -> SearchParams {
        SearchParams {
            fusion: self.fusion,
            alpha: self.alpha.unwrap_or(base.alpha),
            rrf_k: self.rrf_k.unwrap_or(base.rrf_k),
            candidates: self.candidates,
            bm25_k1: Some(self.bm25_k1),
            bm25_b: Some(self.bm25_b),
            ..base.clone()
        }
    }

    /// `params`' hybrid setting (BM25's from the index's `own` where unset).
    pub fn of(params: &SearchParams, own: Bm25) -> Setting {
        let (alpha, rrf_k) = match params.fusion {
            FusionMethod::Rrf => (None, Some(params.rrf_k)),
            FusionMethod::Adaptive => (None, None),
            _ => (Some(params.alpha), None),
        };
        Setting {
            fusion: params.fusion,
            alpha,
            rrf_k,
            candidates: params.candidates,
            bm25_k1: params.bm25_k1.unwrap_or(own.k1),
            bm25_b: params.bm25_b.unwrap_or(own.b),
        }
    }
}

/// One setting's score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TuneRow {
    /// The setting.
    pub setting: Setting,
    /// Its mean metric over the judged queries.
    pub score: f64,
}

/// What `tune` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Decision {
    /// The best setting replaces the shipped defaults.
    Tuned,
    /// The shipped defaults were the best setting tried.
    ShippedBest,
    /// The best setting lost its gain on held-out folds: it fits these
    /// queries, not the collection.
    NoHeldOutGain,
    /// Too few judged queries for a gain this small to be clear.
    FewQueries,
}

/// The outcome of tuning: every setting's score, the shipped defaults'
/// and the decision, with the evidence for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tuning {
    /// The metric maximised (e.g. `mrr@10`).
    pub metric: String,
    /// Judged queries scored (the queries given that the qrels judge).
    pub queries: usize,
    /// Queries given that the qrels do not judge (left out).
    pub unjudged: usize,
    /// Every setting tried, best first (ties: the shipped defaults first,
    /// then grid order).
    pub rows: Vec<TuneRow>,
    /// The shipped defaults with the index's BM25 settings, and their
    /// score.
    pub shipped: TuneRow,
    /// The best setting's gain over the shipped defaults on these queries.
    pub gain: f64,
    /// The gain on held-out folds: each fold scored with the setting
    /// best on the others (what to expect on new queries).
    pub held_out_gain: f64,
    /// One-sided paired bootstrap p-value of the held-out gain (each
    /// query's, tuned on the other folds, against the shipped defaults).
    pub p_value: f64,
    /// What is to be recorded.
    pub decision: Decision,
    /// Seconds the tuning took.
    pub seconds: f64,
}

impl Tuning {
    /// The best setting tried.
    pub fn best(&self) -> &TuneRow {
        &self.rows[0]
    }

    /// The settings to record in the index: the best setting's if it is
    /// [`Decision::Tuned`], else none (the shipped defaults).
    pub fn record(&self) -> Overrides {
        match self.decision {
            Decision::Tuned => self.best().setting.overrides(),
            _ => Overrides::new(),
        }
    }
}

/// Options of [`tune`].
#[derive(Debug, Clone, PartialEq)]
pub struct TuneOptions {
    /// The metric maximised; it must have a cutoff (`mrr@10`, `ndcg@10`).
    pub metric: Metric,
    /// The settings tried [default: [`Grid::default`]].
    pub grid: Option<Grid>,
    /// Seed of the folds and the bootstrap.
    pub seed: u64,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions {
            metric: Metric::RecipRank(Some(10)),
            grid: None,
            seed: 43,
        }
    }
}

/// A judged query: its id, text and judgments.
type Judged<'q> = (&'q str, &'q str, &'q HashMap<String, i32>);

/// Scores every setting of the grid on `queries` (id, text) judged by
/// `qrels` over `collection` in hybrid mode, and decides what to record.
/// Settings a tuning does not vary (the neural side, graph search's) are
/// the collection's defaults.
pub fn tune(
    collection: &Collection,
    queries: &[(String, String)],
    qrels: &Qrels,
    options: &TuneOptions,
    progress: &dyn Progress,
) -> Result<Tuning> {
    let started = Instant::now();
    let cutoff = options.metric.cutoff().ok_or_else(|| Error::Invalid {
        field: "metric",
        message: format!(
            "{} has no cutoff; tune ranks a fixed depth (use e.g. mrr@10 or ndcg@10)",
            options.metric
        ),
    })?;
    let judged: Vec<Judged> = queries
        .iter()
        .filter_map(|(id, text)| Some((id.as_str(), text.as_str(), qrels.judgments(id)?)))
        .collect();
    if judged.is_empty() {
        return Err(Error::Invalid {
            field: "qrels",
            message: format!(
                "judge none of the {} queries given (do the query ids match?)",
                queries.len()
            ),
        });
    }
    let own = collection
        .index()
        .manifest()
        .lexical
        .as_ref()
        .map(|l| Bm25 { k1: l.k1, b: l.b })
        .ok_or_else(|| {
            Error::from(hypencoder_search::SearchError::NoLexical {
                dir: collection.dir().to_path_buf(),
            })
        })?;
    let mut shipped = Setting::of(&SearchParams::DEFAULT, own);
    // As search raises candidates to k.
    shipped.candidates = shipped.candidates.max(cutoff);
    let mut grid = options.grid.clone().unwrap_or_default();
    grid.hold(&shipped, cutoff);
    let (settings, values) = score_grid(collection, &judged, &grid, options.metric, progress)?;
    let mut tuning = decide(&settings, &values, shipped, options.seed);
    tuning.metric = options.metric.to_string();
    tuning.unjudged = queries.len() - judged.len();
    tuning.seconds = started.elapsed().as_secs_f64();
    Ok(tuning)
}

/// Every setting of `grid` (in grid order) with its metric per query.
fn score_grid(
    collection: &Collection,
    judged: &[Judged],
    grid: &Grid,
    metric: Metric,
    progress: &dyn Progress,
) -> Result<(Vec<Setting>, Vec<Vec<f64>>)> {
    let cutoff = metric.cutoff().expect("checked by tune");
    let base = SearchParams {
        mode: Some(Mode::Hybrid),
        k: cutoff,
        ..collection.defaults().clone()
    };
    let searcher = collection.searcher();
    let plan = Plan::new(&searcher, &base)?;
    let texts: Vec<&str> = judged.iter().map(|(_, text, _)| *text).collect();
    let pools = plan.pools(collection.model()?, &texts)?;
    let mut settings: Vec<Setting> = Vec::with_capacity(grid.len());
    let mut values: Vec<Vec<f64>> = Vec::with_capacity(grid.len());
    progress.start("tune", grid.candidates.len() * grid.bm25.len());
    // An exact neural side is searched once, at the deepest depth.
    let deepest = pools
        .neural_is_exact()
        .then(|| pools.neural(*grid.candidates.iter().max().expect("a depth")));
    for &depth in &grid.candidates {
        let neural = match &deepest {
            Some(deepest) => Found {
                hits: deepest
                    .hits
                    .iter()
                    .map(|h| h[..h.len().min(depth)].to_vec())
                    .collect(),
                ..Found::default()
            },
            None => pools.neural(depth),
        };
        for &bm25 in &grid.bm25 {
            let candidates = pools.candidates(&neural, depth, bm25)?;
            let fusions: Vec<Setting> = grid
                .fusions
                .iter()
                .map(|&(fusion, alpha, rrf_k)| Setting {
                    fusion,
                    alpha,
                    rrf_k,
                    candidates: depth,
                    bm25_k1: bm25.k1,
                    bm25_b: bm25.b,
                })
                .collect();
            let scored: Vec<Vec<f64>> = fusions
                .par_iter()
                .map(|setting| {
                    let fusion = setting.params(&base).fusion();
                    judged
                        .iter()
                        .zip(&candidates)
                        .map(|((_, _, judgments), pool)| {
                            let mut ranking = fuse(pool, fusion, cutoff)
                                .iter()
                                .map(|h| {
                                    Ok(ScoredDoc {
                                        docid: collection.id(h.doc)?.to_string(),
                                        score: h.score as f64,
                                    })
                                })
                                .collect::<Result<Vec<_>>>()?;
                            ranking.sort_by(trec_order);
                            Ok(metric.of_ranking(judgments, &ranking))
                        })
                        .collect::<Result<Vec<f64>>>()
                })
                .collect::<Result<_>>()?;
            settings.extend(fusions);
            values.extend(scored);
            progress.set(settings.len() / grid.fusions.len());
        }
    }
    progress.finish();
    Ok((settings, values))
}

/// The settings ranked, the best held against `shipped` and the decision
/// (`metric`, `unjudged` and `seconds` left for the caller).
fn decide(settings: &[Setting], values: &[Vec<f64>], shipped: Setting, seed: u64) -> Tuning {
    let at = settings
        .iter()
        .position(|s| *s == shipped)
        .expect("the grid holds the shipped setting");
    let shipped_values = &values[at];
    let n = shipped_values.len();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let shipped_score = mean(shipped_values);
    // Best first; ties go to the shipped setting, then to grid order.
    let mut order: Vec<usize> = (0..settings.len()).collect();
    let scores: Vec<f64> = values.iter().map(|v| mean(v)).collect();
    order.sort_by(|&a, &b| {
        scores[b]
            .total_cmp(&scores[a])
            .then((settings[b] == shipped).cmp(&(settings[a] == shipped)))
            .then(a.cmp(&b))
    });
    let best = order[0];
    let diffs: Vec<f64> = values[best]
        .iter()
        .zip(shipped_values)
        .map(|(a, b)| a - b)
        .collect();
    let gain = mean(&diffs);
    let held_out = held_out_gains(values, shipped_values, seed);
    let held_out_gain = mean(&held_out);
    // On the held-out gains: the in-sample best's own gain is the maximum
    // over every setting, which a bootstrap would find clear anyway.
    let p_value = bootstrap_p(&held_out, seed);
    let decision = if settings[best] == shipped || scores[best] <= shipped_score {
        Decision::ShippedBest
    } else if held_out_gain <= 0.0 {
        Decision::NoHeldOutGain
    } else if n < MIN_QUERIES && p_value >= CLEAR {
        Decision::FewQueries
    } else {
        Decision::Tuned
    };
    Tuning {
        metric: String::new(),
        queries: n,
        unjudged: 0,
        rows: order
            .iter()
            .map(|&i| TuneRow {
                setting: settings[i],
                score: scores[i],
            })
            .collect(),
        shipped: TuneRow {
            setting: shipped,
            score: shipped_score,
        },
        gain,
        held_out_gain,
        p_value,
        decision,
        seconds: 0.0,
    }
}

/// Each query's gain over the shipped defaults when its fold is scored
/// with the setting best on the other [`FOLDS`] - 1 folds, averaged over
/// [`REPEATS`] draws of the folds: a gain no query's own score chose.
fn held_out_gains(values: &[Vec<f64>], shipped: &[f64], seed: u64) -> Vec<f64> {
    let mut gains = vec![0.0; shipped.len()];
    for r in 0..REPEATS {
        let once = held_out_once(values, shipped, seed.wrapping_add(r));
        for (sum, g) in gains.iter_mut().zip(once) {
            *sum += g / REPEATS as f64;
        }
    }
    gains
}

/// [`held_out_gains`] for one draw of the folds.
fn held_out_once(values: &[Vec<f64>], shipped: &[f64], seed: u64) -> Vec<f64> {
    let n = shipped.len();
    let mut gains = vec![0.0; n];
    if n < 2 {
        return gains;
    }
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(&mut order, seed);
    let folds = FOLDS.min(n);
    let mut fold_of = vec![0; n];
    for (place, &q) in order.iter().enumerate() {
        fold_of[q] = place % folds;
    }
    for fold in 0..folds {
        let train = |v: &[f64]| -> f64 {
            v.iter()
                .enumerate()
                .filter(|(q, _)| fold_of[*q] != fold)
                .map(|(_, x)| x)
                .sum()
        };
        let shipped_train = train(shipped);
        // The shipped defaults unless a setting beats them on training.
        let mut pick: Option<(usize, f64)> = None;
        for (i, v) in values.iter().enumerate() {
            let s = train(v);
            if s > shipped_train && pick.is_none_or(|(_, best)| s > best) {
                pick = Some((i, s));
            }
        }
        if let Some((i, _)) = pick {
            for q in (0..n).filter(|&q| fold_of[q] == fold) {
                gains[q] = values[i][q] - shipped[q];
            }
        }
    }
    gains
}

/// One-sided paired bootstrap: the share of resamples of the per-query
/// differences whose mean is 0 or less.
fn bootstrap_p(diffs: &[f64], seed: u64) -> f64 {
    let n = diffs.len();
    let mut rng = SplitMix(seed);
    let mut not_better = 0usize;
    for _ in 0..RESAMPLES {
        let sum: f64 = (0..n).map(|_| diffs[rng.below(n)]).sum();
        if sum <= 0.0 {
            not_better += 1;
        }
    }
    not_better as f64 / RESAMPLES as f64
}

/// Fisher-Yates with [`SplitMix`].
fn shuffle(items: &mut [usize], seed: u64) {
    let mut rng = SplitMix(seed ^ 0x5eed);
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// SplitMix64: small, seeded, good enough for resampling.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is negligible here).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_out_gain(values: &[Vec<f64>], shipped: &[f64], seed: u64) -> f64 {
        let gains = held_out_gains(values, shipped, seed);
        gains.iter().sum::<f64>() / gains.len() as f64
    }

    #[test]
    fn held_out_gain_is_zero_when_nothing_beats_the_shipped_setting() {
        let shipped = vec![0.5; 20];
        let worse = vec![vec![0.4; 20], vec![0.5; 20]];
        assert_eq!(held_out_gain(&worse, &shipped, 1), 0.0);
    }

    #[test]
    fn held_out_gain_finds_a_setting_better_everywhere() {
        let shipped = vec![0.5; 20];
        let values = vec![vec![0.4; 20], vec![0.6; 20]];
        assert!((held_out_gain(&values, &shipped, 1) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn held_out_gain_exposes_a_setting_that_fits_single_queries() {
        // Each setting wins big on one query and loses a little on the
        // rest: the in-sample best gains, held out it loses.
        let n = 25;
        let shipped = vec![0.5; n];
        let values: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|q| if q == i { 1.0 } else { 0.48 }).collect())
            .collect();
        let in_sample = values[0].iter().sum::<f64>() / n as f64 - 0.5;
        assert!(in_sample > 0.0);
        assert!(held_out_gain(&values, &shipped, 7) < 0.0);
    }

    #[test]
    fn bootstrap_tells_a_clear_gain_from_noise() {
        let clear: Vec<f64> = (0..40).map(|i| 0.05 + 0.01 * (i % 3) as f64).collect();
        assert!(bootstrap_p(&clear, 3) < 0.01);
        let noise: Vec<f64> = (0..40)
            .map(|i| if i % 2 == 0 { 0.3 } else { -0.29 })
            .collect();
        assert!(bootstrap_p(&noise, 3) > 0.2);
    }
}
