//! File-format pieces every other module builds on: magic numbers, header
//! layouts, the element type, checksummed and atomic writes, and the one
//! place files are memory-mapped. Depends only on `error`.
//!
//! All integers are little-endian.
//!
//! `vectors.bin`:
//!
//! ```text
//!   0  magic  b"HYPVEC\0\x01"
//!   8  u32    dtype (0 = f32, 1 = f16, 2 = bf16)
//!  12  u32    reserved (0)
//!  16  u64    count
//!  24  u64    dim
//!  32  ...    zero padding to 64 (rows start 64-byte aligned for mmap)
//!  64  count x dim values, row-major
//! ```
//!
//! String tables (`ids.bin`, `texts.bin`):
//!
//! ```text
//!   magic b"HYPSTR\0\x01" | UTF-8 bytes of every string, back to back |
//!   (count + 1) x u64 offsets into those bytes | u64 count | magic
//! ```
//!
//! `graph.bin`:
//!
//! ```text
//!   0  magic  b"HYPGRF\0\x01"
//!   8  u64    count (documents; must equal the index's)
//!  16  u32    degree
//!  20  u32    reserved (0)
//!  24  count x degree u32 neighbour ids, u32::MAX = no neighbour
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use crate::error::{IndexError, IoContext, Result};

pub(crate) const VECTORS_MAGIC: &[u8; 8] = b"HYPVEC\0\x01";
/// Bytes before the first vector row.
pub(crate) const VECTORS_HEADER: usize = 64;
pub(crate) const STRINGS_MAGIC: &[u8; 8] = b"HYPSTR\0\x01";
pub(crate) const GRAPH_MAGIC: &[u8; 8] = b"HYPGRF\0\x01";
/// Bytes before the first neighbour row.
pub(crate) const GRAPH_HEADER: usize = 24;

/// How vector values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// IEEE 754 single precision.
    F32,
    /// IEEE 754 half precision (half the disk and page cache; vectors are
    /// widened to f32 when read).
    F16,
    /// bfloat16: f32's range with 8 bits of mantissa (half the disk and
    /// page cache; exactly what bf16 q-net layers read, so searching it at
    /// `bf16` precision loses nothing more).
    Bf16,
    /// int8 codes, each vector with its own scale (max |x| / 127): a
    /// quarter of f32's bytes; vectors are widened to f32 when read, to
    /// within half a step of the scale.
    Int8,
}

impl Dtype {
    /// Bytes per stored vector of `dim` values (an int8 vector's scale
    /// comes first, as an f32).
    pub fn row_bytes(self, dim: usize) -> usize {
        match self {
            Dtype::F32 => 4 * dim,
            Dtype::F16 | Dtype::Bf16 => 2 * dim,
            Dtype::Int8 => 4 + dim,
        }
    }

    /// The name `parse` takes and the CLI shows.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::Bf16 => "bf16",
            Dtype::Int8 => "int8",
        }
    }

    /// The code stored in the `vectors.bin` header.
    pub(crate) fn code(self) -> u32 {
        match self {
            Dtype::F32 => 0,
            Dtype::F16 => 1,
            Dtype::Bf16 => 2,
            Dtype::Int8 => 3,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Dtype::F32),
            1 => Some(Dtype::F16),
            2 => Some(Dtype::Bf16),
            3 => Some(Dtype::Int8),
            _ => None,
        }
    }

    /// Parses "f32", "f16", "bf16" or "int8".
    pub fn parse(s: &str) -> Option<Self> {
        [Dtype::F32, Dtype::F16, Dtype::Bf16, Dtype::Int8]
            .into_iter()
            .find(|d| d.name() == s)
    }

    /// `row` (f32 values) appended to `out` as this dtype stores it.
    pub(crate) fn encode_row(self, row: &[f32], out: &mut Vec<u8>) {
        match self {
            Dtype::F32 => out.extend(row.iter().flat_map(|v| v.to_le_bytes())),
            Dtype::F16 => out.extend(
                row.iter()
                    .flat_map(|&v| half::f16::from_f32(v).to_le_bytes()),
            ),
            Dtype::Bf16 => out.extend(
                row.iter()
                    .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()),
            ),
            Dtype::Int8 => {
                let mut codes = vec![0i8; row.len()];
                let scale = hypencoder_kernels::quantize_codes(row, &mut codes);
                out.extend(scale.to_le_bytes());
                out.extend(codes.iter().map(|&c| c as u8));
            }
        }
    }

    /// One stored vector (`row_bytes(dim)` bytes) widened to f32 values
    /// appended to `out`.
    pub(crate) fn decode_row(self, bytes: &[u8], out: &mut Vec<f32>) {
        match self {
            Dtype::F32 => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap())),
            ),
            Dtype::F16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f32()),
            ),
            Dtype::Bf16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| half::bf16::from_le_bytes(c.try_into().unwrap()).to_f32()),
            ),
            Dtype::Int8 => {
                let scale = f32::from_le_bytes(bytes[..4].try_into().unwrap());
                out.extend(bytes[4..].iter().map(|&c| f32::from(c as i8) * scale));
            }
        }
    }
}

/// A file's size and checksum, as the manifest records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Size in bytes.
    pub bytes: u64,
    /// CRC32 (IEEE) of the whole file.
    pub crc32: u32,
}

/// Little-endian integer at `at` (the caller has checked the length).
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// Little-endian integer at `at` (the caller has checked the length).
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// The `vectors.bin` header.
pub(crate) fn vectors_header(dtype: Dtype, count: usize, dim: usize) -> [u8; VECTORS_HEADER] {
    let mut header = [0u8; VECTORS_HEADER];
    header[..8].copy_from_slice(VECTORS_MAGIC);
    header[8..12].copy_from_slice(&dtype.code().to_le_bytes());
    header[16..24].copy_from_slice(&(count as u64).to_le_bytes());
    header[24..32].copy_from_slice(&(dim as u64).to_le_bytes());
    header
}

/// The `graph.bin` header.
pub(crate) fn graph_header(count: usize, degree: usize) -> [u8; GRAPH_HEADER] {
    let mut header = [0u8; GRAPH_HEADER];
    header[..8].copy_from_slice(GRAPH_MAGIC);
    header[8..16].copy_from_slice(&(count as u64).to_le_bytes());
    header[16..20].copy_from_slice(&(degree as u32).to_le_bytes());
    header
}

/// Maps an index file read-only. Every memory map of this crate is made
/// here, so the argument below is the only one to check.
pub(crate) fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).at(path)?;
    // SAFETY: a map is undefined behaviour if the file changes under it.
    // This crate never changes an index file in place: writers build in a
    // `.partial` folder or a `.tmp` file and rename it over the old one,
    // which leaves an open mapping of the old file intact. Another process
    // writing into an index file is outside what an index supports (as for
    // any memory-mapped store).
    unsafe { Mmap::map(&file) }.at(path)
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename, then
/// fsyncs the folder: after a crash `path` holds the old or the new bytes.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).at(&tmp)?;
    f.write_all(bytes).at(&tmp)?;
    f.sync_all().at(&tmp)?;
    std::fs::rename(&tmp, path).at(path)?;
    sync_dir(parent_dir(path))
}

/// The folder holding `path` ("." for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes renames and new entries in `dir` durable. An error here means the
/// last rename may not survive a crash, so it is reported, never swallowed.
/// Only Unix can open and fsync a folder; elsewhere this does nothing.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).at(dir)?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
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
