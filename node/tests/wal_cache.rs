//! The WAL does not keep what it has made durable in the page cache: every validator writes
//! the whole system's payload, and keeping it cached grows memory by that rate.

use std::{os::unix::io::AsRawFd, sync::Arc};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use node::{
    block::Block,
    wal::{Owner, Record, Wal},
};

/// Pages of `path` resident in the page cache, and its size in pages.
fn resident_pages(path: &std::path::Path) -> (usize, usize) {
    let file = std::fs::File::open(path).expect("open segment");
    let len = file.metadata().expect("metadata").len() as usize;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let pages = len.div_ceil(page);
    // SAFETY: a private read-only mapping of a file we keep open for the mapping's lifetime;
    // it is only inspected with mincore (never read) and unmapped before returning.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(addr, libc::MAP_FAILED, "mmap failed");
        let mut vec = vec![0u8; pages];
        let rc = libc::mincore(addr, len, vec.as_mut_ptr());
        libc::munmap(addr, len);
        assert_eq!(rc, 0, "mincore failed");
        (vec.iter().filter(|v| **v & 1 == 1).count(), pages)
    }
}

#[test]
fn synced_wal_data_leaves_the_page_cache() {
    // In the target directory: a tmpfs /tmp would keep its pages whatever the WAL asks.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let key = SigningKey::from_bytes(&[3; 32]);
    let (mut wal, _) = Wal::open(dir.path(), u64::MAX, Owner::default()).expect("open");
    for round in 1..=64u64 {
        let block = Block::new_signed(
            0,
            round,
            0,
            Vec::new(),
            Bytes::from(vec![round as u8; 64 * 1024]),
            &key,
        );
        wal.append(&Record::OwnBlock(Arc::new(block)))
            .expect("append");
        wal.sync().expect("sync");
    }
    let segment = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("a segment file");
    let (resident, pages) = resident_pages(&segment);
    assert!(pages >= 1000, "only {pages} pages written");
    assert!(
        resident <= 2,
        "{resident} of {pages} synced pages are still cached"
    );
    // What was dropped from memory is still on disk.
    drop(wal);
    let (_, records) = Wal::open(dir.path(), u64::MAX, Owner::default()).expect("reopen");
    assert_eq!(records.len(), 64);
}
