//! Live indexes: upgrading a single folder without rewriting a vector,
//! adding (and replacing) segments, deleting, commits as the only moment a
//! change becomes visible, one writer at a time, a crash's leftovers
//! removed, and damaged tombstones or segments named on open.

use std::path::Path;

use hypencoder_index::{
    AddReport, Dtype, Index, IndexWriter, Segment, SegmentWriter, LIVE_FORMAT_VERSION,
};
use hypencoder_test_support::Scratch;

use crate::index::{config, edit_manifest};

/// A single-folder index at `out` of documents `ids`, document `i`'s vector
/// filled with `base + i`.
fn build(out: &Path, ids: &[String], base: f32) {
    let mut w = SegmentWriter::create(out, config(Dtype::F32, 4)).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let v = vec![base + i as f32; 4];
        w.add(id, &format!("text of {id}"), &v, false).unwrap();
    }
    w.finish().unwrap();
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("d{i}")).collect()
}

/// Every live document as (id, first vector value), in index order.
fn live(dir: &Path) -> Vec<(String, f32)> {
    let index = Index::open(dir).unwrap();
    let mut out = Vec::new();
    for seg in index.segments() {
        for row in 0..seg.segment.len() {
            if !seg.tombstones.is_deleted(row) {
                let v = seg.segment.vectors().rows(row, 1)[0];
                out.push((seg.segment.id(row).unwrap().to_string(), v));
            }
        }
    }
    assert_eq!(out.len(), index.live_docs());
    out
}

#[test]
fn upgrade_changes_no_vector_and_old_readers_are_told() {
    let s = Scratch::new("live-upgrade");
    let dir = s.join("idx");
    build(&dir, &ids(0..10), 0.0);
    let before = live(&dir);
    assert_eq!(Index::open(&dir).unwrap().manifest().generation, 0);
    let writer = IndexWriter::open(&dir).unwrap();
    assert_eq!(writer.manifest().generation, 1);
    drop(writer);
    assert_eq!(live(&dir), before);
    // The segment's files are the old ones; nothing else is left at the top.
    let mut top: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["manifest.json", "seg-000001", "write.lock"]);
    let err = Segment::open(&dir).err().unwrap().to_string();
    assert!(err.contains("is a live index"), "{err}");
    edit_manifest(&dir, |m| {
        m["format_version"] = (LIVE_FORMAT_VERSION + 1).into()
    });
    let err = Index::open(&dir).err().unwrap().to_string();
    assert!(
        err.contains("format version 3 is newer") && err.contains("(version 2)"),
        "{err}"
    );
}

#[test]
fn add_replace_delete_become_visible_at_commit() {
    let s = Scratch::new("live-add");
    let dir = s.join("idx");
    build(&dir, &ids(0..10), 0.0);
    let mut writer = IndexWriter::open(&dir).unwrap();
    let seg = writer.next_segment_dir();
    build(&seg, &ids(8..15), 100.0);
    let report = writer.add_segment(&seg, false).unwrap();
    assert_eq!(
        report,
        AddReport {
            added: 5,
            replaced: 2
        }
    );
    // Not committed: readers still see generation 1.
    assert_eq!(live(&dir).len(), 10);
    assert_eq!(writer.commit().unwrap(), 2);
    let now = live(&dir);
    assert_eq!(now.len(), 15);
    // d8 and d9 now come from the new segment.
    let d8 = now.iter().find(|(id, _)| id == "d8").unwrap();
    assert_eq!(d8.1, 100.0);

    let report = writer.delete(&["d0", "nope", "d14"]);
    assert_eq!(report.deleted, 2);
    assert_eq!(report.unknown, ["nope"]);
    assert_eq!(writer.commit().unwrap(), 3);
    let ids_now: Vec<String> = live(&dir).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids_now,
        ["d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13"]
    );
    // The generation-2 tombstones of seg-000001 were replaced and removed.
    assert!(!dir.join("seg-000001.del-000002").exists());
    assert!(dir.join("seg-000001.del-000003").exists());
    drop(writer);

    // A new writer reads the same live ids back.
    let mut writer = IndexWriter::open(&dir).unwrap();
    assert_eq!(writer.delete(&["d0", "d1"]).unknown, ["d0"]);
    let seg = writer.next_segment_dir();
    assert!(seg.ends_with("seg-000003"));
    build(&seg, &ids(5..6), 50.0);
    let err = writer.add_segment(&seg, true).err().unwrap().to_string();
    assert!(err.contains("already in") && err.contains("'d5'"), "{err}");
}

