//! What makes two summary rows the same point of a benchmark, and how a point is named: the
//! one key that `compare` matches points on and `plot` draws curves by.

use serde::{ser::SerializeStruct, Serialize, Serializer};

use super::{NetworkColumns, PointParameters, SummaryRow};
use crate::{
    experiment::FaultMode, protocol::defaults::LEADER_TIMEOUT_MS as DEFAULT_LEADER_TIMEOUT_MS,
};

/// A point: the row's parameters without those that vary between runs of one point (repeat,
/// fault schedule, which validators are Byzantine, warm-up and window). So it is committee,
/// faults (count and mode), Byzantine validators (count and behaviour), offered load,
/// transaction size and protocol parameters (wave length, leaders, leader wait and timeout,
/// latency matrix), and the network emulated (profile and scheduled network faults).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PointKey(PointParameters, NetworkColumns);

impl PointKey {
    /// The point a row measured.
    pub fn of(row: &SummaryRow) -> Self {
        Self(
            PointParameters {
                fault_schedule: String::new(),
                byzantine_validators: String::new(),
                repeat: 0,
                warmup_s: 0,
                duration_s: 0,
                ..row.point.clone()
            },
            row.network.clone(),
        )
    }

    /// The curve the point lies on: everything but the load.
    pub fn curve(&self) -> Self {
        Self(
            PointParameters {
                load: 0,
                ..self.0.clone()
            },
            self.1.clone(),
        )
    }

    /// The protocol parameters, compactly (`w3 l1`, `no-wait`, a leader timeout other than
    /// the node's default, the latency matrix or network, the network faults).
    pub fn protocol(&self) -> String {
        let p = &self.0;
        let mut text = format!("w{} l{}", p.wave_length, p.leaders);
        if !p.leader_wait {
            text.push_str(" no-wait");
        }
        if p.leader_timeout_ms != DEFAULT_LEADER_TIMEOUT_MS {
            text.push_str(&format!(" t{}ms", p.leader_timeout_ms));
        }
        if !p.latency_matrix.is_empty() {
            text.push_str(&format!(" {}", p.latency_matrix));
        }
        let network = &self.1;
        if !network.network.is_empty() && network.network != p.latency_matrix {
            text.push_str(&format!(" {}", network.network));
        }
        if !network.network_faults.is_empty() {
            text.push_str(&format!(" [{}]", network.network_faults));
        }
        text
    }

    /// The Byzantine behaviour's name, empty without one.
    fn behaviour(&self) -> String {
        self.0.behaviour.map(|b| b.to_string()).unwrap_or_default()
    }

    /// A curve's label in plots: committee and faults, plus the transaction size and the
    /// protocol when asked (when the curves drawn together differ in them).
    pub fn curve_label(&self, size: bool, protocol: bool) -> String {
        let p = &self.0;
        let mut label = format!("n={} f={}", p.committee, p.faults);
        if p.fault_mode == FaultMode::CrashRecovery {
            label.push_str(" crash-recovery");
        }
        if p.byzantine > 0 {
            label.push_str(&format!(" byzantine={} {}", p.byzantine, self.behaviour()));
        }
        if size {
            label.push_str(&format!(", {} B tx", p.transaction_size));
        }
        if protocol {
            label.push_str(&format!(", {}", self.protocol()));
        }
        label
    }
}

impl std::ops::Deref for PointKey {
    type Target = PointParameters;

    fn deref(&self) -> &PointParameters {
        &self.0
    }
}

/// The key's fields, as the JSON output of `compare` names them.
impl Serialize for PointKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p = &self.0;
        let mut key = serializer.serialize_struct("PointKey", 14)?;
        key.serialize_field("committee", &p.committee)?;
        key.serialize_field("faults", &p.faults)?;
        key.serialize_field("fault_mode", &p.fault_mode)?;
        key.serialize_field("byzantine", &p.byzantine)?;
        key.serialize_field("behaviour", &self.behaviour())?;
        key.serialize_field("load", &p.load)?;
        key.serialize_field("transaction_size", &p.transaction_size)?;
        key.serialize_field("wave_length", &p.wave_length)?;
        key.serialize_field("leaders", &p.leaders)?;
        key.serialize_field("leader_wait", &p.leader_wait)?;
        key.serialize_field("leader_timeout_ms", &p.leader_timeout_ms)?;
        key.serialize_field("latency_matrix", &p.latency_matrix)?;
        key.serialize_field("network", &self.1.network)?;
        key.serialize_field("network_faults", &self.1.network_faults)?;
        key.end()
    }
}

impl std::fmt::Display for PointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.0;
        write!(f, "n{} f{}", p.committee, p.faults)?;
        if p.fault_mode == FaultMode::CrashRecovery {
            f.write_str(" (crash-recovery)")?;
        }
        if p.byzantine > 0 {
            write!(f, " b{} {}", p.byzantine, self.behaviour())?;
        }
        write!(
            f,
            ", load {} tx/s, {} B tx, {}",
            p.load,
            p.transaction_size,
            self.protocol()
        )
    }
}
