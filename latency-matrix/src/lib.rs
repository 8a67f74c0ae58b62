//! The latency matrix format, read the same way by the node (`--latency-matrix`, the
//! simulator) and the orchestrator (`bench --latency-matrix`, placement, round-trip checks):
//!
//! ```text
//! # comments and blank lines are skipped
//! region,us-east-1,eu-west-1
//! us-east-1,0.5,34
//! eu-west-1,32,0.5
//! ```
//!
//! A header `region,<r1>,...,<rn>`, then one row per region of the header, in the header's
//! order, each with n one-way delays in milliseconds (0 to 60,000) from the row's region to
//! the column's.

use std::{collections::HashMap, path::Path};

use anyhow::{bail, Context, Result};

/// The largest one-way delay a matrix may hold, in milliseconds.
pub const MAX_DELAY_MS: f64 = 60_000.0;

/// One-way delays (ms) from row region to column region.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyMatrix {
    regions: Vec<String>,
    delays: HashMap<(String, String), f64>,
    source: String,
}

impl LatencyMatrix {
    /// Parses a matrix; `source` (a file name) starts every error.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let (_, header) = lines
            .next()
            .with_context(|| format!("{source}: empty latency matrix"))?;
        let regions: Vec<String> = header
            .split(',')
            .skip(1)
            .map(|s| s.trim().to_string())
            .collect();
        if regions.is_empty() || regions.iter().any(String::is_empty) {
            bail!("{source}: the header row `{header}` must name the regions after its first cell");
        }
        let mut delays = HashMap::new();
        let mut rows = 0;
        for (line, text) in lines {
            let mut cells = text.split(',').map(str::trim);
            let row = cells.next().unwrap_or_default().to_string();
            let expected = regions.get(rows);
            if expected != Some(&row) {
                match expected {
                    Some(e) => bail!(
                        "{source}: line {line} is region `{row}`, expected `{e}` (rows follow the header's order)"
                    ),
                    None => bail!(
                        "{source}: line {line} (`{row}`) is one row too many for {} regions",
                        regions.len()
                    ),
                }
            }
            let values: Vec<&str> = cells.collect();
            if values.len() != regions.len() {
                bail!(
                    "{source}: line {line} ({row}) has {} values, expected {}",
                    values.len(),
                    regions.len()
                );
            }
            for (column, v) in regions.iter().zip(values) {
                let ms: f64 = v.parse().with_context(|| {
                    format!(
                        "{source}: line {line}, row {row}, column {column}: `{v}` is not a number"
                    )
                })?;
                if !(0.0..=MAX_DELAY_MS).contains(&ms) {
                    bail!(
                        "{source}: line {line}, row {row}, column {column}: {ms} ms is out of range (0 to {MAX_DELAY_MS})"
                    );
                }
                delays.insert((row.clone(), column.clone()), ms);
            }
            rows += 1;
        }
        if rows != regions.len() {
            bail!(
                "{source}: {rows} rows for {} regions: the matrix must be square (no row for `{}`)",
                regions.len(),
                regions[rows]
            );
        }
        Ok(Self {
            regions,
            delays,
            source: source.to_string(),
        })
    }

    /// Reads a matrix file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read latency matrix {}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The regions, in the header's order.
    pub fn regions(&self) -> &[String] {
        &self.regions
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

    fn refusal(text: &str) -> String {
        LatencyMatrix::parse(text, "m.csv")
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn reads_delays_with_comments_and_blank_lines() {
        let m = LatencyMatrix::parse("# one-way\nregion,a,b\n\na,0,40\nb,41,0.5\n", "m.csv")
            .expect("parse");
        assert_eq!(m.regions(), ["a", "b"]);
        assert_eq!(m.delay_ms("b", "a"), Some(41.0));
        assert_eq!(m.delay_ms("b", "b"), Some(0.5));
        assert_eq!(m.delay_ms("a", "c"), None);
        assert_eq!(m.source(), "m.csv");
    }

    #[test]
    fn refuses_with_the_line_and_cell_at_fault() {
        assert!(refusal("").contains("empty"));
        assert!(refusal("region\n").contains("must name the regions"));
        assert!(refusal("region,a,b\na,0,x\nb,0,0\n").contains("line 2, row a, column b: `x`"));
        assert!(refusal("region,a,b\na,0\n").contains("line 2 (a) has 1 values, expected 2"));
        assert!(
            refusal("region,a,b\nb,0,0\na,0,0\n").contains("line 2 is region `b`, expected `a`")
        );
        assert!(refusal("region,a,b\na,0,1\n").contains("no row for `b`"));
        assert!(refusal("region,a\na,0\nb,0\n").contains("one row too many"));
        assert!(refusal("region,a\na,-1\n").contains("out of range"));
        assert!(refusal("region,a\na,60001\n").contains("out of range"));
    }
}
