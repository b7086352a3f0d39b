//! Integration tests of hypencoder-search, one binary: the search kernels
//! against references (`search`), graph construction and graph search
//! against brute force and exhaustive search (`graph`), graphs grown by
//! insertion (`grow`), a filtered plan in every neural mode (`filtered`).

mod filtered;
mod graph;
mod grow;
mod search;

use std::path::Path;

use hypencoder_index::{Dtype, ModelInfo, Segment, SegmentWriter, WriterConfig};

/// Writes `vectors` as an index without texts at `out` and opens it.
fn write_index(out: &Path, vectors: &[Vec<f32>], dtype: Dtype) -> Segment {
    write_index_as(out, vectors, dtype, "test", |_| serde_json::Map::new())
}

/// [`write_index`] with the model's kind ("bi-encoder": scored by dot
/// products) and each document's fields.
fn write_index_as(
    out: &Path,
    vectors: &[Vec<f32>],
    dtype: Dtype,
    kind: &str,
    fields: impl Fn(usize) -> serde_json::Map<String, serde_json::Value>,
) -> Segment {
    let config = WriterConfig {
        dim: vectors[0].len(),
        dtype,
        model: ModelInfo {
            path: "test".into(),
            kind: kind.into(),
            fingerprint: "test".into(),
            doc_encoder: None,
            doc_precision: None,
        },
        with_texts: false,
        max_length: 0,
        source: "test".into(),
        // One segment for every test's corpus.
        chunk_size: 4096,
        lexical: false,
    };
    let mut w = SegmentWriter::create(out, config).unwrap();
    for (i, v) in vectors.iter().enumerate() {
        w.add_with_fields(&format!("d{i}"), "", v, false, &fields(i))
            .unwrap();
    }
    w.finish().unwrap();
    Segment::open(out).unwrap()
}
