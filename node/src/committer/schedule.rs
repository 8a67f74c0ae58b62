//! The leader schedule with reputation: round robin, except that the leader slots of the
//! validators with the worst record go to those with the best.
//!
//! Every `window` commits (counted from genesis), the decisions of the window update each
//! validator's record: of the leader slots it held in the last window in which it held any,
//! how many were skipped. The worst-recorded validators, each strictly worse than the best
//! and together below the validity threshold (at most f of equal stake), are swapped out:
//! from the first round above the commit that ended the window, their slots go to the
//! best-recorded validators, in turn. A swapped-out validator holds no slot, so its record
//! stands until another one's is worse. Everything here is a function of the decided slots,
//! in order: every validator derives the same schedule at the same commit index, and a
//! restarted one rebuilds it from its logged decisions (or the checkpoint's copy).

use std::{cmp::Ordering, sync::Arc};

use bytes::Buf;

use crate::{
    block::Round,
    committee::{AuthorityIndex, Committee},
};

/// Leader slots of one validator over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Slots it held.
    pub led: u32,
    /// Of those, slots skipped.
    pub skipped: u32,
}

impl Tally {
    /// Whether its share of skipped slots is larger than `other`'s.
    fn worse_than(&self, other: &Tally) -> bool {
        self.cmp_share(other) == Ordering::Greater
    }

    /// Compares skipped / led without division (no slot held counts as none skipped).
    fn cmp_share(&self, other: &Tally) -> Ordering {
        let (a, b) = (self.led.max(1) as u64, other.led.max(1) as u64);
        (self.skipped as u64 * b).cmp(&(other.skipped as u64 * a))
    }
}

/// Which validators' slots go to which, from a round on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwapTable {
    /// First leader round it applies to.
    pub from_round: Round,
    /// Swapped-out validators, worst first.
    pub out: Vec<AuthorityIndex>,
    /// The validators their slots go to, best first.
    pub into: Vec<AuthorityIndex>,
}

/// What the schedule has learnt so far (kept in WAL checkpoints).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleState {
    /// Leaders committed since genesis: the schedule changes at multiples of the window.
    pub commits: u64,
    /// Per validator: its slots in the window so far.
    pub window: Vec<Tally>,
    /// Per validator: its slots in the last window in which it held any.
    pub record: Vec<Tally>,
    /// The table in force from its `from_round`.
    pub current: SwapTable,
    /// The table in force below `current.from_round`.
    pub previous: SwapTable,
}

/// Elects the leaders of each round from the committee and the committed sequence.
pub struct LeaderSchedule {
    committee: Arc<Committee>,
    leaders: usize,
    /// Commits between two updates; 0 keeps plain round robin.
    window: u64,
    state: ScheduleState,
}

impl LeaderSchedule {
    /// Round robin over `committee` with `leaders` per round, updated every `window` commits
    /// (never if 0).
    pub fn new(committee: Arc<Committee>, leaders: usize, window: u64) -> Self {
        let n = committee.size();
        Self {
            committee,
            leaders,
            window,
            state: ScheduleState {
                window: vec![Tally::default(); n],
                record: vec![Tally::default(); n],
                ..ScheduleState::default()
            },
        }
    }

    /// The `k`-th leader of `round`.
    pub fn leader(&self, round: Round, k: usize) -> AuthorityIndex {
        let table = if round >= self.state.current.from_round {
            &self.state.current
        } else {
            &self.state.previous
        };
        if table.out.is_empty() {
            return self.committee.leader(round, k);
        }
        let mut chosen = Vec::with_capacity(k + 1);
        for j in 0..=k {
            chosen.push(self.elect(table, round, j, &chosen));
        }
        chosen[k]
    }

    /// The `j`-th leader of `round` under `table`, given the leaders before it: a swapped-out
    /// validator's slot goes to the replacements in turn, skipping any that already leads
    /// the round (or will as its own slot).
    fn elect(
        &self,
        table: &SwapTable,
        round: Round,
        j: usize,
        before: &[AuthorityIndex],
    ) -> AuthorityIndex {
        let base = self.committee.leader(round, j);
        if !table.out.contains(&base) || table.into.is_empty() {
            return base;
        }
        let later = |c: AuthorityIndex| {
            (j + 1..self.leaders).any(|l| {
                let b = self.committee.leader(round, l);
                b == c && !table.out.contains(&b)
            })
        };
        let count = table.into.len();
        let start = (round as usize).wrapping_add(j) % count;
        (0..count)
            .map(|i| table.into[(start + i) % count])
            .find(|&c| !before.contains(&c) && !later(c))
            .unwrap_or(base)
    }

