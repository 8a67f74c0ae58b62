//! The consensus core: owns the DAG, the commit rule, the proposer and the WAL. It is a
//! synchronous state machine; [`run`] drives it from channels.

mod byzantine;
mod proposer;
mod recovery;
mod sync;
#[cfg(test)]
mod sync_tests;
mod task;
#[cfg(test)]
mod tests;

pub use task::run;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
};

use anyhow::Result;
use ed25519_dalek::SigningKey;
use tokio::time::Instant;

use crate::{
    block::{BlockPtr, BlockRef, Round},
    byzantine::Behaviour,
    committee::{AuthorityIndex, Committee, StakeAggregator},
    committer::{linearize, CommitChain, Committer, SyncPoint},
    dag::{Accepted, BufferLimits, CausalBuffer, DagStore, DropReason},
    metrics::Metrics,
    network::{CatchUp, Source},
    parameters::{Parameters, WalSync},
    pool::TransactionPool,
    ratelimit::RateLimit,
    wal::{BlockLocation, Record, Retention, Wal},
};

/// Most suspended blocks kept in the causal buffer (shared equally by the authors).
const BUFFER_CAPACITY: usize = 5_000;

/// Blocks further above the highest stored round than the WAL retention (at least this
/// many rounds) are not kept: a validator that far behind cannot be served its gap anyway.
const MIN_ROUNDS_AHEAD: u64 = 1_000;

/// Most blocks of one (author, round) stored unless requested: the first, and one more as
/// evidence of equivocation. Others are stored only when a block we need references them.
const MAX_UNREQUESTED_SLOT_BLOCKS: usize = 2;

/// Most own blocks sent in answer to one subscription (the rest arrive by request).
const MAX_SUBSCRIBE_REPLY: usize = 256;

/// A committed leader with its sub-DAG, in commit order.
#[derive(Debug, Clone)]
pub struct CommittedSubDag {
    /// The committed leader.
    pub leader: BlockRef,
    /// Newly committed blocks, sorted by (round, author, digest); includes the leader.
    pub blocks: Vec<BlockPtr>,
    /// The committed sequence up to and including this commit.
    pub chain: CommitChain,
}

/// What the core asks its driver to do.
#[derive(Default)]
pub struct Effects {
    /// Own blocks to broadcast (already durable).
    pub broadcast: Vec<BlockPtr>,
    /// Blocks to send to one peer.
    pub replies: Vec<(AuthorityIndex, Vec<BlockPtr>)>,
    /// Catch-up for one peer, served outside the core (it may read the WAL).
    pub catch_up: Vec<(AuthorityIndex, CatchUp)>,
    /// References to request from one peer.
    pub requests: Vec<(AuthorityIndex, Vec<BlockRef>)>,
    /// New commits, in order.
    pub commits: Vec<CommittedSubDag>,
    /// Ask every peer for its recent sync points.
    pub sync_request: bool,
    /// Recent sync points to send one peer.
    pub sync_points: Vec<(AuthorityIndex, Vec<SyncPoint>)>,
}

/// Everything the core needs at start.
pub struct CoreConfig {
    /// This validator.
    pub authority: AuthorityIndex,
    /// The committee.
    pub committee: Arc<Committee>,
    /// Parameters.
    pub parameters: Parameters,
    /// Signing key.
    pub key: SigningKey,
    /// Pending transactions.
    pub pool: Arc<TransactionPool>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Highest stored round per author, read by the peer connections to subscribe.
    pub peer_rounds: Arc<Vec<AtomicU64>>,
    /// Per authority: whether our connection to it is up (set by the peer connections).
    pub connected: Arc<Vec<AtomicBool>>,
    /// Tests of the safety audit only: from this commit index on, hand out every committed
    /// sub-DAG in reverse order, so this validator's committed sequence forks from the others'.
    pub plant_fork_at: Option<u64>,
    /// A Byzantine behaviour (benchmarks only).
    pub byzantine: Option<Behaviour>,
}

