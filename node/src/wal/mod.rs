//! Write-ahead log: checksummed frames in numbered segment files.

mod frame;
mod record;

mod owner;

pub use frame::{decode_frames, encode_frame, is_torn_tail, FrameError};
pub use owner::Owner;
pub use record::Record;

use std::{
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{anyhow, bail, Context, Result};

use bytes::Bytes;

use crate::block::{BlockRef, Round};

/// Where a block's bytes live: segment, offset, length.
type Location = (u64, u64, u32);

const BUFFER_FLUSH_BYTES: usize = 1 << 20;

/// A logged block's bytes in a segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockLocation {
    path: PathBuf,
    offset: u64,
    len: u32,
}

impl BlockLocation {
    /// Reads the block's bytes (blocking file I/O); fails if the segment was deleted since.
    pub fn read(&self) -> Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let file = File::open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        let mut buf = vec![0u8; self.len as usize];
        file.read_exact_at(&mut buf, self.offset)
            .with_context(|| format!("cannot read a block from {}", self.path.display()))?;
        Ok(Bytes::from(buf))
    }
}

/// Which old segments [`Wal::rotate`] deletes.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// Segments holding only blocks below this round are deleted.
    pub keep_round: Round,
    /// While the older segments take more bytes than this, the oldest one is deleted too...
    pub max_bytes: u64,
    /// ...provided it holds only blocks below this round (those replay does not need).
    pub needed_round: Round,
}

/// An old or current segment file.
#[derive(Clone, Copy, Debug, Default)]
struct Segment {
    /// Highest block round it holds.
    max_round: Round,
    /// Its size in bytes.
    bytes: u64,
}

/// The WAL of one validator.
pub struct Wal {
    dir: PathBuf,
    file: File,
    segment: u64,
    segment_size: u64,
    /// Bytes of the current segment below this were synced and dropped from the page cache.
    uncached_from: u64,
    segment_limit: u64,
    buffer: Vec<u8>,
    segments: BTreeMap<u64, Segment>,
    index: std::collections::HashMap<BlockRef, Location>,
    /// Written at the start of every segment.
    owner: Owner,
}

#[cfg(test)]
thread_local! {
    /// Directory fsyncs made by this thread (tests).
    static DIRECTORY_SYNCS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Fsyncs the directory, so that a segment file it just got survives a power loss.
fn sync_directory(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync the storage directory {}", dir.display()))?;
    #[cfg(test)]
    DIRECTORY_SYNCS.with(|c| c.set(c.get() + 1));
    Ok(())
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("wal-{id:08}.log"))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name
            .strip_prefix("wal-")
            .and_then(|s| s.strip_suffix(".log"))
            .and_then(|s| s.parse::<u64>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// The memory page size (4 KiB if the system does not say).
fn page_size() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
    })
}

/// Asks the kernel to drop the cached pages of `file` in `from..to` (advice only: clean pages
/// go, the data stays on disk).
fn drop_from_cache(file: &File, from: u64, to: u64) {
    use std::os::unix::io::AsRawFd;
    if to <= from {
        return;
    }
    let (Ok(offset), Ok(len)) = (i64::try_from(from), i64::try_from(to - from)) else {
        return;
    };
    // SAFETY: posix_fadvise only reads its arguments; the descriptor is open and ours.
    let rc =
        unsafe { libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        tracing::debug!("posix_fadvise on the WAL failed: error {rc}");
    }
}

