//! One page of a bbolt file, bounds-checked: the 16-byte header (id, flags,
//! element count, overflow count) and its branch or leaf elements, whose
//! key and value offsets are relative to the element itself. Every read is
//! checked against the page's own bytes, so a lying offset is an error,
//! never a read past the page. Integers are little-endian: Go's bbolt
//! writes native order, and every platform Trivy's database is built on is
//! little-endian.

use super::BboltError;
use std::fmt;

pub(crate) const HEADER_SIZE: usize = 16;
pub(crate) const ELEMENT_SIZE: usize = 16;

pub(crate) const FLAG_BRANCH: u16 = 0x01;
pub(crate) const FLAG_LEAF: u16 = 0x02;
pub(crate) const FLAG_META: u16 = 0x04;
pub(crate) const FLAG_FREELIST: u16 = 0x10;

/// A leaf element's flag for "the value is a nested bucket".
pub(crate) const LEAF_BUCKET: u32 = 0x01;

/// Where a page lives, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageLoc {
    /// A page of the file, by page id.
    Disk(u64),
    /// An inline bucket's page, stored in a leaf value of this page (or of
    /// another inline page, then the outermost on-disk page).
    Inline { within: u64 },
}

impl fmt::Display for PageLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageLoc::Disk(id) => write!(f, "page {id}"),
            PageLoc::Inline { within } => write!(f, "inline bucket page in page {within}"),
        }
    }
}

impl PageLoc {
    /// The on-disk page this page is, or is stored in.
    pub(crate) fn disk_id(self) -> u64 {
        match self {
            PageLoc::Disk(id) | PageLoc::Inline { within: id } => id,
        }
    }
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// What kind of tree page it is; meta and freelist pages are read elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Branch,
    Leaf,
}

/// A branch or leaf page: its header fields and all its bytes (the page and
/// its overflow pages, or an inline bucket's value past the bucket header).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page<'a> {
    pub(crate) loc: PageLoc,
    pub(crate) kind: Kind,
    pub(crate) count: u16,
    pub(crate) overflow: u32,
    bytes: &'a [u8],
}

/// One leaf element: key, value, and whether the value is a nested bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeafElem<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
    pub(crate) is_bucket: bool,
}

impl<'a> Page<'a> {
    /// Reads the header of a tree page whose bytes are `bytes`; refuses a
    /// meta, freelist or unknown page type and an element array that does
    /// not fit.
    pub(crate) fn parse(loc: PageLoc, bytes: &'a [u8]) -> Result<Self, BboltError> {
        let flags = u16_at(bytes, 8).ok_or(BboltError::PageTooShort { page: loc })?;
        let count = u16_at(bytes, 10).ok_or(BboltError::PageTooShort { page: loc })?;
        let overflow = u32_at(bytes, 12).ok_or(BboltError::PageTooShort { page: loc })?;
        let kind = match flags {
            FLAG_BRANCH => Kind::Branch,
            FLAG_LEAF => Kind::Leaf,
            _ => return Err(BboltError::NotATreePage { page: loc, flags }),
        };
        let elements_end = HEADER_SIZE + usize::from(count) * ELEMENT_SIZE;
        if elements_end > bytes.len() {
            return Err(BboltError::ElementsPastPageEnd { page: loc, count });
        }
        Ok(Page {
            loc,
            kind,
            count,
            overflow,
            bytes,
        })
    }

    /// The slice `len` bytes long at `pos` past element `index`'s start.
    fn span(&self, index: u16, pos: u32, len: u32) -> Result<&'a [u8], BboltError> {
        let elem = HEADER_SIZE + usize::from(index) * ELEMENT_SIZE;
        let start = elem.checked_add(pos as usize);
        let end = start.and_then(|s| s.checked_add(len as usize));
        match (start, end) {
            (Some(s), Some(e)) if e <= self.bytes.len() => Ok(&self.bytes[s..e]),
            _ => Err(BboltError::ElementPastPageEnd {
                page: self.loc,
                index,
            }),
        }
    }

    fn field(&self, index: u16, off: usize) -> Result<u32, BboltError> {
        let at = HEADER_SIZE + usize::from(index) * ELEMENT_SIZE + off;
        u32_at(self.bytes, at).ok_or(BboltError::ElementPastPageEnd {
            page: self.loc,
            index,
        })
    }

    /// Branch element `index`: the first key of its child and the child's id.
    pub(crate) fn branch(&self, index: u16) -> Result<(&'a [u8], u64), BboltError> {
        let pos = self.field(index, 0)?;
        let ksize = self.field(index, 4)?;
        let at = HEADER_SIZE + usize::from(index) * ELEMENT_SIZE + 8;
        let child = u64_at(self.bytes, at).ok_or(BboltError::ElementPastPageEnd {
            page: self.loc,
            index,
        })?;
        Ok((self.span(index, pos, ksize)?, child))
    }

    /// Leaf element `index`.
    pub(crate) fn leaf(&self, index: u16) -> Result<LeafElem<'a>, BboltError> {
        let flags = self.field(index, 0)?;
        let pos = self.field(index, 4)?;
        let ksize = self.field(index, 8)?;
        let vsize = self.field(index, 12)?;
        if flags & !LEAF_BUCKET != 0 {
            return Err(BboltError::UnknownElementFlags {
                page: self.loc,
                index,
                flags,
            });
        }
        let kv = self.span(
            index,
            pos,
            ksize
                .checked_add(vsize)
                .ok_or(BboltError::ElementPastPageEnd {
                    page: self.loc,
                    index,
                })?,
        )?;
        let (key, value) = kv.split_at(ksize as usize);
        Ok(LeafElem {
            key,
            value,
            is_bucket: flags & LEAF_BUCKET != 0,
        })
    }
}
