//! Summaries of validator logs: errors, warnings and panics per file.
//!
//! The node logs through `tracing`'s default format (`<timestamp> <LEVEL> <target>: <message>`)
//! on stderr, which the testbeds write to `validator-<i>.log` (compressed as `.log.gz` when
//! downloaded from remote hosts). A file named `validator-<i>@<host>.log[.gz]` also names its
//! host. A panic prints `thread '<name>' panicked at <file>:<line>:<col>:` followed by its
//! message on the next line; a fatal error ends the log with `error: <message>`.

use std::{
    fs::File,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;
use serde::Serialize;

/// How many error and panic lines a summary keeps.
pub const FIRST_ERRORS: usize = 5;

/// Longest line kept in [`LogSummary::first_errors`], in characters.
const MAX_LINE: usize = 300;

/// What one validator log says about the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogSummary {
    /// The log file.
    pub file: PathBuf,
    /// Validator index, from the file name.
    pub validator: Option<usize>,
    /// Host, from the file name (`validator-<i>@<host>.log`).
    pub host: Option<String>,
    /// `ERROR` lines and fatal `error:` lines.
    pub errors: usize,
    /// `WARN` lines.
    pub warnings: usize,
    /// Panics (`panicked at`).
    pub panics: usize,
    /// The first [`FIRST_ERRORS`] error and panic lines (a panic with its message).
    pub first_errors: Vec<String>,
}

impl LogSummary {
    /// Whether the log shows an error or a panic.
    pub fn has_problems(&self) -> bool {
        self.errors > 0 || self.panics > 0
    }
}

/// Summarizes every validator log (`validator*.log` or `validator*.log.gz`) under `dir`,
/// recursively, in path order.
pub fn summarize(dir: &Path) -> Result<Vec<LogSummary>> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let mut summaries = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(name) = LogName::parse(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        let path = entry.path();
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let reader: Box<dyn Read> = if name.gzip {
            Box::new(MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut summary = summarize_reader(BufReader::new(reader))
            .with_context(|| format!("cannot read {}", path.display()))?;
        summary.file = path.to_path_buf();
        summary.validator = name.validator;
        summary.host = name.host;
        summaries.push(summary);
    }
    Ok(summaries)
}

/// What a log file's name tells.
struct LogName {
    validator: Option<usize>,
    host: Option<String>,
    gzip: bool,
}

impl LogName {
    fn parse(file_name: &str) -> Option<Self> {
        let (stem, gzip) = match file_name.strip_suffix(".log.gz") {
            Some(stem) => (stem, true),
            None => (file_name.strip_suffix(".log")?, false),
        };
        let rest = stem.strip_prefix("validator")?;
        let (index, host) = match rest.split_once('@') {
            Some((index, host)) if !host.is_empty() => (index, Some(host.to_string())),
            _ => (rest, None),
        };
        let validator = index.strip_prefix('-').and_then(|i| i.parse().ok());
        Some(Self {
            validator,
            host,
            gzip,
        })
    }
}

/// The kind of a log line.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Error,
    Warning,
    Panic,
    Other,
}

fn classify(line: &str) -> Line {
    if line.contains("panicked at") {
        return Line::Panic;
    }
    if line.starts_with("error: ") {
        return Line::Error;
    }
    let mut tokens = line.split_whitespace();
    let is_timestamp = tokens
        .next()
        .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_digit()));
    match tokens.next() {
        Some("ERROR") if is_timestamp => Line::Error,
        Some("WARN") if is_timestamp => Line::Warning,
        _ => Line::Other,
    }
}

fn shorten(line: &str) -> String {
    if line.chars().count() <= MAX_LINE {
        return line.to_string();
    }
    let mut short: String = line.chars().take(MAX_LINE).collect();
    short.push('…');
    short
}

