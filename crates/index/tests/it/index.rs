//! Index format: round trips, resume after a crash, and rejection of
//! damaged, inconsistent or newer-format folders with errors naming the file.

use std::path::{Path, PathBuf};

use hypencoder_index::{Dtype, ModelInfo, Segment, SegmentWriter, WriterConfig, FORMAT_VERSION};
use hypencoder_test_support::{read_json, Scratch};

pub fn config(dtype: Dtype, chunk_size: usize) -> WriterConfig {
    WriterConfig {
        dim: 4,
        dtype,
        model: ModelInfo {
            path: "/models/test".into(),
            kind: "bi-encoder".into(),
            fingerprint: "abc".into(),
            doc_encoder: None,
            doc_precision: None,
        },
        with_texts: true,
        max_length: 512,
        source: "corpus.jsonl 123".into(),
        chunk_size,
        lexical: false,
    }
}

fn doc(i: usize) -> (String, String, Vec<f32>) {
    let text = if i == 3 {
        String::new()
    } else {
        format!("document number {i} ünïcode")
    };
    (
        format!("d{i}"),
        text,
        (0..4).map(|j| i as f32 + j as f32 * 0.25).collect(),
    )
}

fn build(out: &Path, dtype: Dtype, n: usize) {
    let mut w = SegmentWriter::create(out, config(dtype, 3)).unwrap();
    for i in 0..n {
        let (id, text, v) = doc(i);
        w.add(&id, &text, &v, i == 5).unwrap();
    }
    w.finish().unwrap();
}

fn check(index: &Segment, n: usize) {
    assert_eq!(index.len(), n);
    for i in 0..n {
        let (id, text, v) = doc(i);
        assert_eq!(index.id(i).unwrap(), id);
        assert_eq!(index.text(i).unwrap(), Some(text.as_str()));
        assert_eq!(&*index.vectors().rows(i, 1), v.as_slice(), "row {i}");
    }
}

#[test]
fn round_trip_f32_and_f16() {
    let s = Scratch::new("round-trip");
    for dtype in [Dtype::F32, Dtype::F16] {
        let out = s.join(format!("{dtype:?}"));
        build(&out, dtype, 10);
        let index = Segment::open(&out).unwrap();
        check(&index, 10); // the test values are exact in f16 too
        assert_eq!(index.manifest().stats.empty_texts, 1);
        assert_eq!(index.manifest().stats.truncated, 1);
        assert_eq!(index.vectors().as_f32().is_some(), dtype == Dtype::F32);
        assert!(!s.join(format!("{dtype:?}.partial")).exists());
    }
}

/// int8 rows come back within half a step of their own scale, in a file of
/// a scale and a byte per value per row; a non-finite value is refused,
/// naming the document.
#[test]
fn int8_rows_round_trip_within_half_a_step() {
    let s = Scratch::new("int8");
    let out = s.join("idx");
    build(&out, Dtype::Int8, 10);
    let index = Segment::open(&out).unwrap();
    assert_eq!(index.manifest().dtype, Dtype::Int8);
    assert!(index.vectors().as_f32().is_none());
    let bytes = std::fs::metadata(out.join("vectors.bin")).unwrap().len();
    assert_eq!(
        bytes,
        64 + 10 * (4 + 4),
        "a 64-byte header, then scale + 4 codes per row"
    );
    for i in 0..10 {
        let (id, _, v) = doc(i);
        assert_eq!(index.id(i).unwrap(), id);
        let got = index.vectors().rows(i, 1);
        let step = v.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0;
        for (g, w) in got.iter().zip(&v) {
            assert!((g - w).abs() <= step * 0.5 + 1e-6, "row {i}: {g} for {w}");
        }
        // The largest magnitude is a whole step count: exact.
        assert_eq!(got.last(), v.last(), "row {i}");
    }
    let mut w = SegmentWriter::create(&s.join("bad"), config(Dtype::Int8, 3)).unwrap();
    let err = w
        .add("nan-doc", "x", &[0.5, f32::NAN, 0.0, 1.0], false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("document 'nan-doc': vector value 1 is NaN"),
        "{err}"
    );
}

