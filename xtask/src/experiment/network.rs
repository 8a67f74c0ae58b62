//! The network conditions of an experiment: where validators sit (a latency matrix's or a
//! network profile's regions, round-robin), the profile and egress cap the node emulates, and
//! the scheduled network faults (partitions, slow validators, flapping links) with their
//! windows counted from the start of the measured window.
//!
//! The node owns the model (`node/README.md`, "Network emulation"): the orchestrator keeps only
//! what it reasons about (regions for the placement, validators and windows of the faults for
//! the results and the audits) and passes the rest through as [`NodeArg`]s, in the node's
//! syntax, to every validator.

use std::{fmt, path::PathBuf, time::Duration};

use super::LatencyMatrix;
use crate::protocol::NodeArg;

/// The network conditions between validators.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Network {
    /// Geo emulation: one-way delays between regions, applied by the node's transport.
    pub latency_matrix: Option<LatencyMatrix>,
    /// A network profile (jitter, asymmetry, loss, egress caps per region).
    pub profile: Option<NetworkProfile>,
    /// Every validator's egress cap in Mbit/s (over the profile's), when given.
    pub egress_mbps: Option<f64>,
    /// Scheduled network faults, in the order given.
    pub faults: Vec<NetworkFault>,
    /// What every validator's `node run` gets for the above (the fault epoch is added per
    /// run): the one pass-through of node flags.
    pub node_args: Vec<NodeArg>,
}

/// Where a profile comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileSource {
    /// Compiled into the node (from `assets/network/<name>.json`): passed by name.
    BuiltIn,
    /// A JSON file: copied into the run directory and passed by path.
    File(PathBuf),
}

/// A network profile, as far as the orchestrator reads it: its name and regions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkProfile {
    /// The built-in name or the file's stem (the `network` column).
    pub name: String,
    pub source: ProfileSource,
    /// Its regions in file order: validator i sits in region i mod regions.
    pub regions: Vec<String>,
}

/// Which node flag a network fault is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NetworkFaultKind {
    /// `--partition SIDES@START+DURATION`.
    Partition,
    /// `--slow V:+DELAY[@START+DURATION]`.
    Slow,
    /// `--flap A-B:PERIOD,DOWN%[@START+DURATION]`.
    Flap,
}

impl NetworkFaultKind {
    /// The word the results use (`partition`, `slow`, `flap`).
    pub fn word(self) -> &'static str {
        match self {
            Self::Partition => "partition",
            Self::Slow => "slow",
            Self::Flap => "flap",
        }
    }
}

/// A window of a network fault, from the start of the measured window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultWindow {
    pub start: Duration,
    pub duration: Duration,
}

impl FaultWindow {
    /// Its end, from the start of the measured window.
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }
}

/// One scheduled network fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkFault {
    pub kind: NetworkFaultKind,
    /// As given, in the node's syntax (passed through verbatim).
    pub spec: String,
    /// The validators it names.
    pub validators: Vec<usize>,
    /// When it is in effect; None: a slow validator always, a flapping link from the epoch
    /// (the start of the measured window) on.
    pub window: Option<FaultWindow>,
}

impl fmt::Display for NetworkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.word(), self.spec)
    }
}

impl NetworkFault {
    /// Whether it is in effect `t` seconds after the start of the measured window (negative:
    /// in the warm-up).
    pub fn active_at(&self, t: f64) -> bool {
        match (self.window, self.kind) {
            (Some(w), _) => w.start.as_secs_f64() <= t && t < w.end().as_secs_f64(),
            (None, NetworkFaultKind::Slow) => true,
            (None, _) => t >= 0.0,
        }
    }
}

impl Network {
    /// The regions validators are placed on (the profile's or the matrix's), if any.
    pub fn regions(&self) -> Option<&[String]> {
        match (&self.profile, &self.latency_matrix) {
            (Some(profile), _) => Some(&profile.regions),
            (None, Some(matrix)) => Some(matrix.regions()),
            (None, None) => None,
        }
    }

    /// The region of validator `i` (round-robin over [`Self::regions`], as validators are
    /// placed on hosts).
    pub fn region_of(&self, validator: usize) -> Option<&str> {
        let regions = self.regions()?;
        regions
            .get(super::host_index(validator, regions.len()))
            .map(String::as_str)
    }

