//! Filtered search in every mode: only documents the filter keeps come
//! back, exhaustive and BM25 search give exactly the filtered top k, a
//! graph walk keeps its recall however few documents match, and a live
//! index's replaced and deleted documents are filtered by what is live,
//! before and after its segments merge.

use std::collections::HashSet;
use std::path::Path;

use hypencoder_engine::{
    build, BuildOptions, Collection, Docs, ErrorKind, Filter, GraphOptions, Mode, OpenOptions,
    Quiet, SearchParams, Writer,
};
use hypencoder_test_support::Scratch;
use serde_json::{json, Map, Value};

use crate::collection::{docs, model, TOPICS};

/// Document `i`'s fields: its topic's number as a string, `i` itself, and
/// tags by divisibility.
fn fields_of(i: usize) -> Map<String, Value> {
    let mut tags = Vec::new();
    for (d, tag) in [(2, "even"), (3, "three"), (5, "five")] {
        if i.is_multiple_of(d) {
            tags.push(tag);
        }
    }
    json!({"topic": (i % TOPICS.len()).to_string(), "n": i, "tags": tags})
        .as_object()
        .unwrap()
        .clone()
}

fn build_with_fields(dir: &Path, n: usize) -> Collection {
    let (ids, texts) = docs(0, n);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let fields: Vec<Map<String, Value>> = (0..n).map(fields_of).collect();
    let options = BuildOptions {
        graph: Some(GraphOptions::new(8)),
        ..BuildOptions::default()
    };
    build(
        dir,
        &model(),
        Docs::new(&ids, &texts).with_fields(&fields),
        &options,
        &Quiet,
    )
    .unwrap();
    Collection::open(dir, OpenOptions::default()).unwrap()
}

fn params(mode: Mode, k: usize) -> SearchParams {
    SearchParams {
        k,
        mode: Some(mode),
        ..SearchParams::DEFAULT
    }
}

/// (id, score) of each hit.
fn hits(
    index: &Collection,
    query: &str,
    params: &SearchParams,
    filter: Option<&Filter>,
) -> Vec<(String, f32)> {
    let found = index.search_where(&[query], params, filter).unwrap();
    found.hits[0]
        .iter()
        .map(|h| (index.id(h.doc).unwrap().to_string(), h.score))
        .collect()
}

fn doc_number(id: &str) -> usize {
    id[1..].parse().unwrap()
}

/// Which document numbers a filter keeps.
type Keep = fn(usize) -> bool;

const QUERY: &str = "capital of Australia and Debian packages";

#[test]
fn exhaustive_and_bm25_give_exactly_the_filtered_top_k() {
    let s = Scratch::new("filter-exact");
    let index = build_with_fields(&s.join("idx"), 60);
    let cases: [(Value, Keep); 4] = [
        (json!({"tags": "even"}), |i| i % 2 == 0),
        (json!({"n": {"gte": 10, "lt": 20}}), |i| {
            (10..20).contains(&i)
        }),
        (
            json!({"or": [{"topic": "1"}, {"tags": {"all": ["three", "five"]}}]}),
            |i| i % 6 == 1 || i % 15 == 0,
        ),
        (json!({"not": {"tags": {"exists": true}}}), |i| {
            i % 2 != 0 && i % 3 != 0 && i % 5 != 0
        }),
    ];
    for mode in [Mode::Exhaustive, Mode::Bm25] {
        let all = hits(&index, QUERY, &params(mode, 60), None);
        for (f, keep) in &cases {
            let filter = Filter::parse(f).unwrap();
            let got = hits(&index, QUERY, &params(mode, 5), Some(&filter));
            let want: Vec<(String, f32)> = all
                .iter()
                .filter(|(id, _)| keep(doc_number(id)))
                .take(5)
                .cloned()
                .collect();
            assert_eq!(got, want, "{mode:?} {f}");
        }
    }
}

#[test]
fn every_mode_returns_only_what_the_filter_keeps() {
    let s = Scratch::new("filter-modes");
    let index = build_with_fields(&s.join("idx"), 60);
    let filter = Filter::parse(&json!({"topic": {"in": ["1", "2"]}})).unwrap();
    let keep = |id: &str| matches!(doc_number(id) % 6, 1 | 2);
    for mode in [
        Mode::Exhaustive,
        Mode::Graph,
        Mode::Bm25,
        Mode::Rerank,
        Mode::Hybrid,
    ] {
        let got = hits(&index, QUERY, &params(mode, 10), Some(&filter));
        assert!(!got.is_empty(), "{mode:?} found nothing");
        assert!(got.iter().all(|(id, _)| keep(id)), "{mode:?}: {got:?}");
        if mode != Mode::Bm25 && mode != Mode::Rerank {
            // The neural side alone can fill k from the 20 kept.
            assert_eq!(got.len(), 10, "{mode:?}");
        }
    }
}

