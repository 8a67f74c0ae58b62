//! What makes two summary rows the same point of a benchmark, and how a point is named: the
//! one key that `compare` matches points on and `plot` draws curves by.

use serde::Serialize;

use super::SummaryRow;
use crate::protocol::defaults::LEADER_TIMEOUT_MS as DEFAULT_LEADER_TIMEOUT_MS;

/// A point: committee, faults (count and mode), Byzantine validators, offered load,
/// transaction size and protocol parameters (wave length, leaders, leader wait and timeout,
/// latency matrix).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PointKey {
    pub committee: usize,
    pub faults: usize,
    pub fault_mode: String,
    pub byzantine: usize,
    pub behaviour: String,
    pub load: u64,
    pub transaction_size: usize,
    pub wave_length: u32,
    pub leaders: u32,
    pub leader_wait: bool,
    pub leader_timeout_ms: u64,
    pub latency_matrix: String,
}

impl PointKey {
    /// The point a row measured.
    pub fn of(row: &SummaryRow) -> Self {
        Self {
            committee: row.point.committee,
            faults: row.point.faults,
            fault_mode: row.point.fault_mode.clone(),
            byzantine: row.point.byzantine,
            behaviour: row.point.behaviour.clone(),
            load: row.point.load,
            transaction_size: row.point.transaction_size,
            wave_length: row.point.wave_length,
            leaders: row.point.leaders,
            leader_wait: row.point.leader_wait,
            leader_timeout_ms: row.point.leader_timeout_ms,
            latency_matrix: row.point.latency_matrix.clone(),
        }
    }

    /// The curve the point lies on: everything but the load.
    pub fn curve(&self) -> Self {
        Self {
            load: 0,
            ..self.clone()
        }
    }

    /// The protocol parameters, compactly (`w3 l1`, `no-wait`, a leader timeout other than
    /// the node's default, the latency matrix).
    pub fn protocol(&self) -> String {
        let mut text = format!("w{} l{}", self.wave_length, self.leaders);
        if !self.leader_wait {
            text.push_str(" no-wait");
        }
        if self.leader_timeout_ms != DEFAULT_LEADER_TIMEOUT_MS {
            text.push_str(&format!(" t{}ms", self.leader_timeout_ms));
        }
        if !self.latency_matrix.is_empty() {
            text.push_str(&format!(" {}", self.latency_matrix));
        }
        text
    }

    /// A curve's label in plots: committee and faults, plus the transaction size and the
    /// protocol when asked (when the curves drawn together differ in them).
    pub fn curve_label(&self, size: bool, protocol: bool) -> String {
        let mut label = format!("n={} f={}", self.committee, self.faults);
        if self.fault_mode == "crash-recovery" {
            label.push_str(" crash-recovery");
        }
        if self.byzantine > 0 {
            label.push_str(&format!(" byzantine={} {}", self.byzantine, self.behaviour));
        }
        if size {
            label.push_str(&format!(", {} B tx", self.transaction_size));
        }
        if protocol {
            label.push_str(&format!(", {}", self.protocol()));
        }
        label
    }
}

impl std::fmt::Display for PointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n{} f{}", self.committee, self.faults)?;
        if self.fault_mode == "crash-recovery" {
            f.write_str(" (crash-recovery)")?;
        }
        if self.byzantine > 0 {
            write!(f, " b{} {}", self.byzantine, self.behaviour)?;
        }
        write!(
            f,
            ", load {} tx/s, {} B tx, {}",
            self.load,
            self.transaction_size,
            self.protocol()
        )
    }
}