/// The consensus state of one validator.
pub struct Core {
    authority: AuthorityIndex,
    committee: Arc<Committee>,
    params: Parameters,
    key: SigningKey,
    pool: Arc<TransactionPool>,
    metrics: Arc<Metrics>,
    peer_rounds: Arc<Vec<AtomicU64>>,
    connected: Arc<Vec<AtomicBool>>,
    byzantine: Option<Behaviour>,
    wal: Wal,
    dag: DagStore,
    buffer: CausalBuffer,
    committer: Committer,
    /// Threshold clock: the round we may propose at.
    clock_round: Round,
    round_stake: BTreeMap<Round, StakeAggregator>,
    round_started: Instant,
    last_own: Option<BlockRef>,
    last_own_round: Round,
    last_proposal: Option<Instant>,
    /// Stored blocks no own block references yet (all blocks of an equivocating slot until
    /// one of them is referenced).
    pending_refs: BTreeSet<BlockRef>,
    /// (round, author) slots an own block references: other blocks of them never are.
    referenced_slots: BTreeSet<(Round, AuthorityIndex)>,
    equivocation_log: RateLimit,
    invalid_log: RateLimit,
    last_committed_round: Round,
    /// The committed sequence so far (restored from the WAL after a restart).
    chain: CommitChain,
    plant_fork_at: Option<u64>,
    requested: HashMap<BlockRef, Instant>,
    last_retry: Instant,
    /// Per authority: it let a wait for its leader block time out and has not led a round
    /// in time since, so it is not waited for (waiting is local: safety does not depend on it).
    leader_missed: Vec<bool>,
    /// A late leader (benchmarks only): the round it holds its block back in, and since when.
    late_since: Option<(Round, Instant)>,
    /// Sync points: our recent ones, and rejoining from the peers' ones.
    sync: sync::SyncState,
}

impl Core {
    /// Builds the core and replays the WAL `records`.
    pub fn new(config: CoreConfig, wal: Wal, records: Vec<Record>) -> Result<Self> {
        let committee = config.committee;
        let params = config.parameters;
        let now = Instant::now();
        let leader_missed = vec![false; committee.size()];
        let committee_size = committee.size();
        let mut core = Self {
            authority: config.authority,
            dag: DagStore::new(&committee, params.retention_rounds),
            buffer: CausalBuffer::new(BufferLimits::new(
                committee.size(),
                BUFFER_CAPACITY,
                params.wal_retention_rounds.max(MIN_ROUNDS_AHEAD),
            )),
            committer: Committer::new(
                committee.clone(),
                params.wave_length,
                params.leaders_per_round,
                params.reputation_window,
            ),
            committee,
            params,
            key: config.key,
            pool: config.pool,
            metrics: config.metrics,
            peer_rounds: config.peer_rounds,
            connected: config.connected,
            byzantine: config.byzantine,
            wal,
            clock_round: 1,
            round_stake: BTreeMap::new(),
            round_started: now,
            last_own: None,
            last_own_round: 0,
            last_proposal: None,
            pending_refs: BTreeSet::new(),
            referenced_slots: BTreeSet::new(),
            equivocation_log: RateLimit::default(),
            invalid_log: RateLimit::default(),
            last_committed_round: 0,
            chain: CommitChain::default(),
            plant_fork_at: config.plant_fork_at,
            requested: HashMap::new(),
            last_retry: now,
            leader_missed,
            late_since: None,
            sync: sync::SyncState::new(committee_size),
        };
        for (a, _) in core.committee.clone().authorities() {
            let genesis = crate::block::Block::genesis(a).reference();
            if a == core.authority {
                core.last_own = Some(genesis);
            } else {
                core.pending_refs.insert(genesis);
            }
        }
        core.recover(records)?;
        Ok(core)
    }

    /// The threshold-clock round.
    pub fn clock_round(&self) -> Round {
        self.clock_round
    }

    /// Highest round this validator signed.
    pub fn last_own_round(&self) -> Round {
        self.last_own_round
    }

    /// Round of the last committed leader.
    pub fn last_committed_round(&self) -> Round {
        self.last_committed_round
    }

    /// The committed sequence so far.
    pub fn commit_chain(&self) -> CommitChain {
        self.chain
    }

    /// Tests of the explorer only (`node explore --plant-unsafe-rule`): an unsafe commit
    /// rule, see [`Committer::plant_weak_quorum`].
    pub fn plant_unsafe_rule(&mut self) {
        self.committer.plant_weak_quorum();
    }

