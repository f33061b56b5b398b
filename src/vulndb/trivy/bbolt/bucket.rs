//! Buckets: a B+tree of branch and leaf pages (or one inline leaf page
//! stored in the parent's value), looked up by key and iterated in key
//! order, every key and value borrowed from the file's bytes.
//!
//! The file is untrusted, so the tree is checked as it is read: a page must
//! be inside the file and say it is the page it was reached as, a branch
//! must have children and a non-root leaf keys, keys must rise strictly
//! and stay between the separators that led to them, and trees and bucket
//! nesting have a depth limit. Together these bound any walk by the number
//! of keys really there: a page reached twice (a cycle, or a shared child)
//! repeats keys, and is refused.

use super::page::{Kind, LeafElem, Page, PageLoc};
use super::{BboltError, Tree};

/// Deepest B+tree accepted. bbolt keeps at least two keys per page, so
/// even a file of 2^32 pages is under 33 levels deep.
pub const MAX_TREE_DEPTH: usize = 64;
/// Deepest bucket nesting accepted. Trivy's layout nests two levels.
pub const MAX_BUCKET_NESTING: u32 = 64;

/// Size of a bucket value's header: root page id and sequence.
const BUCKET_HEADER: usize = 16;

/// Where a bucket's tree starts.
#[derive(Debug, Clone, Copy)]
enum Root<'a> {
    Disk(u64),
    Inline(Page<'a>),
}

/// A bucket of the file: the root bucket or a nested one.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'a> {
    tree: Tree<'a>,
    root: Root<'a>,
    sequence: u64,
    /// How many buckets enclose this one (the root bucket is 0).
    nesting: u32,
}

/// A value in a bucket: bytes, or a nested bucket.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Data(&'a [u8]),
    Bucket(Bucket<'a>),
}

impl<'a> Value<'a> {
    pub fn data(self) -> Option<&'a [u8]> {
        match self {
            Value::Data(d) => Some(d),
            Value::Bucket(_) => None,
        }
    }

    pub fn bucket(self) -> Option<Bucket<'a>> {
        match self {
            Value::Data(_) => None,
            Value::Bucket(b) => Some(b),
        }
    }
}

impl<'a> Bucket<'a> {
    pub(crate) fn root(tree: Tree<'a>) -> Self {
        Bucket {
            tree,
            root: Root::Disk(tree.meta.root),
            sequence: tree.meta.root_sequence,
            nesting: 0,
        }
    }

    /// The bucket's sequence number (bbolt's `NextSequence` counter).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Whether the bucket is stored inline in its parent's leaf.
    pub fn is_inline(&self) -> bool {
        matches!(self.root, Root::Inline(_))
    }

    /// Opens the nested bucket whose value (header plus, when inline, its
    /// page) is `value`, found in `page`.
    fn child(&self, value: &'a [u8], page: PageLoc) -> Result<Bucket<'a>, BboltError> {
        let nesting = self.nesting + 1;
        if nesting > MAX_BUCKET_NESTING {
            return Err(BboltError::NestingTooDeep { page, nesting });
        }
        let (header, inline) =
            value
                .split_at_checked(BUCKET_HEADER)
                .ok_or(BboltError::BadBucketValue {
                    page,
                    len: value.len(),
                })?;
        let (root, sequence) = header.split_at(8);
        let root = u64::from_le_bytes(root.try_into().unwrap_or_default());
        let sequence = u64::from_le_bytes(sequence.try_into().unwrap_or_default());
        let root = if root == 0 {
            let loc = PageLoc::Inline {
                within: page.disk_id(),
            };
            let inline = Page::parse(loc, inline)?;
            // bbolt inlines only a single leaf without nested buckets.
            if inline.kind != Kind::Leaf {
                return Err(BboltError::InlineNotLeaf { page });
            }
            Root::Inline(inline)
        } else {
            Root::Disk(root)
        };
        Ok(Bucket {
            tree: self.tree,
            root,
            sequence,
            nesting,
        })
    }

    fn value(&self, elem: LeafElem<'a>, page: PageLoc) -> Result<Value<'a>, BboltError> {
        if elem.is_bucket {
            if matches!(page, PageLoc::Inline { .. }) {
                return Err(BboltError::BucketInInline { page });
            }
            Ok(Value::Bucket(self.child(elem.value, page)?))
        } else {
            Ok(Value::Data(elem.value))
        }
    }

    fn root_page(&self) -> Result<Page<'a>, BboltError> {
        match self.root {
            Root::Disk(id) => self.tree.page(id),
            Root::Inline(page) => Ok(page),
        }
    }

    /// The value or nested bucket at `key`.
    pub fn entry(&self, key: &[u8]) -> Result<Option<Value<'a>>, BboltError> {
        let mut page = self.root_page()?;
        let mut depth = 1;
        loop {
            match page.kind {
                Kind::Branch => {
                    if page.count == 0 {
                        return Err(BboltError::EmptyBranch { page: page.loc });
                    }
                    // The last child whose first key is <= key, else the first.
                    let (mut lo, mut hi) = (0u16, page.count);
                    while lo < hi {
                        let mid = lo + (hi - lo) / 2;
                        if page.branch(mid)?.0 <= key {
                            lo = mid + 1;
                        } else {
                            hi = mid;
                        }
                    }
                    let (_, child) = page.branch(lo.saturating_sub(1))?;
                    depth += 1;
                    if depth > MAX_TREE_DEPTH {
                        return Err(BboltError::TreeTooDeep { page: page.loc });
                    }
                    page = self.tree.page(child)?;
                }
                Kind::Leaf => {
                    let (mut lo, mut hi) = (0u16, page.count);
                    while lo < hi {
                        let mid = lo + (hi - lo) / 2;
                        let elem = page.leaf(mid)?;
                        match elem.key.cmp(key) {
                            std::cmp::Ordering::Less => lo = mid + 1,
                            std::cmp::Ordering::Greater => hi = mid,
                            std::cmp::Ordering::Equal => {
                                return self.value(elem, page.loc).map(Some);
                            }
                        }
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// The value at `key`; `None` when absent or a nested bucket.
    pub fn get(&self, key: &[u8]) -> Result<Option<&'a [u8]>, BboltError> {
        Ok(self.entry(key)?.and_then(Value::data))
    }

    /// The nested bucket at `name`; `None` when absent or a plain value.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket<'a>>, BboltError> {
        Ok(self.entry(name)?.and_then(Value::bucket))
    }

    /// Every key with its value or nested bucket, in key order. Stops after
    /// the first error.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            cursor: Cursor::new(*self),
        }
    }
}

/// One tree page a cursor stepped onto, for the verifier's accounting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visit {
    pub(crate) loc: PageLoc,
    pub(crate) kind: Kind,
    pub(crate) count: u16,
    pub(crate) overflow: u32,
    /// 1 for the bucket's root page.
    pub(crate) depth: usize,
}

