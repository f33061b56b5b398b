//! The two meta pages at the start of a bbolt file. Each holds the magic
//! number, format version, page size, the root bucket, the freelist page,
//! the high-water mark (pages in use) and the transaction id, sealed with a
//! FNV-1a 64 checksum. A writer alternates between them, so a crash leaves
//! one intact: like bbolt, the valid one with the highest transaction id
//! wins. Past the checksum, a meta must also be consistent with the file it
//! is in (page size, ids inside the file) or it does not count as valid.

use super::BboltError;
use super::page::{FLAG_META, HEADER_SIZE, u16_at, u32_at, u64_at};
use std::fmt;

pub(crate) const MAGIC: u32 = 0xED0C_DAED;
pub(crate) const VERSION: u32 = 2;
/// `freelist` when the writer did not persist a freelist (NoFreelistSync).
pub(crate) const NO_FREELIST: u64 = u64::MAX;
/// bbolt looks for the second meta page at 1 KiB to 16 MiB; pages outside
/// that range are not something bbolt itself can reopen.
pub(crate) const MIN_PAGE_SIZE: u32 = 1024;
pub(crate) const MAX_PAGE_SIZE: u32 = 1 << 24;

/// Bytes of the meta covered by the checksum (all fields before it).
const CHECKSUMMED: usize = 56;
const META_SIZE: usize = 64;

/// A validated meta page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub page_size: u32,
    pub flags: u32,
    /// Root page of the root bucket (never inline).
    pub root: u64,
    pub root_sequence: u64,
    /// Freelist page, or `None` when the writer did not persist one.
    pub freelist: Option<u64>,
    /// High-water mark: pages `0..pages` are in use or free.
    pub pages: u64,
    pub txid: u64,
    /// Which meta page (0 or 1) this came from.
    pub slot: u8,
}

/// Why a meta page was not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaProblem {
    Missing,
    NotMetaPage { flags: u16 },
    Magic(u32),
    Version(u32),
    Checksum { stored: u64, computed: u64 },
    PageSize(u32),
    PageSizeDiffers { this: u32, other: u32 },
    Root(u64),
    Freelist(u64),
    PagesBeyondFile { pages: u64, file_len: u64 },
}

impl fmt::Display for MetaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaProblem::Missing => write!(f, "not in the file"),
            MetaProblem::NotMetaPage { flags } => {
                write!(f, "page flags {flags:#x}, not a meta page")
            }
            MetaProblem::Magic(m) => write!(f, "magic {m:#010x}, not a bbolt file"),
            MetaProblem::Version(v) => write!(f, "format version {v}, only {VERSION} is read"),
            MetaProblem::Checksum { stored, computed } => {
                write!(f, "checksum {stored:#018x}, computed {computed:#018x}")
            }
            MetaProblem::PageSize(p) => write!(
                f,
                "page size {p} (a power of two from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE} expected)"
            ),
            MetaProblem::PageSizeDiffers { this, other } => {
                write!(f, "page size {this}, the other meta page says {other}")
            }
            MetaProblem::Root(r) => write!(f, "root bucket page {r} outside the file's pages"),
            MetaProblem::Freelist(p) => write!(f, "freelist page {p} outside the file's pages"),
            MetaProblem::PagesBeyondFile { pages, file_len } => {
                write!(
                    f,
                    "{pages} pages in use but the file is only {file_len} bytes"
                )
            }
        }
    }
}

