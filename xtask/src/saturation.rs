//! The saturation search: the highest offered load a system holds, found by running points.
//!
//! A load *holds* when its run succeeded, committed at least `1 - tolerance` of the offered
//! load and met the latency objective (`--slo p99<=2s`). The search starts low and
//! multiplies the load by `growth` until a load fails, bisects between the highest load that
//! held and the lowest that failed until they are within `resolution`, then repeats both
//! ends of that bracket until each has run `repeats` times: a load holds when most of its
//! runs did, and a bracket end that the repeats overturn moves the bracket (to the next
//! point tried below or above, or a new bisection). The answer is the highest load that
//! held, with an interval from the repeats: from the highest load at or below it that held
//! in every run to the lowest load above it that failed in every run; and every point
//! tried, so the number of runs. Budgets (`max_runs`, `max_time`) and an interruption stop it between runs
//! with what it has. It knows nothing of benchmarks: the caller's closure runs one point.

use std::{collections::BTreeMap, fmt, time::Duration};

use anyhow::{bail, Result};

/// A latency percentile an objective bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Percentile {
    /// The median.
    P50,
    /// The 99th percentile.
    P99,
}

/// A latency objective, `p99<=2s` or `p50<=500ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slo {
    /// Which percentile.
    pub percentile: Percentile,
    /// Its largest allowed value.
    pub max: Duration,
}

impl std::str::FromStr for Slo {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let usage = || {
            anyhow::anyhow!(
                "latency objective `{text}`: expected p50<=DURATION or p99<=DURATION, e.g. p99<=2s"
            )
        };
        let (percentile, max) = text.split_once("<=").ok_or_else(usage)?;
        let percentile = match percentile.trim() {
            "p50" => Percentile::P50,
            "p99" => Percentile::P99,
            _ => return Err(usage()),
        };
        let max = max.trim();
        let (number, unit) = if let Some(n) = max.strip_suffix("ms") {
            (n, 0.001)
        } else if let Some(n) = max.strip_suffix('s') {
            (n, 1.0)
        } else {
            return Err(usage());
        };
        match number.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(Self {
                percentile,
                max: Duration::from_secs_f64(v * unit),
            }),
            _ => Err(usage()),
        }
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.percentile {
            Percentile::P50 => "p50",
            Percentile::P99 => "p99",
        };
        write!(f, "{p}<={}ms", self.max.as_millis())
    }
}

/// What one run at an offered load measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    /// Committed transactions per second.
    pub committed: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Whether the run succeeded (no failure, safety ok).
    pub ok: bool,
}

/// How to search.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    /// The first load tried (tx/s).
    pub start: u64,
    /// Factor between loads while growing (> 1).
    pub growth: f64,
    /// The highest load tried.
    pub max_load: u64,
    /// Share of the offered load that may go uncommitted in a run that holds.
    pub tolerance: f64,
    /// The latency objective, if any.
    pub slo: Option<Slo>,
    /// Bisection stops when the failed load is within this share above the held one.
    pub resolution: f64,
    /// Runs of each end of the final bracket.
    pub repeats: usize,
    /// At most this many runs.
    pub max_runs: Option<usize>,
    /// No run starts after this much time.
    pub max_time: Option<Duration>,
}

impl Default for Search {
    fn default() -> Self {
        Self {
            start: 10_000,
            growth: 2.0,
            max_load: 10_000_000,
            tolerance: 0.05,
            slo: None,
            resolution: 0.05,
            repeats: 3,
            max_runs: None,
            max_time: None,
        }
    }
}

impl Search {
    /// Why a run at `load` that measured `m` did not hold (`None`: it held): it failed,
    /// committed less than `1 - tolerance` of the load, or broke the latency objective.
    pub fn failure(&self, load: u64, m: &Measured) -> Option<String> {
        if !m.ok {
            return Some("the run reported a failure".into());
        }
        let floor = load as f64 * (1.0 - self.tolerance);
        if m.committed < floor {
            return Some(format!(
                "committed {:.0} tx/s, below {:.0} ({}% of the offered load)",
                m.committed,
                floor,
                ((1.0 - self.tolerance) * 100.0).round()
            ));
        }
        let slo = self.slo?;
        let value = match slo.percentile {
            Percentile::P50 => m.p50,
            Percentile::P99 => m.p99,
        };
        (value > slo.max).then(|| format!("{slo} broken: {} ms", value.as_millis()))
    }
}

