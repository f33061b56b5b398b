//! The whole-file check run once on a downloaded database before it is
//! used: walks every bucket and page, and accounts for every page below the
//! high-water mark as exactly one of meta, freelist, free, or in one tree
//! (as bbolt's own `tx.Check` does). A page used twice or neither used nor
//! free is corruption. Also counts pages the way bbolt's `Bucket.Stats`
//! does, so a test can compare the two.

use super::bucket::{Bucket, Cursor, Value, Visit};
use super::page::{FLAG_FREELIST, HEADER_SIZE, Kind, PageLoc, u16_at, u64_at};
use super::{BboltError, Tree};

/// Page and key counts of a bucket and everything nested in it, with the
/// meaning of bbolt's `BucketStats` fields of the same names.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub branch_page_n: u64,
    pub branch_overflow_n: u64,
    pub leaf_page_n: u64,
    pub leaf_overflow_n: u64,
    /// Leaf elements, nested bucket entries included.
    pub key_n: u64,
    /// Deepest page of the deepest nesting path, counting levels.
    pub depth: u64,
    pub bucket_n: u64,
    pub inline_bucket_n: u64,
}

impl Stats {
    fn add(&mut self, other: Stats) {
        self.branch_page_n += other.branch_page_n;
        self.branch_overflow_n += other.branch_overflow_n;
        self.leaf_page_n += other.leaf_page_n;
        self.leaf_overflow_n += other.leaf_overflow_n;
        self.key_n += other.key_n;
        self.depth = self.depth.max(other.depth);
        self.bucket_n += other.bucket_n;
        self.inline_bucket_n += other.inline_bucket_n;
    }
}

/// What each page below the high-water mark was found to be.
struct Usage {
    used: Vec<bool>,
}

impl Usage {
    fn claim(&mut self, first: u64, overflow: u32) -> Result<(), BboltError> {
        let last = first.saturating_add(u64::from(overflow));
        let pages = self.used.len() as u64;
        for id in first..=last {
            let slot = usize::try_from(id)
                .ok()
                .and_then(|i| self.used.get_mut(i))
                .ok_or(BboltError::PageOutOfRange { id, pages })?;
            if *slot {
                return Err(BboltError::PageUsedTwice { id });
            }
            *slot = true;
        }
        Ok(())
    }
}

pub(crate) fn verify(tree: Tree<'_>) -> Result<Stats, BboltError> {
    let pages = usize::try_from(tree.meta.pages).map_err(|_| BboltError::PageOutOfRange {
        id: tree.meta.pages,
        pages: tree.meta.pages,
    })?;
    let mut usage = Usage {
        used: vec![false; pages],
    };
    usage.claim(0, 1)?;
    if let Some(freelist) = tree.meta.freelist {
        read_freelist(tree, freelist, &mut usage)?;
    }
    let stats = walk(Bucket::root(tree), &mut usage)?;
    // Without a persisted freelist the free pages are unknown.
    if tree.meta.freelist.is_some()
        && let Some(id) = usage.used.iter().position(|used| !used)
    {
        return Err(BboltError::PageUnaccounted { id: id as u64 });
    }
    Ok(stats)
}

/// Claims the freelist page and every page it lists as free.
fn read_freelist(tree: Tree<'_>, id: u64, usage: &mut Usage) -> Result<(), BboltError> {
    let (bytes, overflow) = tree.raw_page(id)?;
    let page = PageLoc::Disk(id);
    let flags = u16_at(bytes, 8).ok_or(BboltError::PageTooShort { page })?;
    if flags != FLAG_FREELIST {
        return Err(BboltError::NotFreelist { id, flags });
    }
    usage.claim(id, overflow)?;
    let count = u16_at(bytes, 10).ok_or(BboltError::PageTooShort { page })?;
    // A count of 0xFFFF means the real count is the first id slot.
    let (first, count) = if count == 0xFFFF {
        let real = u64_at(bytes, HEADER_SIZE).ok_or(BboltError::PageTooShort { page })?;
        (1usize, real)
    } else {
        (0usize, u64::from(count))
    };
    let fits = (bytes.len() - HEADER_SIZE) as u64 / 8;
    if count > fits.saturating_sub(first as u64) {
        return Err(BboltError::FreelistTooLong { id, count });
    }
    for i in 0..count as usize {
        let free = u64_at(bytes, HEADER_SIZE + (first + i) * 8)
            .ok_or(BboltError::PageTooShort { page })?;
        usage.claim(free, 0)?;
    }
    Ok(())
}

fn walk(bucket: Bucket<'_>, usage: &mut Usage) -> Result<Stats, BboltError> {
    let inline = bucket.is_inline();
    let mut own = Stats {
        bucket_n: 1,
        inline_bucket_n: u64::from(inline),
        ..Stats::default()
    };
    let mut nested = Stats::default();
    let mut cursor = Cursor::new(bucket);
    let mut on_page = |visit: Visit| -> Result<(), BboltError> {
        own.depth = own.depth.max(visit.depth as u64);
        match visit.kind {
            Kind::Leaf => {
                own.key_n += u64::from(visit.count);
                if !inline {
                    own.leaf_page_n += 1;
                    own.leaf_overflow_n += u64::from(visit.overflow);
                }
            }
            Kind::Branch => {
                own.branch_page_n += 1;
                own.branch_overflow_n += u64::from(visit.overflow);
            }
        }
        match visit.loc {
            PageLoc::Disk(id) => usage.claim(id, visit.overflow),
            PageLoc::Inline { .. } => Ok(()),
        }
    };
    let mut children = Vec::new();
    while let Some(entry) = cursor.next_entry(&mut on_page) {
        if let (_, Value::Bucket(child)) = entry? {
            children.push(child);
        }
    }
    // Children after the parent's walk: the closure holds `usage` till here.
    for child in children {
        nested.add(walk(child, usage)?);
    }
    own.depth += nested.depth;
    own.add(nested);
    Ok(own)
}
