//! Crash-safe, resumable index building.
//!
//! Documents accumulate in memory and are written in segments to
//! `<out>.partial/` (`segment-NNNNNN.{vec,json}`); `progress.json` is replaced
//! atomically after each segment, so it only ever counts complete segments.
//! `finish` merges the segments into the final files, fsyncs, writes the
//! manifest and renames the folder to `<out>`.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IndexError, IoContext, Result};
use crate::manifest::{BuildStats, Dtype, FileEntry, Manifest, ModelInfo, FORMAT_VERSION};
use crate::reader::VECTORS_MAGIC;
use crate::strings::write_string_table;

/// What an index is built from; a resumed build must match it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriterConfig {
    pub dim: usize,
    pub dtype: Dtype,
    pub model: ModelInfo,
    pub with_texts: bool,
    pub max_length: u64,
    /// Identifies the input (e.g. corpus path, size and modification time):
    /// a partial build of other input is discarded, not resumed.
    pub source: String,
    /// Documents per segment: the most work a crash can lose.
    pub segment_size: usize,
}

#[derive(Serialize, Deserialize)]
struct Progress {
    config: WriterConfig,
    segments: usize,
    docs: usize,
    stats: BuildStats,
}

#[derive(Serialize, Deserialize)]
struct SegmentStrings {
    ids: Vec<String>,
    texts: Vec<String>,
}

/// Builds an index folder. Call `add` for each document in order, then `finish`.
pub struct IndexWriter {
    out: PathBuf,
    partial: PathBuf,
    config: WriterConfig,
    segments: usize,
    docs_in_segments: usize,
    stats: BuildStats,
    vectors: Vec<f32>,
    ids: Vec<String>,
    texts: Vec<String>,
    /// Every id so far -> its document number, to reject duplicates.
    seen: HashMap<String, usize>,
}

