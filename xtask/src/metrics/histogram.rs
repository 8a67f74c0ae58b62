//! A cumulative Prometheus histogram and the statistics drawn from it.

use serde::Serialize;

/// A cumulative histogram: `buckets[i] = (upper bound, observations <= bound)`, sorted by bound,
/// the last bound `+Inf`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Histogram {
    /// Upper bounds with their cumulative counts.
    pub buckets: Vec<(f64, f64)>,
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: f64,
}

impl Histogram {
    /// What was observed between `earlier` and `self` (both cumulative snapshots of one
    /// histogram). Bounds missing in `earlier` count as zero there.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let buckets = self
            .buckets
            .iter()
            .map(|&(bound, count)| {
                let before = earlier
                    .buckets
                    .iter()
                    .find(|(b, _)| b.to_bits() == bound.to_bits())
                    .map_or(0.0, |(_, c)| *c);
                (bound, (count - before).max(0.0))
            })
            .collect();
        Histogram {
            buckets,
            sum: (self.sum - earlier.sum).max(0.0),
            count: (self.count - earlier.count).max(0.0),
        }
    }

    /// Adds another histogram with the same bounds (e.g. of another validator).
    pub fn merge(&mut self, other: &Histogram) {
        if self.buckets.is_empty() {
            *self = other.clone();
            return;
        }
        for (bound, count) in &mut self.buckets {
            if let Some((_, c)) = other
                .buckets
                .iter()
                .find(|(b, _)| b.to_bits() == bound.to_bits())
            {
                *count += c;
            }
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// Mean of the observations, if any.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// The `q`-quantile (0..=1), interpolated linearly inside its bucket. A quantile that
    /// falls in the `+Inf` bucket is reported as the largest finite bound (a lower bound).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.last().map(|(_, c)| *c)?;
        if total <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let mut lower_bound = 0.0;
        let mut lower_count = 0.0;
        for &(bound, count) in &self.buckets {
            if count >= rank && count > lower_count {
                if bound.is_infinite() {
                    return Some(lower_bound);
                }
                let fraction = (rank - lower_count) / (count - lower_count);
                return Some(lower_bound + (bound - lower_bound) * fraction);
            }
            if bound.is_finite() {
                lower_bound = bound;
            }
            lower_count = count;
        }
        Some(lower_bound)
    }

    /// Standard deviation estimated from bucket midpoints (the histogram keeps no squares).
    pub fn stdev(&self) -> Option<f64> {
        let mean = self.mean()?;
        let mut lower_bound = 0.0;
        let mut lower_count = 0.0;
        let mut squares = 0.0;
        for &(bound, count) in &self.buckets {
            let n = count - lower_count;
            let point = if bound.is_finite() {
                (lower_bound + bound) / 2.0
            } else {
                lower_bound
            };
            squares += n * (point - mean).powi(2);
            if bound.is_finite() {
                lower_bound = bound;
            }
            lower_count = count;
        }
        Some((squares / self.count).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(buckets: &[(f64, f64)], sum: f64) -> Histogram {
        Histogram {
            buckets: buckets.to_vec(),
            sum,
            count: buckets.last().map_or(0.0, |b| b.1),
        }
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        // 100 observations: 50 in (0, 0.1], 40 in (0.1, 0.2], 10 in (0.2, 0.5].
        let h = histogram(
            &[
                (0.1, 50.0),
                (0.2, 90.0),
                (0.5, 100.0),
                (f64::INFINITY, 100.0),
            ],
            12.0,
        );
        assert!((h.quantile(0.5).unwrap() - 0.1).abs() < 1e-9);
        assert!((h.quantile(0.25).unwrap() - 0.05).abs() < 1e-9);
        assert!((h.quantile(0.7).unwrap() - 0.15).abs() < 1e-9);
        assert!((h.quantile(0.99).unwrap() - 0.47).abs() < 1e-9);
        assert_eq!(h.mean(), Some(0.12));
    }

    #[test]
    fn quantile_in_the_infinite_bucket_is_the_last_finite_bound() {
        let h = histogram(&[(1.0, 10.0), (f64::INFINITY, 20.0)], 50.0);
        assert_eq!(h.quantile(0.9), Some(1.0));
    }

    #[test]
    fn empty_histogram_has_no_statistics() {
        let h = histogram(&[(1.0, 0.0), (f64::INFINITY, 0.0)], 0.0);
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.mean(), None);
        assert_eq!(h.stdev(), None);
    }

    #[test]
    fn since_subtracts_an_earlier_snapshot() {
        let early = histogram(&[(0.1, 10.0), (f64::INFINITY, 10.0)], 0.5);
        let late = histogram(&[(0.1, 15.0), (f64::INFINITY, 30.0)], 20.5);
        let window = late.since(&early);
        assert_eq!(window.buckets, vec![(0.1, 5.0), (f64::INFINITY, 20.0)]);
        assert_eq!(window.count, 20.0);
        assert_eq!(window.sum, 20.0);
    }

    #[test]
    fn merge_adds_counts_per_bound() {
        let mut a = histogram(&[(0.1, 1.0), (f64::INFINITY, 2.0)], 1.0);
        a.merge(&histogram(&[(0.1, 3.0), (f64::INFINITY, 3.0)], 0.2));
        assert_eq!(a.buckets, vec![(0.1, 4.0), (f64::INFINITY, 5.0)]);
        assert_eq!(a.count, 5.0);
    }

    #[test]
    fn stdev_of_a_single_bucket_is_zero_at_its_midpoint() {
        let h = histogram(&[(0.1, 0.0), (0.2, 10.0), (f64::INFINITY, 10.0)], 1.5);
        assert!(h.stdev().unwrap() < 1e-9);
    }
}
