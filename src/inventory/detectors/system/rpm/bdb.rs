//! The Berkeley DB hash rpmdb (`Packages`: RHEL/CentOS ≤ 8, Amazon Linux 2),
//! read without libdb: walk the hash pages, follow each off-page value's
//! overflow chain and concatenate it into a header blob.

use super::RpmDbError;

const HASH_MAGIC: u32 = 0x0006_1561;
const METADATA_TYPE_HASH: u8 = 8;
const PAGE_TYPE_HASH_UNSORTED: u8 = 2;
const PAGE_TYPE_HASH: u8 = 13;
const PAGE_TYPE_OVERFLOW: u8 = 7;
/// A hash item stored on the page itself (`H_KEYDATA`): small headers, and
/// most headers when pages are large.
const ITEM_KEYDATA: u8 = 1;
/// A hash item stored on overflow pages (`H_OFFPAGE`).
const ITEM_OFFPAGE: u8 = 3;
/// rpm keeps its next header number under key 0; it is not a header.
const RESERVED_KEY: [u8; 4] = [0; 4];
const PAGE_HEADER_BYTES: usize = 26;

/// True when `db` starts like a Berkeley DB hash database (either byte order).
pub fn is_bdb_hash(db: &[u8]) -> bool {
    Endian::detect(db).is_some()
}

#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn detect(db: &[u8]) -> Option<Endian> {
        let raw: [u8; 4] = db.get(12..16)?.try_into().ok()?;
        if u32::from_le_bytes(raw) == HASH_MAGIC {
            Some(Endian::Little)
        } else if u32::from_be_bytes(raw) == HASH_MAGIC {
            Some(Endian::Big)
        } else {
            None
        }
    }

    fn u32(self, bytes: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        })
    }

    fn u16(self, bytes: &[u8], at: usize) -> Option<u16> {
        let raw: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(raw),
            Endian::Big => u16::from_be_bytes(raw),
        })
    }
}

struct Pages<'a> {
    db: &'a [u8],
    size: usize,
    count: usize,
    endian: Endian,
}

impl<'a> Pages<'a> {
    fn get(&self, number: usize) -> Option<&'a [u8]> {
        if number >= self.count {
            return None;
        }
        let start = number.checked_mul(self.size)?;
        self.db.get(start..start.checked_add(self.size)?)
    }
}

/// Returns every header blob, in page order.
pub fn blobs(db: &[u8]) -> Result<Vec<Vec<u8>>, RpmDbError> {
    let corrupt = |what: &str| RpmDbError::Bdb(what.to_string());
    let endian = Endian::detect(db).ok_or_else(|| corrupt("not a Berkeley DB hash database"))?;
    if db.get(25) != Some(&METADATA_TYPE_HASH) {
        return Err(corrupt("metadata page is not a hash metadata page"));
    }
    if db.get(24).is_some_and(|alg| *alg != 0) {
        return Err(corrupt("encrypted database"));
    }
    let size = endian
        .u32(db, 20)
        .ok_or_else(|| corrupt("short metadata page"))? as usize;
    if !(512..=65536).contains(&size) || !size.is_power_of_two() {
        return Err(RpmDbError::Bdb(format!("bad page size {size}")));
    }
    let last = endian
        .u32(db, 32)
        .ok_or_else(|| corrupt("short metadata page"))? as usize;
    let count = last.saturating_add(1).min(db.len() / size);
    let pages = Pages {
        db,
        size,
        count,
        endian,
    };

    let mut blobs = Vec::new();
    // Overflow pages already read: each belongs to one item's chain, so all
    // chains together copy at most the file's size.
    let mut used = vec![false; count];
    for number in 1..count {
        let Some(page) = pages.get(number) else { break };
        let kind = page.get(25).copied().unwrap_or(0);
        if kind != PAGE_TYPE_HASH && kind != PAGE_TYPE_HASH_UNSORTED {
            continue;
        }
        let entries = usize::from(endian.u16(page, 20).unwrap_or(0));
        // Items come in (key, value) pairs; the header is the value.
        for key_index in (0..entries.saturating_sub(1)).step_by(2) {
            let key = item(&pages, page, key_index).ok_or_else(|| {
                RpmDbError::Bdb(format!("page {number}: item {key_index} outside the page"))
            })?;
            if key.first() == Some(&ITEM_KEYDATA) && key.get(1..) == Some(RESERVED_KEY.as_slice()) {
                continue;
            }
            let value_index = key_index + 1;
            let value = item(&pages, page, value_index).ok_or_else(|| {
                RpmDbError::Bdb(format!(
                    "page {number}: item {value_index} outside the page"
                ))
            })?;
            match value.first() {
                Some(&ITEM_KEYDATA) => blobs.push(value.get(1..).unwrap_or_default().to_vec()),
                Some(&ITEM_OFFPAGE) => {
                    let (Some(first), Some(len)) = (endian.u32(value, 4), endian.u32(value, 8))
                    else {
                        return Err(RpmDbError::Bdb(format!(
                            "page {number}: short off-page item"
                        )));
                    };
                    blobs.push(overflow_chain(
                        &pages,
                        &mut used,
                        first as usize,
                        len as usize,
                    )?);
                }
                other => {
                    return Err(RpmDbError::Bdb(format!(
                        "page {number}: unsupported hash item type {other:?}"
                    )));
                }
            }
        }
    }
    Ok(blobs)
}