#[test]
fn empty_index() {
    let s = Scratch::new("empty");
    let out = s.join("idx");
    build(&out, Dtype::F32, 0);
    assert_eq!(Segment::open(&out).unwrap().len(), 0);
}

#[test]
fn interrupted_build_resumes_after_last_segment() {
    let s = Scratch::new("resume");
    let out = s.join("idx");
    {
        let mut w = SegmentWriter::create(&out, config(Dtype::F32, 3)).unwrap();
        for i in 0..7 {
            let (id, text, v) = doc(i);
            w.add(&id, &text, &v, i == 5).unwrap();
        }
        // Dropped without finish: a crash after two complete segments.
    }
    assert!(!out.exists(), "no index until finish");
    let mut w = SegmentWriter::create(&out, config(Dtype::F32, 3)).unwrap();
    assert_eq!(w.resumed_docs(), 6);
    for i in 6..10 {
        let (id, text, v) = doc(i);
        w.add(&id, &text, &v, false).unwrap();
    }
    // Ids of resumed segments still count for duplicate detection.
    let err = w
        .add("d1", "again", &[0.0; 4], false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("duplicate id 'd1': documents 2 and 11"),
        "{err}"
    );
    w.finish().unwrap();
    let index = Segment::open(&out).unwrap();
    check(&index, 10);
    assert_eq!(
        index.manifest().stats.truncated,
        1,
        "stats survive the resume"
    );

    // Different input: the partial build is discarded, not resumed.
    let out2 = s.join("idx2");
    drop(
        SegmentWriter::create(&out2, config(Dtype::F32, 1)).map(|mut w| {
            let (id, text, v) = doc(0);
            w.add(&id, &text, &v, false).unwrap();
        }),
    );
    let mut other = config(Dtype::F32, 1);
    other.source = "another corpus".into();
    assert_eq!(
        SegmentWriter::create(&out2, other).unwrap().resumed_docs(),
        0
    );
}

#[test]
fn duplicate_ids_and_existing_output_are_errors() {
    let s = Scratch::new("dup");
    let out = s.join("idx");
    let mut w = SegmentWriter::create(&out, config(Dtype::F32, 3)).unwrap();
    w.add("a", "x", &[0.0; 4], false).unwrap();
    w.add("b", "x", &[0.0; 4], false).unwrap();
    let err = w.add("a", "y", &[0.0; 4], false).unwrap_err().to_string();
    assert!(err.contains("duplicate id 'a': documents 1 and 3"), "{err}");
    let err = w.add("c", "y", &[0.0; 3], false).unwrap_err().to_string();
    assert!(
        err.contains("vector has 3 dimensions, the index 4"),
        "{err}"
    );
    w.finish().unwrap();
    let err = SegmentWriter::create(&out, config(Dtype::F32, 3))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("already exists"), "{err}");
}

/// Rewrites the manifest of the index at `out` after `edit`.
pub fn edit_manifest(out: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = out.join("manifest.json");
    let mut m = read_json(&path);
    edit(&mut m);
    std::fs::write(&path, m.to_string()).unwrap();
}

