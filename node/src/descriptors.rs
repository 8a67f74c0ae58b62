//! File descriptors: the open-files limit (raised to its hard limit at start), how many
//! are open, and the reserve that connections from strangers may never take.

use anyhow::{Context, Result};

/// Descriptors kept for what the validator opens itself, whatever strangers do: a
/// connection to each peer and one from it, a catch-up read per peer, WAL segments, the
/// storage directory and its lock, the commit log, listeners, the runtime, standard streams.
pub fn reserve(committee_size: usize) -> u64 {
    2 * committee_size as u64 + 64
}

/// The open-files limit (`RLIMIT_NOFILE`): soft and hard, `None` for unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFilesLimit {
    /// What the process may open now.
    pub soft: Option<u64>,
    /// What the soft limit may be raised to.
    pub hard: Option<u64>,
}

fn from_rlim(value: libc::rlim_t) -> Option<u64> {
    (value != libc::RLIM_INFINITY).then_some(value)
}

/// This process's open-files limit.
pub fn limit() -> Result<OpenFilesLimit> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot read the open-files limit");
    }
    Ok(OpenFilesLimit {
        soft: from_rlim(current.rlim_cur),
        hard: from_rlim(current.rlim_max),
    })
}

/// Raises the soft open-files limit to the hard one; returns the limit before and after.
pub fn raise_limit() -> Result<(OpenFilesLimit, OpenFilesLimit)> {
    let before = limit()?;
    if before.soft == before.hard {
        return Ok((before, before));
    }
    let raised = libc::rlimit {
        rlim_cur: before
            .hard
            .map_or(libc::RLIM_INFINITY, |h| h as libc::rlim_t),
        rlim_max: before
            .hard
            .map_or(libc::RLIM_INFINITY, |h| h as libc::rlim_t),
    };
    // SAFETY: setrlimit only reads the struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(std::io::Error::last_os_error())
            .context("cannot raise the soft open-files limit to the hard limit");
    }
    Ok((before, limit()?))
}

/// Descriptors this process has open (`None` where `/proc` is not available).
pub fn open_count() -> Option<u64> {
    // The directory listing holds one descriptor itself while it is read.
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

/// Whether `descriptor` lies in the reserve: descriptors are allocated lowest first, so a
/// new descriptor numbered `d` means the `d` below it are all open.
pub fn in_reserve(descriptor: u64, soft_limit: Option<u64>, reserve: u64) -> bool {
    soft_limit.is_some_and(|limit| descriptor >= limit.saturating_sub(reserve))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_the_top_of_the_limit() {
        assert!(!in_reserve(10, Some(256), 72));
        assert!(!in_reserve(183, Some(256), 72));
        assert!(in_reserve(184, Some(256), 72));
        assert!(in_reserve(5, Some(50), 72));
        assert!(!in_reserve(1 << 40, None, 72));
    }
}
