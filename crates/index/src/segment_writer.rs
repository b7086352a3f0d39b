//! Crash-safe, resumable building of one segment folder (a single-folder
//! index, or a segment of a live one).
//!
//! Documents accumulate in memory and are written in chunks to
//! `<out>.partial/` (`chunk-NNNNNN.{vec,json}`); `progress.json` is replaced
//! atomically after each chunk, so it only ever counts complete chunks.
//! `finish` merges the chunks into the final files, fsyncs, writes the
//! manifest and renames the folder to `<out>`.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{IndexError, IoContext, Result};
use crate::fields::{write_fields, SchemaBuilder, FIELDS_FILE};
use crate::format::{
    parent_dir, sync_dir, vectors_header, write_atomic, Checksummed, Dtype, FileEntry,
};
use crate::lexical;
use crate::manifest::{BuildStats, Manifest, ModelInfo, FORMAT_VERSION};
use crate::strings::write_string_table;

/// What an index is built from; a resumed build must match it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriterConfig {
    /// Values per vector.
    pub dim: usize,
    /// How vectors are stored (they are added as f32).
    pub dtype: Dtype,
    /// The model that makes the vectors.
    pub model: ModelInfo,
    /// Whether to keep the document texts (`texts.bin`).
    pub with_texts: bool,
    /// The model's token limit, recorded in the build statistics.
    pub max_length: u64,
    /// Identifies the input (e.g. corpus path, size and modification time):
    /// a partial build of other input is discarded, not resumed.
    pub source: String,
    /// Documents per chunk: the most work a crash can lose.
    pub chunk_size: usize,
    /// Whether to build the lexical part (BM25 over the texts, `lexical/`).
    #[serde(default)]
    pub lexical: bool,
}

#[derive(Serialize, Deserialize)]
struct Progress {
    config: WriterConfig,
    chunks: usize,
    docs: usize,
    stats: BuildStats,
}

#[derive(Serialize, Deserialize)]
struct ChunkStrings {
    ids: Vec<String>,
    texts: Vec<String>,
    /// Each document's fields (absent in chunks of builds without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Map<String, Value>>,
}

/// One document's fields.
type FieldRow = Map<String, Value>;

/// Builds an index folder. Call `add` for each document in order, then `finish`.
pub struct SegmentWriter {
    out: PathBuf,
    partial: PathBuf,
    config: WriterConfig,
    chunks: usize,
    docs_in_chunks: usize,
    stats: BuildStats,
    vectors: Vec<f32>,
    ids: Vec<String>,
    texts: Vec<String>,
    /// The chunk's documents' fields, once any document has some.
    fields: Vec<Map<String, Value>>,
    /// Every id so far -> its document number, to reject duplicates.
    seen: HashMap<String, usize>,
    /// The fields' types so far, to reject a conflict when it is added.
    schema: SchemaBuilder,
}

