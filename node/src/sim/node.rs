//! One simulated validator: the node's real [`Core`] with its WAL, pool, metrics, load
//! generator and commit accounting, started (or restarted from its WAL) and crashed by the
//! simulator.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::{Context, Result};
use ed25519_dalek::SigningKey;

use crate::{
    byzantine::Behaviour,
    commit_log::CommitLog,
    committee::{AuthorityIndex, Committee},
    committer::CommitChain,
    core::{CommittedSubDag, Core, CoreConfig, Effects},
    loadgen::{Generator, LoadConfig},
    metrics::Metrics,
    observer,
    parameters::Parameters,
    pool::TransactionPool,
    wal::{Owner, Wal},
};

/// One commit as the safety check sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitEntry {
    /// The commit chain after it (index and hash).
    pub chain: CommitChain,
    /// The committed leader's round.
    pub leader_round: u64,
    /// The committed leader's author.
    pub leader_author: AuthorityIndex,
}

/// A validator's process while it runs.
pub(super) struct Running {
    /// The consensus core.
    pub(super) core: Core,
    /// Its metrics registry (a new one per start, as a new process has).
    pub(super) metrics: Arc<Metrics>,
    /// Pending transactions.
    pub(super) pool: Arc<TransactionPool>,
    /// Per peer: whether our connection to it is up.
    pub(super) connected: Arc<Vec<AtomicBool>>,
    /// Highest round seen per peer (where a subscription resumes).
    pub(super) peer_rounds: Arc<Vec<AtomicU64>>,
    /// The load generator, if this validator gets load.
    pub(super) load: Option<Generator>,
    commit_log: Option<CommitLog>,
    /// Virtual time it started at (for `node_benchmark_duration_seconds`).
    pub(super) started: Duration,
    /// Uptime already counted in the metrics.
    pub(super) counted: Duration,
}

/// A simulated validator, running or down.
pub(super) struct SimNode {
    /// Its index.
    pub(super) index: AuthorityIndex,
    /// Its key.
    pub(super) key: SigningKey,
    /// Its Byzantine behaviour, if any.
    pub(super) byzantine: Option<Behaviour>,
    /// Its WAL directory.
    pub(super) storage: PathBuf,
    /// Where its commit log goes (None: kept in memory only).
    pub(super) commit_log: Option<PathBuf>,
    /// Its load (tx/s).
    pub(super) load: u64,
    /// Bumped at every start and crash: events of a previous life are dropped.
    pub(super) incarnation: u64,
    /// The process, while it runs.
    pub(super) running: Option<Running>,
    /// Every commit of every life, in order.
    pub(super) commits: Vec<CommitEntry>,
    /// The wake-up scheduled for the core (virtual nanoseconds), if any.
    pub(super) wake: Option<u64>,
    /// What the inputs since the last tick asked for; a tick is scheduled while it is set.
    pub(super) pending: Option<Effects>,
}

/// What every start needs besides the node.
pub(super) struct StartContext<'a> {
    /// The committee.
    pub(super) committee: &'a Arc<Committee>,
    /// Parameters.
    pub(super) parameters: &'a Parameters,
    /// Transaction size in bytes.
    pub(super) transaction_size: usize,
    /// Plant the explorer's unsafe rule.
    pub(super) unsafe_rule: bool,
    /// Virtual time now.
    pub(super) now: Duration,
}

impl SimNode {
    /// Starts the validator: replays its WAL into a new core, as `node run` does.
    pub(super) fn start(&mut self, ctx: &StartContext<'_>) -> Result<()> {
        let n = ctx.committee.size();
        let metrics = Arc::new(Metrics::new()?);
        let pool = Arc::new(TransactionPool::new(ctx.parameters.max_pending_bytes));
        let peer_rounds: Arc<Vec<AtomicU64>> =
            Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
        let connected: Arc<Vec<AtomicBool>> =
            Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
        let owner = Owner::new(ctx.committee, self.index, &self.key.verifying_key());
        let (wal, records) = Wal::open(&self.storage, ctx.parameters.wal_segment_bytes, owner)
            .with_context(|| format!("cannot open the WAL in {}", self.storage.display()))?;
        let mut core = Core::new(
            CoreConfig {
                authority: self.index,
                committee: ctx.committee.clone(),
                parameters: ctx.parameters.clone(),
                key: self.key.clone(),
                pool: pool.clone(),
                metrics: metrics.clone(),
                peer_rounds: peer_rounds.clone(),
                connected: connected.clone(),
                plant_fork_at: None,
                byzantine: self.byzantine,
            },
            wal,
            records,
        )
        .with_context(|| format!("validator {} cannot replay its WAL", self.index))?;
        if ctx.unsafe_rule {
            core.plant_unsafe_rule();
        }
        let load = (self.load > 0).then(|| {
            Generator::new(&LoadConfig {
                rate: self.load,
                transaction_size: ctx.transaction_size,
                interval: Duration::from_millis(ctx.parameters.load_interval_ms),
                max_batch_bytes: (ctx.parameters.max_block_bytes / 4).max(1024),
                authority: self.index,
            })
        });
        let commit_log = match &self.commit_log {
            Some(path) => Some(CommitLog::open(path)?),
            None => None,
        };
        self.incarnation += 1;
        self.wake = None;
        self.pending = None;
        self.running = Some(Running {
            core,
            metrics,
            pool,
            connected,
            peer_rounds,
            load,
            commit_log,
            started: ctx.now,
            counted: Duration::ZERO,
        });
        Ok(())
    }

    /// Crash: the process is gone at once (what it wrote to its WAL stays; the commit log
    /// gets no last line).
    pub(super) fn crash(&mut self) {
        self.running = None;
        self.incarnation += 1;
        self.wake = None;
        self.pending = None;
    }

    /// Clean stop at the end of the run: the WAL is synced and the commit log gets its
    /// last line.
    pub(super) fn stop(&mut self) -> Result<()> {
        if let Some(mut r) = self.running.take() {
            r.core.sync_wal()?;
            if let Some(log) = &mut r.commit_log {
                log.finish()?;
            }
        }
        Ok(())
    }

    /// Accounts for new commits as the node's commit observer does.
    pub(super) fn observe(&mut self, commits: impl Iterator<Item = CommittedSubDag>) {
        let Some(r) = &mut self.running else { return };
        for sub in commits {
            observer::observe(&sub, &r.metrics, None, &mut r.commit_log);
            self.commits.push(CommitEntry {
                chain: sub.chain,
                leader_round: sub.leader.round,
                leader_author: sub.leader.author,
            });
        }
    }

    /// Whether the process runs.
    pub(super) fn is_up(&self) -> bool {
        self.running.is_some()
    }

    /// Marks the connection to `peer` up or down.
    pub(super) fn set_connected(&self, peer: AuthorityIndex, up: bool) {
        if let Some(c) = self
            .running
            .as_ref()
            .and_then(|r| r.connected.get(peer as usize))
        {
            c.store(up, Ordering::Relaxed);
        }
    }

    /// The highest round of `peer` this validator holds (0 if down).
    pub(super) fn peer_round(&self, peer: AuthorityIndex) -> u64 {
        self.running
            .as_ref()
            .and_then(|r| r.peer_rounds.get(peer as usize))
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// The last commit index (0 before any).
    pub(super) fn commit_index(&self) -> u64 {
        self.commits.last().map_or(0, |c| c.chain.index)
    }
}
