//! Which Rust target to build the node for: the hosts' architecture, as a static musl build
//! when that target is installed here, else glibc (whose minimum version the binary needs is
//! read from the binary itself).

use std::path::Path;

use anyhow::{bail, Context, Result};

/// This machine's target triple (`rustc -vV`).
pub fn native() -> Result<String> {
    let output = duct::cmd("rustc", ["-vV"])
        .stdout_capture()
        .run()
        .context("cannot run `rustc -vV` to learn this machine's target")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|s| s.trim().to_string())
        .context("`rustc -vV` printed no host triple")
}

/// Whether the standard library for `triple` is installed in the active toolchain.
pub fn is_installed(triple: &str) -> bool {
    duct::cmd("rustc", ["--print", "sysroot"])
        .stdout_capture()
        .stderr_null()
        .run()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .is_some_and(|sysroot| {
            Path::new(&sysroot)
                .join("lib/rustlib")
                .join(triple)
                .join("lib")
                .is_dir()
        })
}

/// The CPU architecture `uname -m` names, in Rust's spelling.
pub fn normalise_arch(uname: &str) -> Result<&'static str> {
    match uname.trim() {
        "x86_64" | "amd64" => Ok("x86_64"),
        "aarch64" | "arm64" | "armv8l" => Ok("aarch64"),
        other => bail!("architecture \"{other}\" is not supported (x86_64 and aarch64 are)"),
    }
}

/// The target for hosts whose `uname -m` printed `unames`: the one architecture they share
/// (see [`for_arch`]). The one rule of `cargo xtask build` and of the benchmark.
pub fn for_hosts<'a>(
    unames: impl IntoIterator<Item = &'a str>,
    installed: impl Fn(&str) -> bool,
) -> Result<String> {
    let mut arches = Vec::new();
    for uname in unames {
        let arch = normalise_arch(uname)?;
        if !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    match arches[..] {
        [arch] => for_arch(arch, installed),
        [] => bail!("the testbed has no hosts to build for"),
        _ => bail!(
            "the hosts have different architectures ({}): one binary cannot run on all of \
             them; use hosts of one architecture",
            arches.join(", ")
        ),
    }
}

/// The target for hosts of architecture `arch`: `<arch>-unknown-linux-musl` when installed
/// (a static binary that runs on any Linux), else `<arch>-unknown-linux-gnu`.
pub fn for_arch(arch: &str, installed: impl Fn(&str) -> bool) -> Result<String> {
    let musl = format!("{arch}-unknown-linux-musl");
    let gnu = format!("{arch}-unknown-linux-gnu");
    if installed(&musl) {
        Ok(musl)
    } else if installed(&gnu) {
        Ok(gnu)
    } else {
        bail!(
            "no Rust target for {arch} hosts is installed: run `rustup target add {musl}` \
             (static) or `rustup target add {gnu}`, or pass --target"
        )
    }
}

/// A glibc version, as `GLIBC_<major>.<minor>` symbol versions name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub u32, pub u32);

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl GlibcVersion {
    /// Parses `2.36` (also the output of `getconf GNU_LIBC_VERSION`: `glibc 2.36`).
    pub fn parse(text: &str) -> Option<Self> {
        let version = text.split_whitespace().last()?;
        let mut parts = version.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts
            .next()
            .map(|m| {
                m.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        Some(Self(major, minor))
    }
}

/// The newest `GLIBC_x.y` symbol version a binary references: the oldest glibc it runs on.
/// `None` for a binary that does not link glibc (musl, static).
pub fn minimum_glibc(binary: &Path) -> Result<Option<GlibcVersion>> {
    let bytes =
        std::fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
    let marker = b"GLIBC_";
    let mut newest = None;
    let mut at = 0;
    while let Some(offset) = bytes[at..].windows(marker.len()).position(|w| w == marker) {
        let start = at + offset + marker.len();
        let end = bytes[start..]
            .iter()
            .position(|b| !(b.is_ascii_digit() || *b == b'.'))
            .map_or(bytes.len(), |n| start + n);
        if let Some(version) = std::str::from_utf8(&bytes[start..end])
            .ok()
            .filter(|v| v.contains('.'))
            .and_then(GlibcVersion::parse)
        {
            newest = newest.max(Some(version));
        }
        at = end.max(start);
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_and_the_one_target_of_the_hosts() {
        assert_eq!(normalise_arch("x86_64\n").expect("x86"), "x86_64");
        assert_eq!(normalise_arch("arm64").expect("arm"), "aarch64");
        assert!(normalise_arch("riscv64").is_err());
        let all = |_: &str| true;
        assert_eq!(
            for_hosts(["aarch64\n", "arm64"], all).expect("one arch"),
            "aarch64-unknown-linux-musl"
        );
        let mixed = for_hosts(["x86_64", "aarch64"], all).expect_err("mixed");
        assert!(mixed.to_string().contains("x86_64, aarch64"), "{mixed}");
        assert!(for_hosts([], all).is_err());
        assert!(for_hosts(["x86_64", "riscv64"], all).is_err());
    }

    #[test]
    fn musl_is_preferred_when_installed() {
        let only_gnu = |t: &str| t.ends_with("-gnu");
        assert_eq!(
            for_arch("x86_64", only_gnu).expect("gnu"),
            "x86_64-unknown-linux-gnu"
        );
        assert_eq!(
            for_arch("x86_64", |_| true).expect("musl"),
            "x86_64-unknown-linux-musl"
        );
        let err = for_arch("aarch64", |_| false).expect_err("none installed");
        assert!(err.to_string().contains("rustup target add"), "{err}");
        assert!(is_installed(&native().expect("native")));
        assert!(!is_installed("nonexistent-unknown-none"));
    }

    #[test]
    fn minimum_glibc_is_the_newest_symbol_version() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("bin");
        std::fs::write(
            &path,
            b"\0GLIBC_2.2.5\0GLIBC_2.34\0xGLIBC_2.17\0GLIBC_PRIVATE\0",
        )
        .expect("write");
        assert_eq!(
            minimum_glibc(&path).expect("scan"),
            Some(GlibcVersion(2, 34))
        );
        std::fs::write(&path, b"static binary").expect("write");
        assert_eq!(minimum_glibc(&path).expect("scan"), None);
        assert_eq!(GlibcVersion::parse("glibc 2.36"), Some(GlibcVersion(2, 36)));
        assert!(GlibcVersion(2, 36) > GlibcVersion(2, 4));
    }
}