fn partial_dir(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

fn chunk_path(dir: &Path, i: usize, ext: &str) -> PathBuf {
    dir.join(format!("chunk-{i:06}.{ext}"))
}

impl SegmentWriter {
    /// Starts a build of `out`, or resumes the partial one left by an
    /// interrupted run with the same config. `out` itself must not exist.
    pub fn create(out: &Path, config: WriterConfig) -> Result<Self> {
        if out.exists() {
            return Err(IndexError::AlreadyExists {
                path: out.to_path_buf(),
            });
        }
        if config.dim == 0 || config.chunk_size == 0 {
            return Err(IndexError::Contract(
                "dim and chunk size must be positive".into(),
            ));
        }
        let partial = partial_dir(out);
        let mut writer = SegmentWriter {
            out: out.to_path_buf(),
            partial: partial.clone(),
            config,
            chunks: 0,
            docs_in_chunks: 0,
            stats: BuildStats::default(),
            vectors: Vec::new(),
            ids: Vec::new(),
            texts: Vec::new(),
            fields: Vec::new(),
            seen: HashMap::new(),
            schema: SchemaBuilder::default(),
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

    /// Picks up complete chunks of a matching partial build.
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
        for i in 0..progress.chunks {
            let strings = read_chunk_strings(&chunk_path(&self.partial, i, "json"))?;
            for (id, fields) in strings.ids.iter().zip(&strings.fields) {
                self.schema
                    .observe(fields, &format!("document '{id}'"))
                    .map_err(|message| IndexError::Corrupt {
                        path: chunk_path(&self.partial, i, "json"),
                        message,
                    })?;
            }
            for id in strings.ids {
                let n = self.seen.len();
                self.seen.insert(id, n);
            }
        }
        self.chunks = progress.chunks;
        self.docs_in_chunks = progress.docs;
        self.stats = progress.stats;
        Ok(true)
    }

    /// Documents already stored by an interrupted build: skip that many.
    pub fn resumed_docs(&self) -> usize {
        self.docs_in_chunks
    }

    /// Documents added so far, resumed ones included.
    pub fn docs(&self) -> usize {
        self.docs_in_chunks + self.ids.len()
    }

    /// Adds the next document. `truncated`: its text was cut to fit the model.
    pub fn add(&mut self, id: &str, text: &str, vector: &[f32], truncated: bool) -> Result<()> {
        self.add_with_fields(id, text, vector, truncated, &Map::new())
    }

    /// [`SegmentWriter::add`] with the document's fields; a field whose
    /// type differs from an earlier document's is an error naming both.
    pub fn add_with_fields(
        &mut self,
        id: &str,
        text: &str,
        vector: &[f32],
        truncated: bool,
        fields: &Map<String, Value>,
    ) -> Result<()> {
        if vector.len() != self.config.dim {
            return Err(IndexError::WrongDimension {
                id: id.to_string(),
                found: vector.len(),
                expected: self.config.dim,
            });
        }
        if let Some(position) = vector.iter().position(|v| !v.is_finite()) {
            return Err(IndexError::NonFinite {
                id: id.to_string(),
                position,
                value: vector[position],
            });
        }
        let n = self.docs();
        if let Some(&first) = self.seen.get(id) {
            return Err(IndexError::DuplicateId {
                id: id.to_string(),
                places: format!("documents {} and {} (1-based)", first + 1, n + 1),
            });
        }
        if !fields.is_empty() {
            self.schema
                .observe(fields, &format!("document '{id}'"))
                .map_err(IndexError::Fields)?;
        }
        self.seen.insert(id.to_string(), n);
        if !fields.is_empty() && self.fields.len() < self.ids.len() {
            self.fields.resize(self.ids.len(), Map::new());
        }
        if !fields.is_empty() || !self.fields.is_empty() {
            self.fields.push(fields.clone());
        }
        self.stats.empty_texts += u64::from(text.is_empty());
        self.stats.truncated += u64::from(truncated);
        self.vectors.extend_from_slice(vector);
        self.ids.push(id.to_string());
        if self.config.with_texts || self.config.lexical {
            self.texts.push(text.to_string());
        }
        if self.ids.len() >= self.config.chunk_size {
            self.flush_chunk()?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let i = self.chunks;
        let vec_path = chunk_path(&self.partial, i, "vec");
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
        let mut fields = std::mem::take(&mut self.fields);
        if !fields.is_empty() {
            fields.resize(self.ids.len(), Map::new());
        }
        let strings = ChunkStrings {
            ids: std::mem::take(&mut self.ids),
            texts: std::mem::take(&mut self.texts),
            fields,
        };
        let json = serde_json::to_vec(&strings).expect("strings serialise");
        write_atomic(&chunk_path(&self.partial, i, "json"), &json)?;
        self.docs_in_chunks += strings.ids.len();
        self.chunks += 1;
        self.vectors.clear();
        let progress = Progress {
            config: self.config.clone(),
            chunks: self.chunks,
            docs: self.docs_in_chunks,
            stats: self.stats.clone(),
        };
        write_atomic(
            &self.partial.join("progress.json"),
            &serde_json::to_vec_pretty(&progress).expect("progress serialises"),
        )
    }

    /// Merges the chunks into the final index and moves it into place.
    pub fn finish(mut self) -> Result<Manifest> {
        self.flush_chunk()?;
        let mut files = BTreeMap::new();
        files.insert("vectors.bin".to_string(), self.merge_vectors()?);
        let (texts, rows) = self.merge_strings(&mut files)?;
        let schema = std::mem::take(&mut self.schema).finish();
        if !schema.is_empty() {
            let path = self.partial.join(FIELDS_FILE);
            let mut out = Checksummed::create(&path)?;
            write_fields(&mut out, &rows, &schema, &path)?;
            files.insert(FIELDS_FILE.to_string(), out.finish()?);
        }
        // Inside the partial folder: no index appears without its lexical part.
        let lexical = if self.config.lexical {
            let (lexical_files, info) =
                lexical::build(&self.partial, texts.iter().map(String::as_str))?;
            files.extend(lexical_files);
            Some(info)
        } else {
            None
        };
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            model: self.config.model.clone(),
            dim: self.config.dim,
            count: self.docs_in_chunks,
            dtype: self.config.dtype,
            has_texts: self.config.with_texts,
            stats: self.stats.clone(),
            files,
            graph: None,
            lexical,
            fields: schema,
        };
        // Build leftovers go before the manifest makes the folder an index.
        for i in 0..self.chunks {
            for ext in ["vec", "json"] {
                let p = chunk_path(&self.partial, i, ext);
                fs::remove_file(&p).at(&p)?;
            }
        }
        let progress = self.partial.join("progress.json");
        if progress.exists() {
            fs::remove_file(&progress).at(&progress)?;
        }
        manifest.write(&self.partial)?;
        fs::rename(&self.partial, &self.out).at(&self.out)?;
        sync_dir(parent_dir(&self.out))?;
        Ok(manifest)
    }

    /// Writes `vectors.bin` from the chunks' f32 rows, converting to the
    /// index's dtype.
    fn merge_vectors(&self) -> Result<FileEntry> {
        let vec_path = self.partial.join("vectors.bin");
        let mut out = Checksummed::create(&vec_path)?;
        let header = vectors_header(self.config.dtype, self.docs_in_chunks, self.config.dim);
        out.write_all(&header).at(&vec_path)?;
        let (mut buf, mut row, mut stored) = (Vec::new(), Vec::new(), Vec::new());
        let dim = self.config.dim.max(1);
        for i in 0..self.chunks {
            let p = chunk_path(&self.partial, i, "vec");
            buf.clear();
            File::open(&p).at(&p)?.read_to_end(&mut buf).at(&p)?;
            if self.config.dtype == Dtype::F32 {
                out.write_all(&buf).at(&vec_path)?;
                continue;
            }
            stored.clear();
            for values in buf.chunks_exact(4 * dim) {
                row.clear();
                Dtype::F32.decode_row(values, &mut row);
                self.config.dtype.encode_row(&row, &mut stored);
            }
            out.write_all(&stored).at(&vec_path)?;
        }
        out.finish()
    }

    /// Writes `ids.bin` (and `texts.bin` when kept) from the chunks, and
    /// returns the texts (empty unless kept or wanted for the lexical part)
    /// and every document's fields.
    fn merge_strings(
        &self,
        files: &mut BTreeMap<String, FileEntry>,
    ) -> Result<(Vec<String>, Vec<FieldRow>)> {
        let mut ids = Vec::with_capacity(self.docs_in_chunks);
        let mut texts = Vec::new();
        let mut rows = Vec::new();
        for i in 0..self.chunks {
            let s = read_chunk_strings(&chunk_path(&self.partial, i, "json"))?;
            rows.resize(ids.len(), Map::new());
            rows.extend(s.fields);
            ids.extend(s.ids);
            texts.extend(s.texts);
        }
        rows.resize(ids.len(), Map::new());
        let mut tables = vec![("ids.bin", &ids)];
        if self.config.with_texts {
            tables.push(("texts.bin", &texts));
        }
        for (name, strings) in tables {
            let path = self.partial.join(name);
            let mut out = Checksummed::create(&path)?;
            write_string_table(&mut out, strings.iter().map(String::as_str), &path)?;
            files.insert(name.to_string(), out.finish()?);
        }
        Ok((texts, rows))
    }
}

fn read_chunk_strings(path: &Path) -> Result<ChunkStrings> {
    let text = fs::read(path).at(path)?;
    serde_json::from_slice(&text).map_err(|e| IndexError::Corrupt {
        path: path.to_path_buf(),
        message: format!("partial build chunk unreadable: {e}"),
    })
}