    /// Handles a verified block from `from`.
    pub fn add_peer_block(
        &mut self,
        from: AuthorityIndex,
        block: BlockPtr,
        fx: &mut Effects,
    ) -> Result<()> {
        let r = block.reference();
        self.sync.saw(r.author, r.round);
        if self.dag.contains(&r) || self.buffer.contains(&r) || r.round < self.dag.gc_round() {
            return Ok(());
        }
        if let Some(old) = block
            .includes()
            .iter()
            .find(|i| i.round.saturating_add(self.params.retention_rounds) < r.round)
        {
            // Every validator applies this rule alike: honest blocks never reference blocks
            // that far back (see `select_includes`).
            self.metrics.invalid_blocks.inc();
            if let Some(suppressed) = self.invalid_log.check() {
                tracing::warn!(
                    peer = from,
                    suppressed,
                    "invalid block {r:?} dropped: it references {old:?}, more than \
                     retention_rounds ({}) below its round",
                    self.params.retention_rounds
                );
            }
            return Ok(());
        }
        let variants = self.dag.slot_len(r.round, r.author);
        if variants >= MAX_UNREQUESTED_SLOT_BLOCKS && !self.requested.contains_key(&r) {
            self.note_equivocation(&r, variants + 1);
            self.metrics
                .dropped_blocks
                .with_label_values(&[DropReason::Equivocation.label()])
                .inc();
            return Ok(());
        }
        self.metrics.blocks_received.inc();
        let mut accepted = Accepted::default();
        self.buffer.add(&mut self.dag, block, &mut accepted);
        self.log_received(&accepted.blocks)?;
        self.on_accepted(accepted, Some(from), fx);
        Ok(())
    }

    /// Logs blocks from peers as they join the DAG (in causal order), before anything acts
    /// on them. Blocks still waiting for ancestors are not logged: a crash loses them and
    /// they are fetched again.
    fn log_received(&mut self, blocks: &[BlockPtr]) -> Result<()> {
        for b in blocks {
            let bytes = self.wal.append(&Record::Block(b.clone()))?;
            self.metrics.wal_bytes.inc_by(bytes as u64);
        }
        if !blocks.is_empty() && self.params.wal_sync == WalSync::Always {
            self.sync_wal()?;
        }
        Ok(())
    }

    /// Evidence of equivocation: counted, and logged (rate-limited) naming author and round.
    fn note_equivocation(&mut self, r: &BlockRef, blocks: usize) {
        self.metrics.equivocations.inc();
        if let Some(suppressed) = self.equivocation_log.check() {
            tracing::warn!(
                author = r.author,
                round = r.round,
                blocks,
                suppressed,
                "equivocation: authority {} signed {blocks} blocks for round {} (kept as \
                 evidence, at most one is ever referenced)",
                r.author,
                r.round
            );
        }
    }

    /// Marks the slots of `refs` as referenced by an own block: no other block of them
    /// will be.
    fn mark_referenced(&mut self, refs: &[BlockRef]) {
        for r in refs {
            if self.referenced_slots.insert((r.round, r.author)) {
                let slot = self
                    .pending_refs
                    .range(
                        BlockRef {
                            round: r.round,
                            author: r.author,
                            digest: [0; 32],
                        }..=BlockRef {
                            round: r.round,
                            author: r.author,
                            digest: [u8::MAX; 32],
                        },
                    )
                    .copied()
                    .collect::<Vec<_>>();
                for p in slot {
                    self.pending_refs.remove(&p);
                }
            }
        }
    }

    /// Bookkeeping for newly stored blocks; requests what is missing from `from`.
    fn on_accepted(&mut self, accepted: Accepted, from: Option<AuthorityIndex>, fx: &mut Effects) {
        let now = Instant::now();
        let quorum = self.committee.quorum_threshold();
        for (_, reason) in &accepted.dropped {
            self.metrics
                .dropped_blocks
                .with_label_values(&[reason.label()])
                .inc();
        }
        for b in &accepted.blocks {
            let r = b.reference();
            self.requested.remove(&r);
            let variants = self.dag.slot_len(r.round, r.author);
            if variants > 1 {
                self.note_equivocation(&r, variants);
            }
            if r.author == self.authority {
                self.last_own_round = self.last_own_round.max(r.round);
            } else if !self.referenced_slots.contains(&(r.round, r.author)) {
                self.pending_refs.insert(r);
            }
            if let Some(a) = self.peer_rounds.get(r.author as usize) {
                a.fetch_max(r.round, Ordering::Relaxed);
            }
            let stake = self
                .round_stake
                .entry(r.round)
                .or_default()
                .add(r.author, &self.committee);
            if stake >= quorum && r.round + 1 > self.clock_round {
                self.clock_round = r.round + 1;
                self.round_started = now;
                self.metrics.current_round.set(self.clock_round as i64);
            }
        }
        if !accepted.missing.is_empty() {
            let mut wanted = Vec::new();
            for r in accepted.missing {
                if r.author == self.authority && from.is_none() {
                    continue;
                }
                self.requested.insert(r, now);
                wanted.push(r);
            }
            if let Some(peer) = from {
                self.request(peer, wanted, fx);
            }
        }
        self.metrics.suspended_blocks.set(self.buffer.len() as i64);
    }

