//! The simulated network: a link per ordered pair of validators, each FIFO like a TCP
//! connection. A message leaves after the ones queued before it, at the link's bandwidth,
//! and arrives after the link's one-way delay plus seeded jitter; a partition holds it
//! until the heal (TCP retransmits what the partition dropped, so nothing is lost and order
//! is kept); loss drops it.

use std::time::Duration;

use rand::{rngs::StdRng, Rng};

use super::{
    faults::{Loss, Partition, SlowLink},
    queue::Nanos,
};
use crate::committee::AuthorityIndex;

/// Bytes of framing per message (length u32).
const FRAME_OVERHEAD: usize = 4;

/// One direction between two validators.
#[derive(Clone, Default)]
struct Link {
    /// One-way delay.
    delay: Nanos,
    /// When the last queued message has left.
    busy_until: Nanos,
    /// When the last message arrives (FIFO: no later message arrives before it).
    last_arrival: Nanos,
    /// The receiver refuses this sender's connection until then (cool-down).
    refused_until: Nanos,
}

/// What the network does with a message.
pub(super) enum Fate {
    /// It arrives then.
    Arrives(Nanos),
    /// It is lost (loss, or the receiver refuses the connection).
    Lost,
}

/// Every link, with the network's faults.
pub(super) struct Net {
    n: usize,
    links: Vec<Link>,
    bits_per_second: u64,
    /// Jitter per message: uniform in [0, jitter_fraction x delay + extra_jitter).
    jitter_fraction: f64,
    extra_jitter: Nanos,
    partitions: Vec<Partition>,
    losses: Vec<Loss>,
    slow: Vec<SlowLink>,
}

fn nanos(d: Duration) -> Nanos {
    d.as_nanos().min(u64::MAX as u128) as Nanos
}

impl Net {
    /// A network of `delays[a][b]` one-way delays.
    pub(super) fn new(
        delays: &[Vec<Duration>],
        bits_per_second: u64,
        jitter_fraction: f64,
        extra_jitter: Duration,
        partitions: Vec<Partition>,
        losses: Vec<Loss>,
        slow: Vec<SlowLink>,
    ) -> Self {
        let n = delays.len();
        let mut links = vec![Link::default(); n * n];
        for (a, row) in delays.iter().enumerate() {
            for (b, d) in row.iter().enumerate() {
                links[a * n + b].delay = nanos(*d);
            }
        }
        Self {
            n,
            links,
            bits_per_second: bits_per_second.max(1),
            jitter_fraction,
            extra_jitter: nanos(extra_jitter),
            partitions,
            losses,
            slow,
        }
    }

    fn link(&mut self, a: AuthorityIndex, b: AuthorityIndex) -> &mut Link {
        &mut self.links[a as usize * self.n + b as usize]
    }

    /// When a message of `bytes` sent from `a` to `b` at `now` arrives, if it does.
    pub(super) fn send(
        &mut self,
        a: AuthorityIndex,
        b: AuthorityIndex,
        bytes: usize,
        now: Nanos,
        rng: &mut StdRng,
    ) -> Fate {
        if now < self.link(a, b).refused_until {
            return Fate::Lost;
        }
        let at = Duration::from_nanos(now);
        let lost = self
            .losses
            .iter()
            .filter(|l| (l.a, l.b) == (a, b) || (l.a, l.b) == (b, a))
            .filter(|l| l.from <= at && at < l.until)
            .any(|l| rng.gen::<f64>() < l.fraction);
        if lost {
            return Fate::Lost;
        }
        let bits = ((bytes + FRAME_OVERHEAD) as u128) * 8;
        let serialize = (bits * 1_000_000_000 / self.bits_per_second as u128) as Nanos;
        let (jitter_fraction, extra) = (self.jitter_fraction, self.extra_jitter);
        let link = self.link(a, b);
        let departs = now.max(link.busy_until) + serialize;
        link.busy_until = departs;
        let bound = (link.delay as f64 * jitter_fraction) as Nanos + extra;
        let jitter = if bound > 0 {
            rng.gen_range(0..bound)
        } else {
            0
        };
        let slow: Nanos = self
            .slow
            .iter()
            .filter(|s| (s.a, s.b) == (a, b) && s.from <= at && at < s.until)
            .map(|s| nanos(s.extra))
            .sum();
        let link = self.link(a, b);
        let delay = link.delay + slow;
        let mut arrives = departs + delay + jitter;
        // Held by a partition: sent again after the heal.
        while let Some(heal) = self
            .partitions
            .iter()
            .filter(|p| p.separates(a, b))
            .filter(|p| {
                nanos(p.from) <= arrives.saturating_sub(delay)
                    && arrives.saturating_sub(delay) < nanos(p.until)
            })
            .map(|p| nanos(p.until))
            .max()
        {
            arrives = heal + delay + jitter;
        }
        let link = self.link(a, b);
        arrives = arrives.max(link.last_arrival);
        link.last_arrival = arrives;
        Fate::Arrives(arrives)
    }

    /// `b` refuses `a`'s connection until `until` (it cut `a` off for invalid data).
    pub(super) fn refuse(&mut self, a: AuthorityIndex, b: AuthorityIndex, until: Nanos) {
        let link = self.link(a, b);
        link.refused_until = link.refused_until.max(until);
    }

    /// The connections of `v` are gone (it crashed): their queues are empty again.
    pub(super) fn reset(&mut self, v: AuthorityIndex) {
        for other in 0..self.n as AuthorityIndex {
            for (x, y) in [(v, other), (other, v)] {
                let link = self.link(x, y);
                link.busy_until = 0;
                link.last_arrival = 0;
            }
        }
    }

    /// The last instant a partition or a loss ends (zero if none).
    pub(super) fn faults_end(&self) -> Duration {
        self.partitions
            .iter()
            .map(|p| p.until)
            .chain(
                self.losses
                    .iter()
                    .filter(|l| l.until != Duration::MAX)
                    .map(|l| l.until),
            )
            .chain(self.slow.iter().map(|s| s.until))
            .max()
            .unwrap_or_default()
    }
}
