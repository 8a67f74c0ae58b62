//! The emulated network, as a pure model free of tokio and of the wall clock: network
//! profiles (per ordered pair of regions a base delay, jitter and loss; egress bandwidth per
//! region), scheduled faults, and when each message a validator sends is delivered. The real
//! transport ([`super::emulation`]) and a simulator drive the same [`Outbound`], each with
//! its own clock origin and random generator.

mod faults;
mod file;
mod jitter;
mod link;

pub use faults::{parse_duration, Fault, FaultSchedule, Window};
pub use file::{mbps_to_bytes, Profile, BUILTIN, DEFAULT_RETRANSMIT_TIMEOUT_MS};
pub use jitter::{Jitter, DISTRIBUTIONS};
pub use link::{Egress, Link, LinkState, MAX_RETRANSMISSIONS};

use std::time::Duration;

use rand::Rng;

use crate::committee::AuthorityIndex;

/// When a message is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Delivery time, on the caller's time axis.
    pub at: Duration,
    /// Whether a scheduled fault held or slowed it.
    pub faulted: bool,
}

/// What one validator's outgoing messages go through: its egress cap, then the link to the
/// peer, then the scheduled faults; delivery on each link stays FIFO.
#[derive(Clone, Debug)]
pub struct Outbound {
    me: AuthorityIndex,
    links: Vec<Option<LinkState>>,
    egress: Egress,
    faults: FaultSchedule,
}

impl Outbound {
    /// The model of validator `me`: `links[i]` to validator i (None for itself),
    /// `egress` in bytes per second (None: unlimited), `faults` on this time axis.
    pub fn new(
        me: AuthorityIndex,
        links: Vec<Option<Link>>,
        egress: Option<u64>,
        faults: FaultSchedule,
    ) -> Self {
        Self {
            me,
            links: links.into_iter().map(|l| l.map(LinkState::new)).collect(),
            egress: Egress::new(egress),
            faults,
        }
    }

    /// Links of zero delay to each of `n` validators: faults and a bandwidth cap only.
    pub fn ideal(me: AuthorityIndex, n: usize, egress: Option<u64>, faults: FaultSchedule) -> Self {
        let links = (0..n as AuthorityIndex)
            .map(|i| (i != me).then(|| Link::constant(Duration::ZERO)))
            .collect();
        Self::new(me, links, egress, faults)
    }

    /// How many validators the model knows.
    pub fn size(&self) -> usize {
        self.links.len()
    }

    /// The link to `to`, if any.
    pub fn link(&self, to: AuthorityIndex) -> Option<&Link> {
        self.links.get(to as usize)?.as_ref().map(LinkState::link)
    }

    /// The egress cap in bytes per second.
    pub fn egress(&self) -> Option<u64> {
        self.egress.bytes_per_second()
    }

    /// The scheduled faults.
    pub fn faults(&self) -> &FaultSchedule {
        &self.faults
    }

    /// The same model with other faults.
    pub fn with_faults(self, faults: FaultSchedule) -> Self {
        Self { faults, ..self }
    }

    /// Sends `size` bytes to `to` at `now`: departure after the egress cap and any slow
    /// fault, arrival after the link's transit, held through any partition or flap, and
    /// never before the link's previous message. None for itself or an unknown validator.
    pub fn send<R: Rng + ?Sized>(
        &mut self,
        to: AuthorityIndex,
        now: Duration,
        size: usize,
        rng: &mut R,
    ) -> Option<Delivery> {
        let state = self.links.get_mut(to as usize)?.as_mut()?;
        let extra = self.faults.extra_delay(self.me, now);
        let departure = self.egress.depart(now, size) + extra;
        let arrival = departure + state.link().transit(rng);
        let released = self.faults.release(self.me, to, departure, arrival);
        Some(Delivery {
            at: state.deliver_no_earlier(released),
            faulted: released > arrival || !extra.is_zero(),
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, SeedableRng};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_message_goes_through_egress_link_and_faults_in_order() {
        let mut rng = StdRng::seed_from_u64(3);
        let faults = FaultSchedule::new(vec![
            Fault::parse_partition("0/2@1s+1s").expect("partition"),
            Fault::parse_slow("0:+100ms@3s+1s").expect("slow"),
        ]);
        let links = vec![
            None,
            Some(Link::constant(10 * MS)),
            Some(Link::constant(20 * MS)),
        ];
        let mut out = Outbound::new(0, links, Some(100_000), faults);
        // 10 kB at 100 kB/s leaves after 100 ms, arrives 10 ms later.
        let d = out.send(1, Duration::ZERO, 10_000, &mut rng).expect("to 1");
        assert_eq!(
            d,
            Delivery {
                at: 110 * MS,
                faulted: false
            }
        );
        // Right behind it on the shared egress, to another peer.
        let d = out.send(2, Duration::ZERO, 10_000, &mut rng).expect("to 2");
        assert_eq!(d.at, 220 * MS);
        // Partitioned from 2 during [1 s, 2 s): held to the heal plus the transit (100 B
        // take 1 ms at the cap).
        let d = out.send(2, 1_500 * MS, 100, &mut rng).expect("to 2");
        assert_eq!(
            d,
            Delivery {
                at: 2_020 * MS,
                faulted: true
            }
        );
        // Not partitioned from 1; it waits 1 ms for the previous message's bytes.
        let d = out.send(1, 1_500 * MS, 100, &mut rng).expect("to 1");
        assert_eq!(
            d,
            Delivery {
                at: 1_512 * MS,
                faulted: false
            }
        );
        // Slow during [3 s, 4 s).
        let d = out.send(1, 3_000 * MS, 100, &mut rng).expect("to 1");
        assert_eq!(
            d,
            Delivery {
                at: 3_111 * MS,
                faulted: true
            }
        );
        assert_eq!(
            out.send(0, Duration::ZERO, 1, &mut rng),
            None,
            "not to itself"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_deliveries() {
        let profile = Profile::load("degraded").expect("degraded");
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let regions = profile.regions();
            let links = regions
                .iter()
                .map(|r| profile.link(&regions[0], r).cloned())
                .collect();
            let mut out = Outbound::new(0, links, None, FaultSchedule::default());
            (0..200u32)
                .map(|i| out.send(1 + i % (regions.len() as u32 - 1), MS * i, 500, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }
}
