//! The orchestrator's reading of a latency matrix file (a preset of `assets/latency/` or a
//! path): its regions, checked square, numeric and in range.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A latency matrix: one-way delays in milliseconds between regions.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyMatrix {
    /// The CSV file.
    pub path: PathBuf,
    /// Short name for results (the preset or file stem).
    pub name: String,
    /// Its regions, in file order.
    pub regions: Vec<String>,
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
        let regions = Self::parse_regions(&text)
            .with_context(|| format!("--latency-matrix: {} is malformed", path.display()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| spec.to_string());
        Ok(Self {
            path,
            name,
            regions,
        })
    }

    /// Checks the matrix is square, numeric and non-negative; returns its regions.
    fn parse_regions(text: &str) -> Result<Vec<String>> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let header = reader.headers().context("no header row")?.clone();
        let regions: Vec<String> = header.iter().skip(1).map(str::to_string).collect();
        if regions.is_empty() {
            bail!("the header row names no region");
        }
        let mut rows = 0;
        for (i, record) in reader.records().enumerate() {
            let record = record.with_context(|| format!("row {}", i + 2))?;
            let region = record.get(0).unwrap_or_default();
            if regions.get(i).map(String::as_str) != Some(region) {
                bail!(
                    "row {} is region {region:?}, expected {:?} (rows must follow the header's order)",
                    i + 2,
                    regions.get(i)
                );
            }
            for (j, cell) in record.iter().skip(1).enumerate() {
                let ms: f64 = cell.trim().parse().with_context(|| {
                    format!("delay {region} -> {} is not a number: {cell:?}", regions[j])
                })?;
                if !(0.0..=10_000.0).contains(&ms) {
                    bail!("delay {region} -> {} = {ms} ms is out of range", regions[j]);
                }
            }
            if record.len() != regions.len() + 1 {
                bail!(
                    "row {} has {} delays, expected {}",
                    i + 2,
                    record.len() - 1,
                    regions.len()
                );
            }
            rows += 1;
        }
        if rows != regions.len() {
            bail!(
                "{} rows for {} regions: the matrix must be square",
                rows,
                regions.len()
            );
        }
        Ok(regions)
    }

    /// The one-way delay (ms) from region `from` to region `to`, read from the file.
    pub fn delay_ms(&self, from: &str, to: &str) -> Result<f64> {
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let column = self
            .regions
            .iter()
            .position(|r| r == to)
            .with_context(|| format!("{} has no region {to}", self.path.display()))?;
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        for record in reader.records() {
            let record = record.with_context(|| format!("{} is malformed", self.path.display()))?;
            if record.get(0) == Some(from) {
                let cell = record.get(column + 1).unwrap_or_default();
                return cell.trim().parse().with_context(|| {
                    format!(
                        "delay {from} -> {to} in {} is not a number",
                        self.path.display()
                    )
                });
            }
        }
        bail!("{} has no region {from}", self.path.display())
    }

    /// The region of validator `i` (assigned round-robin, as validators are to hosts).
    pub fn region_of(&self, validator: usize) -> &str {
        &self.regions[super::host_index(validator, self.regions.len())]
    }
}
