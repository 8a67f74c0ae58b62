//! CSV latency matrices: one-way delays between regions, the constant-delay special case
//! of a network profile ([`super::Profile::from_latency_matrix`]).

use std::{collections::HashMap, path::Path};

use anyhow::{bail, Context, Result};

/// One-way delays (ms) from row region to column region.
#[derive(Clone, Debug)]
pub struct LatencyMatrix {
    regions: Vec<String>,
    delays: HashMap<(String, String), f64>,
    source: String,
}

impl LatencyMatrix {
    /// Parses `region,<r1>,<r2>,...` then one `<ri>,<ms>,...` row per region.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let header = lines
            .next()
            .with_context(|| format!("{source}: empty latency matrix"))?;
        let columns: Vec<String> = header
            .split(',')
            .skip(1)
            .map(|s| s.trim().to_string())
            .collect();
        if columns.is_empty() {
            bail!("{source}: header row has no regions");
        }
        let mut delays = HashMap::new();
        for (n, line) in lines.enumerate() {
            let mut cells = line.split(',').map(str::trim);
            let row = cells.next().unwrap_or_default().to_string();
            let values: Vec<&str> = cells.collect();
            if values.len() != columns.len() {
                bail!(
                    "{source}: row {} ({row}) has {} values, expected {}",
                    n + 2,
                    values.len(),
                    columns.len()
                );
            }
            for (col, v) in columns.iter().zip(values) {
                let ms: f64 = v.parse().with_context(|| {
                    format!("{source}: row {row}, column {col}: `{v}` is not a number")
                })?;
                if !(0.0..=60_000.0).contains(&ms) {
                    bail!("{source}: row {row}, column {col}: {ms} ms is out of range");
                }
                delays.insert((row.clone(), col.clone()), ms);
            }
        }
        Ok(Self {
            regions: columns,
            delays,
            source: source.to_string(),
        })
    }

    /// The regions, in the header's order.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// Reads a matrix file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read latency matrix {}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The one-way delay from `from` to `to` in milliseconds.
    pub fn delay_ms(&self, from: &str, to: &str) -> Option<f64> {
        self.delays
            .get(&(from.to_string(), to.to_string()))
            .copied()
    }

    /// Where the matrix came from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_unknown_values() {
        let m = LatencyMatrix::parse("region,a,b\na,0,40\nb,41,0\n", "m.csv").expect("parse");
        assert_eq!(m.delays.get(&("b".into(), "a".into())), Some(&41.0));
        let err = LatencyMatrix::parse("region,a,b\na,0,x\n", "m.csv").unwrap_err();
        assert!(err.to_string().contains("column b"));
        let err = LatencyMatrix::parse("region,a,b\na,0\n", "m.csv").unwrap_err();
        assert!(err.to_string().contains("expected 2"));
    }
}