fn partial_dir(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

fn segment_path(dir: &Path, i: usize, ext: &str) -> PathBuf {
    dir.join(format!("segment-{i:06}.{ext}"))
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).at(&tmp)?;
    f.write_all(bytes).at(&tmp)?;
    f.sync_all().at(&tmp)?;
    fs::rename(&tmp, path).at(path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Directory fsync makes renames durable; not supported everywhere.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl IndexWriter {
    /// Starts a build of `out`, or resumes the partial one left by an
    /// interrupted run with the same config. `out` itself must not exist.
    pub fn create(out: &Path, config: WriterConfig) -> Result<Self> {
        if out.exists() {
            return Err(IndexError::Invalid(format!(
                "{} already exists; remove it or choose another --index",
                out.display()
            )));
        }
        if config.dim == 0 || config.segment_size == 0 {
            return Err(IndexError::Invalid(
                "dim and segment size must be positive".into(),
            ));
        }
        let partial = partial_dir(out);
        let mut writer = IndexWriter {
            out: out.to_path_buf(),
            partial: partial.clone(),
            config,
            segments: 0,
            docs_in_segments: 0,
            stats: BuildStats::default(),
            vectors: Vec::new(),
            ids: Vec::new(),
            texts: Vec::new(),
            seen: HashMap::new(),
        };
        if !writer.try_resume()? {
            if partial.exists() {
                fs::remove_dir_all(&partial).at(&partial)?;
            }
            fs::create_dir_all(&partial).at(&partial)?;
        }
        writer.stats.max_length = writer.config.max_length;
        Ok(writer)
    }

    /// Picks up complete segments of a matching partial build.
    fn try_resume(&mut self) -> Result<bool> {
        let progress_path = self.partial.join("progress.json");
        let Ok(text) = fs::read_to_string(&progress_path) else {
            return Ok(false);
        };
        let Ok(progress) = serde_json::from_str::<Progress>(&text) else {
            return Ok(false);
        };
        if progress.config != self.config {
            return Ok(false);
        }
        for i in 0..progress.segments {
            let strings = read_segment_strings(&segment_path(&self.partial, i, "json"))?;
            for id in strings.ids {
                let n = self.seen.len();
                self.seen.insert(id, n);
            }
        }
        self.segments = progress.segments;
        self.docs_in_segments = progress.docs;
        self.stats = progress.stats;
        Ok(true)
    }

    /// Documents already stored by an interrupted build: skip that many.
    pub fn resumed_docs(&self) -> usize {
        self.docs_in_segments
    }

    pub fn docs(&self) -> usize {
        self.docs_in_segments + self.ids.len()
    }

    /// Adds the next document. `truncated`: its text was cut to fit the model.
    pub fn add(&mut self, id: &str, text: &str, vector: &[f32], truncated: bool) -> Result<()> {
        if vector.len() != self.config.dim {
            return Err(IndexError::Invalid(format!(
                "document '{id}': vector has {} dimensions, the index {}",
                vector.len(),
                self.config.dim
            )));
        }
        let n = self.docs();
        if let Some(&first) = self.seen.get(id) {
            return Err(IndexError::Invalid(format!(
                "duplicate id '{id}': documents {} and {} (1-based)",
                first + 1,
                n + 1
            )));
        }
        self.seen.insert(id.to_string(), n);
        self.stats.empty_texts += u64::from(text.is_empty());
        self.stats.truncated += u64::from(truncated);
        self.vectors.extend_from_slice(vector);
        self.ids.push(id.to_string());
        if self.config.with_texts {
            self.texts.push(text.to_string());
        }
        if self.ids.len() >= self.config.segment_size {
            self.flush_segment()?;
        }
        Ok(())
    }

    fn flush_segment(&mut self) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let i = self.segments;
        let vec_path = segment_path(&self.partial, i, "vec");
        let mut f = BufWriter::new(File::create(&vec_path).at(&vec_path)?);
        for v in &self.vectors {
            f.write_all(&v.to_le_bytes()).at(&vec_path)?;
        }
        f.into_inner()
            .map_err(|e| IndexError::Io {
                path: vec_path.clone(),
                source: e.into_error(),
            })?
            .sync_all()
            .at(&vec_path)?;
        let strings = SegmentStrings {
            ids: std::mem::take(&mut self.ids),
            texts: std::mem::take(&mut self.texts),
        };
        let json = serde_json::to_vec(&strings).expect("strings serialise");
        write_atomic(&segment_path(&self.partial, i, "json"), &json)?;
        self.docs_in_segments += strings.ids.len();
        self.segments += 1;
        self.vectors.clear();
        let progress = Progress {
            config: self.config.clone(),
            segments: self.segments,
            docs: self.docs_in_segments,
            stats: self.stats.clone(),
        };
        write_atomic(
            &self.partial.join("progress.json"),
            &serde_json::to_vec_pretty(&progress).expect("progress serialises"),
        )
    }

    /// Merges the segments into the final index and moves it into place.
    pub fn finish(mut self) -> Result<Manifest> {
        self.flush_segment()?;
        let count = self.docs_in_segments;
        let dim = self.config.dim;
        let mut files = BTreeMap::new();

        let vec_path = self.partial.join("vectors.bin");
        let mut out = Checksummed::create(&vec_path)?;
        let mut header = [0u8; 64];
        header[..8].copy_from_slice(VECTORS_MAGIC);
        header[8..12].copy_from_slice(&self.config.dtype.code().to_le_bytes());
        header[16..24].copy_from_slice(&(count as u64).to_le_bytes());
        header[24..32].copy_from_slice(&(dim as u64).to_le_bytes());
        out.write_all(&header).at(&vec_path)?;
        let mut buf = Vec::new();
        for i in 0..self.segments {
            let p = segment_path(&self.partial, i, "vec");
            buf.clear();
            File::open(&p).at(&p)?.read_to_end(&mut buf).at(&p)?;
            match self.config.dtype {
                Dtype::F32 => out.write_all(&buf).at(&vec_path)?,
                Dtype::F16 => {
                    for c in buf.chunks_exact(4) {
                        let v = f32::from_le_bytes(c.try_into().unwrap());
                        out.write_all(&half::f16::from_f32(v).to_le_bytes())
                            .at(&vec_path)?;
                    }
                }
            }
        }
        files.insert("vectors.bin".to_string(), out.finish()?);

        let mut ids = Vec::with_capacity(count);
        let mut texts = Vec::new();
        for i in 0..self.segments {
            let s = read_segment_strings(&segment_path(&self.partial, i, "json"))?;
            ids.extend(s.ids);
            texts.extend(s.texts);
        }
        let ids_path = self.partial.join("ids.bin");
        let mut out = Checksummed::create(&ids_path)?;
        write_string_table(&mut out, ids.iter().map(String::as_str), &ids_path)?;
        files.insert("ids.bin".to_string(), out.finish()?);
        if self.config.with_texts {
            let texts_path = self.partial.join("texts.bin");
            let mut out = Checksummed::create(&texts_path)?;
            write_string_table(&mut out, texts.iter().map(String::as_str), &texts_path)?;
            files.insert("texts.bin".to_string(), out.finish()?);
        }

        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            model: self.config.model.clone(),
            dim,
            count,
            dtype: self.config.dtype,
            has_texts: self.config.with_texts,
            stats: self.stats.clone(),
            files,
            graph: None,
        };
        // Build leftovers go before the manifest makes the folder an index.
        for i in 0..self.segments {
            for ext in ["vec", "json"] {
                let p = segment_path(&self.partial, i, ext);
                fs::remove_file(&p).at(&p)?;
            }
        }
        let progress = self.partial.join("progress.json");
        if progress.exists() {
            fs::remove_file(&progress).at(&progress)?;
        }
        manifest.write(&self.partial)?;
        fs::rename(&self.partial, &self.out).at(&self.out)?;
        sync_dir(self.out.parent().unwrap_or(Path::new(".")))?;
        Ok(manifest)
    }
}

fn read_segment_strings(path: &Path) -> Result<SegmentStrings> {
    let text = fs::read(path).at(path)?;
    serde_json::from_slice(&text).map_err(|e| IndexError::Corrupt {
        path: path.to_path_buf(),
        message: format!("partial build segment unreadable: {e}"),
    })
}

/// A file writer that counts bytes and computes the CRC32 as it goes.
pub(crate) struct Checksummed {
    inner: BufWriter<File>,
    hasher: crc32fast::Hasher,
    bytes: u64,
    path: PathBuf,
}

impl Checksummed {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        Ok(Checksummed {
            inner: BufWriter::new(File::create(path).at(path)?),
            hasher: crc32fast::Hasher::new(),
            bytes: 0,
            path: path.to_path_buf(),
        })
    }

    /// Flushes and fsyncs; the file's size and CRC32.
    pub(crate) fn finish(self) -> Result<FileEntry> {
        let path = self.path;
        let file = self.inner.into_inner().map_err(|e| IndexError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().at(&path)?;
        Ok(FileEntry {
            bytes: self.bytes,
            crc32: self.hasher.finalize(),
        })
    }
}

impl Write for Checksummed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
