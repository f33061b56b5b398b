//! The rpm header blob as stored in every rpmdb backend: a big-endian index
//! of `(tag, type, offset, count)` entries followed by a data store. Only the
//! tags a vulnerability scan needs are read; every offset is bounds-checked.

/// One installed package's identity, straight from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmHeader {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: Option<String>,
    pub source_rpm: Option<String>,
}

impl RpmHeader {
    /// `[epoch:]version-release`, as rpm itself prints it.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(epoch) => format!("{epoch}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// The source package's name and `version-release`, from
    /// `name-version-release.src.rpm`.
    pub fn source(&self) -> Option<(&str, &str)> {
        let file = self.source_rpm.as_deref()?;
        let stem = file
            .strip_suffix(".src.rpm")
            .or_else(|| file.strip_suffix(".nosrc.rpm"))?;
        let (name_version, _release) = stem.rsplit_once('-')?;
        let (name, _version) = name_version.rsplit_once('-')?;
        let version_release = stem.get(name.len() + 1..)?;
        (!name.is_empty()).then_some((name, version_release))
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("header blob is {0} bytes, too short")]
    TooShort(usize),
    #[error("header index claims {entries} entries and {data} data bytes, blob has {len}")]
    BadSize { entries: u32, data: u32, len: usize },
    #[error("tag {tag}: offset {offset} outside the {data}-byte data store")]
    BadOffset { tag: i32, offset: i32, data: usize },
    #[error("tag {0} has an unexpected type {1}")]
    BadType(i32, u32),
    #[error("missing tag {0}")]
    Missing(&'static str),
    #[error("tag {0} is not UTF-8")]
    NotUtf8(i32),
}

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_ARCH: i32 = 1022;
const TAG_SOURCERPM: i32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

const INDEX_ENTRY_BYTES: usize = 16;
/// rpm itself refuses headers with more tags than this (`hdrchkTags`).
const MAX_INDEX_ENTRIES: u32 = 0x00ff_ffff;

struct IndexEntry {
    tag: i32,
    kind: u32,
    offset: i32,
}

/// Parses a header blob (`il`, `dl`, index, data) for the identity tags.
pub fn parse(blob: &[u8]) -> Result<RpmHeader, HeaderError> {
    let entries = be_u32(blob, 0).ok_or(HeaderError::TooShort(blob.len()))?;
    let data_len = be_u32(blob, 4).ok_or(HeaderError::TooShort(blob.len()))?;
    let bad_size = HeaderError::BadSize {
        entries,
        data: data_len,
        len: blob.len(),
    };
    if entries > MAX_INDEX_ENTRIES {
        return Err(bad_size);
    }
    let index_len = (entries as usize)
        .checked_mul(INDEX_ENTRY_BYTES)
        .ok_or_else(|| bad_size.clone())?;
    let data_start = 8usize
        .checked_add(index_len)
        .ok_or_else(|| bad_size.clone())?;
    let data_end = data_start
        .checked_add(data_len as usize)
        .ok_or_else(|| bad_size.clone())?;
    let (Some(index), Some(data)) = (blob.get(8..data_start), blob.get(data_start..data_end))
    else {
        return Err(bad_size);
    };

    let mut header = RpmHeader {
        name: String::new(),
        epoch: None,
        version: String::new(),
        release: String::new(),
        arch: None,
        source_rpm: None,
    };
    let (mut has_name, mut has_version, mut has_release) = (false, false, false);
    for raw in index.chunks_exact(INDEX_ENTRY_BYTES) {
        let entry = IndexEntry {
            tag: be_u32(raw, 0).unwrap_or(0) as i32,
            kind: be_u32(raw, 4).unwrap_or(0),
            offset: be_u32(raw, 8).unwrap_or(0) as i32,
        };
        match entry.tag {
            TAG_NAME => {
                header.name = string(&entry, data)?;
                has_name = true;
            }
            TAG_VERSION => {
                header.version = string(&entry, data)?;
                has_version = true;
            }
            TAG_RELEASE => {
                header.release = string(&entry, data)?;
                has_release = true;
            }
            TAG_EPOCH => header.epoch = Some(int32(&entry, data)?),
            TAG_ARCH => header.arch = Some(string(&entry, data)?),
            TAG_SOURCERPM => header.source_rpm = Some(string(&entry, data)?),
            _ => {}
        }
    }
    if !has_name {
        return Err(HeaderError::Missing("NAME"));
    }
    if !has_version {
        return Err(HeaderError::Missing("VERSION"));
    }
    if !has_release {
        return Err(HeaderError::Missing("RELEASE"));
    }
    Ok(header)
}

fn data_at<'a>(entry: &IndexEntry, data: &'a [u8]) -> Result<&'a [u8], HeaderError> {
    usize::try_from(entry.offset)
        .ok()
        .and_then(|offset| data.get(offset..))
        .ok_or(HeaderError::BadOffset {
            tag: entry.tag,
            offset: entry.offset,
            data: data.len(),
        })
}