/// One run of the search.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Offered load (tx/s).
    pub load: u64,
    /// What the run measured.
    pub measured: Measured,
    /// Whether this run held.
    pub held: bool,
    /// Why it did not hold, for the report.
    pub reason: Option<String>,
}

/// Why the search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The bracket is within the resolution and its ends held up to their repeats.
    Converged,
    /// Every load up to `max_load` held: no ceiling below it.
    NoCeiling,
    /// Even the lowest load tried (1 tx/s) failed.
    NothingHeld,
    /// `max_runs` reached.
    MaxRuns,
    /// `max_time` reached.
    MaxTime,
    /// Interrupted.
    Interrupted,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Converged => "converged",
            Self::NoCeiling => "no ceiling up to the highest load",
            Self::NothingHeld => "no load held",
            Self::MaxRuns => "stopped at the maximum number of runs",
            Self::MaxTime => "stopped at the maximum time",
            Self::Interrupted => "interrupted",
        })
    }
}

/// What the search found.
#[derive(Clone, Debug, PartialEq)]
pub struct Saturation {
    /// The highest load that held (most of its runs), if any.
    pub held: Option<u64>,
    /// The lowest load above it that failed (most of its runs), if any.
    pub failed: Option<u64>,
    /// Where the knee lies by the repeats: the highest load at or below `held` that held in
    /// every run, the lowest at or above `failed` that failed in every run.
    pub interval: (Option<u64>, Option<u64>),
    /// Median committed rate of the runs at `held`.
    pub committed: Option<f64>,
    /// Every run, in order.
    pub points: Vec<Point>,
    /// Why it ended.
    pub stop: Stop,
}

impl Saturation {
    /// Runs made.
    pub fn runs(&self) -> usize {
        self.points.len()
    }

    /// The last line of a report, after `elapsed`:
    /// `saturation: 412k tx/s [398k, 425k] after 9 runs in 6m12s (converged)`.
    pub fn summary(&self, elapsed: Duration) -> String {
        let show = |v: Option<u64>| v.map_or("-".to_string(), short);
        let seconds = elapsed.as_secs();
        format!(
            "saturation: {} tx/s [{}, {}] after {} runs in {}m{:02}s ({})",
            show(self.held),
            show(self.interval.0),
            show(self.interval.1),
            self.runs(),
            seconds / 60,
            seconds % 60,
            self.stop
        )
    }
}

fn short(v: u64) -> String {
    if v >= 10_000 {
        format!("{}k", (v as f64 / 1000.0).round())
    } else {
        v.to_string()
    }
}

/// Runs the search: `run` measures one point at an offered load, `elapsed` tells the time
/// since the search began, `interrupted` whether to stop.
pub fn search(
    config: &Search,
    elapsed: &dyn Fn() -> Duration,
    interrupted: &dyn Fn() -> bool,
    mut run: impl FnMut(u64) -> Result<Measured>,
) -> Result<Saturation> {
    if config.start == 0 || config.start > config.max_load {
        bail!(
            "the search starts at {} tx/s: give a start above 0 and at most the highest load ({})",
            config.start,
            config.max_load
        );
    }
    if config.growth.is_nan() || config.growth <= 1.0 {
        bail!("the growth factor is {}: it must be above 1", config.growth);
    }
    if config.repeats == 0 {
        bail!("repeats must be at least 1");
    }
    let mut state = State {
        config,
        elapsed,
        interrupted,
        points: Vec::new(),
    };
    let stop = match state.find(&mut run) {
        Ok(stop) | Err(stop) => stop,
    };
    Ok(state.finish(stop))
}