/// Item `index` of a hash page: items are packed from the end of the page
/// backwards, so each ends where the previous one starts (`LEN_HITEM`).
fn item<'a>(pages: &Pages<'_>, page: &'a [u8], index: usize) -> Option<&'a [u8]> {
    let offset_of = |i: usize| {
        pages
            .endian
            .u16(page, PAGE_HEADER_BYTES + 2 * i)
            .map(usize::from)
    };
    let start = offset_of(index)?;
    let end = if index == 0 {
        pages.size
    } else {
        offset_of(index - 1)?
    };
    if start < PAGE_HEADER_BYTES {
        return None;
    }
    page.get(start..end)
}

/// Concatenates an overflow chain into exactly `len` bytes. A page already
/// `used` (by this chain: a loop; by another: a shared chain) is corrupt.
fn overflow_chain(
    pages: &Pages<'_>,
    used: &mut [bool],
    first: usize,
    len: usize,
) -> Result<Vec<u8>, RpmDbError> {
    let mut data = Vec::with_capacity(len.min(pages.db.len()));
    let mut number = first;
    loop {
        let page = pages
            .get(number)
            .ok_or_else(|| RpmDbError::Bdb(format!("overflow page {number} outside the file")))?;
        let seen = used
            .get_mut(number)
            .ok_or_else(|| RpmDbError::Bdb(format!("overflow page {number} outside the file")))?;
        if std::mem::replace(seen, true) {
            return Err(RpmDbError::Bdb(format!(
                "overflow page {number} is read twice (a loop or a shared chain)"
            )));
        }
        if page.get(25) != Some(&PAGE_TYPE_OVERFLOW) {
            return Err(RpmDbError::Bdb(format!(
                "page {number} is not an overflow page"
            )));
        }
        // On overflow pages the "free area offset" holds the bytes used.
        let filled = usize::from(pages.endian.u16(page, 22).unwrap_or(0));
        let chunk = page
            .get(PAGE_HEADER_BYTES..PAGE_HEADER_BYTES.saturating_add(filled))
            .ok_or_else(|| {
                RpmDbError::Bdb(format!("overflow page {number} claims {filled} bytes"))
            })?;
        let wanted = len - data.len();
        data.extend_from_slice(chunk.get(..wanted.min(chunk.len())).unwrap_or_default());
        if data.len() == len {
            return Ok(data);
        }
        number = pages.endian.u32(page, 16).unwrap_or(0) as usize;
        if number == 0 {
            break;
        }
    }
    Err(RpmDbError::Bdb(format!(
        "overflow chain from page {first} holds {} of {len} bytes",
        data.len()
    )))
}