    fn request(&mut self, peer: AuthorityIndex, refs: Vec<BlockRef>, fx: &mut Effects) {
        for chunk in refs.chunks(self.params.missing_request_batch) {
            self.metrics
                .missing_block_requests
                .inc_by(chunk.len() as u64);
            fx.requests.push((peer, chunk.to_vec()));
        }
    }

    /// A peer subscribed to our blocks above `after`.
    pub fn subscribe(&mut self, from: AuthorityIndex, after: Round, fx: &mut Effects) {
        if !self.serves(from) {
            return;
        }
        let mut sources = Vec::new();
        if after.saturating_add(1) < self.dag.gc_round() {
            for r in self.wal.blocks_of_after(self.authority, after) {
                if r.round >= self.dag.gc_round() || sources.len() >= MAX_SUBSCRIBE_REPLY {
                    break;
                }
                if let Some(location) = self.locate(&r) {
                    sources.push(Source::Logged(r, location));
                }
            }
        }
        let room = MAX_SUBSCRIBE_REPLY.saturating_sub(sources.len());
        sources.extend(
            self.dag
                .blocks_of_after(self.authority, after)
                .into_iter()
                .take(room)
                .map(Source::Stored),
        );
        if !sources.is_empty() {
            fx.catch_up.push((from, CatchUp(sources)));
        }
    }

    /// Where a block pruned from memory is in the WAL, if it is still on disk.
    fn locate(&mut self, r: &BlockRef) -> Option<BlockLocation> {
        match self.wal.locate(r) {
            Ok(location) => location,
            Err(e) => {
                tracing::warn!("cannot locate {r:?} in the WAL: {e:#}");
                None
            }
        }
    }

    /// A peer asked for blocks: those in memory go out at once, those only in the WAL are
    /// read by the peer's catch-up server.
    pub fn answer_request(&mut self, from: AuthorityIndex, refs: &[BlockRef], fx: &mut Effects) {
        if !self.serves(from) {
            return;
        }
        let mut blocks = Vec::new();
        let mut logged = Vec::new();
        for r in refs.iter().take(self.params.missing_request_batch * 4) {
            if r.round == 0 {
                continue;
            }
            if let Some(b) = self.dag.get(r) {
                blocks.push(b.clone());
            } else if let Some(location) = self.locate(r) {
                logged.push(Source::Logged(*r, location));
            }
        }
        if !blocks.is_empty() {
            fx.replies.push((from, blocks));
        }
        if !logged.is_empty() {
            fx.catch_up.push((from, CatchUp(logged)));
        }
    }

    /// Re-requests blocks still missing after the retry interval, from their authors.
    fn retry_missing(&mut self, now: Instant, fx: &mut Effects) {
        let retry = std::time::Duration::from_millis(self.params.missing_retry_ms);
        if now.duration_since(self.last_retry) < retry {
            return;
        }
        self.last_retry = now;
        let mut per_peer: BTreeMap<AuthorityIndex, Vec<BlockRef>> = BTreeMap::new();
        let n = self.committee.size() as u64;
        let mut missing = self.buffer.missing();
        // In order: the requests must not depend on the hash map's (per-process) order.
        missing.sort_unstable();
        // Only what is still missing is remembered: the buffer bounds that.
        let wanted: std::collections::HashSet<BlockRef> = missing.iter().copied().collect();
        self.requested.retain(|r, _| wanted.contains(r));
        for r in missing {
            let last = self.requested.get(&r).copied();
            if last.is_some_and(|t| now.duration_since(t) < retry) {
                continue;
            }
            // Ask the author first, then rotate through the others on later retries.
            let attempt = if last.is_some() {
                crate::world::random_u64()
            } else {
                0
            };
            let mut peer = ((r.author as u64).wrapping_add(attempt) % n) as AuthorityIndex;
            if peer == self.authority {
                peer = ((peer as u64 + 1) % n) as AuthorityIndex;
            }
            self.requested.insert(r, now);
            per_peer.entry(peer).or_default().push(r);
        }
        for (peer, refs) in per_peer {
            self.request(peer, refs, fx);
        }
    }

