//! Opening an index: manifest, checksums, memory-mapped vectors.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{IndexError, Result};
use crate::fields::{FieldStore, FIELDS_FILE};
use crate::format::{map_file, u32_at, u64_at, Dtype, VECTORS_HEADER, VECTORS_MAGIC};
use crate::graph::Graph;
use crate::lexical::Lexical;
use crate::manifest::Manifest;
use crate::strings::StringTable;

/// Memory-mapped document vectors, `count x dim`, row-major.
pub struct Vectors {
    map: Mmap,
    dtype: Dtype,
    count: usize,
    dim: usize,
}

impl Vectors {
    fn open(path: &Path, manifest: &Manifest) -> Result<Self> {
        let map = map_file(path)?;
        let corrupt = |message: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        if map.len() < VECTORS_HEADER || &map[..8] != VECTORS_MAGIC {
            return Err(corrupt(
                "not a vectors file (bad magic or truncated)".into(),
            ));
        }
        let code = u32_at(&map, 8);
        let dtype =
            Dtype::from_code(code).ok_or_else(|| corrupt(format!("unknown dtype code {code}")))?;
        let (count, dim) = (u64_at(&map, 16) as usize, u64_at(&map, 24) as usize);
        if (count, dim, dtype) != (manifest.count, manifest.dim, manifest.dtype) {
            return Err(corrupt(format!(
                "header says {count} x {dim} {dtype:?}, the manifest {} x {} {:?}",
                manifest.count, manifest.dim, manifest.dtype
            )));
        }
        let want = VECTORS_HEADER + count * dtype.row_bytes(dim);
        if map.len() != want {
            return Err(corrupt(format!("{} bytes, expected {want}", map.len())));
        }
        Ok(Vectors {
            map,
            dtype,
            count,
            dim,
        })
    }

    /// Number of vectors.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Values per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// How the values are stored.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// All vectors as one f32 slice, without copying (f32 indexes on
    /// little-endian hosts only; otherwise use [`Vectors::rows`]).
    pub fn as_f32(&self) -> Option<&[f32]> {
        if self.dtype != Dtype::F32 || cfg!(target_endian = "big") {
            return None;
        }
        let bytes = &self.map[VECTORS_HEADER..];
        // SAFETY: `open` checked that the map holds exactly count x dim f32s
        // after the header, and it lives as long as `self`. The map is
        // page-aligned and rows start at byte 64, so the data is 4-byte
        // aligned. Any bit pattern is a valid f32, and it is the value stored
        // because big-endian hosts returned above.
        Some(unsafe {
            std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), self.count * self.dim)
        })
    }

    /// Rows `start..start + n` as f32, borrowed when stored as f32.
    pub fn rows(&self, start: usize, n: usize) -> Cow<'_, [f32]> {
        assert!(
            start + n <= self.count,
            "rows {start}..{} out of {}",
            start + n,
            self.count
        );
        if let Some(all) = self.as_f32() {
            return Cow::Borrowed(&all[start * self.dim..(start + n) * self.dim]);
        }
        let size = self.dtype.row_bytes(self.dim);
        let bytes = &self.map[VECTORS_HEADER + start * size..VECTORS_HEADER + (start + n) * size];
        let mut out = Vec::with_capacity(n * self.dim);
        for row in bytes.chunks_exact(size.max(1)) {
            self.dtype.decode_row(row, &mut out);
        }
        Cow::Owned(out)
    }
}

/// An open, verified index.
pub struct Segment {
    dir: PathBuf,
    manifest: Manifest,
    vectors: Vectors,
    ids: StringTable,
    texts: Option<StringTable>,
    graph: Option<Graph>,
    lexical: Option<Lexical>,
    fields: Option<FieldStore>,
}

impl Segment {
    /// Opens `dir`, checking the format version, every file's size and CRC32
    /// against the manifest, and that the files agree with each other.
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest = Manifest::read(dir)?;
        verify_files(dir, &manifest)?;
        for required in ["vectors.bin", "ids.bin"] {
            if !manifest.files.contains_key(required) {
                return Err(IndexError::Corrupt {
                    path: dir.join(Manifest::FILE),
                    message: format!("lists no {required}"),
                });
            }
        }
        let vectors = Vectors::open(&dir.join("vectors.bin"), &manifest)?;
        let ids = StringTable::open(&dir.join("ids.bin"))?;
        let texts = if manifest.has_texts {
            Some(StringTable::open(&dir.join("texts.bin"))?)
        } else {
            None
        };
        for (name, table) in [("ids.bin", Some(&ids)), ("texts.bin", texts.as_ref())] {
            if let Some(t) = table {
                if t.len() != manifest.count {
                    return Err(IndexError::Corrupt {
                        path: dir.join(name),
                        message: format!(
                            "{} strings, the manifest says {} documents",
                            t.len(),
                            manifest.count
                        ),
                    });
                }
            }
        }
        let graph = match &manifest.graph {
            Some(info) => Some(Graph::open(&dir.join("graph.bin"), manifest.count, info)?),
            None => None,
        };
        let lexical = match &manifest.lexical {
            Some(info) => Some(Lexical::open(dir, manifest.count, info)?),
            None => None,
        };
        let fields = if manifest.fields.is_empty() {
            None
        } else {
            Some(FieldStore::open(
                &dir.join(FIELDS_FILE),
                manifest.count,
                &manifest.fields,
            )?)
        };
        Ok(Segment {
            dir: dir.to_path_buf(),
            manifest,
            vectors,
            ids,
            texts,
            graph,
            lexical,
            fields,
        })
    }

    /// The lexical part (BM25 over the texts), if the index has one.
    pub fn lexical(&self) -> Option<&Lexical> {
        self.lexical.as_ref()
    }

    /// The index folder, as given to `open`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.manifest.count
    }

    /// Whether the index has no documents.
    pub fn is_empty(&self) -> bool {
        self.manifest.count == 0
    }

    /// The document vectors.
    pub fn vectors(&self) -> &Vectors {
        &self.vectors
    }

    /// The id of document `doc` (panics if out of range).
    pub fn id(&self, doc: usize) -> Result<&str> {
        self.ids.get(doc)
    }

    /// The documents' fields, if any document has one.
    pub fn fields(&self) -> Option<&FieldStore> {
        self.fields.as_ref()
    }

    /// The neighbour graph, if the index has one.
    pub fn graph(&self) -> Option<&Graph> {
        self.graph.as_ref()
    }

    /// The stored text of `doc`, if the index keeps texts.
    pub fn text(&self, doc: usize) -> Result<Option<&str>> {
        self.texts.as_ref().map(|t| t.get(doc)).transpose()
    }
}

/// Checks every file the manifest lists against its recorded size and CRC32.
fn verify_files(dir: &Path, manifest: &Manifest) -> Result<()> {
    for (name, entry) in &manifest.files {
        let path = dir.join(name);
        let map = map_file(&path)?;
        if map.len() as u64 != entry.bytes {
            return Err(IndexError::Corrupt {
                path,
                message: format!(
                    "{} bytes, the manifest says {} (truncated or replaced?)",
                    map.len(),
                    entry.bytes
                ),
            });
        }
        let crc = crc32fast::hash(&map);
        if crc != entry.crc32 {
            return Err(IndexError::Corrupt {
                path,
                message: format!(
                    "checksum mismatch (crc32 {crc:08x}, manifest {:08x}): the file is damaged",
                    entry.crc32
                ),
            });
        }
    }
    Ok(())
}
