//! Reads what `node sim --out DIR` leaves into the benchmark's own model: each validator's
//! metrics snapshots (`validator-I/metrics/MILLIS.prom`, parsed by the scraper's parser) as
//! the scrapes of a [`Recording`], its commit log copied where the safety audit reads the
//! commit logs of real validators, and `summary.json`'s seed and what was modelled.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::{
    benchmark::recording::{Recording, ScrapeRecord},
    metrics::Snapshot,
    protocol::files::commit_log_file,
};

/// The simulator's summary file.
pub(crate) const SUMMARY_FILE: &str = "summary.json";
/// A validator's commit log inside its directory.
const COMMITS_FILE: &str = "commits.csv";
/// A validator's metrics snapshots inside its directory.
const METRICS_DIR: &str = "metrics";

/// A validator's directory in the simulator's output.
fn validator_dir(out: &Path, validator: usize) -> std::path::PathBuf {
    out.join(format!("validator-{validator}"))
}

/// What the orchestrator reads of `summary.json` (the figures it computes itself).
#[derive(Debug, Deserialize)]
pub(crate) struct SimSummary {
    pub(crate) seed: u64,
    pub(crate) modelled: String,
}

/// Reads `summary.json` of `out`.
pub(crate) fn summary(out: &Path) -> Result<SimSummary> {
    let path = out.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is malformed", path.display()))
}

/// The snapshots of `validators` in `out` as scrapes, in time order (seconds of virtual time
/// since the start). A validator without snapshots (crashed from the start) has none.
pub(crate) fn recording(out: &Path, validators: &[usize]) -> Result<Recording> {
    let mut recording = Recording::default();
    for &validator in validators {
        let dir = validator_dir(out, validator).join(METRICS_DIR);
        if !dir.is_dir() {
            continue;
        }
        let mut files: Vec<(u64, std::path::PathBuf)> = Vec::new();
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let path = entry?.path();
            let millis = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|_| path.extension().is_some_and(|e| e == "prom"))
                .with_context(|| {
                    format!(
                        "{}: not a MILLIS.prom snapshot of `node sim`",
                        path.display()
                    )
                })?;
            files.push((millis, path));
        }
        files.sort();
        for (millis, path) in files {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let snapshot =
                Snapshot::parse(&text).with_context(|| format!("in {}", path.display()))?;
            recording.scrapes.push(ScrapeRecord {
                validator,
                elapsed_s: millis as f64 / 1000.0,
                snapshot,
            });
        }
    }
    recording
        .scrapes
        .sort_by(|a, b| a.elapsed_s.total_cmp(&b.elapsed_s));
    Ok(recording)
}

/// Copies the commit log of each of `validators` in `out` into `logs` under the name the
/// safety audit reads (`commits-I.csv`); a validator without one is left out (the audit
/// names it).
pub(crate) fn copy_commit_logs(out: &Path, validators: &[usize], logs: &Path) -> Result<()> {
    std::fs::create_dir_all(logs).with_context(|| format!("cannot create {}", logs.display()))?;
    for &validator in validators {
        let source = validator_dir(out, validator).join(COMMITS_FILE);
        if source.is_file() {
            let target = logs.join(commit_log_file(validator));
            std::fs::copy(&source, &target).with_context(|| {
                format!("cannot copy {} to {}", source.display(), target.display())
            })?;
        }
    }
    Ok(())
}
