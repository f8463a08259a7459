//! Files written in one rename: a reader (or a crash) sees the old content or the new, never
//! half of it.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{AppError, Result};

/// Writes `path` through `write`, staged beside it and renamed over it only when `write`
/// succeeded and the data reached the disk.
pub fn write_in_one_rename<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<T>,
) -> Result<T> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staged = tempfile::NamedTempFile::new_in(dir)
        .map_err(|err| AppError::io(format!("cannot write into {}", dir.display()), err))?;
    let mut writer = BufWriter::new(staged);
    let value = write(&mut writer)?;
    let staged = writer.into_inner().map_err(|err| {
        AppError::io(
            format!("could not write {}", path.display()),
            err.into_error(),
        )
    })?;
    staged
        .as_file()
        .sync_all()
        .map_err(|err| AppError::io(format!("could not sync {}", path.display()), err))?;
    staged.persist(path).map_err(|err| {
        AppError::io(
            format!("could not move the output into {}", path.display()),
            err.error,
        )
    })?;
    Ok(value)
}

/// Where a file waits until the step that makes it real (a record in the store) is done:
/// its path with `.pending` added (`2025-03-18.md` → `2025-03-18.md.pending`).
pub fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pending");
    PathBuf::from(name)
}

/// Writes `content` to `path` in one rename.
pub fn write_atomically(path: &Path, content: &[u8]) -> Result<()> {
    write_in_one_rename(path, |out| Ok(out.write_all(content)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("digest.md");
        write_atomically(&path, b"old").expect("first write");
        let failed: Result<()> = write_in_one_rename(&path, |out| {
            out.write_all(b"half")?;
            Err(AppError::Bug("stopped halfway".to_owned()))
        });
        assert!(failed.is_err());
        assert_eq!(fs_err::read(&path).expect("read"), b"old");
        assert_eq!(
            fs_err::read_dir(dir.path()).expect("list").count(),
            1,
            "no staged file left"
        );
        write_atomically(&path, b"new").expect("second write");
        assert_eq!(fs_err::read(&path).expect("read"), b"new");
    }
}