#[test]
fn a_graph_walk_keeps_its_recall_however_few_documents_match() {
    let s = Scratch::new("filter-graph");
    let index = build_with_fields(&s.join("idx"), 240);
    for (f, k) in [
        (json!({"tags": "even"}), 10),
        (json!({"n": {"lt": 24}}), 10),
        (json!({"tags": {"all": ["three", "five"]}}), 10),
        (json!({"n": 7}), 5),
    ] {
        let filter = Filter::parse(&f).unwrap();
        let exact = hits(&index, QUERY, &params(Mode::Exhaustive, k), Some(&filter));
        let walked = hits(&index, QUERY, &params(Mode::Graph, k), Some(&filter));
        let exact_ids: HashSet<&String> = exact.iter().map(|(id, _)| id).collect();
        let found = walked
            .iter()
            .filter(|(id, _)| exact_ids.contains(id))
            .count();
        assert!(
            found as f64 >= 0.9 * exact.len() as f64,
            "{f}: {found} of {} (walk {walked:?})",
            exact.len()
        );
        assert_eq!(walked.len(), exact.len(), "{f}");
    }
}

#[test]
fn a_live_index_filters_what_is_live_and_replaced_fields_count() {
    let s = Scratch::new("filter-live");
    let dir = s.join("idx");
    build_with_fields(&dir, 30);
    let mut writer = Writer::open(&dir).unwrap();
    // d1 moves to topic 5; d7 (topic 1) is deleted; d40 joins topic 1.
    let ids = vec!["d1".to_string(), "d40".to_string()];
    let texts = vec![TOPICS[5], TOPICS[1]];
    let fields = vec![
        json!({"topic": "5", "n": 1}).as_object().unwrap().clone(),
        json!({"topic": "1", "n": 40}).as_object().unwrap().clone(),
    ];
    writer
        .add(
            &model(),
            Docs::new(&ids, &texts).with_fields(&fields),
            8,
            false,
            &Quiet,
        )
        .unwrap();
    writer.delete(&["d7"], true).unwrap();
    let filter = Filter::parse(&json!({"topic": "1"})).unwrap();
    let want: HashSet<String> = ["d13", "d19", "d25", "d40"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // Over two segments with a deletion, then merged into one.
    for optimized in [false, true] {
        if optimized {
            writer.optimize().unwrap();
        }
        let index = Collection::open(&dir, OpenOptions::default()).unwrap();
        assert_eq!(index.info().segments, if optimized { 1 } else { 2 });
        for mode in [Mode::Exhaustive, Mode::Bm25, Mode::Hybrid] {
            let got: HashSet<String> = hits(&index, TOPICS[1], &params(mode, 30), Some(&filter))
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            assert_eq!(got, want, "{mode:?}, optimized: {optimized}");
        }
    }
    let index = Collection::open(&dir, OpenOptions::default()).unwrap();
    assert_eq!(
        index.document("d1").unwrap().unwrap().fields,
        *json!({"topic": "5", "n": 1}).as_object().unwrap()
    );
    // A new document's field of another type is refused, naming it.
    let bad = vec![json!({"n": "forty-one"}).as_object().unwrap().clone()];
    let err = writer
        .add(
            &model(),
            Docs::new(&["d41".to_string()], &[TOPICS[0]]).with_fields(&bad),
            8,
            false,
            &Quiet,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .contains("document 'd41': field 'n' is a string here but an integer in the index"),
        "{err}"
    );
}

#[test]
fn a_filter_that_does_not_fit_is_refused_and_an_unknown_field_warned_of() {
    let s = Scratch::new("filter-errors");
    let index = build_with_fields(&s.join("idx"), 12);
    let range_on_string = Filter::parse(&json!({"topic": {"gt": 1}})).unwrap();
    let err = index
        .search_where(
            &[QUERY],
            &params(Mode::Exhaustive, 5),
            Some(&range_on_string),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .starts_with("filter at $.topic: a range needs a number field"),
        "{err}"
    );
    let unknown = Filter::parse(&json!({"colour": "red"})).unwrap();
    let found = index
        .search_where(&[QUERY], &params(Mode::Exhaustive, 5), Some(&unknown))
        .unwrap();
    assert!(found.hits[0].is_empty());
    assert_eq!(
        found.warnings,
        ["no document has the field 'colour': it matches nothing"]
    );
    assert_eq!(found.scored, 0);
}