/// Replays one segment file: its records with their offsets, and the length of its intact
/// prefix. Only the newest segment may end in a torn tail (truncated later); any other
/// damage, an undecodable record or a header naming another owner is an error.
fn read_segment(
    path: &Path,
    data: &[u8],
    newest: bool,
    owner: &Owner,
) -> Result<(Vec<(usize, Record)>, usize)> {
    let (frames, valid, error) = decode_frames(data);
    if let Some(e) = &error {
        if !(newest && is_torn_tail(data, valid, e)) {
            bail!(
                "WAL segment {} is corrupted at byte {valid} ({e}), with {} bytes of log after it{}: \
                 replaying past the damage could make this validator sign a round twice. \
                 Restore the storage directory from a backup, or retire this validator \
                 (new genesis and empty storage)",
                path.display(),
                data.len() - valid,
                if newest { "" } else { " and in later segments" },
            );
        }
        tracing::warn!(file = %path.display(), offset = valid, "WAL tail is torn ({e}): truncating");
    }
    let mut records = Vec::with_capacity(frames.len());
    for (offset, payload) in frames {
        let record = Record::decode(payload).map_err(|e| {
            anyhow!(
                "WAL segment {} holds an undecodable record at byte {offset} ({e}): it was \
                 written by another version of the node or is damaged; restore the storage \
                 directory from a backup, or retire this validator (new genesis and empty storage)",
                path.display()
            )
        })?;
        match (offset, record) {
            (0, Record::Header(found)) if found == *owner => {}
            (0, Record::Header(found)) => bail!(
                "WAL segment {} was written by {found}, not by this validator ({owner}): \
                 give each validator its own --storage directory, and a new committee empty ones",
                path.display()
            ),
            (0, _) | (_, Record::Header(_)) => bail!(
                "WAL segment {} does not start with a header naming its validator (written \
                 by an older version of the node, or not a WAL): move it away or give this \
                 validator an empty --storage directory",
                path.display()
            ),
            (offset, record) => records.push((offset, record)),
        }
    }
    Ok((records, valid))
}

