//! The reader chain under the tar parser: source → compression → byte cap.
//! Shared state records why a read failed (the source, the cap, a truncated
//! stream), so the walker can name the error instead of guessing from text.

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use serde::Serialize;

/// The layer's compression, detected from its first bytes (media types lie).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const BZIP2_MAGIC: &[u8] = b"BZh";

/// Why the byte stream stopped, filled in by the readers as it happens.
#[derive(Default)]
pub struct StreamState {
    /// The caller's reader failed (network, digest mismatch, …); kept as is.
    pub source_error: RefCell<Option<io::Error>>,
    /// Bytes taken from the caller's reader.
    pub compressed_bytes: Cell<u64>,
    /// Uncompressed tar bytes handed to the tar parser.
    pub uncompressed_bytes: Cell<u64>,
    /// The uncompressed cap was exceeded.
    pub cap_exceeded: Cell<bool>,
    /// The uncompressed stream reached its end.
    pub eof: Cell<bool>,
}

/// Counts the caller's bytes and keeps its error for the final report.
struct Source<R> {
    inner: R,
    state: Rc<StreamState>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                let total = self.state.compressed_bytes.get().saturating_add(n as u64);
                self.state.compressed_bytes.set(total);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(Self::record(&self.state, e)),
        }
    }
}

impl<R> Source<R> {
    fn record(state: &StreamState, e: io::Error) -> io::Error {
        let kind = e.kind();
        *state.source_error.borrow_mut() = Some(e);
        io::Error::new(kind, "layer source failed")
    }
}

/// The decoders read the caller's buffer in place (no copy into a second
/// buffer); bytes are counted as they are consumed.
impl<R: BufRead> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let state = &self.state;
        match self.inner.fill_buf() {
            Ok(buf) => Ok(buf),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(Self::record(state, e)),
        }
    }

    fn consume(&mut self, amount: usize) {
        let total = self
            .state
            .compressed_bytes
            .get()
            .saturating_add(amount as u64);
        self.state.compressed_bytes.set(total);
        self.inner.consume(amount);
    }
}

/// Fails once more than `limit` uncompressed bytes have been produced, so a
/// decompression bomb stops at the cap instead of running to its end.
struct Capped<R> {
    inner: R,
    limit: u64,
    state: Rc<StreamState>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let used = self.state.uncompressed_bytes.get();
        // Allow one byte past the cap so that reaching it exactly is not an error.
        let room = self.limit.saturating_sub(used).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let slice = buf.get_mut(..want).unwrap_or_default();
        let n = self.inner.read(slice)?;
        if n == 0 && !slice.is_empty() {
            self.state.eof.set(true);
        }
        let total = used.saturating_add(n as u64);
        self.state.uncompressed_bytes.set(total);
        if total > self.limit {
            self.state.cap_exceeded.set(true);
            return Err(io::Error::other("uncompressed layer size limit exceeded"));
        }
        Ok(n)
    }
}

/// Error from opening the stream: only an unsupported compression or a
/// source failure while peeking at the magic bytes.
pub enum OpenError {
    Unsupported(&'static str),
    Io(io::Error),
}

/// Builds the reader chain for one layer and reports its compression. The
/// source is buffered by the caller (a file behind a `BufReader`, or the
/// download's chunks as they arrive).
pub fn open<'a, R: BufRead + 'a>(
    reader: R,
    max_uncompressed_bytes: u64,
    state: &Rc<StreamState>,
) -> Result<(Box<dyn Read + 'a>, Compression), OpenError> {
    let mut source = Source {
        inner: reader,
        state: Rc::clone(state),
    };
    let head = read_head(&mut source, XZ_MAGIC.len()).map_err(OpenError::Io)?;
    let compression = if head.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else if head.starts_with(XZ_MAGIC) {
        return Err(OpenError::Unsupported("xz"));
    } else if head.starts_with(BZIP2_MAGIC) {
        return Err(OpenError::Unsupported("bzip2"));
    } else {
        Compression::None
    };
    // Put the peeked bytes back in front of the rest of the stream.
    let buffered = io::Cursor::new(head).chain(source);
    let decoded: Box<dyn Read + 'a> = match compression {
        // Layers may be several concatenated gzip members.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(OpenError::Io)?)
        }
        Compression::None => Box::new(buffered),
    };
    let capped = Capped {
        inner: decoded,
        limit: max_uncompressed_bytes,
        state: Rc::clone(state),
    };
    Ok((Box::new(capped), compression))
}

/// Reads up to `n` leading bytes (fewer only at end of stream), however the
/// source chooses to trickle them.
fn read_head<R: Read>(reader: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    reader.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}
