//! Published figures to draw beside ours: a preset's points from a paper, with their source,
//! kept in a run directory as `published.json` so that `plot` labels them as published.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The file in a run directory.
pub const PUBLISHED_FILE: &str = "published.json";

/// Figures someone else published, and where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// The publication (and, where the figures were read from a summary, that summary).
    pub source: String,
    pub points: Vec<PublishedPoint>,
}

/// One published point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedPoint {
    /// What the point was measured on, in the publication's words.
    pub label: String,
    pub committee: usize,
    /// Validators crashed.
    #[serde(default)]
    pub faults: usize,
    /// Offered load, tx/s.
    pub offered_tps: u64,
    /// Committed throughput, tx/s.
    pub committed_tps: f64,
    /// Latency percentiles, seconds (absent where the publication gives none).
    #[serde(default)]
    pub latency_p50_s: Option<f64>,
    #[serde(default)]
    pub latency_p99_s: Option<f64>,
}

/// Writes `published` into the run directory `dir`.
pub fn write(dir: &Path, published: &Published) -> Result<()> {
    let path = dir.join(PUBLISHED_FILE);
    let text = serde_json::to_string_pretty(published)? + "\n";
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The published points of the run directory `dir`, if it has any.
pub fn read(dir: &Path) -> Result<Option<Published>> {
    let path = dir.join(PUBLISHED_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| format!("{} is malformed", path.display()))
}
