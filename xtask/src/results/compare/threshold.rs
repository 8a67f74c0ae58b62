//! Regression thresholds, given as `5%` or `0.05`.

use anyhow::{bail, Context, Result};

/// Parses a relative threshold: `5%` or `0.05` (both mean five percent).
pub fn parse_fraction(text: &str) -> Result<f64> {
    let trimmed = text.trim();
    let (number, percent) = match trimmed.strip_suffix('%') {
        Some(number) => (number.trim(), true),
        None => (trimmed, false),
    };
    let value: f64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a fraction: write it as 5% or 0.05"))?;
    let fraction = if percent { value / 100.0 } else { value };
    if !fraction.is_finite() || fraction < 0.0 {
        bail!("{text:?}: a threshold is a non-negative fraction (5% or 0.05)");
    }
    if !percent && fraction > 1.0 {
        bail!("{text:?} would be more than 100%: write {text}% for percent, or a fraction such as 0.05");
    }
    Ok(fraction)
}

/// How much worse a point may get before it counts as a regression.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Thresholds {
    /// Largest allowed relative drop of throughput.
    pub throughput_drop: f64,
    /// Largest allowed relative rise of p50 and p99 latency.
    pub latency_rise: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            throughput_drop: 0.05,
            latency_rise: 0.10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_and_fraction_mean_the_same() {
        assert_eq!(parse_fraction("5%").expect("5%"), 0.05);
        assert_eq!(parse_fraction("0.05").expect("0.05"), 0.05);
        assert_eq!(parse_fraction(" 12.5 % ").expect("12.5%"), 0.125);
        assert_eq!(parse_fraction("0").expect("0"), 0.0);
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in ["", "five", "-5%", "5", "NaN%", "inf"] {
            assert!(parse_fraction(bad).is_err(), "{bad:?} accepted");
        }
        let err = parse_fraction("5").expect_err("ambiguous");
        assert!(err.to_string().contains("5%"), "{err}");
    }
}
