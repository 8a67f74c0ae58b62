//! Jitter: a named distribution of the extra one-way delay a link adds on top of its base
//! delay. Samples are never negative (the base delay is the link's floor) and are clipped at
//! `max_ms`.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Names of the distributions, as written in profile files.
pub const DISTRIBUTIONS: &[&str] = &["none", "normal", "pareto"];

/// The extra delay of one message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "distribution", rename_all = "lowercase", deny_unknown_fields)]
pub enum Jitter {
    /// No jitter: every message takes the base delay.
    #[default]
    None,
    /// The absolute value of a normal deviate of standard deviation `sd_ms` (a half-normal:
    /// median 0.67 sd), clipped at `max_ms`.
    Normal {
        /// Standard deviation in milliseconds.
        sd_ms: f64,
        /// Largest extra delay in milliseconds.
        max_ms: f64,
    },
    /// A heavy tail: `scale_ms * (U^(-1/shape) - 1)` for U uniform in (0, 1] (a Pareto of
    /// type II, median `scale_ms * (2^(1/shape) - 1)`), clipped at `max_ms`.
    Pareto {
        /// Scale in milliseconds.
        scale_ms: f64,
        /// Shape (tail index): smaller is heavier.
        shape: f64,
        /// Largest extra delay in milliseconds.
        max_ms: f64,
    },
}

impl Jitter {
    /// Draws one extra delay.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let ms = match *self {
            Self::None => 0.0,
            Self::Normal { sd_ms, max_ms } => {
                // Box-Muller; 1 - u lies in (0, 1], so its logarithm is finite.
                let u: f64 = rng.gen();
                let v: f64 = rng.gen();
                let z = (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                (z.abs() * sd_ms).min(max_ms)
            }
            Self::Pareto {
                scale_ms,
                shape,
                max_ms,
            } => {
                let u: f64 = 1.0 - rng.gen::<f64>();
                (scale_ms * (u.powf(-1.0 / shape) - 1.0)).min(max_ms)
            }
        };
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    }

    /// Checks the parameters; the error names the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        let check = |field: &str, value: f64, positive: bool| {
            if !value.is_finite() || value < 0.0 || (positive && value == 0.0) {
                let must = if positive { "positive" } else { "at least 0" };
                Err(format!("jitter.{field} is {value}: it must be {must}"))
            } else {
                Ok(())
            }
        };
        match *self {
            Self::None => Ok(()),
            Self::Normal { sd_ms, max_ms } => {
                check("sd_ms", sd_ms, false)?;
                check("max_ms", max_ms, false)
            }
            Self::Pareto {
                scale_ms,
                shape,
                max_ms,
            } => {
                check("scale_ms", scale_ms, false)?;
                check("shape", shape, true)?;
                check("max_ms", max_ms, false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, SeedableRng};

    use super::*;

    fn samples(jitter: &Jitter, n: usize) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut v: Vec<f64> = (0..n)
            .map(|_| jitter.sample(&mut rng).as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn normal_jitter_is_half_normal_and_clipped() {
        let v = samples(
            &Jitter::Normal {
                sd_ms: 10.0,
                max_ms: 25.0,
            },
            20_000,
        );
        let median = v[v.len() / 2];
        assert!(
            (6.2..7.2).contains(&median),
            "median {median} ms, expected 6.7"
        );
        assert!(v[0] >= 0.0);
        assert_eq!(*v.last().expect("samples"), 25.0, "clipped at max_ms");
    }

    #[test]
    fn pareto_jitter_has_its_median_and_a_clipped_tail() {
        let v = samples(
            &Jitter::Pareto {
                scale_ms: 10.0,
                shape: 2.0,
                max_ms: 200.0,
            },
            20_000,
        );
        let median = v[v.len() / 2];
        // 10 * (sqrt(2) - 1) = 4.14 ms.
        assert!((3.8..4.5).contains(&median), "median {median} ms");
        assert!(v[v.len() * 999 / 1000] > 50.0, "a heavy tail");
        assert!(*v.last().expect("samples") <= 200.0);
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let bad = Jitter::Pareto {
            scale_ms: 1.0,
            shape: 0.0,
            max_ms: 5.0,
        };
        assert!(bad.validate().unwrap_err().contains("jitter.shape"));
        let bad = Jitter::Normal {
            sd_ms: -1.0,
            max_ms: 5.0,
        };
        assert!(bad.validate().unwrap_err().contains("jitter.sd_ms"));
    }
}
