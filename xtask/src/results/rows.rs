//! Owns the rows of the result files: column names are the field names, in order; latencies
//! in seconds. A summary row is composed of its parts (provenance, what ran, what was measured,
//! what the checks found), so a column is added to its part alone.

use std::fmt;

use serde::{
    de::{MapAccess, Visitor},
    Deserialize, Deserializer, Serialize, Serializer,
};

use super::{rtt::RoundTrips, Provenance, Safety};
use crate::{
    experiment::{Behaviour, FaultMode},
    metrics::Summary,
};

/// One row of `summary.csv` and `runs.csv`: a measured window with its provenance. Its columns
/// are its parts' fields, part after part.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SummaryRow {
    pub provenance: Provenance,
    pub point: PointParameters,
    pub measured: Summary,
    pub checks: Checks,
    pub network: NetworkColumns,
    /// The round trips measured between the hosts of a remote run (empty on the local
    /// testbed).
    pub round_trips: RoundTrips,
    pub simulation: Simulation,
}

/// What ran at a point: the columns of a summary row between the provenance and the measured
/// figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PointParameters {
    pub committee: usize,
    pub faults: usize,
    pub fault_mode: FaultMode,
    /// The fault events, `kind@seconds:validator` separated by `;`.
    pub fault_schedule: String,
    /// Byzantine validators: how many, their behaviour and which (`5;6`). The measured
    /// figures are the honest validators'.
    pub byzantine: usize,
    /// Empty without Byzantine validators.
    pub behaviour: Option<Behaviour>,
    pub byzantine_validators: String,
    pub load: u64,
    pub repeat: usize,
    pub transaction_size: usize,
    pub warmup_s: u64,
    pub duration_s: u64,
    pub wave_length: u32,
    pub leaders: u32,
    pub leader_wait: bool,
    pub leader_timeout_ms: u64,
    /// The latency matrix's name; empty without one.
    pub latency_matrix: String,
}

/// What the checks of a run found: the last columns of a summary row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Checks {
    /// The safety audit of the correct validators' committed sequences: `ok (N commits
    /// checked)`, `fork at index I: validators A and B ...` or `unchecked: why`.
    pub safety: Safety,
    /// Leaders committed while the faults were in effect (or in the measured window):
    /// `N commits in S s[ under faults]`.
    pub liveness: String,
    /// The slowest rejoin of a restarted validator: seconds from its restart until its last
    /// committed round is within a few rounds of the correct validators' (`4.2 s`), `not
    /// within S s` when it did not rejoin before it crashed again or the run ended, empty
    /// without restarts. See `benchmark::audit::rejoin`.
    pub rejoin: String,
    /// True when the run was cut short (Ctrl-C or a failure) and the window is partial.
    pub interrupted: bool,
    /// Why the window may not reflect the code (a stall, a trend, a busy host); empty when it
    /// looked clean. See `results::disturbance`.
    pub disturbed: String,
}

/// The network the node emulated: columns after the checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NetworkColumns {
    /// The network profile's name, or the latency matrix's, with the egress cap when given;
    /// empty without emulation.
    pub network: String,
    /// Every scheduled network fault, `kind spec` in the node's syntax with its times from
    /// the start of the measured window (`partition 0,1,2/3@5s+10s`), `;`-separated.
    pub network_faults: String,
}

/// What a simulated run modelled: the last columns of a summary row, empty for measured rows
/// (and in files written before these columns existed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Simulation {
    /// The simulator's seed of this run (the testbed's seed plus the repeat).
    #[serde(default)]
    pub seed: Option<u64>,
    /// What the simulator modelled, as its `summary.json` says.
    #[serde(default)]
    pub modelled: String,
}

impl SummaryRow {
    /// Whether this row comes from the simulator rather than from validators that ran.
    pub fn is_simulated(&self) -> bool {
        self.simulation.seed.is_some()
    }
}

/// A CSV record: the parts' columns one after the other.
impl Serialize for SummaryRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (
            &self.provenance,
            &self.point,
            &self.measured,
            &self.checks,
            &self.network,
            &self.round_trips,
            &self.simulation,
        )
            .serialize(serializer)
    }
}