    /// Takes one decided slot into account (in decision order). Returns true when it was the
    /// commit that ends a window: the schedule changed from the next round on, and slots
    /// after this one must be decided with it.
    pub fn record(&mut self, round: Round, author: AuthorityIndex, committed: bool) -> bool {
        if let Some(t) = self.state.window.get_mut(author as usize) {
            t.led += 1;
            t.skipped += u32::from(!committed);
        }
        if !committed {
            return false;
        }
        self.state.commits += 1;
        if self.window == 0 || !self.state.commits.is_multiple_of(self.window) {
            return false;
        }
        self.update(round);
        true
    }

    /// Ends the window whose last commit was at `round`.
    fn update(&mut self, round: Round) {
        let state = &mut self.state;
        for (record, window) in state.record.iter_mut().zip(&mut state.window) {
            if window.led > 0 {
                *record = *window;
            }
            *window = Tally::default();
        }
        // Best first; ties by index, so every validator ranks alike.
        let mut ranked: Vec<AuthorityIndex> = (0..state.record.len() as AuthorityIndex).collect();
        ranked.sort_by(|a, b| {
            state.record[*a as usize]
                .cmp_share(&state.record[*b as usize])
                .then(a.cmp(b))
        });
        let best = state.record[ranked[0] as usize];
        let limit = self.committee.validity_threshold();
        let mut out = Vec::new();
        let mut stake = 0;
        for &a in ranked.iter().rev() {
            if !state.record[a as usize].worse_than(&best) {
                break;
            }
            let s = self.committee.stake(a);
            if stake + s < limit {
                stake += s;
                out.push(a);
            }
        }
        let into: Vec<AuthorityIndex> = ranked
            .iter()
            .copied()
            .filter(|a| !out.contains(a))
            .take(out.len())
            .collect();
        if out != state.current.out || into != state.current.into {
            tracing::info!(
                commit_index = state.commits,
                from_round = round + 1,
                "leader schedule: slots of {out:?} go to {into:?} (records: {:?})",
                state.record
            );
        }
        state.previous = std::mem::take(&mut state.current);
        state.current = SwapTable {
            from_round: round + 1,
            out,
            into,
        };
    }

    /// What the schedule has learnt.
    pub fn state(&self) -> &ScheduleState {
        &self.state
    }

    /// Restores a state written by [`ScheduleState::encode`] at a later commit than ours
    /// (a WAL checkpoint); an earlier one is ignored.
    pub fn restore(&mut self, state: ScheduleState) {
        let n = self.committee.size();
        if state.commits >= self.state.commits && state.window.len() == n && state.record.len() == n
        {
            self.state = state;
        }
    }
}