fn string(entry: &IndexEntry, data: &[u8]) -> Result<String, HeaderError> {
    if entry.kind != TYPE_STRING && entry.kind != TYPE_I18NSTRING {
        return Err(HeaderError::BadType(entry.tag, entry.kind));
    }
    let bytes = data_at(entry, data)?;
    // A string runs to its NUL; one without a NUL inside the store is corrupt.
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(HeaderError::BadOffset {
            tag: entry.tag,
            offset: entry.offset,
            data: data.len(),
        })?;
    let text = bytes.get(..end).unwrap_or_default();
    std::str::from_utf8(text)
        .map(str::to_string)
        .map_err(|_| HeaderError::NotUtf8(entry.tag))
}

fn int32(entry: &IndexEntry, data: &[u8]) -> Result<u32, HeaderError> {
    if entry.kind != TYPE_INT32 {
        return Err(HeaderError::BadType(entry.tag, entry.kind));
    }
    be_u32(data_at(entry, data)?, 0).ok_or(HeaderError::BadOffset {
        tag: entry.tag,
        offset: entry.offset,
        data: data.len(),
    })
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a header blob the way rpm lays it out.
    fn blob(tags: &[(i32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, value) in tags {
            while *kind == TYPE_INT32 && data.len() % 4 != 0 {
                data.push(0);
            }
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&kind.to_be_bytes());
            index.extend_from_slice(&(data.len() as i32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            data.extend_from_slice(value);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(tags.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&index);
        out.extend_from_slice(&data);
        out
    }

    fn s(text: &str) -> Vec<u8> {
        let mut v = text.as_bytes().to_vec();
        v.push(0);
        v
    }

    #[test]
    fn reads_identity_tags_and_source() {
        let header = parse(&blob(&[
            (TAG_NAME, TYPE_STRING, s("bind-libs")),
            (TAG_EPOCH, TYPE_INT32, 30u32.to_be_bytes().to_vec()),
            (TAG_VERSION, TYPE_STRING, s("9.3.6")),
            (TAG_RELEASE, TYPE_STRING, s("25.P1.el5_11.8")),
            (TAG_ARCH, TYPE_STRING, s("x86_64")),
            (
                TAG_SOURCERPM,
                TYPE_STRING,
                s("bind-9.3.6-25.P1.el5_11.8.src.rpm"),
            ),
        ]))
        .unwrap();
        assert_eq!(header.evr(), "30:9.3.6-25.P1.el5_11.8");
        assert_eq!(header.source(), Some(("bind", "9.3.6-25.P1.el5_11.8")));
    }

    #[test]
    fn rejects_bad_offsets_and_sizes_without_panicking() {
        let good = blob(&[
            (TAG_NAME, TYPE_STRING, s("a")),
            (TAG_VERSION, TYPE_STRING, s("1")),
        ]);
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err());
        }
        let mut bad = good.clone();
        bad[8 + 8..8 + 12].copy_from_slice(&1000i32.to_be_bytes());
        assert!(matches!(parse(&bad), Err(HeaderError::BadOffset { .. })));
        let mut huge = good;
        huge[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(parse(&huge), Err(HeaderError::BadSize { .. })));
        assert_eq!(
            parse(&blob(&[(TAG_NAME, TYPE_STRING, s("a"))])),
            Err(HeaderError::Missing("VERSION"))
        );
    }
}