/// From a CSV record read with its header: each part takes its columns by name.
impl<'de> Deserialize<'de> for SummaryRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (names, values) = deserializer.deserialize_map(Columns)?;
        fn part<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            names: &csv::StringRecord,
            values: &csv::StringRecord,
        ) -> Result<T, E> {
            values.deserialize(Some(names)).map_err(E::custom)
        }
        Ok(Self {
            provenance: part(&names, &values)?,
            point: part(&names, &values)?,
            measured: part(&names, &values)?,
            checks: part(&names, &values)?,
            network: part(&names, &values)?,
            round_trips: part(&names, &values)?,
            simulation: part(&names, &values)?,
        })
    }
}

/// Collects a record's columns as text, names and values in the file's order.
struct Columns;

impl<'de> Visitor<'de> for Columns {
    type Value = (csv::StringRecord, csv::StringRecord);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CSV record with a header")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut columns = (csv::StringRecord::new(), csv::StringRecord::new());
        while let Some((name, value)) = map.next_entry::<String, String>()? {
            columns.0.push_field(&name);
            columns.1.push_field(&value);
        }
        Ok(columns)
    }
}

/// One row of `timeseries.csv`: one scrape of one validator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeseriesRow {
    pub run_id: String,
    pub point: String,
    pub load: u64,
    pub repeat: usize,
    pub validator: usize,
    pub host: String,
    pub region: String,
    pub instance_type: String,
    /// Seconds since the validators started.
    pub elapsed_s: f64,
    /// [`TimeseriesRow::WARMUP`] or [`TimeseriesRow::MEASURE`].
    pub phase: String,
    pub committed_transactions: f64,
    /// Committed transactions per second since this validator's previous scrape.
    pub throughput_tps: f64,
    /// Latency percentiles of the commits since the previous scrape.
    pub latency_p50_s: Option<f64>,
    pub latency_p99_s: Option<f64>,
    pub current_round: f64,
    pub last_committed_round: f64,
    /// CPU cores used since the previous scrape.
    pub cpu_cores: f64,
    pub memory_mib: f64,
    pub submitted_transactions: f64,
    pub rejected_transactions: f64,
    /// This host's load since the previous scrape, as fractions (local testbed only): CPU
    /// busy, iowait and steal from `/proc/stat`, time some task waited for a CPU or for I/O
    /// from `/proc/pressure`.
    pub host_cpu_busy: Option<f64>,
    pub host_iowait: Option<f64>,
    pub host_steal: Option<f64>,
    pub host_cpu_pressure: Option<f64>,
    pub host_io_pressure: Option<f64>,
    /// `stall` when this interval lies in a stall of the system (see `results::disturbance`).
    pub disturbed: String,
    /// The network faults in effect at this scrape, as in the summary's `network_faults`.
    pub network_faults: String,
}

impl TimeseriesRow {
    /// The `phase` of a scrape in the warm-up.
    pub const WARMUP: &'static str = "warmup";
    /// The `phase` of a scrape in the measured window.
    pub const MEASURE: &'static str = "measure";

    /// The phase of a scrape `elapsed_s` seconds into a run whose warm-up lasts `warmup_s`.
    pub fn phase_at(elapsed_s: f64, warmup_s: f64) -> &'static str {
        if elapsed_s < warmup_s {
            Self::WARMUP
        } else {
            Self::MEASURE
        }
    }

    /// Whether this scrape lies in the measured window.
    pub fn is_measured(&self) -> bool {
        self.phase == Self::MEASURE
    }
}

/// One row of `validators.csv`: one validator over a measured window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidatorRow {
    pub run_id: String,
    pub point: String,
    pub load: u64,
    pub repeat: usize,
    pub validator: usize,
    pub host: String,
    pub region: String,
    pub instance_type: String,
    pub faulty: bool,
    pub byzantine: bool,
    pub throughput_tps: f64,
    pub latency_p50_s: Option<f64>,
    pub latency_p99_s: Option<f64>,
    pub cpu_cores: f64,
    pub memory_mib: f64,
    pub submitted_tps: f64,
    pub rejected_tps: f64,
}