    /// Runs the commit rule and emits committed sub-DAGs.
    fn try_commit(&mut self, fx: &mut Effects) -> Result<()> {
        let decisions = self.committer.try_decide(&self.dag);
        if decisions.is_empty() {
            return Ok(());
        }
        for d in decisions {
            self.metrics
                .committed_leaders
                .with_label_values(&[d.kind.label()])
                .inc();
            let mut committed = Vec::new();
            if let Some(leader) = &d.block {
                let cutoff = self.gc_round_for(self.last_committed_round);
                let mut blocks = linearize(&mut self.dag, leader, cutoff);
                if self
                    .plant_fork_at
                    .is_some_and(|at| self.chain.index + 1 >= at)
                {
                    blocks.reverse();
                }
                committed = blocks.iter().map(|b| b.reference()).collect();
                self.last_committed_round = leader.round();
                self.chain.extend(&leader.reference(), &committed);
                self.note_sync_point(d.slot, leader.reference(), d.schedule);
                fx.commits.push(CommittedSubDag {
                    leader: leader.reference(),
                    blocks,
                    chain: self.chain,
                });
            }
            let bytes = self.wal.append(&Record::Decision {
                slot: d.slot,
                kind: d.kind,
                leader: d.block.as_ref().map(|b| b.reference()),
                committed,
            })?;
            self.metrics.wal_bytes.inc_by(bytes as u64);
        }
        self.metrics
            .last_committed_round
            .set(self.last_committed_round as i64);
        self.metrics.commit_index.set(self.chain.index as i64);
        self.prune(fx, true)
    }

    fn gc_round_for(&self, committed_round: Round) -> Round {
        committed_round.saturating_sub(self.params.retention_rounds)
    }

    /// Drops rounds below the gc round; blocks that were waiting only for those rounds join
    /// the DAG (and are logged if `log`, i.e. unless they come from the WAL itself).
    fn prune(&mut self, fx: &mut Effects, log: bool) -> Result<()> {
        let gc = self.gc_round_for(self.last_committed_round);
        if gc <= self.dag.gc_round() {
            return Ok(());
        }
        self.dag.prune(gc);
        let mut accepted = Accepted::default();
        self.buffer.on_prune(&mut self.dag, &mut accepted);
        if log {
            self.log_received(&accepted.blocks)?;
        }
        self.on_accepted(accepted, None, fx);
        self.pending_refs = self.pending_refs.split_off(&BlockRef {
            round: gc,
            author: 0,
            digest: [0; 32],
        });
        self.round_stake = self.round_stake.split_off(&gc);
        self.referenced_slots = self.referenced_slots.split_off(&(gc, 0));
        Ok(())
    }

    /// Periodic work: propose, commit, retry requests, rotate the WAL.
    pub fn tick(&mut self, fx: &mut Effects) -> Result<()> {
        let now = Instant::now();
        self.try_commit(fx)?;
        self.try_propose(now, fx)?;
        self.try_commit(fx)?;
        self.retry_missing(now, fx);
        self.ask_for_sync_points(now, fx);
        if self.wal.should_rotate() {
            let checkpoint = Record::Checkpoint {
                last_decided: self.committer.last_decided(),
                last_committed_round: self.last_committed_round,
                last_own_round: self.last_own_round,
                committed: self.dag.committed_refs(),
                chain: self.chain,
                schedule: self.committer.schedule_state().clone(),
            };
            let gc = self.dag.gc_round();
            let retention = Retention {
                keep_round: gc.saturating_sub(self.params.wal_retention_rounds),
                max_bytes: self.params.wal_retention_bytes,
                needed_round: gc,
            };
            self.wal.rotate(&checkpoint, retention)?;
        }
        Ok(())
    }

    /// Hands buffered WAL records to the OS.
    pub fn flush_wal(&mut self) -> Result<()> {
        let started = std::time::Instant::now();
        self.wal.flush()?;
        self.metrics
            .wal_write_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Flushes and fsyncs the WAL.
    pub fn sync_wal(&mut self) -> Result<()> {
        self.flush_wal()?;
        let started = std::time::Instant::now();
        self.wal.sync()?;
        self.metrics
            .wal_sync_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// When the core should run [`Core::tick`] next without new input.
    pub fn next_wakeup(&self, now: Instant) -> Instant {
        let mut wake =
            now + std::time::Duration::from_millis(self.params.missing_retry_ms.min(200));
        let round = self.proposal_round();
        if round > self.last_own_round {
            let earliest = match self.last_proposal {
                Some(t) if !self.is_leader(round) => t + self.params.min_round_delay(),
                _ => now,
            };
            let mut ready = if self.leaders_ready(round) {
                earliest
            } else {
                earliest.max(self.round_started + self.params.leader_timeout())
            };
            if let Some(until) = self.late_until(round) {
                ready = ready.max(until);
            }
            wake = wake.min(ready);
        }
        wake
    }
}
