//! A read-only reader of bbolt files (etcd-io/bbolt, format version 2), the
//! key-value store Trivy's database is published in. The file is mapped
//! read-only and never written; keys and values are borrowed from the map.
//!
//! The file is downloaded, so nothing in it is trusted: the meta pages are
//! checksummed and checked against the file, every page id and element
//! offset is bounds-checked, and tree shape is checked as it is walked (see
//! [`bucket`]). [`Tree::verify`] walks the whole file once and accounts for
//! every page; a loader runs it before a new database replaces the old one.
//! Until then, any one lookup or bucket iteration is bounded, but a walk
//! of every nested bucket is not: two buckets of a corrupt file may share
//! pages, so a full walk could revisit them exponentially often.

pub mod bucket;
mod meta;
mod page;
mod verify;

pub use bucket::{Bucket, Iter, MAX_BUCKET_NESTING, MAX_TREE_DEPTH, Value};
pub use meta::{Meta, MetaProblem};
pub use page::PageLoc;
pub use verify::Stats;

use memmap2::Mmap;
use page::{HEADER_SIZE, Page, u32_at, u64_at};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Why a bbolt file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BboltError {
    #[error("opening {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no usable meta page: the first is {first}; the second is {second}")]
    NoValidMeta {
        first: MetaProblem,
        second: MetaProblem,
    },
    #[error("meta page {slot} (transaction {txid}) is the newest but {problem}: truncated?")]
    NewestMetaInconsistent {
        slot: u8,
        txid: u64,
        problem: MetaProblem,
    },
    #[error("page {id} is past the {pages} pages the meta page says are in use")]
    PageOutOfRange { id: u64, pages: u64 },
    #[error("page {id} is the meta page, not a tree page")]
    MetaPageInTree { id: u64 },
    #[error("page {id} says it is page {found}")]
    PageIdMismatch { id: u64, found: u64 },
    #[error("page {id} with {overflow} overflow pages runs past the end of the file")]
    PageBeyondFile { id: u64, overflow: u32 },
    #[error("{page} is too short for its header")]
    PageTooShort { page: PageLoc },
    #[error("{page} has flags {flags:#x}, not a branch or leaf page")]
    NotATreePage { page: PageLoc, flags: u16 },
    #[error("page {id} has flags {flags:#x}, not the freelist page")]
    NotFreelist { id: u64, flags: u16 },
    #[error("freelist page {id} lists {count} pages, more than it holds")]
    FreelistTooLong { id: u64, count: u64 },
    #[error("{page} says it has {count} elements, more than fit in it")]
    ElementsPastPageEnd { page: PageLoc, count: u16 },
    #[error("element {index} of {page} points past the page's end")]
    ElementPastPageEnd { page: PageLoc, index: u16 },
    #[error("element {index} of {page} has unknown flags {flags:#x}")]
    UnknownElementFlags {
        page: PageLoc,
        index: u16,
        flags: u32,
    },
    #[error("{page} is a branch page without children")]
    EmptyBranch { page: PageLoc },
    #[error("{page} is an empty leaf below a branch")]
    EmptyLeaf { page: PageLoc },
    #[error("the tree below {page} is deeper than {MAX_TREE_DEPTH} levels (a cycle?)")]
    TreeTooDeep { page: PageLoc },
    #[error("a bucket in {page} is nested {nesting} deep, more than {MAX_BUCKET_NESTING}")]
    NestingTooDeep { page: PageLoc, nesting: u32 },
    #[error(
        "key {index} of {page} is out of order or outside its branch's range (a page reached twice?)"
    )]
    KeyOutOfOrder { page: PageLoc, index: u16 },
    #[error("a nested bucket's value in {page} is {len} bytes, too short for a bucket")]
    BadBucketValue { page: PageLoc, len: usize },
    #[error("an inline bucket in {page} is not a single leaf page")]
    InlineNotLeaf { page: PageLoc },
    #[error("{page}, an inline bucket, holds a nested bucket")]
    BucketInInline { page: PageLoc },
    #[error("page {id} is used twice")]
    PageUsedTwice { id: u64 },
    #[error("page {id} is neither reachable nor free")]
    PageUnaccounted { id: u64 },
}

