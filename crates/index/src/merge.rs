//! Merging segment folders written apart (e.g. one per worker of a
//! distributed encoding run) into one: rows copied folder after folder, in
//! the order given, never re-encoded. Every folder must come from the same
//! document encoder and store vectors alike, and no id may appear twice;
//! all of it is checked before anything is written. The output is built by
//! [`SegmentWriter`], so an interrupted run leaves no index and a rerun
//! resumes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{IndexError, Result};
use crate::manifest::{Manifest, ModelInfo};
use crate::segment::Segment;
use crate::segment_writer::{SegmentWriter, WriterConfig};

/// Rows per chunk of the merged segment's build (the most a crash loses).
const SEGMENT: usize = 1024;

/// What identifies the document encoder of a folder: its doc-encoder
/// fingerprint, or the model's for indexes written before that existed.
fn encoder(model: &ModelInfo) -> &str {
    model.doc_encoder.as_deref().unwrap_or(&model.fingerprint)
}

/// Checks that `pieces` can be merged: the same encoder, width and
/// storage as the first, and ids unique across all of them.
fn check(pieces: &[(PathBuf, Segment)]) -> Result<()> {
    let Some((first_dir, first)) = pieces.first() else {
        return Err(IndexError::NothingToMerge);
    };
    let want = first.manifest();
    for (dir, piece) in &pieces[1..] {
        let got = piece.manifest();
        let differs = |what: &str, a: String, b: String| {
            Err(IndexError::Incompatible {
                path: dir.clone(),
                message: format!(
                    "{}: {what} {b} differs from {}'s {a}; pieces must come from one document encoder",
                    dir.display(),
                    first_dir.display(),
                ),
            })
        };
        if encoder(&got.model) != encoder(&want.model) {
            let short = |m: &ModelInfo| encoder(m).chars().take(12).collect::<String>();
            return differs("document encoder", short(&want.model), short(&got.model));
        }
        if got.dim != want.dim {
            return differs("width", want.dim.to_string(), got.dim.to_string());
        }
        if got.dtype != want.dtype {
            return differs(
                "dtype",
                format!("{:?}", want.dtype),
                format!("{:?}", got.dtype),
            );
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (p, (dir, piece)) in pieces.iter().enumerate() {
        for row in 0..piece.len() {
            let id = piece.id(row)?;
            if let Some(other) = seen.insert(id, p) {
                return Err(IndexError::DuplicateId {
                    id: id.to_string(),
                    places: format!("in {} and {}", pieces[other].0.display(), dir.display()),
                });
            }
        }
    }
    Ok(())
}

/// Merges the segment folders `pieces` into a new one at `out`: their
/// rows in the order given, with texts (if every piece has them) and, with
/// `lexical`, a lexical part built over them (pieces need none of their
/// own); no graph (build one afterwards).
/// `progress` is told how many rows are written so far. The pieces record
/// how many of their documents were truncated, not which, so the count
/// carries over rather than the flags.
pub fn merge_folders(
    pieces: &[PathBuf],
    out: &Path,
    lexical: bool,
    progress: &dyn Fn(usize),
) -> Result<Manifest> {
    let pieces = pieces
        .iter()
        .map(|dir| Ok((dir.clone(), Segment::open(dir)?)))
        .collect::<Result<Vec<_>>>()?;
    check(&pieces)?;
    let first = pieces[0].1.manifest();
    let config = WriterConfig {
        dim: first.dim,
        dtype: first.dtype,
        model: first.model.clone(),
        with_texts: pieces.iter().all(|(_, p)| p.manifest().has_texts),
        max_length: pieces
            .iter()
            .map(|(_, p)| p.manifest().stats.max_length)
            .max()
            .unwrap_or(0),
        source: format!(
            "combined from {}",
            pieces
                .iter()
                .map(|(d, _)| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        chunk_size: SEGMENT,
        lexical,
    };
    let mut writer = SegmentWriter::create(out, config)?;
    let skip = writer.resumed_docs();
    let mut done = 0;
    for (_, piece) in &pieces {
        let truncated = piece.manifest().stats.truncated as usize;
        for row in 0..piece.len() {
            if done >= skip {
                let text = piece.text(row)?.unwrap_or_default();
                let vector = piece.vectors().rows(row, 1);
                let fields = piece.fields().map(|f| f.row(row)).unwrap_or_default();
                writer.add_with_fields(piece.id(row)?, text, &vector, row < truncated, &fields)?;
            }
            done += 1;
            if done % SEGMENT == 0 {
                progress(done);
            }
        }
    }
    progress(done);
    writer.finish()
}
