//! A collection split over shards searched as one index: in every mode,
//! 2 and 3 shards give the ids and scores of one index holding every
//! document, filtered or not (graph walks: one index's top 10 at recall
//! >= 0.99 where walks work).

use hypencoder_engine::{
    build, combine_shards, load_model, BuildOptions, Collection, Docs, Filter, FusionMethod,
    GraphOptions, LoadOptions, Mode, Model, NeuralSide, OpenOptions, Quiet, SearchParams,
    ShardStats,
};
use std::sync::Arc;

use hypencoder_test_support::{minilm, repo_root, Scratch};

use crate::collection::model;

const N: usize = 600;

/// The debian-hard corpus's first `N` documents (real package
/// descriptions), as ids and texts.
fn corpus() -> (Vec<String>, Vec<String>) {
    let lines =
        std::fs::read_to_string(repo_root().join("crates/cli/tests/data/debian-hard/corpus.jsonl"))
            .unwrap();
    lines
        .lines()
        .take(N)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
            )
        })
        .unzip()
}

/// Its queries: the training queries' first 40.
/// The corpus's first `N` documents cut at `cuts` into shards, built in
/// `s` under names starting with `tag`.
fn build_shards(s: &Scratch, tag: &str, model: &Arc<Model>, cuts: &[usize]) -> Vec<Collection> {
    cuts.windows(2)
        .map(|w| {
            let dir = s.join(format!("{tag}-{}-{}", cuts.len() - 1, w[0]));
            build_range(&dir, model, w[0], w[1] - w[0])
        })
        .collect()
}

