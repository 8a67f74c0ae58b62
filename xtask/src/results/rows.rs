//! The rows of the result files. Column names are the field names; latencies are in seconds.

use serde::{Deserialize, Serialize};

/// One row of `summary.csv` and `runs.csv`: a measured window with its provenance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    // Provenance.
    pub run_id: String,
    pub date: String,
    pub git_commit: String,
    pub git_dirty: bool,
    pub node_hash: String,
    pub settings_hash: String,
    pub parameters_hash: String,
    pub provider: String,
    pub regions: String,
    pub instance_type: String,
    // What ran.
    pub committee: usize,
    pub faults: usize,
    pub fault_mode: String,
    /// The fault events, `kind@seconds:validator` separated by `;`.
    pub fault_schedule: String,
    /// Byzantine validators: how many, their behaviour and which (`5;6`). The measured
    /// figures below are the honest validators'.
    pub byzantine: usize,
    pub behaviour: String,
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
    pub latency_matrix: String,
    // What was measured.
    pub measured_s: f64,
    pub validators_observed: usize,
    pub throughput_tps: f64,
    pub throughput_bytes_per_s: f64,
    pub latency_avg_s: Option<f64>,
    pub latency_stdev_s: Option<f64>,
    pub latency_p50_s: Option<f64>,
    pub latency_p90_s: Option<f64>,
    pub latency_p99_s: Option<f64>,
    pub rounds_per_s: f64,
    pub blocks_per_round: f64,
    pub submitted_tps: f64,
    pub rejected_tps: f64,
    pub direct_commits: f64,
    pub indirect_commits: f64,
    pub direct_skips: f64,
    pub indirect_skips: f64,
    pub leader_timeouts: f64,
    pub missing_block_requests: f64,
    pub cpu_cores_mean: f64,
    pub cpu_cores_max: f64,
    pub memory_mib_max: f64,
    /// The safety audit of the correct validators' committed sequences: `ok (N commits
    /// checked)`, `fork at index I: validators A and B ...` or `unchecked: why`.
    pub safety: String,
    /// Leaders committed while the faults were in effect (or in the measured window):
    /// `N commits in S s[ under faults]`.
    pub liveness: String,
    /// True when the run was cut short (Ctrl-C or a failure) and the window is partial.
    pub interrupted: bool,
    /// Why the window may not reflect the code (a stall, a trend, a busy host); empty when it
    /// looked clean. See `results::disturbance`.
    pub disturbed: String,
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
    /// `warmup` or `measure`.
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
             cpu_cores_max,memory_mib_max,safety,liveness,interrupted,disturbed"
        );
        assert_eq!(
            header(columns::<TimeseriesRow>().expect("timeseries")),
            "run_id,point,load,repeat,validator,host,region,instance_type,elapsed_s,phase,\
             committed_transactions,throughput_tps,latency_p50_s,latency_p99_s,current_round,\
             last_committed_round,cpu_cores,memory_mib,submitted_transactions,\
             rejected_transactions,host_cpu_busy,host_iowait,host_steal,host_cpu_pressure,\
             host_io_pressure,disturbed"
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
