//! rpm's NDB backend (`Packages.db`, SUSE): a little-endian slot table
//! pointing at header blobs in 16-byte blocks.

use super::RpmDbError;

/// `RpmP`, `Slot` and `BlbS`: the file, slot and blob magics.
const FILE_MAGIC: &[u8; 4] = b"RpmP";
const SLOT_MAGIC: &[u8; 4] = b"Slot";
const BLOB_MAGIC: &[u8; 4] = b"BlbS";
const SUPPORTED_VERSION: u32 = 0;
const PAGE_BYTES: usize = 4096;
const SLOT_BYTES: usize = 16;
/// The file header takes the first two slots of page 0.
const FILE_HEADER_BYTES: usize = 32;
const BLOCK_BYTES: usize = 16;
const BLOB_HEADER_BYTES: usize = 16;

/// True when `db` starts like an NDB package database.
pub fn is_ndb(db: &[u8]) -> bool {
    db.starts_with(FILE_MAGIC)
}

/// Returns every header blob, in slot order.
pub fn blobs(db: &[u8]) -> Result<Vec<&[u8]>, RpmDbError> {
    let corrupt = |what: String| RpmDbError::Ndb(what);
    if !is_ndb(db) {
        return Err(corrupt("not an NDB database".into()));
    }
    let version = le_u32(db, 4).ok_or_else(|| corrupt("short file header".into()))?;
    if version != SUPPORTED_VERSION {
        return Err(corrupt(format!("unsupported version {version}")));
    }
    let slot_pages = le_u32(db, 12).ok_or_else(|| corrupt("short file header".into()))? as usize;
    let slots_end = slot_pages
        .checked_mul(PAGE_BYTES)
        .filter(|end| *end <= db.len() && *end >= FILE_HEADER_BYTES)
        .ok_or_else(|| {
            corrupt(format!(
                "{slot_pages} slot pages do not fit in {} bytes",
                db.len()
            ))
        })?;
    let slots = db.get(FILE_HEADER_BYTES..slots_end).unwrap_or_default();
    let mut blobs = Vec::new();
    // Where each blob lies in the file (start, end, package): blobs never
    // share bytes in a real database, and letting them would let a small
    // file name one big blob from thousands of slots.
    let mut spans = Vec::new();
    for slot in slots.chunks_exact(SLOT_BYTES) {
        if !slot.starts_with(SLOT_MAGIC) {
            return Err(corrupt("bad slot magic".into()));
        }
        let package = le_u32(slot, 4).unwrap_or(0);
        if package == 0 {
            continue; // an empty slot
        }
        let block = le_u32(slot, 8).unwrap_or(0) as usize;
        let (start, data) = blob(db, package, block).map_err(corrupt)?;
        spans.push((start, start + BLOB_HEADER_BYTES + data.len(), package));
        blobs.push(data);
    }
    spans.sort_unstable();
    if let Some(pair) = spans.windows(2).find(|pair| pair[1].0 < pair[0].1) {
        return Err(corrupt(format!(
            "the blobs of packages {} and {} overlap",
            pair[0].2, pair[1].2
        )));
    }
    Ok(blobs)
}

/// The blob at `block`: its byte offset in the file and its header data.
fn blob(db: &[u8], package: u32, block: usize) -> Result<(usize, &[u8]), String> {
    let start = block
        .checked_mul(BLOCK_BYTES)
        .ok_or("blob offset overflows")?;
    let head = db
        .get(start..start.saturating_add(BLOB_HEADER_BYTES))
        .ok_or("blob header outside the file")?;
    if !head.starts_with(BLOB_MAGIC) {
        return Err(format!("package {package}: bad blob magic"));
    }
    if le_u32(head, 4) != Some(package) {
        return Err(format!(
            "package {package}: blob belongs to another package"
        ));
    }
    let len = le_u32(head, 12).unwrap_or(0) as usize;
    let data_start = start + BLOB_HEADER_BYTES;
    let data = db
        .get(data_start..data_start.saturating_add(len))
        .ok_or_else(|| format!("package {package}: blob of {len} bytes runs past the file"))?;
    Ok((start, data))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}
