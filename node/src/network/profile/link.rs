//! One directed link and one validator's egress: when a message sent at a given time is
//! delivered. Times are durations since an origin the caller picks (the process start for
//! the real network, zero for a simulation).

use std::time::Duration;

use rand::Rng;

use super::jitter::Jitter;

/// Retransmissions of one message at most: TCP gives up far later, and by then the
/// message is delayed by minutes.
pub const MAX_RETRANSMISSIONS: u32 = 8;

/// What a directed link does to each message.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// Base one-way delay: the floor of every transit.
    pub delay: Duration,
    /// Extra delay per message.
    pub jitter: Jitter,
    /// Probability that a transmission is lost. TCP retransmits it: the message is
    /// delayed by a retransmission timeout (doubling on each further loss), never dropped.
    pub loss: f64,
    /// The first retransmission timeout.
    pub retransmit_timeout: Duration,
}

impl Link {
    /// A link of constant delay.
    pub fn constant(delay: Duration) -> Self {
        Self {
            delay,
            jitter: Jitter::None,
            loss: 0.0,
            retransmit_timeout: Duration::ZERO,
        }
    }

    /// The time one message spends in transit.
    pub fn transit<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let mut t = self.delay + self.jitter.sample(rng);
        if self.loss > 0.0 {
            let mut timeout = self.retransmit_timeout;
            for _ in 0..MAX_RETRANSMISSIONS {
                if !rng.gen_bool(self.loss.min(1.0)) {
                    break;
                }
                t += timeout;
                timeout *= 2;
            }
        }
        t
    }
}

/// A link and the delivery time of its last message: delivery is FIFO, as on one TCP
/// stream (a message is never delivered before one sent earlier on the same link).
#[derive(Clone, Debug)]
pub struct LinkState {
    link: Link,
    last: Duration,
}

impl LinkState {
    /// A link that has delivered nothing yet.
    pub fn new(link: Link) -> Self {
        Self {
            link,
            last: Duration::ZERO,
        }
    }

    /// The link's parameters.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// When a message that leaves the sender at `departure` is delivered:
    /// max(previous delivery, departure + delay + jitter + retransmissions).
    pub fn deliver_at<R: Rng + ?Sized>(&mut self, departure: Duration, rng: &mut R) -> Duration {
        self.deliver_no_earlier(departure + self.link.transit(rng))
    }

    /// Delivers at `at`, or after the previous message if that is later (FIFO).
    pub fn deliver_no_earlier(&mut self, at: Duration) -> Duration {
        self.last = self.last.max(at);
        self.last
    }
}

/// One validator's outgoing bandwidth, shared by all its links: messages are serialized
/// one after another at the cap, in the order they are sent.
#[derive(Clone, Debug)]
pub struct Egress {
    bytes_per_second: Option<u64>,
    free_at: Duration,
}

impl Egress {
    /// An egress of `bytes_per_second` (None: unlimited).
    pub fn new(bytes_per_second: Option<u64>) -> Self {
        Self {
            bytes_per_second: bytes_per_second.filter(|b| *b > 0),
            free_at: Duration::ZERO,
        }
    }

    /// The cap, if any.
    pub fn bytes_per_second(&self) -> Option<u64> {
        self.bytes_per_second
    }

    /// When the last byte of a `size`-byte message sent at `now` has left: it waits for
    /// the messages before it, then takes `size / cap`.
    pub fn depart(&mut self, now: Duration, size: usize) -> Duration {
        let Some(cap) = self.bytes_per_second else {
            return now;
        };
        let start = now.max(self.free_at);
        self.free_at = start + Duration::from_secs_f64(size as f64 / cap as f64);
        self.free_at
    }
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, SeedableRng};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delivery_is_fifo_and_at_least_the_base_delay() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut state = LinkState::new(Link {
            delay: 40 * MS,
            jitter: Jitter::Normal {
                sd_ms: 30.0,
                max_ms: 100.0,
            },
            loss: 0.0,
            retransmit_timeout: 200 * MS,
        });
        let mut last = Duration::ZERO;
        let (mut shortest, mut longest) = (Duration::MAX, Duration::ZERO);
        for i in 0..2_000u32 {
            let sent = 10 * MS * i;
            let at = state.deliver_at(sent, &mut rng);
            assert!(at >= sent + 40 * MS, "message {i} before the base delay");
            assert!(at >= last, "message {i} delivered before an earlier one");
            shortest = shortest.min(at - sent);
            longest = longest.max(at - sent);
            last = at;
        }
        assert!(
            shortest < 45 * MS,
            "some messages take about the base delay"
        );
        assert!(longest > 100 * MS, "the jitter spreads the others");
    }

    #[test]
    fn loss_adds_retransmission_timeouts_and_never_drops() {
        let mut rng = StdRng::seed_from_u64(2);
        let link = Link {
            delay: 10 * MS,
            jitter: Jitter::None,
            loss: 0.1,
            retransmit_timeout: 200 * MS,
        };
        let transits: Vec<Duration> = (0..10_000).map(|_| link.transit(&mut rng)).collect();
        let delayed = transits.iter().filter(|t| **t > 10 * MS).count();
        assert!(
            (900..1_100).contains(&delayed),
            "{delayed} of 10000 retransmitted"
        );
        // Each transit is the delay plus a sum of doubling timeouts: 200, 600, 1400 ms...
        for t in &transits {
            let extra = (*t - 10 * MS).as_millis();
            assert!([0, 200, 600, 1_400, 3_000].contains(&extra), "{extra} ms");
        }
        assert!(
            transits.iter().any(|t| *t == 610 * MS),
            "a second loss doubles"
        );
    }

    #[test]
    fn egress_serializes_messages_at_the_cap_across_links() {
        let mut egress = Egress::new(Some(1_000_000));
        // Three 100 kB messages sent at once leave 100 ms apart.
        let d: Vec<Duration> = (0..3)
            .map(|_| egress.depart(Duration::ZERO, 100_000))
            .collect();
        assert_eq!(d, vec![100 * MS, 200 * MS, 300 * MS]);
        // After an idle second, the next one leaves right away.
        assert_eq!(egress.depart(2_000 * MS, 1_000), 2_001 * MS);
        assert_eq!(Egress::new(None).depart(5 * MS, 1 << 30), 5 * MS);
    }
}
