//! Integration tests of hypencoder-search, one binary: the search kernels
//! against references (`search`), graph construction and graph search
//! against brute force and exhaustive search (`graph`), graphs grown by
//! insertion (`grow`).

mod graph;
mod grow;
mod search;

use std::path::Path;

use hypencoder_index::{Dtype, ModelInfo, Segment, SegmentWriter, WriterConfig};

/// Writes `vectors` as an index without texts at `out` and opens it.
fn write_index(out: &Path, vectors: &[Vec<f32>], dtype: Dtype) -> Segment {
    let config = WriterConfig {
        dim: vectors[0].len(),
        dtype,
        model: ModelInfo {
            path: "test".into(),
            kind: "test".into(),
            fingerprint: "test".into(),
            doc_encoder: None,
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
        w.add(&format!("d{i}"), "", v, false).unwrap();
    }
    w.finish().unwrap();
    Segment::open(out).unwrap()
}
