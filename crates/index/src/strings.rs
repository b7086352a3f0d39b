//! String tables: many UTF-8 strings in one file, random access by index.
//! Layout in `format.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{IndexError, IoContext, Result};
use crate::format::{map_file, u64_at, STRINGS_MAGIC};

/// Writes `strings` as a string table (`path` names `out` in errors).
pub(crate) fn write_string_table<'a>(
    out: &mut impl Write,
    strings: impl Iterator<Item = &'a str>,
    path: &Path,
) -> Result<()> {
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
    out.write_all(STRINGS_MAGIC).at(path)
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
    /// Maps the table at `path` and checks its framing.
    pub fn open(path: &Path) -> Result<Self> {
        let map = map_file(path)?;
        let corrupt = |message: &str| IndexError::Corrupt {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
        let n = map.len();
        if n < 32 || &map[..8] != STRINGS_MAGIC || &map[n - 8..] != STRINGS_MAGIC {
            return Err(corrupt("not a string table (bad magic or truncated)"));
        }
        let count = u64_at(&map, n - 16) as usize;
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

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the table holds no strings.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn offset(&self, i: usize) -> u64 {
        u64_at(&self.map, self.offsets_at + 8 * i)
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
