//! Puts the node binary on the hosts: compressed once here, sent with scp to each host that
//! does not have it yet (in parallel, bounded), unpacked and checked against its SHA-256 there
//! before it takes its content-addressed name `bin/node-<hash>`.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;

use super::Host;
use crate::{
    builder::NodeBinary,
    interrupt,
    ssh::{shell::quote, SshClient},
};

/// Time limit of one host's transfer.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// The binary's content-addressed file name on the hosts.
pub fn remote_name(binary: &NodeBinary) -> String {
    format!("node-{}", binary.short_hash())
}

/// What updating one host cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sent {
    /// Bytes of the compressed binary sent (0 when the host had it).
    pub bytes: u64,
    /// Whether the binary was sent (false: the host already had it).
    pub uploaded: bool,
    /// Wall time of this host's update.
    pub seconds: f64,
}

/// The gzip-compressed binary in `cache/uploads`, made once per binary.
pub fn compressed(binary: &NodeBinary, cache: &Path) -> Result<PathBuf> {
    let dir = cache.join("uploads");
    let path = dir.join(format!("{}.gz", remote_name(binary)));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut input = std::fs::File::open(&binary.path)
        .with_context(|| format!("cannot open {}", binary.path.display()))?;
    let partial = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    let mut encoder = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(partial.as_file()),
        flate2::Compression::default(),
    );
    std::io::copy(&mut input, &mut encoder)
        .and_then(|_| encoder.finish()?.flush())
        .with_context(|| format!("cannot compress {}", binary.path.display()))?;
    partial
        .persist(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Prints `present` when `path` on the host is an executable with SHA-256 `hash`.
pub fn check_command(path: &str, hash: &str) -> String {
    format!(
        "f={path}; if [ -x \"$f\" ] && [ \"$(sha256sum < \"$f\" | cut -d' ' -f1)\" = {hash} ]; \
         then echo present; else echo absent; fi",
        path = quote(path),
        hash = quote(hash),
    )
}

/// Unpacks the upload `upload` (in `bin_dir`) into `name` once its SHA-256 is `hash`;
/// removes the upload and any partial file whatever happens.
pub fn install_command(bin_dir: &str, upload: &str, name: &str, hash: &str) -> String {
    format!(
        "cd {bin_dir} || exit 1; tmp=.{name}.$$; \
         trap 'rm -f \"$tmp\" {upload}' EXIT; \
         gunzip -c {upload} > \"$tmp\" || exit 1; \
         got=$(sha256sum < \"$tmp\" | cut -d' ' -f1); \
         if [ \"$got\" != {hash} ]; then \
           echo \"the binary unpacked here has SHA-256 $got, not {hash}\" >&2; exit 4; fi; \
         chmod 755 \"$tmp\" && mv -f \"$tmp\" {name}",
        bin_dir = quote(bin_dir),
        upload = quote(upload),
        name = quote(name),
        hash = quote(hash),
    )
}

/// Whether `host` has `binary` under its content-addressed name (checked by hash).
fn has_binary(ssh: &SshClient, host: &Host, binary: &NodeBinary) -> Result<bool> {
    let output = ssh.run(
        &host.instance,
        &check_command(&host.binary_path(binary), &binary.hash),
    )?;
    Ok(output.stdout.trim() == "present")
}

/// Sends `binary` to every host that lacks it, `progress` counting hosts done. Results in
/// host order; every host is attempted.
pub fn update(
    ssh: &SshClient,
    hosts: &[Host],
    binary: &NodeBinary,
    cache: &Path,
    progress: &ProgressBar,
) -> Result<Vec<Result<Sent>>> {
    let archive = compressed(binary, cache)?;
    let size = std::fs::metadata(&archive)
        .with_context(|| format!("cannot read {}", archive.display()))?
        .len();
    let name = remote_name(binary);
    let total = AtomicU64::new(0);
    let instances: Vec<_> = hosts.iter().map(|h| h.instance.clone()).collect();
    let results = ssh.results(&instances, |instance| {
        let started = Instant::now();
        let host = hosts
            .iter()
            .find(|h| h.instance.id == instance.id)
            .context("internal error: unknown host")?;
        if interrupt::requested() {
            bail!("interrupted before the update");
        }
        let outcome = if has_binary(ssh, host, binary)? {
            Sent::default()
        } else {
            let upload = format!(".{name}.gz.{:08x}", rand::random::<u32>());
            let bin_dir = host.bin_dir();
            ssh.upload(
                instance,
                &archive,
                &format!("{bin_dir}/{upload}"),
                TRANSFER_TIMEOUT,
            )?;
            total.fetch_add(size, Ordering::Relaxed);
            ssh.run(
                instance,
                &install_command(&bin_dir, &upload, &name, &binary.hash),
            )?;
            Sent {
                bytes: size,
                uploaded: true,
                seconds: 0.0,
            }
        };
        progress.inc(1);
        progress.set_message(format!(
            "{} sent",
            indicatif::HumanBytes(total.load(Ordering::Relaxed))
        ));
        Ok(Sent {
            seconds: started.elapsed().as_secs_f64(),
            ..outcome
        })
    });
    Ok(results)
}

/// Checks that every host has `binary` (for `--skip-update`); results in host order.
pub fn verify(ssh: &SshClient, hosts: &[Host], binary: &NodeBinary) -> Vec<Result<()>> {
    let instances: Vec<_> = hosts.iter().map(|h| h.instance.clone()).collect();
    ssh.results(&instances, |instance| {
        let host = hosts
            .iter()
            .find(|h| h.instance.id == instance.id)
            .context("internal error: unknown host")?;
        if has_binary(ssh, host, binary)? {
            Ok(())
        } else {
            bail!(
                "{} has no {} with SHA-256 {}: run without --skip-update to send it",
                crate::ssh::describe(instance),
                host.binary_path(binary),
                binary.hash
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn the_install_command_accepts_only_the_expected_hash() {
        let dir = tempfile::tempdir().expect("tmp");
        let source = dir.path().join("node");
        std::fs::write(&source, b"#!/bin/sh\necho hi\n").expect("write");
        let binary = NodeBinary::from_path(&source, None).expect("binary");
        let cache = dir.path().join("cache");
        let archive = compressed(&binary, &cache).expect("compress");
        assert_eq!(compressed(&binary, &cache).expect("cached"), archive);
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin");
        let bin_text = bin.display().to_string();
        let name = remote_name(&binary);
        let target = bin.join(&name);
        let run = |script: String| {
            Command::new("sh")
                .args(["-c", &script])
                .output()
                .expect("sh")
        };
        let check = check_command(&target.display().to_string(), &binary.hash);
        assert_eq!(
            String::from_utf8_lossy(&run(check.clone()).stdout).trim(),
            "absent"
        );

        // A corrupted upload is refused and cleaned away.
        std::fs::copy(&archive, bin.join(".up1")).expect("copy");
        let wrong = "0".repeat(64);
        let out = run(install_command(&bin_text, ".up1", &name, &wrong));
        assert_eq!(out.status.code(), Some(4));
        assert!(String::from_utf8_lossy(&out.stderr).contains("not 0000"));
        assert!(!target.exists());
        assert_eq!(
            std::fs::read_dir(&bin).expect("dir").count(),
            0,
            "nothing left"
        );

        std::fs::copy(&archive, bin.join(".up2")).expect("copy");
        let out = run(install_command(&bin_text, ".up2", &name, &binary.hash));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(&target).expect("installed"),
            std::fs::read(&source).expect("src")
        );
        assert_eq!(
            String::from_utf8_lossy(&run(check).stdout).trim(),
            "present"
        );
        assert_eq!(
            std::fs::read_dir(&bin).expect("dir").count(),
            1,
            "only the binary"
        );
    }
}
