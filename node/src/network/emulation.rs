//! The emulated network on the real transport: one validator's [`Outbound`] model behind a
//! lock, shared by its peer links, on the tokio clock. Each link asks when a message it
//! dequeued may be written and sleeps until then.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rand::{rngs::StdRng, SeedableRng};
use tokio::time::Instant;

use super::profile::Outbound;
use crate::{committee::AuthorityIndex, metrics::Metrics};

/// How one validator emulates its network.
#[derive(Clone, Debug)]
pub struct EmulationConfig {
    /// Its outgoing links, egress and faults.
    pub outbound: Outbound,
    /// The unix time in milliseconds the faults' windows count from (None: the start).
    pub epoch_unix_ms: Option<u64>,
}

/// One validator's emulated outgoing network.
pub struct Emulation {
    origin: Instant,
    state: Mutex<(Outbound, StdRng)>,
    metrics: Arc<Metrics>,
}

impl Emulation {
    /// Starts the model's clock now. Its faults are given relative to `epoch_unix_ms`
    /// (None: now); an epoch in the past counts from now.
    pub fn start(outbound: Outbound, epoch_unix_ms: Option<u64>, metrics: Arc<Metrics>) -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (outbound, origin) = match epoch_unix_ms {
            Some(epoch) if epoch > now_ms => {
                let offset = Duration::from_millis(epoch - now_ms);
                let faults = outbound.faults().shifted(offset);
                (outbound.with_faults(faults), Instant::now())
            }
            // The epoch has passed: the model's time starts at it.
            Some(epoch) => (
                outbound,
                Instant::now()
                    .checked_sub(Duration::from_millis(now_ms - epoch))
                    .unwrap_or_else(Instant::now),
            ),
            None => (outbound, Instant::now()),
        };
        Self {
            origin,
            state: Mutex::new((outbound, StdRng::from_entropy())),
            metrics,
        }
    }

    /// When a `size`-byte message to `peer`, queued at `queued`, may be written.
    pub fn release_at(&self, peer: AuthorityIndex, queued: Instant, size: usize) -> Instant {
        let now = queued.saturating_duration_since(self.origin);
        let delivery = {
            let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let (outbound, rng) = &mut *guard;
            outbound.send(peer, now, size, rng)
        };
        match delivery {
            Some(d) => {
                if d.faulted {
                    self.metrics.fault_held_messages.inc();
                }
                self.origin + d.at
            }
            None => queued,
        }
    }
}
