//! What a confidence interval of a change says about a figure, given the largest change that
//! does not matter (the threshold).

use serde::Serialize;

use super::bootstrap::Interval;

/// The call on one figure (or one point, or the whole comparison).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The interval lies entirely within ± the threshold.
    Unchanged,
    /// The interval lies entirely beyond the threshold, on the better side.
    Improved,
    /// The interval straddles a threshold, or the figure could not be judged.
    Inconclusive,
    /// The interval lies entirely beyond the threshold, on the worse side.
    Regressed,
}

crate::value_name::display_as_value_name!(Verdict);

/// The most repeats [`repeats_needed`] reports; beyond, the change sits too close to the
/// threshold for repeats to settle it.
pub const MAX_REPEATS_NEEDED: usize = 100;

/// Calls a change: `worse` is the interval oriented so that positive means worse (a latency
/// rise, a throughput drop).
pub fn classify(worse: &Interval, threshold: f64) -> Verdict {
    if worse.low > threshold {
        Verdict::Regressed
    } else if worse.high < -threshold {
        Verdict::Improved
    } else if worse.low >= -threshold && worse.high <= threshold {
        Verdict::Unchanged
    } else {
        Verdict::Inconclusive
    }
}

/// Repeats per side that would make an inconclusive interval decide, assuming its width
/// shrinks with the square root of the repeats and the estimate stays: enough to fit inside
/// ± the threshold, or to clear it. `None` when no number of repeats up to
/// [`MAX_REPEATS_NEEDED`] would (the estimate sits on the threshold).
pub fn repeats_needed(worse: &Interval, threshold: f64, repeats: usize) -> Option<usize> {
    let margin = (threshold - worse.estimate.abs()).abs();
    let half = worse.half_width();
    if margin <= 0.0 || half <= 0.0 || repeats == 0 {
        return None;
    }
    let needed = (repeats as f64 * (half / margin).powi(2)).ceil();
    let needed = (needed as usize).max(repeats + 1);
    (needed <= MAX_REPEATS_NEEDED).then_some(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(estimate: f64, low: f64, high: f64) -> Interval {
        Interval {
            estimate,
            low,
            high,
        }
    }

    #[test]
    fn each_position_of_the_interval_has_its_verdict() {
        let t = 0.10;
        assert_eq!(classify(&interval(0.2, 0.12, 0.3), t), Verdict::Regressed);
        assert_eq!(classify(&interval(-0.2, -0.3, -0.12), t), Verdict::Improved);
        assert_eq!(
            classify(&interval(0.01, -0.05, 0.08), t),
            Verdict::Unchanged
        );
        assert_eq!(
            classify(&interval(0.12, 0.05, 0.2), t),
            Verdict::Inconclusive
        );
        assert_eq!(
            classify(&interval(0.0, -0.2, 0.2), t),
            Verdict::Inconclusive
        );
    }

    #[test]
    fn repeats_needed_grow_with_the_noise_and_the_closeness_to_the_threshold() {
        // Half-width 0.1, 0.05 from the threshold: (0.1 / 0.05)² = 4 times the repeats.
        assert_eq!(
            repeats_needed(&interval(0.05, -0.05, 0.15), 0.10, 3),
            Some(12)
        );
        // Beyond the threshold by 0.1 with half-width 0.12: 3 × 1.44 → 5.
        assert_eq!(repeats_needed(&interval(0.2, 0.08, 0.32), 0.10, 3), Some(5));
        assert_eq!(repeats_needed(&interval(0.1, 0.0, 0.2), 0.10, 3), None);
        assert_eq!(
            repeats_needed(&interval(0.099, 0.0, 0.2), 0.10, 3),
            None,
            "more than the cap"
        );
    }
}
