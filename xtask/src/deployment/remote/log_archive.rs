//! Validator logs from the hosts: fetched as one gzip-compressed tar stream per host and
//! unpacked next to the results (where [`crate::results::validator_log`] counts their errors,
//! warnings and panics).

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The shell command that writes those of `files` that exist in `dir` as a gzip-compressed
/// tar stream (a validator that died early may have left no commit log).
pub fn archive_command(dir: &str, files: &[String]) -> String {
    format!(
        "cd {} && set -- && for f in {}; do if [ -e \"$f\" ]; then set -- \"$@\" \"$f\"; fi; done && tar -czf - -- \"$@\"",
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
    fn unpacks_what_the_host_archives_and_refuses_paths() {
        let dir = tempfile::tempdir().expect("tmp");
        let logs = dir.path().join("host");
        std::fs::create_dir(&logs).expect("dir");
        std::fs::write(logs.join("validator-0.log"), "a\n").expect("write");
        std::fs::write(logs.join("validator-3.log"), "b\n").expect("write");
        let archive = dir.path().join("logs.tar.gz");
        let command = archive_command(
            &logs.display().to_string(),
            &[
                "validator-0.log".into(),
                "commits-0.csv".into(),
                "validator-3.log".into(),
            ],
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
