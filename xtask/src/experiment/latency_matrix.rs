//! The orchestrator's latency matrix: a preset of `assets/latency/` or a path, read by the
//! format the node reads too (the `latency-matrix` crate), with the name results carry.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A latency matrix: one-way delays in milliseconds between regions.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyMatrix {
    /// The CSV file.
    pub path: PathBuf,
    /// Short name for results (the preset or file stem).
    pub name: String,
    /// Its regions (in file order) and delays.
    pub matrix: latency_matrix::LatencyMatrix,
}

impl LatencyMatrix {
    /// Loads a preset from `assets/latency/<name>.csv` or a CSV file path.
    pub fn resolve(spec: &str, assets: &Path) -> Result<Self> {
        let preset = assets.join("latency").join(format!("{spec}.csv"));
        let path = if preset.is_file() {
            preset
        } else {
            PathBuf::from(spec)
        };
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "--latency-matrix {spec}: neither a preset in {} nor a readable file",
                assets.join("latency").display()
            )
        })?;
        let matrix = latency_matrix::LatencyMatrix::parse(&text, &path.display().to_string())
            .context("--latency-matrix: the file is malformed")?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| spec.to_string());
        Ok(Self { path, name, matrix })
    }

    /// Its regions, in file order.
    pub fn regions(&self) -> &[String] {
        self.matrix.regions()
    }

    /// The one-way delay (ms) from region `from` to region `to`.
    pub fn delay_ms(&self, from: &str, to: &str) -> Result<f64> {
        self.matrix
            .delay_ms(from, to)
            .with_context(|| format!("{} has no delay from {from} to {to}", self.path.display()))
    }

    /// The region of validator `i` (assigned round-robin, as validators are to hosts).
    pub fn region_of(&self, validator: usize) -> &str {
        let regions = self.regions();
        &regions[super::host_index(validator, regions.len())]
    }
}
