//! The SQLite rpmdb (`rpmdb.sqlite`, rpm ≥ 4.16: Fedora, RHEL 9, Mariner,
//! Amazon Linux 2023), opened from memory: nothing is written to disk.

use std::io::{self, Read};

use rusqlite::{Connection, MAIN_DB, OpenFlags};

use super::RpmDbError;

/// Header byte offsets of the file-format read/write versions; 2 means WAL.
const FORMAT_VERSION_BYTES: std::ops::Range<usize> = 18..20;
/// SQLite keeps one database under 2^31 bytes in memory here; larger is refused.
const MAX_IN_MEMORY_BYTES: usize = i32::MAX as usize;

/// Returns every header blob in the `Packages` table, in install order.
pub fn blobs(db: &[u8]) -> Result<Vec<Vec<u8>>, RpmDbError> {
    if db.len() > MAX_IN_MEMORY_BYTES {
        return Err(RpmDbError::Sqlite(format!(
            "database of {} bytes is too large",
            db.len()
        )));
    }
    // rpm's databases are in WAL mode, which an in-memory database cannot
    // use; hand SQLite a copy marked as a rollback-journal database (its
    // pages are the same). Transactions still in a `-wal` file are not seen:
    // rpm checkpoints when it closes, so images hold none. SQLite's own
    // buffer is the only copy made.
    let (head, rest) = db.split_at(db.len().min(FORMAT_VERSION_BYTES.end));
    let mut head = head.to_vec();
    if let Some(versions) = head.get_mut(FORMAT_VERSION_BYTES)
        && versions == [2, 2]
    {
        versions.copy_from_slice(&[1, 1]);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection = Connection::open_in_memory_with_flags(flags).map_err(sqlite_error)?;
    connection
        .deserialize_read_exact(MAIN_DB, io::Cursor::new(head).chain(rest), db.len(), true)
        .map_err(sqlite_error)?;
    let mut statement = connection
        .prepare("SELECT blob FROM Packages ORDER BY hnum")
        .map_err(sqlite_error)?;
    let rows = statement
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .map_err(sqlite_error)?;
    rows.map(|row| row.map_err(sqlite_error)).collect()
}

fn sqlite_error(e: rusqlite::Error) -> RpmDbError {
    RpmDbError::Sqlite(e.to_string())
}
