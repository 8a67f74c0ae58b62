//! The commit chain file: an append-only CSV sampling this validator's committed sequence, so
//! that a benchmark can check afterwards that every validator committed the same one.
//!
//! One line per sampled commit, `index,leader_round,leader_author,chain` (the
//! [`CommitChain`] after that commit, hex): every [`SAMPLE_INTERVAL`]-th commit index, plus
//! the last commit when the validator stops cleanly. A restarted validator appends to the same
//! file; its indices continue from the ones it recovered from its WAL.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::{block::BlockRef, committer::CommitChain};

/// Commit indices that are multiples of this are written.
pub const SAMPLE_INTERVAL: u64 = 10;

/// The file's header line.
pub const HEADER: &str = "index,leader_round,leader_author,chain";

/// An open commit chain file.
pub struct CommitLog {
    file: File,
    path: PathBuf,
    /// The last commit seen and whether it is written.
    last: Option<(String, bool)>,
}

impl CommitLog {
    /// Opens `path` for appending, writing the header if the file is new or empty.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the commit log {}", path.display()))?;
        let empty = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?
            .len()
            == 0;
        if empty {
            file.write_all(format!("{HEADER}\n").as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
            last: None,
        })
    }

    /// Notes a commit; writes it when its index is a sample.
    pub fn record(&mut self, leader: &BlockRef, chain: &CommitChain) -> Result<()> {
        let line = format!(
            "{},{},{},{}\n",
            chain.index,
            leader.round,
            leader.author,
            chain.hex()
        );
        let sample = chain.index.is_multiple_of(SAMPLE_INTERVAL);
        if sample {
            self.write(&line)?;
        }
        self.last = Some((line, sample));
        Ok(())
    }

    /// Writes the last commit if it is not written yet (at a clean stop).
    pub fn finish(&mut self) -> Result<()> {
        if let Some((line, false)) = self.last.take() {
            self.write(&line)?;
        }
        Ok(())
    }

    /// One `write` per line, so a crash leaves whole lines (at worst a torn last one).
    fn write(&mut self, line: &str) -> Result<()> {
        self.file
            .write_all(line.as_bytes())
            .with_context(|| format!("cannot write the commit log {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(chain: &mut CommitChain, round: u64) -> BlockRef {
        let leader = BlockRef {
            round,
            author: (round % 4) as u32,
            digest: [round as u8; 32],
        };
        chain.extend(&leader, &[leader]);
        leader
    }

    #[test]
    fn samples_every_interval_and_the_last_commit_and_appends_after_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("commits.csv");
        let mut chain = CommitChain::default();
        let mut log = CommitLog::open(&path).expect("open");
        let mut at_ten = None;
        for round in 1..=13 {
            let leader = commit(&mut chain, round);
            log.record(&leader, &chain).expect("record");
            if chain.index == 10 {
                at_ten = Some(chain);
            }
        }
        log.finish().expect("finish");
        drop(log);
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        let at_ten = at_ten.expect("commit 10");
        assert_eq!(
            lines,
            vec![
                HEADER.to_string(),
                format!("10,10,2,{}", at_ten.hex()),
                format!("13,13,1,{}", chain.hex()),
            ]
        );

        // A restart appends without a second header; a finish right after a sample adds
        // nothing.
        let mut log = CommitLog::open(&path).expect("reopen");
        for round in 14..=20 {
            let leader = commit(&mut chain, round);
            log.record(&leader, &chain).expect("record");
        }
        log.finish().expect("finish");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 4);
        assert_eq!(text.matches(HEADER).count(), 1);
        assert!(text.ends_with(&format!("20,20,0,{}\n", chain.hex())));
    }

    #[test]
    fn an_unwritable_path_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("missing-dir/commits.csv");
        let err = CommitLog::open(&path).err().expect("no directory");
        assert!(err.to_string().contains("missing-dir"), "{err}");
    }
}