struct Frame<'a> {
    page: Page<'a>,
    next: u16,
    /// Keys below this page are in `lo..hi` (`None`: unbounded).
    lo: Option<&'a [u8]>,
    hi: Option<&'a [u8]>,
}

/// A depth-first walk over one bucket's tree, checking its shape; the
/// visitor given to [`Cursor::next_entry`] sees each page as it is entered.
pub(crate) struct Cursor<'a> {
    bucket: Bucket<'a>,
    stack: Vec<Frame<'a>>,
    last: Option<&'a [u8]>,
    started: bool,
    done: bool,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bucket: Bucket<'a>) -> Self {
        Cursor {
            bucket,
            stack: Vec::new(),
            last: None,
            started: false,
            done: false,
        }
    }

    fn enter(
        &mut self,
        page: Page<'a>,
        lo: Option<&'a [u8]>,
        hi: Option<&'a [u8]>,
        on_page: &mut impl FnMut(Visit) -> Result<(), BboltError>,
    ) -> Result<(), BboltError> {
        let depth = self.stack.len() + 1;
        if depth > MAX_TREE_DEPTH {
            return Err(BboltError::TreeTooDeep { page: page.loc });
        }
        let root = self.stack.is_empty();
        match page.kind {
            Kind::Branch if page.count == 0 => {
                return Err(BboltError::EmptyBranch { page: page.loc });
            }
            // Only a bucket's root leaf may be empty (an empty bucket).
            Kind::Leaf if page.count == 0 && !root => {
                return Err(BboltError::EmptyLeaf { page: page.loc });
            }
            _ => {}
        }
        on_page(Visit {
            loc: page.loc,
            kind: page.kind,
            count: page.count,
            overflow: page.overflow,
            depth,
        })?;
        self.stack.push(Frame {
            page,
            next: 0,
            lo,
            hi,
        });
        Ok(())
    }

    fn step(
        &mut self,
        on_page: &mut impl FnMut(Visit) -> Result<(), BboltError>,
    ) -> Result<Option<(&'a [u8], Value<'a>)>, BboltError> {
        if !self.started {
            self.started = true;
            let root = self.bucket.root_page()?;
            self.enter(root, None, None, on_page)?;
        }
        loop {
            let Some(top) = self.stack.last_mut() else {
                return Ok(None);
            };
            if top.next >= top.page.count {
                self.stack.pop();
                continue;
            }
            let index = top.next;
            top.next += 1;
            let (page, lo, hi) = (top.page, top.lo, top.hi);
            match page.kind {
                Kind::Leaf => {
                    let elem = page.leaf(index)?;
                    let in_range =
                        lo.is_none_or(|lo| elem.key >= lo) && hi.is_none_or(|hi| elem.key < hi);
                    if !in_range || self.last.is_some_and(|last| elem.key <= last) {
                        return Err(BboltError::KeyOutOfOrder {
                            page: page.loc,
                            index,
                        });
                    }
                    self.last = Some(elem.key);
                    let value = self.bucket.value(elem, page.loc)?;
                    return Ok(Some((elem.key, value)));
                }
                Kind::Branch => {
                    let (key, child) = page.branch(index)?;
                    // The first child also holds keys below its separator.
                    let child_lo = if index == 0 { lo } else { Some(key) };
                    let child_hi = if index + 1 < page.count {
                        Some(page.branch(index + 1)?.0)
                    } else {
                        hi
                    };
                    let child = self.bucket.tree.page(child)?;
                    self.enter(child, child_lo, child_hi, on_page)?;
                }
            }
        }
    }

    /// The next entry; after an error, `None` for good.
    pub(crate) fn next_entry(
        &mut self,
        on_page: &mut impl FnMut(Visit) -> Result<(), BboltError>,
    ) -> Option<Result<(&'a [u8], Value<'a>), BboltError>> {
        if self.done {
            return None;
        }
        match self.step(on_page) {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn no_visit(_: Visit) -> Result<(), BboltError> {
    Ok(())
}

/// Iterator over a bucket's entries in key order; see [`Bucket::iter`].
pub struct Iter<'a> {
    cursor: Cursor<'a>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<(&'a [u8], Value<'a>), BboltError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next_entry(&mut no_visit)
    }
}
