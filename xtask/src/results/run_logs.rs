//! The logs of one run: every validator log summarized, with its point and host.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use super::{
    csv_file,
    validator_log::{self, LogSummary},
    TimeseriesRow, ValidatorRow, TIMESERIES_FILE, VALIDATORS_FILE,
};

/// One validator log of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLog {
    /// The point (sub-directory of the run) the log belongs to, if any.
    pub point: Option<String>,
    pub summary: LogSummary,
}

/// Host of each (point, validator), as recorded in the run's CSV files.
fn recorded_hosts(run: &Path) -> BTreeMap<(String, usize), String> {
    let mut hosts = BTreeMap::new();
    // Files of an older schema or from a point that failed before writing them only mean
    // fewer known hosts.
    if let Ok(rows) = csv_file::read_rows::<TimeseriesRow>(&run.join(TIMESERIES_FILE)) {
        for r in rows {
            hosts.entry((r.point, r.validator)).or_insert(r.host);
        }
    }
    if let Ok(rows) = csv_file::read_rows::<ValidatorRow>(&run.join(VALIDATORS_FILE)) {
        for r in rows {
            hosts.entry((r.point, r.validator)).or_insert(r.host);
        }
    }
    hosts
}

/// Summarizes the validator logs of the run directory `run`, and of `logs_root/<run id>` when
/// the settings keep logs elsewhere. Fails when there is no log at all.
pub fn collect(run: &Path, logs_root: Option<&Path>) -> Result<Vec<RunLog>> {
    let mut roots: Vec<PathBuf> = vec![run.to_path_buf()];
    if let (Some(root), Some(id)) = (logs_root, run.file_name()) {
        let dir = root.join(id);
        if dir.is_dir() && !dir.starts_with(run) {
            roots.push(dir);
        }
    }
    let hosts = recorded_hosts(run);
    let mut out = Vec::new();
    for root in &roots {
        for mut summary in validator_log::summarize(root)? {
            let relative = summary.file.strip_prefix(root).unwrap_or(&summary.file);
            let mut components = relative.components();
            let point = (relative.components().count() > 1)
                .then(|| components.next())
                .flatten()
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            if summary.host.is_none() {
                if let (Some(point), Some(validator)) = (&point, summary.validator) {
                    summary.host = hosts.get(&(point.clone(), validator)).cloned();
                }
            }
            out.push(RunLog { point, summary });
        }
    }
    if out.is_empty() {
        let searched: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        bail!(
            "no validator log (validator-<i>.log or .log.gz) under {}",
            searched.join(" or ")
        );
    }
    Ok(out)
}

/// The report `cargo xtask logs` prints: a table of counts, then the first error and panic
/// lines (at most `lines` per log) of the logs that have any.
pub fn render(logs: &[RunLog], lines: usize) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "point",
        "validator",
        "host",
        "errors",
        "warnings",
        "panics",
    ]);
    for log in logs {
        let s = &log.summary;
        let name = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        table.add_row(vec![
            Cell::new(name(log.point.clone())),
            Cell::new(name(s.validator.map(|v| v.to_string()))).set_alignment(CellAlignment::Right),
            Cell::new(name(s.host.clone())),
            Cell::new(s.errors).set_alignment(CellAlignment::Right),
            Cell::new(s.warnings).set_alignment(CellAlignment::Right),
            Cell::new(s.panics).set_alignment(CellAlignment::Right),
        ]);
    }
    let mut out = format!("{table}\n");
    for log in logs.iter().filter(|l| l.summary.has_problems()) {
        let _ = writeln!(out, "{}:", log.summary.file.display());
        for line in log.summary.first_errors.iter().take(lines) {
            let _ = writeln!(out, "  {line}");
        }
    }
    let total = |f: fn(&LogSummary) -> usize| logs.iter().map(|l| f(&l.summary)).sum::<usize>();
    let troubled = logs.iter().filter(|l| l.summary.has_problems()).count();
    let _ = write!(
        out,
        "{} log(s): {} error(s), {} warning(s), {} panic(s); {troubled} log(s) with errors or panics",
        logs.len(),
        total(|s| s.errors),
        total(|s| s.warnings),
        total(|s| s.panics),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::append_rows;

    const RECORDED: &str = include_str!("testdata/validator-2.log");

    #[test]
    fn logs_get_their_point_and_the_recorded_host() {
        let dir = tempfile::tempdir().expect("tmp");
        let run = dir.path().join("run-1");
        let logs = run.join("n4-f0-load1000-r0/logs");
        std::fs::create_dir_all(&logs).expect("mkdir");
        std::fs::write(logs.join("validator-2.log"), RECORDED).expect("log 2");
        std::fs::write(logs.join("validator-3.log"), "").expect("log 3");
        let row = |validator: usize, host: &str| TimeseriesRow {
            point: "n4-f0-load1000-r0".into(),
            validator,
            host: host.into(),
            ..TimeseriesRow::default()
        };
        append_rows(
            &run.join(TIMESERIES_FILE),
            &[row(2, "10.0.0.2"), row(3, "10.0.0.3"), row(2, "10.0.0.2")],
        )
        .expect("timeseries");

        let found = collect(&run, None).expect("logs");
        let seen: Vec<String> = found
            .iter()
            .map(|l| {
                format!(
                    "{:?} {:?} {:?} {}",
                    l.point, l.summary.validator, l.summary.host, l.summary.panics
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                r#"Some("n4-f0-load1000-r0") Some(2) Some("10.0.0.2") 1"#,
                r#"Some("n4-f0-load1000-r0") Some(3) Some("10.0.0.3") 0"#,
            ]
        );
        let text = render(&found, 1);
        assert!(text.contains("10.0.0.2"), "{text}");
        assert!(text.contains("two certified blocks"), "{text}");
        assert!(
            !text.contains("panicked at"),
            "only the first line per log: {text}"
        );
        assert!(
            text.ends_with(
                "2 log(s): 2 error(s), 2 warning(s), 1 panic(s); 1 log(s) with errors or panics"
            ),
            "{text}"
        );
    }

    #[test]
    fn logs_kept_outside_the_run_directory_are_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let run = dir.path().join("results/run-2");
        std::fs::create_dir_all(&run).expect("run");
        let elsewhere = dir.path().join("logs/run-2/n4-f0-load1000-r0");
        std::fs::create_dir_all(&elsewhere).expect("logs");
        std::fs::write(elsewhere.join("validator-0@10.0.0.9.log"), RECORDED).expect("log");
        let found = collect(&run, Some(&dir.path().join("logs"))).expect("logs");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].point.as_deref(), Some("n4-f0-load1000-r0"));
        assert_eq!(found[0].summary.host.as_deref(), Some("10.0.0.9"));
    }

    #[test]
    fn a_run_without_logs_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = collect(dir.path(), None).expect_err("no logs");
        assert!(err.to_string().contains("no validator log"), "{err}");
    }
}
