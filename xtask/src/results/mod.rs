//! Benchmark results: the rows of the CSV files, how they are written, and the summary table.
//!
//! A run directory `results/<run-id>/` holds `summary.csv` (one row per committee, faults,
//! load and repeat), `timeseries.csv` (one row per scrape per validator), `validators.csv`
//! (per validator figures of each window), `faults.csv` (the fault schedule), and per point the
//! committee, parameters and logs. Every summary row is also appended to `results/runs.csv`.

pub mod compare;
pub mod csv_file;
pub mod disturbance;
pub mod plot;
pub mod point_key;
pub mod provenance;
pub mod published;
pub mod rows;
pub mod rtt;
pub mod run_dir;
pub mod run_logs;
pub mod safety;
pub mod saturation;
pub mod seconds;
pub mod table;
pub mod validator_log;

pub use csv_file::append_rows;
pub use point_key::PointKey;
pub use provenance::Provenance;
pub use rows::{
    Checks, FaultRow, NetworkColumns, PointParameters, Simulation, SummaryRow, TimeseriesRow,
    ValidatorRow,
};
pub use safety::Safety;

/// File names inside a run directory.
pub const SUMMARY_FILE: &str = "summary.csv";
pub const TIMESERIES_FILE: &str = "timeseries.csv";
pub const VALIDATORS_FILE: &str = "validators.csv";
pub const FAULTS_FILE: &str = "faults.csv";
/// The cumulative file in the results directory.
pub const RUNS_FILE: &str = "runs.csv";
