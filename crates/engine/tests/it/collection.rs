//! An index built, searched, changed and given parts through the engine
//! alone, single-folder and live alike; errors told apart by kind, never
//! by message.

use std::path::Path;

use hypencoder_engine::{
    build, build_graph, build_lexical, load_model, single_segment, BuildOptions, Collection, Docs,
    ErrorKind, GraphOptions, LoadOptions, Mode, Model, OpenOptions, Quiet, SearchParams, Writer,
};
use hypencoder_test_support::{fixture, Scratch};

pub const TOPICS: [&str; 6] = [
    "volcanoes and geysers of Iceland",
    "the capital city of Australia is Canberra",
    "package manager for Debian systems",
    "resize a partition with parted",
    "bread baking with sourdough starter",
    "orbital mechanics of comets",
];

pub fn model() -> Model {
    load_model(&fixture("tiny-2layer"), None, &LoadOptions::default()).unwrap()
}

/// `n` documents numbered from `first`, each about one of [`TOPICS`].
pub fn docs(first: usize, n: usize) -> (Vec<String>, Vec<String>) {
    (first..first + n)
        .map(|i| {
            (
                format!("d{i}"),
                format!("{} (note {i})", TOPICS[i % TOPICS.len()]),
            )
        })
        .unzip()
}

fn build_at(dir: &Path, model: &Model, n: usize, graph: bool) {
    let (ids, texts) = docs(0, n);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let options = BuildOptions {
        graph: graph.then(|| GraphOptions::new(8)),
        ..BuildOptions::default()
    };
    let built = build(dir, model, Docs::new(&ids, &texts), &options, &Quiet).unwrap();
    assert_eq!(built.manifest.count, n);
}

fn params(mode: Mode, k: usize) -> SearchParams {
    SearchParams {
        k,
        mode: Some(mode),
        ..SearchParams::DEFAULT
    }
}

fn ids_of(index: &Collection, query: &str, params: &SearchParams) -> Vec<String> {
    let found = index.search(&[query], params).unwrap();
    found.hits[0]
        .iter()
        .map(|h| index.id(h.doc).unwrap().to_string())
        .collect()
}

#[test]
fn every_mode_answers_and_missing_parts_are_unsupported() {
    let s = Scratch::new("engine-modes");
    let model = model();
    build_at(&s.join("idx"), &model, 30, false);
    let index = Collection::open(&s.join("idx"), OpenOptions::default()).unwrap();
    assert_eq!(index.info().default_mode, Mode::Hybrid);
    for mode in [Mode::Exhaustive, Mode::Bm25, Mode::Rerank, Mode::Hybrid] {
        let hits = ids_of(&index, "geysers in Iceland", &params(mode, 5));
        assert_eq!(hits.len(), 5, "{mode:?}");
    }
    // BM25 ranks the documents holding the query's words first.
    let bm25 = ids_of(&index, "sourdough bread", &params(Mode::Bm25, 3));
    assert!(
        bm25.iter()
            .all(|id| id[1..].parse::<usize>().unwrap() % 6 == 4),
        "{bm25:?}"
    );
    let err = index.search(&["x"], &params(Mode::Graph, 5)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let err = index
        .search(&["x"], &params(Mode::Exhaustive, 0))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = Collection::open(&s.join("nothing"), OpenOptions::default())
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // A second build into the same folder clashes.
    let (ids, texts) = docs(0, 3);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let err = build(
        &s.join("idx"),
        &model,
        Docs::new(&ids, &texts),
        &BuildOptions::default(),
        &Quiet,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
}

#[test]
fn a_live_index_takes_graphs_lexical_parts_and_optimize() {
    let s = Scratch::new("engine-live");
    let model = model();
    let dir = s.join("idx");
    build_at(&dir, &model, 24, false);
    let mut writer = Writer::open(&dir).unwrap();
    // One writer at a time.
    let err = Writer::open(&dir).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    let (ids, texts) = docs(24, 12);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let added = writer
        .add(&model, Docs::new(&ids, &texts), 8, false, &Quiet)
        .unwrap();
    assert_eq!((added.added, added.replaced), (12, 0));
    // Every id must be there for a strict delete, and then nothing goes.
    let err = writer.delete(&["d1", "nope"], true).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let deleted = writer.delete(&["d1"], true).unwrap();
    assert_eq!(deleted.deleted, 1);
    drop(writer);
    assert_eq!(writer_segments(&dir), 2);
    let err = single_segment(&dir).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");

    // A graph for every segment of the live index, and for later ones.
    let report = build_graph(&dir, &GraphOptions::new(8), &Quiet).unwrap();
    assert_eq!(report.segments, 2);
    let index = Collection::open(&dir, OpenOptions::default()).unwrap();
    assert!(index.info().modes.contains(&Mode::Graph));
    let graph = ids_of(&index, "comets orbit", &params(Mode::Graph, 35));
    let exact = ids_of(&index, "comets orbit", &params(Mode::Exhaustive, 35));
    assert_eq!(graph.len(), 35);
    assert!(!graph.contains(&"d1".to_string()));
    let overlap = graph.iter().filter(|id| exact.contains(id)).count();
    assert!(overlap >= 33, "graph search found {overlap} of 35");
    drop(index);
    build_lexical(&dir).unwrap();

    let mut writer = Writer::open(&dir).unwrap();
    let (ids, texts) = docs(36, 4);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    writer
        .add(&model, Docs::new(&ids, &texts), 8, false, &Quiet)
        .unwrap();
    let merged = writer.optimize().unwrap().expect("three segments merge");
    assert_eq!(merged.segments.len(), 3);
    drop(writer);
    let segment = single_segment(&dir).unwrap();
    assert!(segment.starts_with(&dir) && segment != dir);
    let index = Collection::open(&dir, OpenOptions::default()).unwrap();
    assert_eq!(index.len(), 39);
    assert!(index.info().modes.contains(&Mode::Graph));
    assert_eq!(index.document("d1").unwrap(), None);
    assert!(index
        .document("d38")
        .unwrap()
        .unwrap()
        .text
        .unwrap()
        .contains("note 38"));
}

fn writer_segments(dir: &Path) -> usize {
    Collection::open(dir, OpenOptions::default())
        .unwrap()
        .info()
        .segments
}