/// One row of `faults.csv`: a fault event as scheduled and as applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultRow {
    pub run_id: String,
    pub point: String,
    pub at_s: f64,
    pub validator: usize,
    pub event: String,
    /// Seconds since start when it was applied (empty if the run ended first).
    pub applied_at_s: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::csv_file::columns;

    /// A summary row read back from its file is the row written, every part of it.
    #[test]
    fn a_summary_row_reads_back_as_written() {
        let row = SummaryRow {
            provenance: Provenance {
                run_id: "20261201-120000".into(),
                git_dirty: true,
                parameters_hash: "0123456789abcdef".into(),
                ..Provenance::default()
            },
            point: PointParameters {
                committee: 4,
                load: 1000,
                leader_timeout_ms: 500,
                latency_matrix: "global".into(),
                ..PointParameters::default()
            },
            measured: Summary {
                throughput_tps: 987.5,
                latency_p50_s: Some(0.125),
                latency_p99_s: None,
                ..Summary::default()
            },
            checks: Checks {
                safety: Safety::Ok { checked: 12 },
                interrupted: true,
                ..Checks::default()
            },
            network: NetworkColumns {
                network: "lan".into(),
                network_faults: "partition 0,1,2/3@2s+3s;slow 3:+200ms".into(),
            },
            round_trips: RoundTrips {
                rtt_median_ms: Some(0.25),
                rtt_max_ms: None,
                rtt_file: "rtt.csv".into(),
                rtt_vs_matrix: "real network, no matrix".into(),
            },
            simulation: Simulation {
                seed: Some(7),
                modelled: "virtual clock, no CPU time".into(),
            },
        };
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("summary.csv");
        crate::results::append_rows(&path, &[&row]).expect("write");
        let read: Vec<SummaryRow> = crate::results::csv_file::read_rows(&path).expect("read");
        assert_eq!(read, vec![row]);
    }

    /// The result files' headers, exactly: readers of older runs and other tools rely on them.
    #[test]
    fn the_headers_are_pinned() {
        let header = |columns: Vec<String>| columns.join(",");
        assert_eq!(
            header(columns::<SummaryRow>().expect("summary")),
            "run_id,date,git_commit,git_dirty,node_hash,settings_hash,parameters_hash,provider,\
             regions,instance_type,committee,faults,fault_mode,fault_schedule,byzantine,\
             behaviour,byzantine_validators,load,repeat,transaction_size,warmup_s,duration_s,\
             wave_length,leaders,leader_wait,leader_timeout_ms,latency_matrix,measured_s,\
             validators_observed,throughput_tps,throughput_bytes_per_s,latency_avg_s,\
             latency_stdev_s,latency_p50_s,latency_p90_s,latency_p99_s,rounds_per_s,\
             blocks_per_round,submitted_tps,rejected_tps,direct_commits,indirect_commits,\
             direct_skips,indirect_skips,leader_timeouts,missing_block_requests,cpu_cores_mean,\
             cpu_cores_max,memory_mib_max,safety,liveness,rejoin,interrupted,disturbed,network,\
             network_faults,rtt_median_ms,rtt_max_ms,rtt_file,rtt_vs_matrix,seed,modelled"
        );
        assert_eq!(
            header(columns::<TimeseriesRow>().expect("timeseries")),
            "run_id,point,load,repeat,validator,host,region,instance_type,elapsed_s,phase,\
             committed_transactions,throughput_tps,latency_p50_s,latency_p99_s,current_round,\
             last_committed_round,cpu_cores,memory_mib,submitted_transactions,\
             rejected_transactions,host_cpu_busy,host_iowait,host_steal,host_cpu_pressure,\
             host_io_pressure,disturbed,network_faults"
        );
        assert_eq!(
            header(columns::<ValidatorRow>().expect("validators")),
            "run_id,point,load,repeat,validator,host,region,instance_type,faulty,byzantine,\
             throughput_tps,latency_p50_s,latency_p99_s,cpu_cores,memory_mib,submitted_tps,\
             rejected_tps"
        );
        assert_eq!(
            header(columns::<FaultRow>().expect("faults")),
            "run_id,point,at_s,validator,event,applied_at_s"
        );
    }
}
