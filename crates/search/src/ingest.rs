//! Changing a live index from a model: new documents encoded into a new
//! segment (with the lexical part and the graph the index has), and merges
//! of segments into one (vectors copied, never re-encoded; lexical part
//! rebuilt, graph grown from the largest segment's by insertion). The CLI's `add` and `optimize` and the server's document
//! endpoints run these, then commit.

use std::path::Path;

use hypencoder_index::{
    write_graph, AddReport, Dtype, GraphInfo, Index, IndexWriter, LiveManifest, LiveWriter,
    ModelInfo, SegmentEntry, WriterConfig,
};
use hypencoder_model::Model;

use crate::graph_build::{diversify, exact_knn, GraphMetric};
use crate::graph_insert::GrowingGraph;
use crate::plan::SearchError;

/// Documents handed to an index writer at once (its own segments are
/// this size too, so an interruption loses at most one).
pub const SLICE: usize = 1024;

/// Pool of each insertion's search when a merge grows a graph (HNSW's
/// `ef_construction`).
const INSERT_EF: usize = 128;

/// Most segments a live index keeps after an `add` before the smallest are
/// merged (each costs a search pass, see bench/README-live.md); the size
/// tiers of [`merge_policy`] usually keep fewer.
pub const MAX_SEGMENTS: usize = 8;

/// Encodes `texts` (with their `ids`) into a new segment of `writer`'s
/// index and takes it in: new ids are added, existing ones replaced (an
/// error, changing nothing, with `no_replace`). `progress` is told how
/// many documents were encoded so far. Not committed.
pub fn add_documents(
    writer: &mut LiveWriter,
    model: &Model,
    ids: &[String],
    texts: &[&str],
    batch_size: usize,
    no_replace: bool,
    progress: &dyn Fn(usize),
) -> Result<AddReport, SearchError> {
    let manifest = writer.manifest().clone();
    let segment = writer.next_segment_dir();
    let config = segment_config(&manifest, model.doc_tokenizer().max_length() as u64, "add");
    let mut seg = IndexWriter::create(&segment, config)?;
    encode_into(model, &mut seg, ids, texts, batch_size, progress)?;
    seg.finish()?;
    if let Some(degree) = manifest.graph_degree {
        build_segment_graph(&segment, degree)?;
    }
    Ok(writer.add_segment(&segment, no_replace)?)
}

/// What an index of `model`'s vectors records about its build (see
/// [`WriterConfig`]): the model's path, kind and fingerprints, the storage
/// settings, and `source`, which identifies the input (a partial build
/// resumes only under the same one). Hashes the model's weights.
pub fn index_config(
    model: &Model,
    dtype: Dtype,
    with_texts: bool,
    lexical: bool,
    source: String,
) -> Result<WriterConfig, SearchError> {
    let dir = model.dir();
    let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    Ok(WriterConfig {
        dim: model.dim(),
        dtype,
        model: ModelInfo {
            path: path.display().to_string(),
            kind: model.kind().name().to_string(),
            fingerprint: model.fingerprint()?,
            doc_encoder: Some(model.doc_encoder_fingerprint()?),
        },
        with_texts,
        max_length: model.doc_tokenizer().max_length() as u64,
        source,
        segment_size: SLICE,
        lexical,
    })
}

/// Encodes `texts` (with their `ids`) into `writer`, [`SLICE`] documents
/// at a time; `progress` is told how many are done.
pub fn encode_into(
    model: &Model,
    writer: &mut IndexWriter,
    ids: &[String],
    texts: &[&str],
    batch_size: usize,
    progress: &dyn Fn(usize),
) -> Result<(), SearchError> {
    let mut done = 0;
    for (slice_ids, slice) in ids.chunks(SLICE).zip(texts.chunks(SLICE)) {
        let (vectors, truncated) = model.encode_docs_batched_with_truncation(slice, batch_size)?;
        for (((id, text), vector), cut) in slice_ids.iter().zip(slice).zip(&vectors).zip(truncated)
        {
            writer.add(id, text, vector, cut)?;
        }
        done += slice.len();
        progress(done);
    }
    Ok(())
}

/// Merges the committed segments `names` into one: their live documents'
/// vectors, ids and texts copied in index order into a new segment, its
/// lexical part rebuilt and its graph grown from the largest part's
/// (see [`merge_graphs`]), replacing them. Not committed.
pub fn merge_segments(writer: &mut LiveWriter, names: &[String]) -> Result<(), SearchError> {
    let manifest = writer.manifest().clone();
    let dir = writer.next_segment_dir();
    let parent = dir
        .parent()
        .expect("a segment folder has a parent")
        .to_path_buf();
    let parts = manifest
        .segments
        .iter()
        .filter(|s| names.contains(&s.name))
        .map(|s| Ok((s.name.clone(), Index::open(&parent.join(&s.name))?)))
        .collect::<Result<Vec<_>, SearchError>>()?;
    let max_length = parts
        .iter()
        .map(|(_, index)| index.manifest().stats.max_length)
        .max()
        .unwrap_or(0);
    let mut merged = IndexWriter::create(&dir, segment_config(&manifest, max_length, "merge"))?;
    // Each part's rows in the merged segment (`None`: deleted, dropped).
    let mut maps: Vec<Vec<Option<u32>>> = Vec::with_capacity(parts.len());
    let mut next = 0u32;
    for (name, index) in &parts {
        let tombstones = writer.tombstones(name);
        let mut map = vec![None; index.len()];
        for (row, slot) in map.iter_mut().enumerate() {
            if tombstones.is_some_and(|t| t.is_deleted(row)) {
                continue;
            }
            let text = index.text(row)?.unwrap_or_default();
            merged.add(index.id(row)?, text, &index.vectors().rows(row, 1), false)?;
            *slot = Some(next);
            next += 1;
        }
        maps.push(map);
    }
    merged.finish()?;
    if let Some(degree) = manifest.graph_degree {
        let indexes: Vec<&Index> = parts.iter().map(|(_, index)| index).collect();
        merge_graphs(&dir, degree, &indexes, &maps)?;
    }
    writer.replace_segments(names, &dir)?;
    Ok(())
}

