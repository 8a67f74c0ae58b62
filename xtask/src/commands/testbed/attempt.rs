//! The deploy attempt: an id that makes a deploy's creates idempotent. A deploy begins one and
//! removes it once everything it planned exists; a deploy that crashed, failed or was
//! interrupted leaves it behind, and the next deploy resumes it, so a create whose answer was
//! lost is answered again by the provider instead of creating twice (AWS client tokens).

use std::path::PathBuf;

use anyhow::{Context, Result};
use rand::Rng;

use crate::ssh::testbed_state_dir;

/// File name of the attempt in the testbed's state directory.
const FILE: &str = "deploy-attempt";

/// A deploy attempt of one testbed.
#[derive(Debug)]
pub struct Attempt {
    /// The id (hex).
    pub id: String,
    /// Whether it was left by an earlier deploy that did not finish.
    pub resumed: bool,
    path: PathBuf,
}

impl Attempt {
    /// The unfinished attempt of `testbed_id`, or a new one, recorded before anything is
    /// created.
    pub fn resume_or_begin(testbed_id: &str) -> Result<Self> {
        let path = testbed_state_dir(testbed_id).join(FILE);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let id = text.trim();
            if !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(Self {
                    id: id.to_string(),
                    resumed: true,
                    path,
                });
            }
        }
        let id = hex::encode(rand::thread_rng().gen::<[u8; 8]>());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        std::fs::write(&path, format!("{id}\n"))
            .with_context(|| format!("cannot record the deploy attempt in {}", path.display()))?;
        Ok(Self {
            id,
            resumed: false,
            path,
        })
    }

    /// Ends the attempt: everything it planned exists.
    pub fn finish(self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }
}