/// Counts the lines of one log (file, validator and host left empty).
fn summarize_reader(mut reader: impl BufRead) -> Result<LogSummary> {
    let mut summary = LogSummary::default();
    let mut buffer = Vec::new();
    // A panic's message is on the line after `panicked at`.
    let mut pending_panic: Option<String> = None;
    loop {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buffer);
        let line = text.trim_end();
        let kind = classify(line);
        if let Some(head) = pending_panic.take() {
            let kept = match kind {
                Line::Other => format!("{head} {line}"),
                _ => head,
            };
            if summary.first_errors.len() < FIRST_ERRORS {
                summary.first_errors.push(shorten(&kept));
            }
            if kind == Line::Other {
                continue;
            }
        }
        match kind {
            Line::Panic => {
                summary.panics += 1;
                pending_panic = Some(line.to_string());
            }
            Line::Error => {
                summary.errors += 1;
                if summary.first_errors.len() < FIRST_ERRORS {
                    summary.first_errors.push(shorten(line));
                }
            }
            Line::Warning => summary.warnings += 1,
            Line::Other => {}
        }
    }
    if let Some(head) = pending_panic {
        if summary.first_errors.len() < FIRST_ERRORS {
            summary.first_errors.push(shorten(&head));
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Log text in the node's format: a peer dropped, a corrupted WAL tail, a safety error
    /// followed by the panic that stops the core, and the fatal line of `main`.
    const RECORDED: &str = include_str!("testdata/validator-2.log");

    #[test]
    fn counts_levels_panics_and_keeps_the_first_errors() {
        let s = summarize_reader(RECORDED.as_bytes()).expect("summary");
        assert_eq!((s.errors, s.warnings, s.panics), (2, 2, 1), "{s:?}");
        assert_eq!(s.first_errors.len(), 3, "{:?}", s.first_errors);
        assert!(s.first_errors[0].contains("two certified blocks in one slot"));
        assert!(
            s.first_errors[1].starts_with("thread 'tokio-runtime-worker' panicked at")
                && s.first_errors[1].contains("safety violation"),
            "panic kept with its message: {}",
            s.first_errors[1]
        );
        assert_eq!(s.first_errors[2], "error: the core stopped unexpectedly");
        assert!(s.has_problems());
    }

    #[test]
    fn words_inside_messages_are_not_levels() {
        let text = "2026-11-25T08:25:15Z  INFO node: peer said ERROR and WARN\n\
                    ERROR without a timestamp\n";
        let s = summarize_reader(text.as_bytes()).expect("summary");
        assert_eq!((s.errors, s.warnings, s.panics), (0, 0, 0));
        assert!(!s.has_problems());
    }

    #[test]
    fn keeps_only_the_first_errors_and_shortens_long_lines() {
        let long = "x".repeat(1000);
        let text: String = (0..20)
            .map(|i| format!("2026-11-25T08:25:15Z ERROR node: failure {i} {long}\n"))
            .collect();
        let s = summarize_reader(text.as_bytes()).expect("summary");
        assert_eq!(s.errors, 20);
        assert_eq!(s.first_errors.len(), FIRST_ERRORS);
        assert!(s.first_errors[0].contains("failure 0"));
        assert!(s.first_errors[0].chars().count() <= MAX_LINE + 1);
    }

    #[test]
    fn reads_plain_and_gzipped_logs_recursively_with_names() {
        let dir = tempfile::tempdir().expect("tmp");
        let point = dir.path().join("n4-f0-load1000-r0/logs");
        std::fs::create_dir_all(&point).expect("mkdir");
        std::fs::write(point.join("validator-2.log"), RECORDED).expect("plain");
        let gz = File::create(point.join("validator-3@10.0.0.7.log.gz")).expect("gz");
        let mut encoder = flate2::write::GzEncoder::new(gz, flate2::Compression::default());
        encoder.write_all(RECORDED.as_bytes()).expect("compress");
        encoder.finish().expect("finish");
        std::fs::write(point.join("notes.txt"), "ERROR not a log").expect("other");
        std::fs::write(dir.path().join("validator-0.log"), "").expect("empty");

        let summaries = summarize(dir.path()).expect("summaries");
        let names: Vec<(Option<usize>, Option<&str>)> = summaries
            .iter()
            .map(|s| (s.validator, s.host.as_deref()))
            .collect();
        assert_eq!(
            names,
            vec![
                (Some(2), None),
                (Some(3), Some("10.0.0.7")),
                (Some(0), None)
            ]
        );
        assert_eq!(summaries[0].panics, 1);
        assert_eq!(
            (
                summaries[1].errors,
                summaries[1].warnings,
                summaries[1].panics
            ),
            (2, 2, 1),
            "the gzipped copy reads the same"
        );
        assert_eq!(
            summaries[2],
            LogSummary {
                file: dir.path().join("validator-0.log"),
                validator: Some(0),
                ..LogSummary::default()
            }
        );
    }

    #[test]
    fn a_missing_directory_is_named() {
        let err = summarize(Path::new("/nonexistent/run")).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/run"), "{err}");
    }
}
