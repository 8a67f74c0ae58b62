//! Rejoining after a long absence: a validator whose peers are further ahead than they can
//! serve block by block asks them for their recent sync points, installs the most recent one
//! that validators holding validity stake report identically (so at least one honest validator
//! vouches for it), fetches the committed blocks of its window and follows live from there.
//! Every validator keeps its own recent sync points to answer such requests.

use std::collections::{BTreeMap, VecDeque};

use anyhow::Result;
use tokio::time::{Duration, Instant};

use super::{Core, Effects};
use crate::{
    block::{BlockRef, Round},
    committee::{AuthorityIndex, StakeAggregator},
    committer::{ScheduleState, Slot, SyncPoint, SYNC_POINT_INTERVAL},
    network::MAX_SYNC_POINTS,
    wal::Record,
};

/// Recent sync points kept (and sent in one answer).
const KEPT_SYNC_POINTS: usize = 4;

/// Least time between two answers to one peer's sync requests.
const ANSWER_INTERVAL: Duration = Duration::from_millis(500);

/// Least time between two sync requests of this validator.
const ASK_INTERVAL: Duration = Duration::from_secs(1);

/// After a jump, how long the validator catches up before it may ask again.
const SETTLE_TIME: Duration = Duration::from_secs(5);

const _: () = assert!(KEPT_SYNC_POINTS <= MAX_SYNC_POINTS);

/// What the core knows and remembers about sync points.
pub(super) struct SyncState {
    /// This validator's recent sync points, oldest first.
    recent: VecDeque<SyncPoint>,
    /// Per peer: when its last sync request was answered.
    answered: Vec<Option<Instant>>,
    /// Per author: the highest round of its blocks seen (verified, stored or not).
    seen_rounds: Vec<Round>,
    /// When this validator last asked for sync points.
    asked: Option<Instant>,
    /// Answers to the current request, per peer.
    answers: BTreeMap<AuthorityIndex, Vec<SyncPoint>>,
    /// When this validator last installed a sync point.
    installed: Option<Instant>,
}

impl SyncState {
    /// Nothing known for a committee of `n`.
    pub(super) fn new(n: usize) -> Self {
        Self {
            recent: VecDeque::new(),
            answered: vec![None; n],
            seen_rounds: vec![0; n],
            asked: None,
            answers: BTreeMap::new(),
            installed: None,
        }
    }

    /// Notes a verified block of `author` at `round`.
    pub(super) fn saw(&mut self, author: AuthorityIndex, round: Round) {
        if let Some(r) = self.seen_rounds.get_mut(author as usize) {
            *r = (*r).max(round);
        }
    }
}

impl Core {
    /// Rounds peers may be ahead of this validator's highest stored or committed round before
    /// block-by-block catch-up is given up: beyond this, they no longer hold what it misses
    /// (in memory `retention_rounds`, in their WALs `wal_retention_rounds` more).
    fn sync_lag(&self) -> Round {
        self.params
            .retention_rounds
            .saturating_add(self.params.wal_retention_rounds)
    }

    /// Whether validators holding validity stake showed blocks further ahead than
    /// [`Core::sync_lag`].
    fn far_behind(&self) -> bool {
        let base = self.dag.highest_round().max(self.last_committed_round);
        let horizon = base.saturating_add(self.sync_lag());
        let mut ahead = StakeAggregator::default();
        for (a, round) in self.sync.seen_rounds.iter().enumerate() {
            let a = a as AuthorityIndex;
            if a != self.authority && *round > horizon {
                ahead.add(a, &self.committee);
            }
        }
        ahead.stake() >= self.committee.validity_threshold()
    }

    /// Asks every peer for sync points when far behind (at most every [`ASK_INTERVAL`], and
    /// not within [`SETTLE_TIME`] of a jump).
    pub(super) fn ask_for_sync_points(&mut self, now: Instant, fx: &mut Effects) {
        let recently = |t: Option<Instant>, d| t.is_some_and(|t| now.duration_since(t) < d);
        if recently(self.sync.asked, ASK_INTERVAL)
            || recently(self.sync.installed, SETTLE_TIME)
            || !self.far_behind()
        {
            return;
        }
        if self.sync.asked.is_none() {
            tracing::info!(
                highest_stored_round = self.dag.highest_round(),
                last_committed_round = self.last_committed_round,
                lag = self.sync_lag(),
                "peers are further ahead than they can serve block by block: asking for a \
                 sync point"
            );
        }
        self.sync.asked = Some(now);
        self.sync.answers.clear();
        fx.sync_request = true;
    }

    /// Keeps the sync point after a commit whose index is a multiple of
    /// [`SYNC_POINT_INTERVAL`] (called right after the commit, before any later one), with
    /// the leader schedule the committer had right after it.
    pub(super) fn note_sync_point(
        &mut self,
        slot: Slot,
        leader: BlockRef,
        schedule: Option<ScheduleState>,
    ) {
        let Some(schedule) = schedule else {
            return;
        };
        if !self.chain.index.is_multiple_of(SYNC_POINT_INTERVAL)
            || schedule.commits != self.chain.index
        {
            tracing::warn!(
                commit_index = self.chain.index,
                schedule_commits = schedule.commits,
                "the leader schedule and the commit chain disagree on the commit count: no sync point kept"
            );
            return;
        }
        let gc = self.gc_round_for(leader.round);
        let committed = self
            .dag
            .committed_refs()
            .into_iter()
            .filter(|r| r.round >= gc)
            .collect();
        self.keep_sync_point(SyncPoint {
            chain: self.chain,
            slot,
            leader,
            committed,
            schedule,
        });
    }

