//! Protocol and runtime parameters (`parameters.json`); every field has a default.

use std::{path::Path, time::Duration};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// When the write-ahead log is fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WalSync {
    /// Before every own block is broadcast (needed to never equivocate after a crash).
    OwnBlocks,
    /// After every record (slow; for experiments).
    Always,
    /// Only when a segment is full and at a clean stop: a crash of the process loses
    /// nothing written, a crash of the machine may (the simulator, whose crashes are
    /// process crashes).
    Never,
}

/// Tunable parameters of a validator.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Parameters {
    /// Wave length w: leader round r, voting round r+w-2, decision round r+w-1.
    pub wave_length: u64,
    /// Leaders elected per round.
    pub leaders_per_round: usize,
    /// Wait for the leaders of the previous round before proposing.
    pub leader_wait: bool,
    /// How long to wait for a leader before proposing anyway.
    pub leader_timeout_ms: u64,
    /// Commits between two updates of the leader schedule from the validators' records
    /// (leader reputation, `src/committer/schedule.rs`); 0 keeps plain round robin. Every
    /// validator must use the same value.
    pub reputation_window: u64,
    /// Minimum time between two own proposals.
    pub min_round_delay_ms: u64,
    /// Cap on the transaction payload of one block.
    pub max_block_bytes: usize,
    /// Cap on transactions waiting to be proposed (backpressure on the load generator).
    pub max_pending_bytes: usize,
    /// Rounds kept below the last committed leader round before pruning.
    pub retention_rounds: u64,
    /// Rounds of WAL kept on disk below the last committed round, to serve lagging peers.
    pub wal_retention_rounds: u64,
    /// Cap on the bytes of those older WAL segments (the oldest go first; segments that a
    /// restart needs are always kept).
    pub wal_retention_bytes: u64,
    /// WAL fsync policy.
    pub wal_sync: WalSync,
    /// Size at which the WAL starts a new segment file.
    pub wal_segment_bytes: u64,
    /// Messages queued per peer before new ones are dropped.
    pub peer_queue_capacity: usize,
    /// Most block references in one missing-block request.
    pub missing_request_batch: usize,
    /// How often unanswered missing-block requests are retried.
    pub missing_retry_ms: u64,
    /// Interval at which the load generator submits a batch.
    pub load_interval_ms: u64,
    /// Time an inbound connection has to complete the peer authentication.
    pub handshake_timeout_ms: u64,
    /// An authenticated connection on which nothing arrives for this long is closed; a
    /// dialer with nothing to send pings after a sixth of it.
    pub idle_timeout_ms: u64,
}

impl Default for Parameters {
    fn default() -> Self {
        Self {
            wave_length: 3,
            leaders_per_round: 1,
            leader_wait: true,
            leader_timeout_ms: 1000,
            reputation_window: 20,
            min_round_delay_ms: 25,
            max_block_bytes: 2 * 1024 * 1024,
            max_pending_bytes: 32 * 1024 * 1024,
            retention_rounds: 50,
            wal_retention_rounds: 3000,
            wal_retention_bytes: 1024 * 1024 * 1024,
            wal_sync: WalSync::OwnBlocks,
            wal_segment_bytes: 64 * 1024 * 1024,
            peer_queue_capacity: 2048,
            missing_request_batch: 64,
            missing_retry_ms: 500,
            load_interval_ms: 10,
            handshake_timeout_ms: 5_000,
            idle_timeout_ms: 30_000,
        }
    }
}

impl Parameters {
    /// Reads and validates `parameters.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read parameters file {}", path.display()))?;
        let parameters: Parameters = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid parameters file", path.display()))?;
        parameters
            .validate()
            .with_context(|| format!("invalid parameters in {}", path.display()))?;
        Ok(parameters)
    }

    /// Checks ranges; names the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.wave_length < 3 {
            bail!("wave_length must be >= 3 (got {})", self.wave_length);
        }
        if self.leaders_per_round == 0 {
            bail!("leaders_per_round must be >= 1");
        }
        if self.max_block_bytes < 1024 {
            bail!("max_block_bytes must be >= 1024");
        }
        if self.max_pending_bytes < self.max_block_bytes {
            bail!("max_pending_bytes must be >= max_block_bytes");
        }
        if self.retention_rounds < self.wave_length * 2 {
            bail!("retention_rounds must be >= 2 * wave_length");
        }
        if self.peer_queue_capacity == 0 || self.missing_request_batch == 0 {
            bail!("peer_queue_capacity and missing_request_batch must be > 0");
        }
        if self.load_interval_ms == 0 {
            bail!("load_interval_ms must be > 0");
        }
        if self.handshake_timeout_ms == 0 {
            bail!("handshake_timeout_ms must be > 0");
        }
        if self.idle_timeout_ms < 600 {
            bail!(
                "idle_timeout_ms must be >= 600 (got {})",
                self.idle_timeout_ms
            );
        }
        Ok(())
    }

    /// Leader timeout as a duration.
    pub fn leader_timeout(&self) -> Duration {
        Duration::from_millis(self.leader_timeout_ms)
    }

    /// Minimum round delay as a duration.
    pub fn min_round_delay(&self) -> Duration {
        Duration::from_millis(self.min_round_delay_ms)
    }

    /// Time an inbound connection has to authenticate.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    /// Silence after which an authenticated connection is closed.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// Silence after which a dialer sends a ping: well inside the idle timeout.
    pub fn keepalive_interval(&self) -> Duration {
        self.idle_timeout() / 6
    }

    /// Largest network frame accepted: a full block plus headroom for references.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_block_bytes + 1024 * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_file_takes_defaults() {
        let p: Parameters = serde_json::from_str(r#"{"wave_length": 5}"#).expect("parse");
        assert_eq!(p.wave_length, 5);
        assert_eq!(p.leaders_per_round, 1);
        p.validate().expect("valid");
    }

    #[test]
    fn validation_names_the_field() {
        let p = Parameters {
            wave_length: 2,
            ..Parameters::default()
        };
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("wave_length"));
    }
}
