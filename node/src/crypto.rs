//! Keys, signatures and digests.

use std::path::Path;

use anyhow::{Context, Result};
use ed25519_dalek::{Signer as _, SigningKey};

/// A blake3 digest.
pub type Digest = [u8; 32];

/// Length of an ed25519 signature.
pub const SIGNATURE_LENGTH: usize = 64;

/// Hashes `bytes` with blake3.
pub fn digest(bytes: &[u8]) -> Digest {
    *blake3::hash(bytes).as_bytes()
}

/// Signs a digest.
pub fn sign(key: &SigningKey, digest: &Digest) -> [u8; SIGNATURE_LENGTH] {
    key.sign(digest).to_bytes()
}

/// Generates a fresh key pair from the OS random source.
pub fn generate_key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

/// Reads a hex-encoded secret key file.
pub fn read_private_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read private key file {}", path.display()))?;
    let bytes = hex::decode(text.trim())
        .with_context(|| format!("{}: private key is not hex", path.display()))?;
    let array: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("{}: private key must be 32 bytes", path.display()))?;
    Ok(SigningKey::from_bytes(&array))
}

/// Writes a hex-encoded secret key file readable by its owner only.
pub fn write_private_key(path: &Path, key: &SigningKey) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(hex::encode(key.to_bytes()).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
