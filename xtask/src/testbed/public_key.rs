//! The user's SSH public key, registered with cloud providers.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Key types OpenSSH writes at the start of a public key line.
const KEY_TYPE_PREFIXES: [&str; 4] = ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"];

/// Reads the public key file (`ssh_public_key_file`, or the private key's `.pub`) and checks it
/// is one OpenSSH public key line (`type base64 [comment]`).
pub fn read_public_key(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "settings `ssh_public_key_file` = {}: cannot read it",
            path.display()
        )
    })?;
    let key = text.trim();
    let mut fields = key.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some(kind), Some(_)) if KEY_TYPE_PREFIXES.iter().any(|p| kind.starts_with(p)) => {
            Ok(key.to_string())
        }
        _ => bail!(
            "settings `ssh_public_key_file` = {}: not an OpenSSH public key (expected a line \
             such as `ssh-ed25519 AAAA... comment`)",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_must_look_like_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let good = dir.path().join("good.pub");
        std::fs::write(&good, "ssh-ed25519 AAAAC3NzaC1 me@host\n").expect("write");
        assert_eq!(
            read_public_key(&good).expect("good key"),
            "ssh-ed25519 AAAAC3NzaC1 me@host"
        );
        let ecdsa = dir.path().join("ecdsa.pub");
        std::fs::write(&ecdsa, "ecdsa-sha2-nistp256 AAAAE2VjZHNh\n").expect("write");
        assert!(read_public_key(&ecdsa).is_ok());
        for (name, text) in [
            ("bad.pub", "-----BEGIN OPENSSH PRIVATE KEY-----\n"),
            ("bare.pub", "ssh-ed25519\n"),
        ] {
            let bad = dir.path().join(name);
            std::fs::write(&bad, text).expect("write");
            let err = format!("{:#}", read_public_key(&bad).expect_err("not a public key"));
            assert!(
                err.contains("ssh_public_key_file") && err.contains(name),
                "{err}"
            );
        }
        let missing = dir.path().join("missing.pub");
        let err = format!("{:#}", read_public_key(&missing).expect_err("missing"));
        assert!(err.contains("missing.pub"), "{err}");
    }
}
