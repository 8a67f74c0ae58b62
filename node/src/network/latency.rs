//! Geo-latency emulation: one-way delays between regions from a CSV matrix.

use std::{collections::HashMap, path::Path, time::Duration};

use anyhow::{bail, Context, Result};

use crate::committee::{AuthorityIndex, Committee};

/// One-way delays (ms) from row region to column region.
#[derive(Clone, Debug)]
pub struct LatencyMatrix {
    delays: HashMap<(String, String), f64>,
    regions: Vec<String>,
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
            delays,
            regions: columns,
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

    /// Delay from `me` to every authority (zero for itself); errors if a region is unknown.
    pub fn delays_from(&self, committee: &Committee, me: AuthorityIndex) -> Result<Vec<Duration>> {
        let region = |i: AuthorityIndex| -> Result<String> {
            committee
                .authority(i)
                .and_then(|a| a.region.clone())
                .with_context(|| {
                    format!("authority {i} has no region in the committee file (needed by --latency-matrix)")
                })
        };
        let mine = region(me)?;
        let mut out = Vec::new();
        for (i, _) in committee.authorities() {
            if i == me {
                out.push(Duration::ZERO);
                continue;
            }
            let theirs = region(i)?;
            let ms = self
                .delays
                .get(&(mine.clone(), theirs.clone()))
                .with_context(|| {
                    format!(
                        "{}: no delay from region `{mine}` to region `{theirs}`",
                        self.source
                    )
                })?;
            out.push(Duration::from_secs_f64(ms / 1000.0));
        }
        Ok(out)
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