    pub(super) fn keep_sync_point(&mut self, point: SyncPoint) {
        self.sync.recent.push_back(point);
        while self.sync.recent.len() > KEPT_SYNC_POINTS {
            self.sync.recent.pop_front();
        }
    }

    /// A peer asked for our recent sync points: answered at most every [`ANSWER_INTERVAL`].
    pub fn answer_sync_request(&mut self, from: AuthorityIndex, fx: &mut Effects) {
        let now = Instant::now();
        if self.sync.recent.is_empty() || !self.serves(from) {
            return;
        }
        let Some(last) = self.sync.answered.get_mut(from as usize) else {
            return;
        };
        if last.is_some_and(|t| now.duration_since(t) < ANSWER_INTERVAL) {
            return;
        }
        *last = Some(now);
        fx.sync_points
            .push((from, self.sync.recent.iter().cloned().collect()));
    }

    /// A peer's sync points: installs the most recent one that validators holding validity
    /// stake reported identically, if it is ahead of this validator. Unrequested answers are
    /// ignored.
    pub fn receive_sync_points(
        &mut self,
        from: AuthorityIndex,
        points: Vec<SyncPoint>,
        fx: &mut Effects,
    ) -> Result<()> {
        if self.sync.asked.is_none() || from == self.authority || points.len() > MAX_SYNC_POINTS {
            return Ok(());
        }
        self.sync.answers.insert(from, points);
        let mut vouched: BTreeMap<[u8; 32], (&SyncPoint, StakeAggregator)> = BTreeMap::new();
        for (peer, points) in &self.sync.answers {
            for p in points {
                vouched
                    .entry(p.digest())
                    .or_insert_with(|| (p, StakeAggregator::default()))
                    .1
                    .add(*peer, &self.committee);
            }
        }
        let best = vouched
            .into_iter()
            .filter(|(_, (p, stake))| {
                stake.stake() >= self.committee.validity_threshold()
                    && p.chain.index > self.chain.index
                    && p.round() > self.last_committed_round
            })
            .max_by_key(|(_, (p, _))| p.chain.index)
            .map(|(digest, (p, _))| (digest, p.clone()));
        let Some((digest, point)) = best else {
            return Ok(());
        };
        let vouchers: Vec<AuthorityIndex> = self
            .sync
            .answers
            .iter()
            .filter(|(_, ps)| ps.iter().any(|p| p.digest() == digest))
            .map(|(a, _)| *a)
            .collect();
        self.install_sync_point(point, &vouchers, fx)
    }

    /// Logs the jump (fsynced), applies it and requests the committed blocks of its window
    /// from the validators that vouched for it.
    fn install_sync_point(
        &mut self,
        point: SyncPoint,
        vouchers: &[AuthorityIndex],
        fx: &mut Effects,
    ) -> Result<()> {
        let bytes = self.wal.append(&Record::Sync(point.clone()))?;
        self.metrics.wal_bytes.inc_by(bytes as u64);
        self.sync_wal()?;
        tracing::info!(
            from_index = self.chain.index,
            from_round = self.last_committed_round,
            to_index = point.chain.index,
            to_round = point.round(),
            ?vouchers,
            "installed a sync point vouched for by validity stake"
        );
        self.apply_sync_point(&point, fx, true)?;
        let now = Instant::now();
        let wanted: Vec<BlockRef> = point
            .committed
            .iter()
            .filter(|r| !self.dag.contains(r))
            .copied()
            .collect();
        for (i, chunk) in wanted.chunks(self.params.missing_request_batch).enumerate() {
            let peer = vouchers[i % vouchers.len()];
            for r in chunk {
                self.requested.insert(*r, now);
            }
            self.request(peer, chunk.to_vec(), fx);
        }
        self.metrics.state_syncs.inc();
        self.sync.asked = None;
        self.sync.answers.clear();
        self.sync.installed = Some(now);
        self.keep_sync_point(point);
        Ok(())
    }

    /// Moves the commit state to `point` (also when replaying its WAL record): commit chain,
    /// last decided slot and committed round, the gc round and the committed marks of the
    /// window. Never touches the rounds this validator signed.
    pub(super) fn apply_sync_point(
        &mut self,
        point: &SyncPoint,
        fx: &mut Effects,
        log: bool,
    ) -> Result<()> {
        self.committer.jump(point.slot, &point.schedule);
        self.last_committed_round = point.round();
        self.chain = point.chain;
        self.dag.jump(self.gc_round_for(point.round()));
        self.prune(fx, log)?;
        for r in &point.committed {
            self.dag.set_committed(r);
        }
        self.metrics
            .last_committed_round
            .set(self.last_committed_round as i64);
        self.metrics.commit_index.set(self.chain.index as i64);
        Ok(())
    }
}
