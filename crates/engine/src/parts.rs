//! Parts added to an existing index, single-folder or live alike (a live
//! index's every segment, under its write lock, recorded in the commit so
//! segments added later get them too): the neighbour graph and the lexical
//! part. And the one-segment view training reads.

use std::path::{Path, PathBuf};

use hypencoder_index::{write_lexical, AnyManifest, LexicalInfo, Manifest};

use crate::error::{Error, Result};
use crate::graph::{segment_graph, GraphOptions, GraphReport};
use crate::progress::Progress;
use crate::write::Writer;

/// Builds the neighbour graph of the index in `dir` and adds it, replacing
/// any it had: for a live index, one per segment (under its write lock, and
/// recorded so segments added later get one too).
pub fn build_graph(
    dir: &Path,
    options: &GraphOptions,
    progress: &dyn Progress,
) -> Result<GraphReport> {
    options.check()?;
    if let AnyManifest::Single(_) = AnyManifest::read(dir)? {
        return segment_graph(dir, options, progress);
    }
    let mut writer = Writer::open(dir)?;
    let mut report = None;
    for segment in writer.segment_dirs() {
        report = Some(segment_graph(&segment, options, progress)?);
    }
    writer.set_graph_degree(Some(options.degree))?;
    let mut report = report.ok_or(Error::Invalid {
        field: "index",
        message: format!("{} has no segments", dir.display()),
    })?;
    report.segments = writer.segment_dirs().len();
    Ok(report)
}

/// Builds (or rebuilds) the lexical part of the index in `dir` from its
/// stored texts: for a live index, every segment's, under its write lock.
pub fn build_lexical(dir: &Path) -> Result<()> {
    if let AnyManifest::Single(_) = AnyManifest::read(dir)? {
        return Ok(write_lexical(dir)?);
    }
    let mut writer = Writer::open(dir)?;
    let mut info: Option<LexicalInfo> = None;
    for segment in writer.segment_dirs() {
        write_lexical(&segment)?;
        info = Manifest::read(&segment)?.lexical;
    }
    writer.set_lexical(info)?;
    Ok(())
}

/// The one folder of vectors that the index in `dir` is, for what reads a
/// single segment (training): a single-folder index, or a live index of
/// one segment with nothing deleted.
pub fn single_segment(dir: &Path) -> Result<PathBuf> {
    match AnyManifest::read(dir)? {
        AnyManifest::Single(_) => Ok(dir.to_path_buf()),
        AnyManifest::Live(live) => {
            let deleted = live.segments.iter().map(|s| s.deleted).sum();
            match live.segments.as_slice() {
                [one] if deleted == 0 => Ok(dir.join(&one.name)),
                segments => Err(Error::NeedsOneSegment {
                    path: dir.to_path_buf(),
                    segments: segments.len(),
                    deleted,
                }),
            }
        }
    }
}