/// A bbolt file's bytes with the meta page chosen to read them by. Cheap
/// to copy; everything read from it borrows the bytes.
#[derive(Debug, Clone, Copy)]
pub struct Tree<'a> {
    data: &'a [u8],
    meta: Meta,
}

impl<'a> Tree<'a> {
    /// Reads a bbolt file already in memory: validates the meta pages only.
    pub fn from_bytes(data: &'a [u8]) -> Result<Self, BboltError> {
        let meta = meta::select(data)?;
        Ok(Tree { data, meta })
    }

    /// The meta page in use.
    pub fn meta(&self) -> Meta {
        self.meta
    }

    /// The root bucket, whose entries are the top-level buckets.
    pub fn root(&self) -> Bucket<'a> {
        Bucket::root(*self)
    }

    /// Walks the whole file: every bucket, page and key, and the freelist.
    pub fn verify(&self) -> Result<Stats, BboltError> {
        verify::verify(*self)
    }

    /// Page `id` with its overflow pages, bounds-checked, and its overflow
    /// count; any page type.
    fn raw_page(&self, id: u64) -> Result<(&'a [u8], u32), BboltError> {
        if id >= self.meta.pages {
            return Err(BboltError::PageOutOfRange {
                id,
                pages: self.meta.pages,
            });
        }
        if id < 2 {
            return Err(BboltError::MetaPageInTree { id });
        }
        let size = u64::from(self.meta.page_size);
        let beyond = BboltError::PageBeyondFile { id, overflow: 0 };
        let start = usize::try_from(id * size).map_err(|_| beyond)?;
        let header = self
            .data
            .get(start..)
            .and_then(|rest| rest.get(..HEADER_SIZE))
            .ok_or(BboltError::PageBeyondFile { id, overflow: 0 })?;
        let found = u64_at(header, 0).unwrap_or_default();
        if found != id {
            return Err(BboltError::PageIdMismatch { id, found });
        }
        let overflow = u32_at(header, 12).unwrap_or_default();
        let beyond = BboltError::PageBeyondFile { id, overflow };
        // Overflow pages are inside the high-water mark like any other.
        let last = id
            .checked_add(u64::from(overflow))
            .filter(|&l| l < self.meta.pages);
        let end = last
            .and_then(|l| (l + 1).checked_mul(size))
            .and_then(|e| usize::try_from(e).ok())
            .ok_or(beyond)?;
        let bytes = self
            .data
            .get(start..end)
            .ok_or(BboltError::PageBeyondFile { id, overflow })?;
        Ok((bytes, overflow))
    }

    /// Branch or leaf page `id`.
    fn page(&self, id: u64) -> Result<Page<'a>, BboltError> {
        let (bytes, _) = self.raw_page(id)?;
        Page::parse(PageLoc::Disk(id), bytes)
    }
}

/// A bbolt file opened read-only and memory-mapped.
#[derive(Debug)]
pub struct Db {
    map: Mmap,
    meta: Meta,
    path: PathBuf,
}

impl Db {
    /// Maps `path` read-only and validates its meta pages. Pages are checked
    /// as they are read; call [`Db::verify`] to check all of them now.
    pub fn open(path: &Path) -> Result<Db, BboltError> {
        let io = |source| BboltError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the map is read-only and scangate never writes the file; a
        // new database replaces it by rename, which leaves this mapping on
        // the old inode. Another process truncating it in place could still
        // fault a read (SIGBUS), the accepted cost of mapping a file.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let meta = Tree::from_bytes(&map)?.meta;
        Ok(Db {
            map,
            meta,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes read by its chosen meta page.
    pub fn tree(&self) -> Tree<'_> {
        Tree {
            data: &self.map,
            meta: self.meta,
        }
    }

    /// The root bucket; see [`Tree::root`].
    pub fn root(&self) -> Bucket<'_> {
        self.tree().root()
    }

    pub fn meta(&self) -> Meta {
        self.meta
    }

    /// See [`Tree::verify`].
    pub fn verify(&self) -> Result<Stats, BboltError> {
        self.tree().verify()
    }
}
