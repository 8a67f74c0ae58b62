//! Validator logs from the hosts: fetched as one gzip-compressed tar stream per host,
//! unpacked next to the results, and counted (errors, warnings, panics).

use std::{
    io::BufRead,
    path::{Component, Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// What a validator log reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogCounts {
    /// Lines logged at ERROR level.
    pub errors: u64,
    /// Lines logged at WARN level.
    pub warnings: u64,
    /// Rust panics (`panicked at`).
    pub panics: u64,
}

impl std::ops::AddAssign for LogCounts {
    fn add_assign(&mut self, other: Self) {
        self.errors += other.errors;
        self.warnings += other.warnings;
        self.panics += other.panics;
    }
}

/// Counts the levels of a node log (tracing's format: `<time>  LEVEL target: message`).
pub fn count(log: impl BufRead) -> LogCounts {
    let mut counts = LogCounts::default();
    for line in log.lines().map_while(Result::ok) {
        let mut words = line.split_whitespace();
        let timestamp = words.next().unwrap_or_default();
        let level = match timestamp.starts_with(|c: char| c.is_ascii_digit()) {
            true => words.next().unwrap_or_default(),
            false => "",
        };
        match level {
            "ERROR" => counts.errors += 1,
            "WARN" => counts.warnings += 1,
            _ => {}
        }
        if line.contains("panicked at") {
            counts.panics += 1;
        }
    }
    counts
}

/// Counts a log file.
pub fn count_file(path: &Path) -> Result<LogCounts> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(count(std::io::BufReader::new(file)))
}

/// The shell command that writes the point's logs in `dir` as a gzip-compressed tar stream.
pub fn archive_command(dir: &str, files: &[String]) -> String {
    format!(
        "cd {} && tar -czf - -- {}",
        crate::ssh::shell::quote(dir),
        crate::ssh::shell::join(files)
    )
}

/// Unpacks a `.tar.gz` of log files into `destination`; only plain files named without any
/// directory are accepted. Returns the files written.
pub fn unpack(archive: &Path, destination: &Path) -> Result<Vec<PathBuf>> {
    let file = std::fs::File::open(archive)
        .with_context(|| format!("cannot read {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut written = Vec::new();
    let entries = tar
        .entries()
        .with_context(|| format!("{} is not a tar.gz archive", archive.display()))?;
    for entry in entries {
        let mut entry =
            entry.with_context(|| format!("{} is a damaged archive", archive.display()))?;
        let path = entry.path()?.into_owned();
        let mut components = path.components();
        let (Some(Component::Normal(name)), None) = (components.next(), components.next()) else {
            bail!(
                "{} holds {}, not a plain log file name",
                archive.display(),
                path.display()
            );
        };
        if !entry.header().entry_type().is_file() {
            bail!("{} holds {}, not a file", archive.display(), path.display());
        }
        let target = destination.join(name);
        entry
            .unpack(&target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_levels_and_panics() {
        let log = "2025-01-01T00:00:00.000001Z  INFO node::validator: validator started\n\
                   2025-01-01T00:00:01.000001Z  WARN node::network: peer 2 unreachable\n\
                   2025-01-01T00:00:02.000001Z ERROR node::core: cannot write the WAL\n\
                   thread 'tokio-runtime-worker' panicked at node/src/core/mod.rs:10:5:\n\
                   an ERROR inside a message is not a level\n";
        assert_eq!(
            count(log.as_bytes()),
            LogCounts {
                errors: 1,
                warnings: 1,
                panics: 1
            }
        );
    }

    #[test]
    fn unpacks_what_the_host_archives_and_refuses_paths() {
        let dir = tempfile::tempdir().expect("tmp");
        let logs = dir.path().join("host");
        std::fs::create_dir(&logs).expect("dir");
        std::fs::write(logs.join("validator-0.log"), "a\n").expect("write");
        std::fs::write(logs.join("validator-3.log"), "b\n").expect("write");
        let archive = dir.path().join("logs.tar.gz");
        let command = archive_command(
            &logs.display().to_string(),
            &["validator-0.log".into(), "validator-3.log".into()],
        );
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("{command} > {}", archive.display())])
            .status()
            .expect("sh");
        assert!(status.success());
        let out = dir.path().join("out");
        std::fs::create_dir(&out).expect("out");
        let written = unpack(&archive, &out).expect("unpack");
        assert_eq!(written.len(), 2);
        assert_eq!(
            std::fs::read_to_string(out.join("validator-3.log")).expect("read"),
            "b\n"
        );

        let status = std::process::Command::new("tar")
            .args(["-czf"])
            .arg(dir.path().join("bad.tar.gz"))
            .args(["-C", &dir.path().display().to_string(), "host"])
            .status()
            .expect("tar");
        assert!(status.success());
        let err = unpack(&dir.path().join("bad.tar.gz"), &out).expect_err("a directory");
        assert!(err.to_string().contains("host"), "{err}");
    }
}
