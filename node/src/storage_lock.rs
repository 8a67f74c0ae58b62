//! One process per storage directory: an exclusive lock on a file in it, held for the
//! validator's life and released by the OS when the process ends, however it ends.
//!
//! Two processes on one directory would both write its WAL (corrupting it) and both sign
//! with its validator's key (equivocating): the second one is refused at start.

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{Read, Seek, Write},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

/// The lock file's name in the storage directory; it holds the pid of the process that
/// locked it last.
pub const LOCK_FILE: &str = "node.lock";

/// An exclusive lock on a storage directory; dropping it releases the lock.
#[derive(Debug)]
pub struct StorageLock {
    /// The locked file: the lock lives as long as this descriptor.
    _file: File,
    path: PathBuf,
}

impl StorageLock {
    /// Creates `dir` if needed and locks it for this process, or fails naming the directory
    /// and the pid of the process holding it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create storage directory {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holder(&mut file);
                bail!(
                    "storage directory {} is in use by another node process ({holder}): two \
                     processes on one directory would corrupt its WAL and sign conflicting \
                     blocks; stop that process, or give this one its own --storage directory",
                    dir.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .with_context(|| format!("cannot write this process's pid to {}", path.display()))?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who holds the lock, as written in the lock file ("pid N"; the holder writes it just
/// after locking, so it may not be there yet).
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) => format!("pid {pid}"),
        Err(_) => "pid not yet written".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_directory_is_refused_until_its_lock_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        let first = StorageLock::acquire(&storage).expect("first lock");
        assert_eq!(first.path(), storage.join(LOCK_FILE));
        let err = format!(
            "{:#}",
            StorageLock::acquire(&storage).expect_err("a second lock")
        );
        assert!(err.contains(&storage.display().to_string()), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        StorageLock::acquire(&storage).expect("the lock after the first one was dropped");
    }
}