#[test]
fn one_writer_at_a_time() {
    let s = Scratch::new("live-lock");
    let dir = s.join("idx");
    build(&dir, &ids(0..3), 0.0);
    let first = IndexWriter::open(&dir).unwrap();
    let err = IndexWriter::open(&dir).err().unwrap().to_string();
    assert!(
        err.contains("another process") && err.contains("write.lock"),
        "{err}"
    );
    drop(first);
    IndexWriter::open(&dir).unwrap();
}

#[test]
fn a_crash_leaves_nothing_a_writer_does_not_remove() {
    let s = Scratch::new("live-crash");
    let dir = s.join("idx");
    build(&dir, &ids(0..6), 0.0);
    // A crash mid-upgrade: the segment folder is half made, the manifest is
    // still the single folder's. Readers see the old index; a writer redoes it.
    std::fs::create_dir(dir.join("seg-000001")).unwrap();
    std::fs::write(dir.join("seg-000001/vectors.bin"), b"half").unwrap();
    assert_eq!(live(&dir).len(), 6);
    let mut writer = IndexWriter::open(&dir).unwrap();
    writer.delete(&["d1"]);
    writer.commit().unwrap();
    drop(writer);
    // A crash after building a segment, before its commit, and stray files.
    build(&dir.join("seg-000002"), &ids(6..8), 6.0);
    std::fs::create_dir(dir.join("seg-000003.partial")).unwrap();
    std::fs::write(dir.join("seg-000001.del-000099"), b"x").unwrap();
    std::fs::write(dir.join("manifest.tmp"), b"{").unwrap();
    assert_eq!(live(&dir).len(), 5);
    let writer = IndexWriter::open(&dir).unwrap();
    let mut top: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        [
            "manifest.json",
            "seg-000001",
            "seg-000001.del-000002",
            "write.lock"
        ]
    );
    assert!(writer.next_segment_dir().ends_with("seg-000002"));
}

#[test]
fn damaged_tombstones_and_segments_are_named() {
    let s = Scratch::new("live-damage");
    let dir = s.join("idx");
    build(&dir, &ids(0..20), 0.0);
    let mut writer = IndexWriter::open(&dir).unwrap();
    writer.delete(&["d3", "d17"]);
    writer.commit().unwrap();
    drop(writer);
    let tomb = dir.join("seg-000001.del-000002");
    let good = std::fs::read(&tomb).unwrap();
    let truncated = good[..good.len() - 1].to_vec();
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 0x10;
    for (what, bytes) in [("truncated", truncated), ("damaged", flipped)] {
        std::fs::write(&tomb, &bytes).unwrap();
        let err = Index::open(&dir).err().unwrap().to_string();
        assert!(
            err.contains("seg-000001.del-000002") && err.contains(what),
            "{err}"
        );
    }
    std::fs::write(&tomb, &good).unwrap();
    assert_eq!(live(&dir).len(), 18);
    let vectors = dir.join("seg-000001/vectors.bin");
    let mut bytes = std::fs::read(&vectors).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&vectors, &bytes).unwrap();
    let err = Index::open(&dir).err().unwrap().to_string();
    assert!(err.contains("seg-000001/vectors.bin"), "{err}");
    // A bit flip in the commit point that leaves valid JSON.
    let manifest = dir.join("manifest.json");
    let good_manifest = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        good_manifest.replace("\"generation\": 2", "\"generation\": 3"),
    )
    .unwrap();
    let err = Index::open(&dir).err().unwrap().to_string();
    assert!(
        err.contains("manifest.json") && err.contains("damaged"),
        "{err}"
    );
    std::fs::write(&manifest, &good_manifest).unwrap();
    // Counts that disagree, with the checksum made to match.
    edit_manifest(&dir, |m| m["segments"][0]["deleted"] = 1.into());
    reseal(&manifest);
    std::fs::write(&vectors, {
        bytes[100] ^= 1;
        &bytes
    })
    .unwrap();
    let err = Index::open(&dir).err().unwrap().to_string();
    assert!(err.contains("says 1 of seg-000001 is deleted"), "{err}");
}

/// Recomputes a live manifest's own CRC32 after a test edited it.
fn reseal(path: &Path) {
    let mut m: hypencoder_index::LiveManifest =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    m.crc32 = 0;
    let crc = crc32fast::hash(&serde_json::to_vec_pretty(&m).unwrap());
    m.crc32 = crc;
    std::fs::write(path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}
