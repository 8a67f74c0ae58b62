//! Owns the run directory as a whole: the files it starts with, recording a summary row (in
//! the run's `summary.csv` and the results directory's `runs.csv`), finding the last run and
//! reading the summary rows of a run directory or CSV file.

use std::{
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::{bail, Context, Result};

use super::{csv_file, SummaryRow, RUNS_FILE, SUMMARY_FILE};

/// The settings as used, the first file of a run directory (written before the first point).
pub const SETTINGS_FILE: &str = "settings.json";
/// The protocol parameters as used.
pub const PROTOCOL_FILE: &str = "protocol.json";

/// Records `row`, measured in the run directory `run`, there and in the cumulative file of
/// `results` (the results directory).
pub fn record(run: &Path, results: &Path, row: &SummaryRow) -> Result<()> {
    csv_file::append_rows(&run.join(SUMMARY_FILE), &[row])?;
    csv_file::append_rows(&results.join(RUNS_FILE), &[row])
}

/// The run directory under `results` that started last (by the time its settings were
/// written), whether or not it finished.
pub fn latest(results: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(results).with_context(|| {
        format!(
            "cannot read the results directory {} (run `cargo xtask bench` first)",
            results.display()
        )
    })?;
    let mut latest: Option<(SystemTime, PathBuf)> = None;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", results.display()))?;
        let marker = entry.path().join(SETTINGS_FILE);
        let Ok(modified) = std::fs::metadata(&marker).and_then(|m| m.modified()) else {
            continue;
        };
        if latest.as_ref().is_none_or(|(t, _)| modified > *t) {
            latest = Some((modified, entry.path()));
        }
    }
    latest.map(|(_, path)| path).with_context(|| {
        format!(
            "no run in {} (run `cargo xtask bench` first)",
            results.display()
        )
    })
}

/// The run directory a command names: a directory path, a run id under `results`, or (with
/// none) the last run.
pub fn resolve(results: &Path, run: Option<&Path>) -> Result<PathBuf> {
    match run {
        None => latest(results),
        Some(path) if path.is_dir() => Ok(path.to_path_buf()),
        Some(id) => {
            let path = results.join(id);
            if path.is_dir() {
                Ok(path)
            } else {
                bail!(
                    "no run {}: neither a directory nor a run id in {}",
                    id.display(),
                    results.display()
                )
            }
        }
    }
}

/// The summary CSV of `path`: the file itself, or `summary.csv` in a run directory.
pub fn summary_file(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        let file = path.join(SUMMARY_FILE);
        if !file.is_file() {
            bail!(
                "{} has no {SUMMARY_FILE}: not a run directory, or the run measured nothing",
                path.display()
            );
        }
        Ok(file)
    } else if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        bail!(
            "{} is neither a run directory nor a CSV file",
            path.display()
        )
    }
}

/// The summary rows of a run directory or a summary CSV file (`summary.csv`, `runs.csv`).
pub fn summary_rows(path: &Path) -> Result<Vec<SummaryRow>> {
    let file = summary_file(path)?;
    let rows: Vec<SummaryRow> = csv_file::read_rows(&file)?;
    if rows.is_empty() {
        bail!("{} has no result row", file.display());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_is_the_run_started_last() {
        let dir = tempfile::tempdir().expect("tmp");
        for (name, age) in [("b-older", 100), ("a-newer", 10), ("c-middle", 50)] {
            let run = dir.path().join(name);
            std::fs::create_dir(&run).expect("run");
            let marker = std::fs::File::create(run.join(SETTINGS_FILE)).expect("marker");
            let time = SystemTime::now() - std::time::Duration::from_secs(age);
            marker.set_modified(time).expect("mtime");
        }
        std::fs::create_dir(dir.path().join("not-a-run")).expect("other");
        assert_eq!(
            latest(dir.path()).expect("latest"),
            dir.path().join("a-newer")
        );
        let empty = tempfile::tempdir().expect("tmp");
        let err = latest(empty.path()).expect_err("no run");
        assert!(err.to_string().contains("no run in"), "{err}");
    }

    #[test]
    fn a_directory_without_summary_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = summary_rows(dir.path()).expect_err("no summary");
        assert!(err.to_string().contains("has no summary.csv"), "{err}");
        let err = summary_rows(&dir.path().join("nope.csv")).expect_err("missing");
        assert!(err.to_string().contains("neither"), "{err}");
    }
}