struct State<'a> {
    config: &'a Search,
    elapsed: &'a dyn Fn() -> Duration,
    interrupted: &'a dyn Fn() -> bool,
    points: Vec<Point>,
}

impl State<'_> {
    /// One run at `load`, unless a budget or an interruption says stop.
    fn measure(
        &mut self,
        load: u64,
        run: &mut impl FnMut(u64) -> Result<Measured>,
    ) -> Result<bool, Stop> {
        if (self.interrupted)() {
            return Err(Stop::Interrupted);
        }
        if self.config.max_runs.is_some_and(|m| self.points.len() >= m) {
            return Err(Stop::MaxRuns);
        }
        if self.config.max_time.is_some_and(|m| (self.elapsed)() >= m) {
            return Err(Stop::MaxTime);
        }
        let (measured, reason) = match run(load) {
            Ok(m) => (m, self.config.failure(load, &m)),
            Err(e) => (
                Measured {
                    committed: 0.0,
                    p50: Duration::ZERO,
                    p99: Duration::ZERO,
                    ok: false,
                },
                Some(format!("the run failed: {e:#}")),
            ),
        };
        let held = reason.is_none();
        self.points.push(Point {
            load,
            measured,
            held,
            reason,
        });
        if (self.interrupted)() {
            return Err(Stop::Interrupted);
        }
        Ok(held)
    }

    /// Runs and held runs per load so far.
    fn tally(&self) -> BTreeMap<u64, (usize, usize)> {
        let mut t = BTreeMap::new();
        for p in &self.points {
            let e = t.entry(p.load).or_insert((0, 0));
            e.0 += 1;
            e.1 += usize::from(p.held);
        }
        t
    }

    /// The bracket from every point so far: the highest load that holds below the lowest
    /// one that fails above it.
    fn bracket(&self) -> (Option<u64>, Option<u64>) {
        let tally = self.tally();
        let failed = tally
            .iter()
            .find(|(_, (n, h))| 2 * h <= *n)
            .map(|(l, _)| *l);
        let held = tally
            .iter()
            .rev()
            .filter(|(l, _)| failed.is_none_or(|f| **l < f))
            .find(|(_, (n, h))| 2 * h > *n)
            .map(|(l, _)| *l);
        (held, failed)
    }

    fn find(&mut self, run: &mut impl FnMut(u64) -> Result<Measured>) -> Result<Stop, Stop> {
        // Grow geometrically from the start until a load fails.
        let mut load = self.config.start;
        while self.measure(load, run)? {
            if load >= self.config.max_load {
                return Ok(Stop::NoCeiling);
            }
            load = ((load as f64 * self.config.growth).ceil() as u64).min(self.config.max_load);
        }
        // Bisect the bracket, then repeat its ends until they stand.
        loop {
            let (held, failed) = self.bracket();
            let Some(failed) = failed else {
                // Repeats overturned every failure: grow again from the top.
                let top = held.unwrap_or(self.config.start);
                if top >= self.config.max_load {
                    return Ok(Stop::NoCeiling);
                }
                let next =
                    ((top as f64 * self.config.growth).ceil() as u64).min(self.config.max_load);
                self.measure(next, run)?;
                continue;
            };
            let low = held.unwrap_or(0);
            if failed <= 1 && held.is_none() {
                return Ok(Stop::NothingHeld);
            }
            let close =
                failed as f64 <= low as f64 * (1.0 + self.config.resolution) || failed - low <= 1;
            if !close {
                self.measure(low + (failed - low) / 2, run)?;
                continue;
            }
            // The bracket is narrow: both ends need their repeats.
            let tally = self.tally();
            let runs = |l: u64| tally.get(&l).map_or(0, |(n, _)| *n);
            if let Some(h) = held.filter(|h| runs(*h) < self.config.repeats) {
                self.measure(h, run)?;
            } else if runs(failed) < self.config.repeats {
                self.measure(failed, run)?;
            } else {
                return Ok(Stop::Converged);
            }
        }
    }

    fn finish(self, stop: Stop) -> Saturation {
        let (held, failed) = self.bracket();
        let tally = self.tally();
        let low = tally
            .iter()
            .rev()
            .filter(|(l, _)| held.is_some_and(|h| **l <= h))
            .find(|(_, (n, h))| h == n)
            .map(|(l, _)| *l);
        let high = tally
            .iter()
            .filter(|(l, _)| failed.is_some_and(|f| **l >= f))
            .find(|(_, (_, h))| *h == 0)
            .map(|(l, _)| *l);
        let committed = held.and_then(|h| {
            let mut rates: Vec<f64> = self
                .points
                .iter()
                .filter(|p| p.load == h)
                .map(|p| p.measured.committed)
                .collect();
            rates.sort_by(f64::total_cmp);
            rates.get(rates.len() / 2).copied()
        });
        Saturation {
            held,
            failed,
            interval: (low, high),
            committed,
            points: self.points,
            stop,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use rand::{rngs::StdRng, Rng, SeedableRng};

    use super::*;

    /// A system that commits at most `ceiling` tx/s, each run's capacity off by a normal
    /// noise of `noise` (relative), and whose p99 grows past 2 s near saturation.
    struct Planted {
        ceiling: f64,
        noise: f64,
        rng: StdRng,
    }

    impl Planted {
        fn run(&mut self, load: u64) -> Result<Measured> {
            let u: f64 = 1.0 - self.rng.gen::<f64>();
            let v: f64 = self.rng.gen();
            let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            let capacity = self.ceiling * (1.0 + self.noise * z);
            let committed = (load as f64).min(capacity);
            let utilisation = load as f64 / capacity;
            Ok(Measured {
                committed,
                p50: Duration::from_millis(100),
                p99: Duration::from_secs_f64(0.2 + 3.0 * utilisation.powi(8)),
                ok: true,
            })
        }
    }

    fn no_time() -> Duration {
        Duration::ZERO
    }

    fn never() -> bool {
        false
    }

    #[test]
    fn finds_a_planted_ceiling_within_its_interval() {
        // Held means committing 95% of the offered load: the knee is at ceiling / 0.95.
        let cases = (1..=40u64).map(|seed| (seed, 3_000.0 * 1.13f64.powi(seed as i32)));
        for (seed, ceiling) in cases {
            let mut system = Planted {
                ceiling,
                noise: 0.01,
                rng: StdRng::seed_from_u64(seed),
            };
            let config = Search {
                start: 1_000,
                ..Search::default()
            };
            let found = search(&config, &no_time, &never, |l| system.run(l)).expect("search");
            let knee = ceiling / 0.95;
            let (held, failed) = (found.held.expect("held"), found.failed.expect("failed"));
            let (low, high) = (
                found.interval.0.expect("low"),
                found.interval.1.expect("high"),
            );
            assert_eq!(found.stop, Stop::Converged);
            assert!(low <= held && held < failed && failed <= high);
            // The interval holds the knee.
            assert!(
                low as f64 <= knee && high as f64 >= knee,
                "ceiling {ceiling}: knee {knee:.0} outside [{low}, {high}]"
            );
            assert!(
                high as f64 <= low as f64 * 1.25,
                "a narrow interval: [{low}, {high}]"
            );
            assert!(
                failed as f64 <= held as f64 * 1.05 + 1.0,
                "within the resolution"
            );
            for end in [held, failed] {
                let runs = found.points.iter().filter(|p| p.load == end).count();
                assert!(runs >= 3, "{end} ran {runs} times");
            }
            let committed = found.committed.expect("committed");
            assert!((committed - held as f64).abs() <= held as f64 * 0.05);
            assert!(found.runs() < 40, "{} runs", found.runs());
        }
    }

    #[test]
    fn the_latency_objective_lowers_the_knee() {
        // p99 = 0.2 + 3 u^8 s passes 2 s at a utilisation of 0.95.
        let mut system = Planted {
            ceiling: 100_000.0,
            noise: 0.0,
            rng: StdRng::seed_from_u64(9),
        };
        let config = Search {
            start: 1_000,
            slo: Some("p99<=1s".parse().expect("slo")),
            ..Search::default()
        };
        let found = search(&config, &no_time, &never, |l| system.run(l)).expect("search");
        // 0.2 + 3 u^8 <= 1 for u <= (0.8 / 3)^(1/8) = 0.8476.
        let knee = 100_000.0 * (0.8f64 / 3.0).powf(0.125);
        let (held, failed) = (found.held.expect("held"), found.failed.expect("failed"));
        assert!(
            held as f64 <= knee && failed as f64 >= knee,
            "{knee} outside [{held}, {failed}]"
        );
        let reasons: Vec<_> = found
            .points
            .iter()
            .filter_map(|p| p.reason.clone())
            .collect();
        assert!(
            reasons.iter().any(|r| r.contains("p99<=1000ms broken")),
            "{reasons:?}"
        );
    }

    #[test]
    fn budgets_and_interruption_stop_it_with_what_it_has() {
        let mut system = Planted {
            ceiling: 400_000.0,
            noise: 0.01,
            rng: StdRng::seed_from_u64(5),
        };
        let config = Search {
            start: 1_000,
            max_runs: Some(5),
            ..Search::default()
        };
        let found = search(&config, &no_time, &never, |l| system.run(l)).expect("search");
        assert_eq!((found.stop, found.runs()), (Stop::MaxRuns, 5));
        assert_eq!(found.held, Some(16_000), "1k, 2k, 4k, 8k, 16k all held");

        // Each run takes a minute of a fake clock; no run starts after 10 minutes.
        let clock = Cell::new(Duration::ZERO);
        let config = Search {
            start: 1_000,
            max_time: Some(Duration::from_secs(600)),
            ..Search::default()
        };
        let found = search(&config, &|| clock.get(), &never, |l| {
            clock.set(clock.get() + Duration::from_secs(60));
            system.run(l)
        })
        .expect("search");
        assert_eq!((found.stop, found.runs()), (Stop::MaxTime, 10));

        // Interrupted during the third run: it is kept, nothing more runs.
        let runs = Cell::new(0);
        let found = search(&Search::default(), &no_time, &|| runs.get() >= 3, |l| {
            runs.set(runs.get() + 1);
            system.run(l)
        })
        .expect("search");
        assert_eq!((found.stop, found.runs()), (Stop::Interrupted, 3));
        assert_eq!(found.held, Some(40_000));
    }

    #[test]
    fn a_system_without_a_ceiling_or_without_any_capacity() {
        let config = Search {
            start: 1_000,
            max_load: 50_000,
            ..Search::default()
        };
        let fast = |l: u64| {
            Ok(Measured {
                committed: l as f64,
                p50: Duration::from_millis(50),
                p99: Duration::from_millis(90),
                ok: true,
            })
        };
        let found = search(&config, &no_time, &never, fast).expect("search");
        assert_eq!((found.stop, found.held), (Stop::NoCeiling, Some(50_000)));
        let broken = |_| -> Result<Measured> { bail!("the validators did not start") };
        let found = search(&config, &no_time, &never, broken).expect("search");
        assert_eq!((found.stop, found.held), (Stop::NothingHeld, None));
        assert!(found.points[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("did not start")));
        assert!(
            found.runs() <= 12,
            "bisects down to 1 tx/s: {} runs",
            found.runs()
        );
    }

    #[test]
    fn parses_latency_objectives() {
        let slo: Slo = "p99<=2s".parse().expect("p99");
        assert_eq!(slo.max, Duration::from_secs(2));
        let slo: Slo = "p50 <= 250ms".parse().expect("p50");
        assert_eq!(
            (slo.percentile, slo.max),
            (Percentile::P50, Duration::from_millis(250))
        );
        for bad in ["p90<=1s", "p99<2s", "p99<=2", "p99<=-1s"] {
            let err = bad.parse::<Slo>().expect_err(bad).to_string();
            assert!(err.contains("e.g. p99<=2s"), "{err}");
        }
    }
}
