//! String tables: many UTF-8 strings in one file, random access by index.
//! Layout in the crate docs.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{IndexError, IoContext, Result};

pub(crate) const STRINGS_MAGIC: &[u8; 8] = b"HYPSTR\0\x01";

/// Writes `strings` as a string table; returns the bytes written.
pub(crate) fn write_string_table<'a>(
    out: &mut impl Write,
    strings: impl Iterator<Item = &'a str>,
    path: &Path,
) -> Result<u64> {
    out.write_all(STRINGS_MAGIC).at(path)?;
    let mut offsets = vec![0u64];
    let mut pos = 0u64;
    for s in strings {
        out.write_all(s.as_bytes()).at(path)?;
        pos += s.len() as u64;
        offsets.push(pos);
    }
    for o in &offsets {
        out.write_all(&o.to_le_bytes()).at(path)?;
    }
    let count = (offsets.len() - 1) as u64;
    out.write_all(&count.to_le_bytes()).at(path)?;
    out.write_all(STRINGS_MAGIC).at(path)?;
    Ok(8 + pos + 8 * offsets.len() as u64 + 16)
}

/// A memory-mapped string table.
pub struct StringTable {
    map: Mmap,
    count: usize,
    /// Byte position of the offsets array.
    offsets_at: usize,
    path: PathBuf,
}

impl StringTable {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).at(path)?;
        // SAFETY: index files are never modified in place (writers build in a
        // separate folder and rename), so the mapping stays valid.
        let map = unsafe { Mmap::map(&file) }.at(path)?;
        let corrupt = |message: &str| IndexError::Corrupt {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
        let n = map.len();
        if n < 32 || &map[..8] != STRINGS_MAGIC || &map[n - 8..] != STRINGS_MAGIC {
            return Err(corrupt("not a string table (bad magic or truncated)"));
        }
        let count = u64::from_le_bytes(map[n - 16..n - 8].try_into().unwrap()) as usize;
        let offsets_len = count
            .checked_add(1)
            .and_then(|c| c.checked_mul(8))
            .filter(|&l| l + 24 <= n)
            .ok_or_else(|| corrupt("count does not fit the file"))?;
        let offsets_at = n - 16 - offsets_len;
        let table = StringTable {
            map,
            count,
            offsets_at,
            path: path.to_path_buf(),
        };
        if table.offset(count) as usize != offsets_at - 8 || table.offset(0) != 0 {
            return Err(corrupt("offsets do not match the string bytes"));
        }
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn offset(&self, i: usize) -> u64 {
        let at = self.offsets_at + 8 * i;
        u64::from_le_bytes(self.map[at..at + 8].try_into().unwrap())
    }

    /// String `i`. Panics if `i >= len()`; errors if the bytes are damaged.
    pub fn get(&self, i: usize) -> Result<&str> {
        assert!(i < self.count, "string {i} out of range ({})", self.count);
        let (start, end) = (8 + self.offset(i) as usize, 8 + self.offset(i + 1) as usize);
        if start > end || end > self.offsets_at {
            return Err(IndexError::Corrupt {
                path: self.path.clone(),
                message: format!("bad offsets for string {i}"),
            });
        }
        std::str::from_utf8(&self.map[start..end]).map_err(|_| IndexError::Corrupt {
            path: self.path.clone(),
            message: format!("string {i} is not UTF-8"),
        })
    }
}