fn damaged(tag: &str, file: &str, damage: impl Fn(&mut Vec<u8>)) -> String {
    let s = Scratch::new(tag);
    let out = s.join("idx");
    build(&out, Dtype::F32, 10);
    let path = out.join(file);
    let mut bytes = std::fs::read(&path).unwrap();
    damage(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
    Segment::open(&out)
        .err()
        .expect("damaged index must not open")
        .to_string()
}

#[test]
fn truncated_or_bit_flipped_files_are_named() {
    for file in ["vectors.bin", "ids.bin", "texts.bin"] {
        let err = damaged("truncated", file, |b| b.truncate(b.len() - 5));
        assert!(err.contains(file) && err.contains("truncated"), "{err}");
        let err = damaged("flipped", file, |b| {
            let at = b.len() / 2;
            b[at] ^= 0x10;
        });
        assert!(
            err.contains(file) && err.contains("checksum mismatch"),
            "{err}"
        );
    }
}

#[test]
fn newer_format_and_missing_manifest() {
    let s = Scratch::new("newer");
    let out = s.join("idx");
    build(&out, Dtype::F32, 2);
    // Format 2 is a live index (tests in `live`); 3 is newer than both.
    edit_manifest(&out, |m| m["format_version"] = (FORMAT_VERSION + 2).into());
    let err = Segment::open(&out).err().unwrap().to_string();
    assert!(
        err.contains(&format!("format version {} is newer", FORMAT_VERSION + 2))
            && err.contains(&format!("supports (version {FORMAT_VERSION})")),
        "{err}"
    );
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    let err = Segment::open(&out).err().unwrap().to_string();
    assert!(err.contains("is not an index folder"), "{err}");
}

#[test]
fn inconsistent_manifest_is_rejected() {
    let s = Scratch::new("inconsistent");
    let out = s.join("idx");
    build(&out, Dtype::F32, 4);
    edit_manifest(&out, |m| m["count"] = 5.into());
    let err = Segment::open(&out).err().unwrap().to_string();
    assert!(
        err.contains("vectors.bin") && err.contains("header says 4 x 4"),
        "{err}"
    );
}

/// An index written by format version 1, committed: this build must read it.
#[test]
fn opens_committed_version_1_index() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1");
    if std::env::var_os("HYPENCODER_WRITE_FORMAT_FIXTURE").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        build(&dir, Dtype::F16, 10);
    }
    let index = Segment::open(&dir).unwrap();
    assert_eq!(index.manifest().format_version, 1);
    check(&index, 10);
}

#[test]
fn graph_round_trip_and_damage() {
    use hypencoder_index::{write_graph, GraphInfo, NO_NEIGHBOUR};
    let s = Scratch::new("graph");
    let out = s.join("idx");
    build(&out, Dtype::F32, 4);
    let info = GraphInfo {
        degree: 2,
        metric: "ip".into(),
        method: "exact".into(),
        recall_vs_exact: Some(1.0),
    };
    let neighbours = vec![1, 2, 0, NO_NEIGHBOUR, 3, 1, 2, 0];
    let err = write_graph(&out, &neighbours[..6], info.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected 4 documents x degree 2"), "{err}");
    let err = write_graph(&out, &[1, 2, 0, 9, 3, 1, 2, 0], info.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("neighbour id 9 is beyond"), "{err}");
    write_graph(&out, &neighbours, info.clone()).unwrap();
    let index = Segment::open(&out).unwrap();
    let g = index.graph().expect("graph listed in the manifest");
    assert_eq!(g.neighbours(0).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(
        g.neighbours(1).collect::<Vec<_>>(),
        vec![0],
        "empty slots end the list"
    );
    assert_eq!(index.manifest().graph.as_ref(), Some(&info));
    drop(index);

    let path = out.join("graph.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    let err = Segment::open(&out).err().unwrap().to_string();
    assert!(
        err.contains("graph.bin") && err.contains("truncated"),
        "{err}"
    );

    // A graph for another number of documents, with a matching checksum:
    // rejected for its content, not its checksum.
    let mut other = bytes.clone();
    other[8] = 5;
    std::fs::write(&path, &other).unwrap();
    edit_manifest(&out, |m| {
        m["files"]["graph.bin"]["crc32"] = crc32(&other).into()
    });
    let err = Segment::open(&out).err().unwrap().to_string();
    assert!(
        err.contains("graph.bin")
            && err.contains("graph of 5 documents")
            && err.contains("rebuild the graph"),
        "{err}"
    );
}

fn crc32(bytes: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE), as crc32fast computes it.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