impl Wal {
    /// Opens the WAL in `dir` written by `owner` and returns every record in write order.
    /// A torn tail of the newest segment is logged and truncated away; any other damage, or
    /// a WAL written by another validator or committee, is an error naming the file.
    pub fn open(dir: &Path, segment_limit: u64, owner: Owner) -> Result<(Self, Vec<Record>)> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create storage directory {}", dir.display()))?;
        let ids = list_segments(dir)?;
        let mut records = Vec::new();
        let mut segments = BTreeMap::new();
        let mut index = std::collections::HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            let path = segment_path(dir, *id);
            let data =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let (read, good) = read_segment(&path, &data, i + 1 == ids.len(), &owner)?;
            let mut highest = 0;
            for (offset, r) in read {
                highest = highest.max(r.block_round().unwrap_or(0));
                if let Some(b) = r.block() {
                    let at = (offset + frame::FRAME_HEADER + 1) as u64;
                    index.insert(b.reference(), (*id, at, b.serialized().len() as u32));
                }
                records.push(r);
            }
            if good < data.len() {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                f.set_len(good as u64)
                    .with_context(|| format!("cannot truncate {}", path.display()))?;
                f.sync_all()?;
            }
            segments.insert(
                *id,
                Segment {
                    max_round: highest,
                    bytes: good as u64,
                },
            );
        }
        let segment = ids.last().copied().unwrap_or(0);
        let path = segment_path(dir, segment);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open WAL segment {}", path.display()))?;
        if ids.is_empty() {
            sync_directory(dir)?;
        }
        let segment_size = file.metadata()?.len();
        segments.entry(segment).or_default();
        let mut wal = Self {
            dir: dir.to_path_buf(),
            file,
            segment,
            segment_size,
            uncached_from: 0,
            segment_limit,
            buffer: Vec::with_capacity(BUFFER_FLUSH_BYTES * 2),
            segments,
            index,
            owner,
        };
        if wal.segment_size == 0 {
            wal.append(&Record::Header(owner))?;
        }
        Ok((wal, records))
    }

    /// Appends a record (buffered); returns the bytes it takes on disk.
    pub fn append(&mut self, record: &Record) -> Result<usize> {
        let before = self.buffer.len();
        if let Some(b) = record.block() {
            let at = self.segment_size + (frame::FRAME_HEADER + 1) as u64;
            self.index.insert(
                b.reference(),
                (self.segment, at, b.serialized().len() as u32),
            );
        }
        record.encode_framed(&mut self.buffer);
        let written = self.buffer.len() - before;
        self.segment_size += written as u64;
        let segment = self.segments.entry(self.segment).or_default();
        segment.bytes = self.segment_size;
        if let Some(round) = record.block_round() {
            segment.max_round = segment.max_round.max(round);
        }
        if self.buffer.len() >= BUFFER_FLUSH_BYTES {
            self.flush()?;
        }
        Ok(written)
    }

    /// Hands buffered records to the OS (survives a process crash, not a power loss).
    pub fn flush(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            self.file
                .write_all(&self.buffer)
                .context("cannot write the WAL")?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Flushes and fsyncs, then lets the page cache drop what is now durable: the WAL is
    /// read back only on restart and for lagging peers, while every validator writes the
    /// whole system's blocks, so cached WAL pages would grow memory at that rate.
    pub fn sync(&mut self) -> Result<()> {
        self.flush()?;
        self.file.sync_data().context("cannot fsync the WAL")?;
        drop_from_cache(&self.file, self.uncached_from, self.segment_size);
        // The last page may be partly written: it is dropped with the next range.
        self.uncached_from = self.segment_size - self.segment_size % page_size();
        Ok(())
    }

    /// Whether the current segment is over its size limit.
    pub fn should_rotate(&self) -> bool {
        self.segment_size >= self.segment_limit
    }

    /// Starts a new segment beginning with `checkpoint` and deletes the old segments that
    /// `retention` lets go, oldest first.
    pub fn rotate(&mut self, checkpoint: &Record, retention: Retention) -> Result<()> {
        self.sync()?;
        self.segment += 1;
        let path = segment_path(&self.dir, self.segment);
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot create WAL segment {}", path.display()))?;
        sync_directory(&self.dir)?;
        self.segment_size = 0;
        self.uncached_from = 0;
        self.segments.insert(self.segment, Segment::default());
        self.append(&Record::Header(self.owner))?;
        self.append(checkpoint)?;
        self.sync()?;
        while let Some((&id, &old)) = self.segments.first_key_value() {
            let expired = old.max_round < retention.keep_round;
            let over_cap = self.old_segment_bytes() > retention.max_bytes
                && old.max_round < retention.needed_round;
            if id == self.segment || !(expired || over_cap) {
                break;
            }
            let path = segment_path(&self.dir, id);
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot delete old WAL segment {}", path.display()))?;
            self.segments.remove(&id);
            self.index.retain(|_, loc| loc.0 != id);
        }
        Ok(())
    }

    /// Bytes of every segment file but the current one.
    pub fn old_segment_bytes(&self) -> u64 {
        self.segments
            .iter()
            .filter(|(id, _)| **id != self.segment)
            .map(|(_, s)| s.bytes)
            .sum()
    }

    /// Where a logged block's bytes are on disk, once handed to the OS (so that
    /// [`BlockLocation::read`] can run outside the WAL's owner).
    pub fn locate(&mut self, r: &BlockRef) -> Result<Option<BlockLocation>> {
        let Some(&(segment, offset, len)) = self.index.get(r) else {
            return Ok(None);
        };
        if segment == self.segment && !self.buffer.is_empty() {
            self.flush()?;
        }
        Ok(Some(BlockLocation {
            path: segment_path(&self.dir, segment),
            offset,
            len,
        }))
    }

    /// Reads a logged block back from disk (to serve peers that lag behind the DAG window).
    pub fn read_block(&mut self, r: &BlockRef) -> Result<Option<Bytes>> {
        match self.locate(r)? {
            Some(location) => location.read().map(Some),
            None => Ok(None),
        }
    }

    /// Logged blocks of `author` above round `after`, in round order.
    pub fn blocks_of_after(&self, author: u32, after: Round) -> Vec<BlockRef> {
        let mut refs: Vec<_> = self
            .index
            .keys()
            .filter(|r| r.author == author && r.round > after)
            .copied()
            .collect();
        refs.sort();
        refs
    }
}

#[cfg(test)]
mod tests;