fn queries() -> Vec<String> {
    let lines = std::fs::read_to_string(
        repo_root().join("crates/cli/tests/data/debian-hard/queries.train.jsonl"),
    )
    .unwrap();
    lines
        .lines()
        .take(40)
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Documents `first..first + n` of the corpus (with a `part` field)
/// built into `dir`, with a graph and a lexical part.
fn build_range(dir: &std::path::Path, model: &Arc<Model>, first: usize, n: usize) -> Collection {
    let (ids, texts) = corpus();
    let (ids, texts) = (&ids[first..first + n], &texts[first..first + n]);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let fields: Vec<serde_json::Map<String, serde_json::Value>> = (first..first + n)
        .map(|i| {
            let mut m = serde_json::Map::new();
            m.insert(
                "part".into(),
                serde_json::json!(if i % 3 == 0 { "a" } else { "b" }),
            );
            m
        })
        .collect();
    let options = BuildOptions {
        graph: Some(GraphOptions::new(16)),
        ..BuildOptions::default()
    };
    build(
        dir,
        model,
        Docs::new(ids, &texts).with_fields(&fields),
        &options,
        &Quiet,
    )
    .unwrap();
    Collection::open(dir, OpenOptions::default())
        .unwrap()
        .with_model(Arc::clone(model))
        .unwrap()
}

/// One index's hits as (id, score) per query.
fn whole_hits(
    index: &Collection,
    queries: &[&str],
    params: &SearchParams,
    filter: Option<&Filter>,
) -> Vec<Vec<(String, f32)>> {
    let found = index.search_where(queries, params, filter).unwrap();
    found
        .hits
        .iter()
        .map(|hits| {
            hits.iter()
                .map(|h| (index.id(h.doc).unwrap().to_string(), h.score))
                .collect()
        })
        .collect()
}

/// The shards' hits, through both rounds.
fn sharded_hits(
    shards: &[Collection],
    queries: &[&str],
    params: &SearchParams,
    filter: Option<&Filter>,
) -> Vec<Vec<(String, f32)>> {
    let stats: Vec<ShardStats> = shards
        .iter()
        .map(|s| s.shard_stats(queries).unwrap())
        .collect();
    let answers: Vec<_> = shards
        .iter()
        .map(|s| {
            // Through JSON, as they travel between processes.
            let answer = s.search_shard(queries, params, filter, &stats).unwrap();
            serde_json::from_str(&serde_json::to_string(&answer).unwrap()).unwrap()
        })
        .collect();
    combine_shards(&answers)
        .unwrap()
        .hits
        .into_iter()
        .map(|hits| hits.into_iter().map(|h| (h.id, h.score)).collect())
        .collect()
}

fn settings() -> Vec<(&'static str, SearchParams)> {
    let with = |mode, f: &dyn Fn(&mut SearchParams)| {
        let mut p = SearchParams {
            k: 10,
            mode: Some(mode),
            candidates: 30,
            ..SearchParams::DEFAULT
        };
        f(&mut p);
        p
    };
    let exhaustive_side = |p: &mut SearchParams| p.neural = Some(NeuralSide::Exhaustive);
    vec![
        ("bm25", with(Mode::Bm25, &|_| {})),
        ("exhaustive", with(Mode::Exhaustive, &|_| {})),
        ("rerank", with(Mode::Rerank, &|_| {})),
        (
            "hybrid linear",
            with(Mode::Hybrid, &|p| {
                exhaustive_side(p);
                p.fusion = FusionMethod::Linear;
            }),
        ),
        (
            "hybrid rrf",
            with(Mode::Hybrid, &|p| {
                exhaustive_side(p);
                p.fusion = FusionMethod::Rrf;
            }),
        ),
        (
            "hybrid zscore",
            with(Mode::Hybrid, &|p| {
                exhaustive_side(p);
                p.fusion = FusionMethod::Zscore;
            }),
        ),
        (
            "bm25 k1 b",
            with(Mode::Bm25, &|p| {
                p.bm25_k1 = Some(0.6);
                p.bm25_b = Some(0.3);
            }),
        ),
    ]
}

fn assert_same(name: &str, got: &[Vec<(String, f32)>], want: &[Vec<(String, f32)>]) {
    for (q, (g, w)) in got.iter().zip(want).enumerate() {
        let ids = |h: &[(String, f32)]| h.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>();
        assert_eq!(ids(g), ids(w), "{name}, query {q}");
        for ((_, gs), (_, ws)) in g.iter().zip(w) {
            assert!((gs - ws).abs() <= 1e-6, "{name}, query {q}: {gs} vs {ws}");
        }
    }
}

#[test]
fn shards_answer_as_one_index_in_every_mode() {
    let s = Scratch::new("engine-shards");
    let model = Arc::new(model());
    let whole = build_range(&s.join("whole"), &model, 0, N);
    let queries = queries();
    let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
    let filter = Filter::parse_str(r#"{"part": "b"}"#).unwrap();
    for cuts in [vec![0, 250, N], vec![0, 120, 400, N]] {
        let shards = build_shards(&s, "", &model, &cuts);
        for (name, params) in settings() {
            let want = whole_hits(&whole, &queries, &params, None);
            let got = sharded_hits(&shards, &queries, &params, None);
            assert_same(&format!("{} shards, {name}", shards.len()), &got, &want);
            let want = whole_hits(&whole, &queries, &params, Some(&filter));
            let got = sharded_hits(&shards, &queries, &params, Some(&filter));
            assert_same(
                &format!("{} shards, {name}, filtered", shards.len()),
                &got,
                &want,
            );
        }
        // Each shard on its own statistics would rank otherwise: the test
        // can tell.
        let params = &settings()[0].1;
        let local: Vec<Vec<(String, f32)>> = {
            let answers: Vec<_> = shards
                .iter()
                .map(|s| {
                    let own = [s.shard_stats(&queries).unwrap()];
                    s.search_shard(&queries, params, None, &own).unwrap()
                })
                .collect();
            combine_shards(&answers)
                .unwrap()
                .hits
                .into_iter()
                .map(|h| h.into_iter().map(|h| (h.id, h.score)).collect())
                .collect()
        };
        let want = whole_hits(&whole, &queries, params, None);
        assert!(
            local
                .iter()
                .flatten()
                .zip(want.iter().flatten())
                .any(|(a, b)| (a.1 - b.1).abs() > 1e-3),
            "per-shard statistics should change BM25's scores"
        );
    }
}

/// Per query, how many of `want`'s ids `got` holds.
fn overlap(got: &[Vec<(String, f32)>], want: &[Vec<(String, f32)>]) -> usize {
    got.iter()
        .zip(want)
        .map(|(g, w)| {
            g.iter()
                .filter(|(id, _)| w.iter().any(|(i, _)| i == id))
                .count()
        })
        .sum()
}

/// Graph walks, alone and as hybrid's neural side, over 2 and 3 shards
/// each taking its share of the beam: with a real bi-encoder
/// (all-MiniLM-L6-v2), where walks work, the shards find one index's top
/// 10 at recall >= 0.99; with the random tiny Hypencoder, where walks miss
/// much, they find the exact top 10 at least as well as one index's walk.
#[test]
fn shard_graph_walks_find_what_one_indexs_walk_finds() {
    let s = Scratch::new("engine-shards-graph");
    let queries = queries();
    let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
    let minilm = load_model(&minilm(), None, &LoadOptions::default()).unwrap();
    for (name, model) in [("minilm", Arc::new(minilm)), ("tiny", Arc::new(model()))] {
        let whole = build_range(&s.join(format!("{name}-whole")), &model, 0, N);
        for cuts in [vec![0, 250, N], vec![0, 120, 400, N]] {
            let shards = build_shards(&s, name, &model, &cuts);
            for mode in [Mode::Graph, Mode::Hybrid] {
                let params = SearchParams {
                    k: 10,
                    mode: Some(mode),
                    neural: Some(NeuralSide::Graph),
                    ..SearchParams::DEFAULT
                };
                let want = whole_hits(&whole, &queries, &params, None);
                let got = sharded_hits(&shards, &queries, &params, None);
                let all = (queries.len() * 10) as f64;
                let recall = overlap(&got, &want) as f64 / all;
                let what = format!("{name}, {} shards, {mode:?}", shards.len());
                if name == "minilm" {
                    assert!(
                        recall >= 0.99,
                        "{what}: recall@10 {recall} against one index"
                    );
                } else if mode == Mode::Graph {
                    let exact = SearchParams {
                        mode: Some(Mode::Exhaustive),
                        ..params
                    };
                    let exact = whole_hits(&whole, &queries, &exact, None);
                    let (ours, one) = (overlap(&got, &exact), overlap(&want, &exact));
                    assert!(
                        ours >= one,
                        "{what}: {ours} of the exact top 10s found, one index {one}"
                    );
                }
            }
        }
    }
}

#[test]
fn shards_that_searched_differently_are_an_error() {
    let s = Scratch::new("engine-shards-differ");
    let model = Arc::new(model());
    let shards = [
        build_range(&s.join("a"), &model, 0, 20),
        build_range(&s.join("b"), &model, 20, 20),
    ];
    let queries = ["geysers"];
    let stats: Vec<ShardStats> = shards
        .iter()
        .map(|s| s.shard_stats(&queries).unwrap())
        .collect();
    let answers: Vec<_> = [Mode::Bm25, Mode::Exhaustive]
        .iter()
        .zip(&shards)
        .map(|(&mode, shard)| {
            let params = SearchParams {
                mode: Some(mode),
                ..SearchParams::DEFAULT
            };
            shard.search_shard(&queries, &params, None, &stats).unwrap()
        })
        .collect();
    let err = combine_shards(&answers).unwrap_err();
    assert!(
        err.to_string().contains("every shard must search alike"),
        "{err}"
    );
}