impl ScheduleState {
    /// Appends the state to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.commits.to_le_bytes());
        out.extend_from_slice(&(self.window.len() as u32).to_le_bytes());
        for t in self.window.iter().chain(&self.record) {
            out.extend_from_slice(&t.led.to_le_bytes());
            out.extend_from_slice(&t.skipped.to_le_bytes());
        }
        for table in [&self.current, &self.previous] {
            out.extend_from_slice(&table.from_round.to_le_bytes());
            out.extend_from_slice(&(table.out.len() as u32).to_le_bytes());
            for a in table.out.iter().chain(&table.into) {
                out.extend_from_slice(&a.to_le_bytes());
            }
        }
    }

    /// Reads a state written by [`ScheduleState::encode`].
    pub fn decode(b: &mut &[u8]) -> Result<Self, &'static str> {
        let short = "short leader schedule";
        if b.remaining() < 12 {
            return Err(short);
        }
        let commits = b.get_u64_le();
        let n = b.get_u32_le() as usize;
        if b.remaining() < n.saturating_mul(16) {
            return Err(short);
        }
        let mut tallies = (0..2 * n).map(|_| Tally {
            led: b.get_u32_le(),
            skipped: b.get_u32_le(),
        });
        let window: Vec<Tally> = tallies.by_ref().take(n).collect();
        let record: Vec<Tally> = tallies.collect();
        let mut tables = Vec::with_capacity(2);
        for _ in 0..2 {
            if b.remaining() < 12 {
                return Err(short);
            }
            let from_round = b.get_u64_le();
            let count = b.get_u32_le() as usize;
            if b.remaining() < count.saturating_mul(8) {
                return Err(short);
            }
            let out = (0..count).map(|_| b.get_u32_le()).collect();
            let into = (0..count).map(|_| b.get_u32_le()).collect();
            tables.push(SwapTable {
                from_round,
                out,
                into,
            });
        }
        let previous = tables.pop().ok_or(short)?;
        let current = tables.pop().ok_or(short)?;
        Ok(Self {
            commits,
            window,
            record,
            current,
            previous,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::committee::tests::committee;

    fn schedule(n: usize, leaders: usize, window: u64) -> LeaderSchedule {
        LeaderSchedule::new(Arc::new(committee(n).0), leaders, window)
    }

    /// Decides every slot of rounds `rounds` in order, skipping those of `skipped`.
    fn decide(s: &mut LeaderSchedule, rounds: std::ops::Range<Round>, skipped: AuthorityIndex) {
        for round in rounds {
            for k in 0..s.leaders {
                let author = s.leader(round, k);
                s.record(round, author, author != skipped);
            }
        }
    }

    #[test]
    fn a_validator_whose_slots_are_skipped_loses_them_from_the_round_after_the_window() {
        let mut s = schedule(4, 1, 6);
        let before: Vec<_> = (1..=12).map(|r| s.leader(r, 0)).collect();
        assert_eq!(before, [1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0]);
        // Rounds 1..=8: authority 1 leads rounds 1 and 5, both skipped; the 6th commit is
        // round 8's.
        decide(&mut s, 1..9, 1);
        assert_eq!(s.state().commits, 6);
        assert_eq!(s.state().current.out, vec![1]);
        assert_eq!(s.state().current.from_round, 9);
        // Rounds below the change keep their leaders; from round 9 authority 1 leads none.
        assert_eq!(s.leader(5, 0), 1);
        let after: Vec<_> = (9..=40).map(|r| s.leader(r, 0)).collect();
        assert!(!after.contains(&1), "{after:?}");
        assert_eq!(after.iter().filter(|&&a| a == 0).count(), 16, "{after:?}");
        // It holds no slot, so it stays out while the others keep a clean record.
        decide(&mut s, 9..200, 1);
        assert_eq!(s.state().current.out, vec![1]);
    }

    #[test]
    fn nobody_is_swapped_out_when_no_record_is_worse_than_the_best() {
        let mut s = schedule(4, 1, 4);
        decide(&mut s, 1..100, 9);
        assert!(s.state().current.out.is_empty());
        assert_eq!(
            (1..=8).map(|r| s.leader(r, 0)).collect::<Vec<_>>(),
            [1, 2, 3, 0, 1, 2, 3, 0]
        );
    }

    #[test]
    fn at_most_f_are_swapped_out_and_a_round_never_elects_one_validator_twice() {
        let mut s = schedule(7, 2, 10);
        // Every slot but those of authority 0 is skipped: all but 0 are worse than the best,
        // and at most f = 2 of them go.
        for round in 1..60 {
            for k in 0..2 {
                let author = s.leader(round, k);
                s.record(round, author, author == 0 || round % 2 == 0);
            }
        }
        let table = &s.state().current;
        assert_eq!(table.out.len(), 2, "{table:?}");
        assert!(table.into.contains(&0), "{table:?}");
        for round in table.from_round..table.from_round + 50 {
            let (a, b) = (s.leader(round, 0), s.leader(round, 1));
            assert_ne!(a, b, "round {round}");
            assert!(!table.out.contains(&a) && !table.out.contains(&b));
        }
    }

    #[test]
    fn the_state_round_trips_through_its_encoding() {
        let mut s = schedule(4, 1, 3);
        decide(&mut s, 1..14, 2);
        let state = s.state().clone();
        assert!(!state.current.out.is_empty() && !state.previous.out.is_empty());
        let mut bytes = Vec::new();
        state.encode(&mut bytes);
        let mut b = bytes.as_slice();
        assert_eq!(ScheduleState::decode(&mut b), Ok(state));
        assert!(b.is_empty());
        assert!(ScheduleState::decode(&mut &bytes[..bytes.len() - 1]).is_err());
    }
}
