//! Tuning: the grid's scores are what searching with each setting scores,
//! the decision follows its evidence, and the settings an index records
//! are what every search without its own uses, through writes and merges.

use hypencoder_engine::{
    build, tune, BuildOptions, Collection, Decision, Docs, ErrorKind, FusionMethod, Metric, Mode,
    OpenOptions, Overrides, Qrels, Quiet, SearchParams, TuneOptions, Writer,
};
use hypencoder_eval::{evaluate, Run};
use hypencoder_test_support::Scratch;
use serde_json::json;

use crate::collection::{docs, model, TOPICS};

/// Words of each topic a query may use.
const ASKS: [[&str; 3]; 6] = [
    ["geysers", "Iceland volcanoes", "hot springs geysers"],
    [
        "Canberra",
        "capital of Australia",
        "Australian capital city",
    ],
    [
        "Debian packages",
        "package manager",
        "install Debian software",
    ],
    ["resize partition", "parted", "grow a disk partition"],
    ["sourdough", "baking bread", "starter for bread"],
    ["comets", "orbital mechanics", "orbit of a comet"],
];

/// 18 queries, each judging the 10 documents of its topic relevant.
fn judged() -> (Vec<(String, String)>, Qrels) {
    let mut queries = Vec::new();
    let mut qrels = Qrels::new();
    for (topic, asks) in ASKS.iter().enumerate() {
        for (j, ask) in asks.iter().enumerate() {
            let qid = format!("q{topic}-{j}");
            queries.push((qid.clone(), ask.to_string()));
            for doc in (topic..60).step_by(TOPICS.len()) {
                qrels.insert(qid.clone(), format!("d{doc}"), 1);
            }
        }
    }
    (queries, qrels)
}

fn built(scratch: &Scratch) -> Collection {
    let dir = scratch.path().join("index");
    let (ids, texts) = docs(0, 60);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    build(
        &dir,
        &model(),
        Docs::new(&ids, &texts),
        &BuildOptions::default(),
        &Quiet,
    )
    .unwrap();
    Collection::open(&dir, OpenOptions::default()).unwrap()
}

/// The metric of searching every query with `params`, as `hypencoder eval`
/// computes it.
fn searched(
    index: &Collection,
    queries: &[(String, String)],
    qrels: &Qrels,
    params: &SearchParams,
    metric: Metric,
) -> f64 {
    let texts: Vec<&str> = queries.iter().map(|(_, t)| t.as_str()).collect();
    let found = index.search(&texts, params).unwrap();
    let mut run = Run::new();
    for ((qid, _), hits) in queries.iter().zip(&found.hits) {
        let docs: Vec<(String, f64)> = hits
            .iter()
            .map(|h| (index.id(h.doc).unwrap().to_string(), h.score as f64))
            .collect();
        run.add_query(qid.as_str(), docs).unwrap();
    }
    evaluate(qrels, &run, &[metric]).unwrap().mean[&metric]
}

#[test]
fn every_setting_scores_what_searching_with_it_scores() {
    let scratch = Scratch::new("tune-grid");
    let index = built(&scratch);
    let (queries, qrels) = judged();
    let metric = Metric::parse("ndcg@10").unwrap();
    let options = TuneOptions {
        metric,
        ..TuneOptions::default()
    };
    let tuning = tune(&index, &queries, &qrels, &options, &Quiet).unwrap();
    assert_eq!(tuning.queries, 18);
    assert!(tuning.rows.len() > 100, "{}", tuning.rows.len());
    assert!(tuning.rows.windows(2).all(|w| w[0].score >= w[1].score));
    let shipped = tuning
        .rows
        .iter()
        .find(|r| r.setting == tuning.shipped.setting)
        .expect("the shipped defaults are among the settings");
    assert_eq!(shipped.score, tuning.shipped.score);
    assert_eq!(tuning.shipped.setting.fusion, FusionMethod::Linear);
    assert_eq!(
        tuning.shipped.setting.alpha,
        Some(SearchParams::DEFAULT.alpha)
    );
    // The best, the worst, the shipped and one of each fusion, searched.
    let mut checked = vec![0, tuning.rows.len() - 1];
    for method in [
        FusionMethod::Rrf,
        FusionMethod::Zscore,
        FusionMethod::Dbsf,
        FusionMethod::Adaptive,
    ] {
        checked.push(
            tuning
                .rows
                .iter()
                .position(|r| r.setting.fusion == method)
                .unwrap(),
        );
    }
    let base = SearchParams {
        k: 10,
        mode: Some(Mode::Hybrid),
        ..SearchParams::DEFAULT
    };
    for at in checked {
        let row = &tuning.rows[at];
        let params = row.setting.params(&base);
        let score = searched(&index, &queries, &qrels, &params, metric);
        assert!(
            (score - row.score).abs() < 1e-9,
            "{:?}: tune {} search {score}",
            row.setting,
            row.score
        );
    }
    assert!(
        (searched(&index, &queries, &qrels, &base, metric) - tuning.shipped.score).abs() < 1e-9
    );
    // The decision follows its evidence.
    let expected = if tuning.rows[0].score <= tuning.shipped.score {
        Decision::ShippedBest
    } else if tuning.held_out_gain <= 0.0 {
        Decision::NoHeldOutGain
    } else if tuning.p_value >= 0.05 {
        Decision::FewQueries
    } else {
        Decision::Tuned
    };
    assert_eq!(tuning.decision, expected);
    assert_eq!(tuning.record().is_empty(), expected != Decision::Tuned);
}