/// FNV-1a, 64 bit: what bbolt seals its meta pages with.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Reads the meta page at byte offset `at`, checking everything that does
/// not need the page size (magic, version, checksum).
fn read_raw(data: &[u8], at: usize, slot: u8) -> Result<Meta, MetaProblem> {
    let page = data
        .get(at..)
        .and_then(|rest| rest.get(..HEADER_SIZE + META_SIZE))
        .ok_or(MetaProblem::Missing)?;
    let meta = &page[HEADER_SIZE..];
    let get32 = |off| u32_at(meta, off).unwrap_or_default();
    let get64 = |off| u64_at(meta, off).unwrap_or_default();
    let flags = u16_at(page, 8).unwrap_or_default();
    if flags != FLAG_META {
        return Err(MetaProblem::NotMetaPage { flags });
    }
    if get32(0) != MAGIC {
        return Err(MetaProblem::Magic(get32(0)));
    }
    if get32(4) != VERSION {
        return Err(MetaProblem::Version(get32(4)));
    }
    let computed = fnv1a64(&meta[..CHECKSUMMED]);
    if get64(CHECKSUMMED) != computed {
        return Err(MetaProblem::Checksum {
            stored: get64(CHECKSUMMED),
            computed,
        });
    }
    let freelist = get64(32);
    Ok(Meta {
        page_size: get32(8),
        flags: get32(12),
        root: get64(16),
        root_sequence: get64(24),
        freelist: (freelist != NO_FREELIST).then_some(freelist),
        pages: get64(40),
        txid: get64(48),
        slot,
    })
}

fn page_size_ok(size: u32) -> bool {
    size.is_power_of_two() && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&size)
}

/// The checks that need the page size and the file length.
fn consistent(meta: Meta, page_size: u32, file_len: u64) -> Result<Meta, MetaProblem> {
    if meta.page_size != page_size {
        return Err(MetaProblem::PageSizeDiffers {
            this: meta.page_size,
            other: page_size,
        });
    }
    // Pages 0 and 1 are the metas: a root or freelist there is corrupt.
    if meta.root < 2 || meta.root >= meta.pages {
        return Err(MetaProblem::Root(meta.root));
    }
    if let Some(freelist) = meta.freelist
        && (freelist < 2 || freelist >= meta.pages)
    {
        return Err(MetaProblem::Freelist(freelist));
    }
    let needed = meta.pages.checked_mul(u64::from(page_size));
    if needed.is_none_or(|n| n > file_len) {
        return Err(MetaProblem::PagesBeyondFile {
            pages: meta.pages,
            file_len,
        });
    }
    Ok(meta)
}

/// Picks the meta to read the file by: the first meta page gives the page
/// size; if it is unreadable, the second is searched for at every power of
/// two from 1 KiB, as bbolt does. Like bbolt, a meta page that fails its
/// checksum (a torn write) gives way to the other one; unlike bbolt, a
/// sound newest meta that does not fit the file (a truncated download) is
/// refused rather than read by the older transaction.
pub(crate) fn select(data: &[u8]) -> Result<Meta, BboltError> {
    let file_len = data.len() as u64;
    let first = read_raw(data, 0, 0).and_then(|m| {
        if page_size_ok(m.page_size) {
            Ok(m)
        } else {
            Err(MetaProblem::PageSize(m.page_size))
        }
    });
    let page_size = match first {
        Ok(m) => Some(m.page_size),
        Err(_) => (0..=14)
            .map(|shift| MIN_PAGE_SIZE << shift)
            .find(|&size| read_raw(data, size as usize, 1).is_ok_and(|m| m.page_size == size)),
    };
    let Some(page_size) = page_size else {
        let second = read_raw(data, 4096, 1)
            .err()
            .unwrap_or(MetaProblem::Missing);
        return Err(BboltError::NoValidMeta {
            first: first.err().unwrap_or(MetaProblem::Missing),
            second,
        });
    };
    let second = read_raw(data, page_size as usize, 1);
    // The newest sealed meta must fit the file; an older one is a fallback
    // only for a newest that is not sealed.
    let newest = match (&first, &second) {
        (Ok(a), Ok(b)) => Some(if b.txid > a.txid { *b } else { *a }),
        (Ok(m), Err(_)) | (Err(_), Ok(m)) => Some(*m),
        (Err(_), Err(_)) => None,
    };
    match newest {
        Some(meta) => consistent(meta, page_size, file_len).map_err(|problem| {
            BboltError::NewestMetaInconsistent {
                slot: meta.slot,
                txid: meta.txid,
                problem,
            }
        }),
        None => Err(BboltError::NoValidMeta {
            first: first.err().unwrap_or(MetaProblem::Missing),
            second: second.err().unwrap_or(MetaProblem::Missing),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        // From the FNV reference test suite (draft-eastlake-fnv).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
