//! One job per output directory: `OUT/.gm2dqc.lock`, held with an advisory lock of the
//! operating system for as long as the job runs (released by the kernel when the
//! process ends, even by `kill -9`, so a stale lock never blocks a rerun). The file
//! names the holder (pid, host, since when) for the refusal message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::outcome::JobError;

/// The lock of an output directory; released when dropped.
#[derive(Debug)]
pub struct OutLock {
    file: File,
}

/// The lock file of `out`.
pub fn path(out: &Path) -> PathBuf {
    out.join(".gm2dqc.lock")
}

impl OutLock {
    /// Takes the lock of `out` (which must exist), or refuses naming the holder.
    pub fn acquire(out: &Path) -> Result<OutLock, JobError> {
        let p = path(out);
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&p).map_err(|e| JobError::output(&p, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // At most a line; the file is ours but still read as untrusted.
                let _ = (&mut file).take(512).read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() { "holder unknown".to_string() } else { holder.to_string() };
                return Err(JobError::Busy { out: out.to_path_buf(), holder });
            }
            Err(TryLockError::Error(e)) => return Err(JobError::output(&p, e)),
        }
        let line = format!("pid {} on {} since {}\n", std::process::id(), crate::db::host_name(), crate::db::time::now_text());
        file.set_len(0).and_then(|_| file.rewind()).and_then(|_| file.write_all(line.as_bytes())).map_err(|e| JobError::output(&p, e))?;
        Ok(OutLock { file })
    }

}

impl Drop for OutLock {
    fn drop(&mut self) {
        // The lock goes with the file handle; clear the holder line first.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_released_on_drop() {
        let dir = std::env::temp_dir().join(format!("gm2dqc-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = OutLock::acquire(&dir).unwrap();
        match OutLock::acquire(&dir) {
            Err(JobError::Busy { holder, .. }) => assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder}"),
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(first);
        OutLock::acquire(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