/// The merged segment's graph in `dir`: the graph of its largest part
/// carried over and every other document inserted into it, or, when no
/// part has a graph of this kind, one built from scratch.
fn merge_graphs(
    dir: &Path,
    degree: usize,
    parts: &[&Index],
    maps: &[Vec<Option<u32>>],
) -> Result<(), SearchError> {
    let index = Index::open(dir)?;
    let metric = GraphMetric::suited_to(&index);
    let base = (0..parts.len())
        .filter(|&p| {
            parts[p].graph().is_some_and(|g| g.degree() == degree)
                && parts[p]
                    .manifest()
                    .graph
                    .as_ref()
                    .is_some_and(|info| info.metric == metric.name())
        })
        .max_by_key(|&p| maps[p].iter().flatten().count());
    let Some(base) = base else {
        drop(index);
        return build_segment_graph(dir, degree);
    };
    let mut graph = GrowingGraph::new(index.vectors(), degree, metric, INSERT_EF);
    graph.carry(
        parts[base].graph().expect("chosen for its graph"),
        &maps[base],
    );
    let rest: Vec<u32> = (0..maps.len())
        .filter(|&p| p != base)
        .flat_map(|p| maps[p].iter().flatten().copied())
        .collect();
    graph.insert(&rest, &|_| {});
    let info = GraphInfo {
        degree,
        metric: metric.name().to_string(),
        method: "exact-diversified+inserted".to_string(),
        recall_vs_exact: None,
    };
    let neighbours = graph.finish();
    drop(index);
    write_graph(dir, &neighbours, info)?;
    Ok(())
}

/// The segments to merge after a change, if any, by three rules:
/// - **size tiers**: with segments ordered by live documents, largest
///   first, the first whose smaller followers hold at least half as many
///   documents as it does merges with all of them. Two halves become one
///   segment (one graph, which walks cheaper than two: bench/README-live.md),
///   small additions gather into larger segments before they reach a large
///   one, and each document is copied O(log n) times over its life;
/// - **count**: past `max_segments`, the smallest merge until that many
///   remain;
/// - **deletes**: any segment more than half deleted.
pub fn merge_policy(segments: &[SegmentEntry], max_segments: usize) -> Option<Vec<String>> {
    let mut by_size: Vec<(usize, &str)> = segments
        .iter()
        .map(|s| (s.docs - s.deleted, s.name.as_str()))
        .collect();
    // Largest first; equal sizes oldest first.
    by_size.sort_by_key(|&(live, _)| std::cmp::Reverse(live));
    let mut pick: Vec<String> = Vec::new();
    let mut tail: usize = by_size.iter().map(|(live, _)| live).sum();
    for (i, (live, _)) in by_size.iter().enumerate() {
        tail -= live;
        if i + 1 < by_size.len() && 2 * tail >= *live {
            pick.extend(by_size[i..].iter().map(|(_, name)| name.to_string()));
            break;
        }
    }
    if by_size.len() > max_segments {
        let n = by_size.len() - max_segments + 1;
        for (_, name) in &by_size[by_size.len() - n..] {
            if !pick.iter().any(|p| p == name) {
                pick.push(name.to_string());
            }
        }
    }
    for s in segments {
        if 2 * s.deleted > s.docs && !pick.contains(&s.name) {
            pick.push(s.name.clone());
        }
    }
    (!pick.is_empty()).then_some(pick)
}

/// A segment's writer settings: like the index (model record, dtype, texts,
/// lexical part).
fn segment_config(manifest: &LiveManifest, max_length: u64, source: &str) -> WriterConfig {
    WriterConfig {
        dim: manifest.dim,
        dtype: manifest.dtype,
        model: manifest.model.clone(),
        with_texts: manifest.has_texts,
        max_length,
        source: source.to_string(),
        segment_size: SLICE,
        lexical: manifest.lexical.is_some(),
    }
}

/// Builds a segment's graph as `hypencoder graph` does by default: exact
/// neighbours, diversified, in the metric that suits the index.
pub fn build_segment_graph(dir: &Path, degree: usize) -> Result<(), SearchError> {
    let index = Index::open(dir)?;
    let metric = GraphMetric::suited_to(&index);
    let pool = 2 * degree;
    let knn = exact_knn(index.vectors(), pool, metric, &|_| {});
    let neighbours = diversify(index.vectors(), &knn, pool, degree, metric);
    let info = GraphInfo {
        degree,
        metric: metric.name().to_string(),
        method: "exact-diversified".to_string(),
        recall_vs_exact: None,
    };
    drop(index);
    write_graph(dir, &neighbours, info)?;
    Ok(())
}
