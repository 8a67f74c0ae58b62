//! Preset experiments (`bench --preset NAME|FILE`): a JSON data file a user can copy, naming
//! committee sizes, loads, a latency matrix, the transaction size, warm-up and window, and
//! the published points to draw beside ours. Each committee becomes one experiment of the
//! run; the other `bench` flags (faults, Byzantine validators, repeats, seed) still apply.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::BenchArgs;
use crate::{experiment::Bench, results::published::Published};

/// Where named presets live, under the workspace's `assets/`.
pub const PRESETS_DIR: &str = "presets";

/// A preset file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// What the preset measures, for the reader of the file.
    pub description: String,
    /// Committee sizes: one experiment each.
    pub committees: Vec<usize>,
    /// A latency matrix preset of `assets/latency/` or a file (none: no emulated delays).
    #[serde(default)]
    pub latency_matrix: Option<String>,
    /// Offered loads, tx/s.
    pub loads: Vec<u64>,
    /// Transaction size, bytes (default: `bench`'s).
    #[serde(default)]
    pub transaction_size: Option<usize>,
    pub warmup_s: u64,
    pub duration_s: u64,
    /// Published points drawn beside ours on the L-graph.
    #[serde(default)]
    pub published: Option<Published>,
}

impl Preset {
    /// The preset `spec` names: `assets/presets/<spec>.json`, else the file `spec`.
    pub fn resolve(spec: &str, assets: &Path) -> Result<Self> {
        let named = assets.join(PRESETS_DIR).join(format!("{spec}.json"));
        let path = if named.is_file() {
            named
        } else {
            PathBuf::from(spec)
        };
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "--preset {spec}: neither a preset in {} nor a readable file",
                assets.join(PRESETS_DIR).display()
            )
        })?;
        let preset: Self = serde_json::from_str(&text)
            .with_context(|| format!("--preset: {} is malformed", path.display()))?;
        if preset.committees.is_empty() {
            bail!(
                "--preset: {} names no committee size (`committees`)",
                path.display()
            );
        }
        Ok(preset)
    }

    /// One bench per committee size: `args` with the preset's committee, loads, latency
    /// matrix, transaction size, warm-up and window.
    pub fn benches(&self, args: &BenchArgs, assets: &Path) -> Result<Vec<Bench>> {
        self.committees
            .iter()
            .map(|&committee| {
                let mut args = args.clone();
                args.committee = committee;
                args.loads = self.loads.clone();
                args.latency_matrix = self.latency_matrix.clone();
                args.warmup = self.warmup_s;
                args.duration = self.duration_s;
                if let Some(size) = self.transaction_size {
                    args.transaction_size = size;
                }
                args.bench(assets)
                    .with_context(|| format!("--preset, committee {committee}"))
            })
            .collect()
    }
}
