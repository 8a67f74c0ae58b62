//! A confidence interval for the relative change of medians between two sides, by a two-level
//! bootstrap: the repeats are resampled, and inside each resampled repeat its per-second
//! samples, so both the run-to-run and the within-run noise widen the interval.
//!
//! A resampled run keeps its measured figure scaled by how much the mean of its resampled
//! seconds differs from the mean of its seconds (`figure × mean(x*) / mean(x)`): the point
//! estimate stays the figure of the summary rows, and a run without per-second samples (a
//! summary file alone) contributes its figure as it is.

use super::stats::Spread;

/// A small seeded generator (SplitMix64): reproducible across platforms and versions, and
/// cheap enough for thousands of resamples in a debug build.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// One repeat of a point for one metric: its window figure and its per-second samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSamples {
    pub figure: f64,
    pub seconds: Vec<f64>,
}

/// A relative change (`head / base − 1`) with its confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// Half the width of the interval.
    pub fn half_width(&self) -> f64 {
        (self.high - self.low) / 2.0
    }

    /// The same change seen from the other direction (a drop as a rise).
    pub fn negated(&self) -> Self {
        Self {
            estimate: -self.estimate,
            low: -self.high,
            high: -self.low,
        }
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:+.1}% [{:+.1}%, {:+.1}%]",
            self.estimate * 100.0,
            self.low * 100.0,
            self.high * 100.0
        )
    }
}

/// How the bootstrap runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bootstrap {
    /// Resamples drawn.
    pub resamples: usize,
    /// Two-sided confidence level, e.g. 0.95.
    pub confidence: f64,
    /// Seed of the random generator: the same inputs and seed give the same interval.
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Self {
            resamples: 2000,
            confidence: 0.95,
            seed: 1,
        }
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// One resampled figure of `run`.
fn resample_run(run: &RunSamples, rng: &mut SplitMix64) -> f64 {
    let n = run.seconds.len();
    if n == 0 {
        return run.figure;
    }
    let whole = mean(&run.seconds);
    if whole <= 0.0 || !whole.is_finite() {
        return run.figure;
    }
    let drawn = (0..n).map(|_| run.seconds[rng.below(n)]).sum::<f64>() / n as f64;
    run.figure * drawn / whole
}

/// The median of one resample of a side's repeats.
fn resample_side(runs: &[RunSamples], rng: &mut SplitMix64, buffer: &mut Vec<f64>) -> Option<f64> {
    buffer.clear();
    for _ in 0..runs.len() {
        let run = &runs[rng.below(runs.len())];
        buffer.push(resample_run(run, rng));
    }
    Spread::of(buffer).map(|s| s.median)
}

/// The `q` quantile of sorted `values` (linear interpolation).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let fraction = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * fraction
}

impl Bootstrap {
    /// The relative change of the median figure from `base` to `head`, with its interval.
    /// `None` when a side has no run or the base median is not positive.
    pub fn relative_change(&self, base: &[RunSamples], head: &[RunSamples]) -> Option<Interval> {
        let median = |runs: &[RunSamples]| {
            Spread::of(&runs.iter().map(|r| r.figure).collect::<Vec<_>>()).map(|s| s.median)
        };
        let (b, h) = (median(base)?, median(head)?);
        if b <= 0.0 {
            return None;
        }
        let mut rng = SplitMix64(self.seed);
        let mut buffer = Vec::new();
        let mut changes: Vec<f64> = (0..self.resamples.max(1))
            .filter_map(|_| {
                let b = resample_side(base, &mut rng, &mut buffer)?;
                let h = resample_side(head, &mut rng, &mut buffer)?;
                (b > 0.0).then(|| h / b - 1.0)
            })
            .collect();
        if changes.is_empty() {
            return None;
        }
        changes.sort_by(f64::total_cmp);
        let tail = (1.0 - self.confidence) / 2.0;
        Some(Interval {
            estimate: h / b - 1.0,
            low: quantile(&changes, tail),
            high: quantile(&changes, 1.0 - tail),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(figures: &[f64], noise: f64, seconds: usize) -> Vec<RunSamples> {
        figures
            .iter()
            .enumerate()
            .map(|(i, &figure)| RunSamples {
                figure,
                // A deterministic wiggle of ±noise around the figure.
                seconds: (0..seconds)
                    .map(|s| figure * (1.0 + noise * (((s * 7 + i * 3) % 11) as f64 / 5.0 - 1.0)))
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn the_estimate_is_the_change_of_medians_and_lies_in_its_interval() {
        let base = runs(&[100.0, 104.0, 98.0], 0.05, 20);
        let head = runs(&[120.0, 118.0, 125.0], 0.05, 20);
        let i = Bootstrap::default()
            .relative_change(&base, &head)
            .expect("interval");
        assert!((i.estimate - 0.2).abs() < 1e-12, "{i}");
        assert!(i.low <= i.estimate && i.estimate <= i.high, "{i}");
        assert!(i.low > 0.05 && i.high < 0.35, "{i}");
    }

    #[test]
    fn the_same_seed_gives_the_same_interval_and_noise_widens_it() {
        let base = runs(&[100.0, 110.0, 90.0], 0.2, 20);
        let head = runs(&[101.0, 111.0, 91.0], 0.2, 20);
        let b = Bootstrap::default();
        let first = b.relative_change(&base, &head).expect("interval");
        assert_eq!(first, b.relative_change(&base, &head).expect("again"));
        let quiet = b
            .relative_change(
                &runs(&[100.0, 100.5, 99.5], 0.01, 20),
                &runs(&[101.0, 101.5, 100.5], 0.01, 20),
            )
            .expect("quiet");
        assert!(
            first.half_width() > 4.0 * quiet.half_width(),
            "{first} vs {quiet}"
        );
    }

    #[test]
    fn within_run_noise_counts_even_with_one_repeat() {
        let one = |noise| {
            Bootstrap::default()
                .relative_change(&runs(&[100.0], noise, 30), &runs(&[100.0], noise, 30))
                .expect("interval")
        };
        assert_eq!(one(0.0).half_width(), 0.0);
        assert!(one(0.3).half_width() > 0.02, "{}", one(0.3));
    }

    #[test]
    fn a_zero_base_has_no_relative_change() {
        assert_eq!(
            Bootstrap::default().relative_change(&runs(&[0.0], 0.0, 3), &runs(&[5.0], 0.0, 3)),
            None
        );
        assert_eq!(
            Bootstrap::default().relative_change(&[], &runs(&[5.0], 0.0, 3)),
            None
        );
    }

    #[test]
    fn the_interval_prints_as_signed_percentages() {
        let i = Interval {
            estimate: 0.125,
            low: 0.031,
            high: 0.21,
        };
        assert_eq!(i.to_string(), "+12.5% [+3.1%, +21.0%]");
        assert_eq!(i.negated().to_string(), "-12.5% [-21.0%, -3.1%]");
    }
}
