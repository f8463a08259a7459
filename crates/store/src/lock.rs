//! The writer lock: one process writes to a store at a time.
//!
//! SQLite alone would serialise writers by making the second wait or fail with "database is
//! locked" mid-ingest. paperscout instead takes an exclusive advisory lock on `<db>.lock` when
//! a store is opened for writing, and writes its pid there, so a second writer is refused at
//! once with the pid of the first. The operating system drops the lock when the holder exits,
//! however it exits (`kill -9` included), so a crash never leaves a stale lock behind.

use std::fs::TryLockError;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// Held while a process may write to the store; dropping it releases the lock.
#[derive(Debug)]
pub struct WriterLock {
    _file: fs_err::File,
}

impl WriterLock {
    /// Takes the lock for the database at `db_path`, or says who holds it.
    pub fn acquire(db_path: &Path) -> Result<Self> {
        let path = lock_path(db_path);
        let mut file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.file().try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.seek(SeekFrom::Start(0))?;
                writeln!(file, "{}", std::process::id())?;
                file.flush()?;
                Ok(Self { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                // The holder may not have written its pid yet; that is not an error here.
                let _ = file.read_to_string(&mut text);
                let holder = match text.trim().parse::<u32>() {
                    Ok(pid) => format!("pid {pid}"),
                    Err(_) => "another process".to_owned(),
                };
                Err(StoreError::InUse {
                    path: db_path.to_path_buf(),
                    holder,
                })
            }
            Err(TryLockError::Error(err)) => Err(StoreError::Io(std::io::Error::new(
                err.kind(),
                format!("cannot lock {}: {err}", path.display()),
            ))),
        }
    }
}

/// `<db>.lock`, next to the database.
pub fn lock_path(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}