    /// The `network` column: the profile's name, or the matrix's, and the egress cap when
    /// given; empty without emulation.
    pub fn name(&self) -> String {
        let base = match (&self.profile, &self.latency_matrix) {
            (Some(profile), _) => Some(profile.name.clone()),
            (None, Some(matrix)) => Some(matrix.name.clone()),
            (None, None) => None,
        };
        let egress = self.egress_mbps.map(|m| format!("egress {m} Mbit/s"));
        match (base, egress) {
            (Some(b), Some(e)) => format!("{b}, {e}"),
            (b, e) => b.or(e).unwrap_or_default(),
        }
    }

    /// The `network_faults` column: every scheduled fault (kind and spec, with its times),
    /// `;`-separated.
    pub fn faults_summary(&self) -> String {
        join(self.faults.iter())
    }

    /// The faults in effect `elapsed_s` seconds after the validators started, in a run whose
    /// warm-up lasts `warmup_s` (a time series cell).
    pub fn active_faults(&self, elapsed_s: f64, warmup_s: f64) -> String {
        join(
            self.faults
                .iter()
                .filter(|f| f.active_at(elapsed_s - warmup_s)),
        )
    }

    /// The partitions' windows in seconds since the validators started: the liveness and
    /// stall audits count them as faults in effect.
    pub fn partition_windows(&self, warmup_s: f64) -> Vec<(f64, f64)> {
        self.faults
            .iter()
            .filter(|f| f.kind == NetworkFaultKind::Partition)
            .filter_map(|f| f.window)
            .map(|w| {
                (
                    warmup_s + w.start.as_secs_f64(),
                    warmup_s + w.end().as_secs_f64(),
                )
            })
            .collect()
    }
}

fn join<'a>(faults: impl Iterator<Item = &'a NetworkFault>) -> String {
    faults
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: NetworkFaultKind, spec: &str, window: Option<(u64, u64)>) -> NetworkFault {
        NetworkFault {
            kind,
            spec: spec.into(),
            validators: vec![3],
            window: window.map(|(s, d)| FaultWindow {
                start: Duration::from_secs(s),
                duration: Duration::from_secs(d),
            }),
        }
    }

    #[test]
    fn faults_are_active_in_their_windows_counted_from_the_measured_window() {
        let network = Network {
            faults: vec![
                fault(NetworkFaultKind::Partition, "0,1,2/3@2s+3s", Some((2, 3))),
                fault(NetworkFaultKind::Slow, "3:+200ms", None),
                fault(NetworkFaultKind::Flap, "0-3:2s,25%", None),
            ],
            ..Network::default()
        };
        // Warm-up of 5 s: the partition runs from 7 s to 10 s after the start.
        assert_eq!(network.active_faults(1.0, 5.0), "slow 3:+200ms");
        assert_eq!(
            network.active_faults(7.5, 5.0),
            "partition 0,1,2/3@2s+3s;slow 3:+200ms;flap 0-3:2s,25%"
        );
        assert_eq!(
            network.active_faults(10.0, 5.0),
            "slow 3:+200ms;flap 0-3:2s,25%"
        );
        assert_eq!(network.partition_windows(5.0), vec![(7.0, 10.0)]);
        assert_eq!(
            network.faults_summary(),
            "partition 0,1,2/3@2s+3s;slow 3:+200ms;flap 0-3:2s,25%"
        );
    }

    #[test]
    fn the_network_is_named_by_its_profile_or_matrix_and_cap() {
        let mut network = Network {
            profile: Some(NetworkProfile {
                name: "lan".into(),
                source: ProfileSource::BuiltIn,
                regions: vec!["lan".into()],
            }),
            ..Network::default()
        };
        assert_eq!(network.name(), "lan");
        assert_eq!(network.region_of(3), Some("lan"));
        network.egress_mbps = Some(100.0);
        assert_eq!(network.name(), "lan, egress 100 Mbit/s");
        network.profile = None;
        assert_eq!(network.name(), "egress 100 Mbit/s");
        assert_eq!(network.region_of(0), None);
        assert_eq!(Network::default().name(), "");
    }
}
