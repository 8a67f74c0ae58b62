//! Write-ahead log: checksummed frames in numbered segment files.

mod frame;
mod record;

pub use frame::{decode_frames, encode_frame, FrameError};
pub use record::Record;

use std::{
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use bytes::Bytes;

use crate::block::{BlockRef, Round};

/// Where a block's bytes live: segment, offset, length.
type Location = (u64, u64, u32);

const BUFFER_FLUSH_BYTES: usize = 1 << 20;

/// The WAL of one validator.
pub struct Wal {
    dir: PathBuf,
    file: File,
    segment: u64,
    segment_size: u64,
    segment_limit: u64,
    buffer: Vec<u8>,
    max_round: BTreeMap<u64, Round>,
    index: std::collections::HashMap<BlockRef, Location>,
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

impl Wal {
    /// Opens the WAL in `dir` and returns every intact record in write order. A corrupted
    /// or torn tail is logged and truncated away.
    pub fn open(dir: &Path, segment_limit: u64) -> Result<(Self, Vec<Record>)> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create storage directory {}", dir.display()))?;
        let ids = list_segments(dir)?;
        let mut records = Vec::new();
        let mut max_round = BTreeMap::new();
        let mut index = std::collections::HashMap::new();
        for id in &ids {
            let path = segment_path(dir, *id);
            let data =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let (payloads, valid, error) = decode_frames(&data);
            let mut good = valid;
            let mut highest = 0;
            for (offset, payload) in payloads {
                match Record::decode(payload) {
                    Ok(r) => {
                        highest = highest.max(r.block_round().unwrap_or(0));
                        if let Some(b) = r.block() {
                            let at = (offset + frame::FRAME_HEADER + 1) as u64;
                            index.insert(b.reference(), (*id, at, b.serialized().len() as u32));
                        }
                        records.push(r);
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), offset, "undecodable WAL record: {e}");
                        good = offset;
                        break;
                    }
                }
            }
            if let Some(e) = error {
                tracing::warn!(file = %path.display(), offset = valid, "WAL tail is corrupted ({e}): truncating");
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
            max_round.insert(*id, highest);
        }
        let segment = ids.last().copied().unwrap_or(0);
        let path = segment_path(dir, segment);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open WAL segment {}", path.display()))?;
        let segment_size = file.metadata()?.len();
        max_round.entry(segment).or_insert(0);
        Ok((
            Self {
                dir: dir.to_path_buf(),
                file,
                segment,
                segment_size,
                segment_limit,
                buffer: Vec::with_capacity(BUFFER_FLUSH_BYTES * 2),
                max_round,
                index,
            },
            records,
        ))
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
        if let Some(round) = record.block_round() {
            let m = self.max_round.entry(self.segment).or_insert(0);
            *m = (*m).max(round);
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

    /// Flushes and fsyncs.
    pub fn sync(&mut self) -> Result<()> {
        self.flush()?;
        self.file.sync_data().context("cannot fsync the WAL")
    }

    /// Whether the current segment is over its size limit.
    pub fn should_rotate(&self) -> bool {
        self.segment_size >= self.segment_limit
    }

    /// Starts a new segment beginning with `checkpoint` and deletes old segments holding
    /// only blocks below `keep_round`.
    pub fn rotate(&mut self, checkpoint: &Record, keep_round: Round) -> Result<()> {
        let gc_round = keep_round;
        self.sync()?;
        self.segment += 1;
        let path = segment_path(&self.dir, self.segment);
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot create WAL segment {}", path.display()))?;
        self.segment_size = 0;
        self.max_round.insert(self.segment, 0);
        self.append(checkpoint)?;
        self.sync()?;
        while let Some((&id, &round)) = self.max_round.first_key_value() {
            if id == self.segment || round >= gc_round {
                break;
            }
            let old = segment_path(&self.dir, id);
            std::fs::remove_file(&old)
                .with_context(|| format!("cannot delete old WAL segment {}", old.display()))?;
            self.max_round.remove(&id);
            self.index.retain(|_, loc| loc.0 != id);
        }
        Ok(())
    }

    /// Reads a logged block back from disk (to serve peers that lag behind the DAG window).
    pub fn read_block(&mut self, r: &BlockRef) -> Result<Option<Bytes>> {
        use std::os::unix::fs::FileExt;
        let Some(&(segment, offset, len)) = self.index.get(r) else {
            return Ok(None);
        };
        self.flush()?;
        let path = segment_path(&self.dir, segment);
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, offset)
            .with_context(|| format!("cannot read a block from {}", path.display()))?;
        Ok(Some(Bytes::from(buf)))
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
