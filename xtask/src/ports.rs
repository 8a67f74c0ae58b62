//! The TCP ports of a committee: validator `i` listens on `base + i` and serves `/metrics` on
//! `metrics_base + i`; every host opens [`PORT_RANGE_LEN`] ports above each base. A leaf: the
//! settings give the bases, genesis, the executors, user data, host set-up and monitoring use
//! them.

use anyhow::{Context, Result};

/// How many ports above each base a testbed opens: enough for the largest committee one host
/// can run. The two ranges must not overlap, so the bases are at least this far apart.
pub(crate) const PORT_RANGE_LEN: u16 = 1000;

/// The first validator and metrics ports (`base_port`, `metrics_base_port` in the settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub base: u16,
    pub metrics_base: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            base: crate::protocol::defaults::BASE_PORT,
            metrics_base: crate::protocol::defaults::METRICS_BASE_PORT,
        }
    }
}

impl Ports {
    /// Whether the validator and metrics ranges are too close to stay apart.
    pub fn overlap(&self) -> bool {
        self.metrics_base.abs_diff(self.base) < PORT_RANGE_LEN
    }

    /// Every port validator `i` of an `n`-committee uses: `base + i` and `metrics_base + i`.
    pub fn all(&self, n: usize) -> Result<Vec<u16>> {
        (0..n)
            .flat_map(|i| [(self.base, i), (self.metrics_base, i)])
            .map(|(base, i)| {
                u16::try_from(usize::from(base) + i)
                    .ok()
                    .with_context(|| format!("port {base} + {i} is beyond 65535"))
            })
            .collect()
    }

    /// The consensus port of each validator.
    pub fn consensus(&self, n: usize) -> Vec<u16> {
        (0..n).map(|i| self.base.wrapping_add(i as u16)).collect()
    }

    /// The metrics port of each validator.
    pub fn metrics(&self, n: usize) -> Vec<u16> {
        (0..n)
            .map(|i| self.metrics_base.wrapping_add(i as u16))
            .collect()
    }

    /// The TCP port ranges (inclusive) the benchmark uses on every host: validator-to-validator
    /// traffic and the metrics endpoints. SSH (22) comes on top.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        [self.base, self.metrics_base]
            .into_iter()
            .map(|base| (base, base.saturating_add(PORT_RANGE_LEN - 1)))
            .collect()
    }

    /// The port prometheus-node-exporter listens on: the last port of the metrics range, which
    /// the testbeds' firewalls already open.
    pub fn node_exporter(&self) -> u16 {
        self.metrics_base.saturating_add(PORT_RANGE_LEN - 1)
    }
}
