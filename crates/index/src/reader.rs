//! Opening an index: manifest, checksums, memory-mapped vectors.

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{IndexError, IoContext, Result};
use crate::graph::Graph;
use crate::manifest::{Dtype, Manifest};
use crate::strings::StringTable;

pub(crate) const VECTORS_MAGIC: &[u8; 8] = b"HYPVEC\0\x01";
const HEADER: usize = 64;

/// Memory-mapped document vectors, `count x dim`, row-major.
pub struct Vectors {
    map: Mmap,
    dtype: Dtype,
    count: usize,
    dim: usize,
}

impl Vectors {
    fn open(path: &Path, manifest: &Manifest) -> Result<Self> {
        let file = File::open(path).at(path)?;
        // SAFETY: index files are never modified in place (writers build in a
        // separate folder and rename), so the mapping stays valid.
        let map = unsafe { Mmap::map(&file) }.at(path)?;
        let corrupt = |message: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        if map.len() < HEADER || &map[..8] != VECTORS_MAGIC {
            return Err(corrupt(
                "not a vectors file (bad magic or truncated)".into(),
            ));
        }
        let u64_at = |at: usize| u64::from_le_bytes(map[at..at + 8].try_into().unwrap()) as usize;
        let code = u32::from_le_bytes(map[8..12].try_into().unwrap());
        let dtype =
            Dtype::from_code(code).ok_or_else(|| corrupt(format!("unknown dtype code {code}")))?;
        let (count, dim) = (u64_at(16), u64_at(24));
        if (count, dim, dtype) != (manifest.count, manifest.dim, manifest.dtype) {
            return Err(corrupt(format!(
                "header says {count} x {dim} {dtype:?}, the manifest {} x {} {:?}",
                manifest.count, manifest.dim, manifest.dtype
            )));
        }
        let want = HEADER + count * dim * dtype.size();
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

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// All vectors as one f32 slice, without copying (f32 indexes only).
    pub fn as_f32(&self) -> Option<&[f32]> {
        if self.dtype != Dtype::F32 || cfg!(target_endian = "big") {
            return None;
        }
        let bytes = &self.map[HEADER..];
        // SAFETY: the map is page-aligned and rows start at byte 64, so the
        // data is 4-byte aligned; the length is checked in `open`; any bit
        // pattern is a valid f32.
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
        let size = self.dtype.size();
        let bytes =
            &self.map[HEADER + start * self.dim * size..HEADER + (start + n) * self.dim * size];
        Cow::Owned(match self.dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f32())
                .collect(),
        })
    }
}

/// An open, verified index.
pub struct Index {
    dir: PathBuf,
    manifest: Manifest,
    vectors: Vectors,
    ids: StringTable,
    texts: Option<StringTable>,
    graph: Option<Graph>,
}

impl Index {
    /// Opens `dir`, checking the format version, every file's size and CRC32
    /// against the manifest, and that the files agree with each other.
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest = Manifest::read(dir)?;
        for (name, entry) in &manifest.files {
            let path = dir.join(name);
            let file = File::open(&path).at(&path)?;
            // SAFETY: as in `Vectors::open`.
            let map = unsafe { Mmap::map(&file) }.at(&path)?;
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
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            vectors,
            ids,
            texts,
            graph,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn len(&self) -> usize {
        self.manifest.count
    }

    pub fn is_empty(&self) -> bool {
        self.manifest.count == 0
    }

    pub fn vectors(&self) -> &Vectors {
        &self.vectors
    }

    pub fn id(&self, doc: usize) -> Result<&str> {
        self.ids.get(doc)
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