#[test]
fn tuning_needs_judged_queries_and_a_metric_with_a_cutoff() {
    let scratch = Scratch::new("tune-errors");
    let index = built(&scratch);
    let (queries, _) = judged();
    let mut other = Qrels::new();
    other.insert("nobody", "d1", 1);
    let err = tune(&index, &queries, &other, &TuneOptions::default(), &Quiet).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let (queries, qrels) = judged();
    let options = TuneOptions {
        metric: Metric::parse("map").unwrap(),
        ..TuneOptions::default()
    };
    let err = tune(&index, &queries, &qrels, &options, &Quiet).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn recorded_settings_are_every_searchs_defaults_through_writes_and_merges() {
    let scratch = Scratch::new("tune-record");
    let index = built(&scratch);
    let dir = index.dir().to_path_buf();
    assert_eq!(index.defaults(), &SearchParams::DEFAULT);
    let query = ["baking bread at home"];
    let recorded: Overrides = serde_json::from_value(json!({
        "fusion": "zscore", "alpha": 0.4, "candidates": 20, "bm25_k1": 1.2, "bm25_b": 0.4
    }))
    .unwrap();
    let explicit = SearchParams::DEFAULT.with(&recorded).unwrap();
    let before = index.search(&query, &explicit).unwrap().hits;
    assert_ne!(
        before,
        index.search(&query, &SearchParams::DEFAULT).unwrap().hits
    );
    drop(index);

    let mut writer = Writer::open(&dir).unwrap();
    let bad: Overrides = serde_json::from_value(json!({"alpha": "high"})).unwrap();
    assert_eq!(
        writer.set_search_defaults(bad).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    writer.set_search_defaults(recorded.clone()).unwrap();
    let index = Collection::open(&dir, OpenOptions::default()).unwrap();
    assert_eq!(index.defaults(), &explicit);
    assert_eq!(index.info().search_defaults, recorded);
    let given = index.params(&Overrides::new()).unwrap();
    assert_eq!(index.search(&query, &given).unwrap().hits, before);
    // A request's own setting wins over the recorded one.
    let own: Overrides = serde_json::from_value(json!({"alpha": 0.9})).unwrap();
    let params = index.params(&own).unwrap();
    assert_eq!((params.alpha, params.fusion), (0.9, FusionMethod::Zscore));

    // Kept by an add and by the merge that joins the segments.
    let (ids, texts) = docs(60, 12);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    writer
        .add(&model(), Docs::new(&ids, &texts), 8, false, &Quiet)
        .unwrap();
    writer.optimize().unwrap();
    drop(writer);
    let index = Collection::open(&dir, OpenOptions::default()).unwrap();
    assert_eq!(index.len(), 72);
    assert_eq!(index.info().search_defaults, recorded);
    assert_eq!(index.defaults(), &explicit);

    // Forgotten on request.
    Writer::open(&dir)
        .unwrap()
        .set_search_defaults(Overrides::new())
        .unwrap();
    let index = Collection::open(&dir, OpenOptions::default()).unwrap();
    assert_eq!(index.defaults(), &SearchParams::DEFAULT);
}

#[test]
fn bm25_settings_apply_to_the_stored_postings() {
    let scratch = Scratch::new("tune-bm25");
    let index = built(&scratch);
    let bm25 = |k1: Option<f32>, b: Option<f32>| {
        let params = SearchParams {
            mode: Some(Mode::Bm25),
            bm25_k1: k1,
            bm25_b: b,
            ..SearchParams::DEFAULT
        };
        index.search(&["bread baking bread"], &params).unwrap().hits[0].clone()
    };
    let own = bm25(None, None);
    assert_eq!(
        own,
        bm25(Some(hypencoder_index::K1), Some(hypencoder_index::B))
    );
    let lucene = bm25(Some(1.2), None);
    assert_eq!(own.len(), lucene.len());
    assert!(own.iter().zip(&lucene).any(|(a, b)| a.score != b.score));
    let err = index
        .search(
            &["bread"],
            &SearchParams {
                bm25_b: Some(1.5),
                ..SearchParams::DEFAULT
            },
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn overrides_name_what_is_wrong() {
    let over = |value: serde_json::Value| {
        SearchParams::DEFAULT.with(&serde_json::from_value(value).unwrap())
    };
    assert_eq!(over(json!({"alpha": 0.6})).unwrap().alpha, 0.6);
    assert_eq!(over(json!({"bm25_k1": 1.2})).unwrap().bm25_k1, Some(1.2));
    for (value, field) in [
        (json!({"alfa": 0.6}), "alfa"),
        (json!({"k": 3, "alpha": "x"}), "alpha"),
    ] {
        match over(value) {
            Err(hypencoder_engine::SearchError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
}
