//! Scheduled network faults, known to every validator in advance: partitions, slow
//! validators and flapping links. Each validator applies them to what it sends, so no
//! coordinator is needed. Windows are given relative to a shared epoch (`--fault-epoch`).
//!
//! Syntax (times: `250ms`, `20s`, `1.5s`; windows `@START+DURATION` after the epoch):
//! - partition `0,1/2,3@20s+15s`: messages between the sides are held while it lasts
//!   (validators not named are unaffected);
//! - slow validator `3:+200ms` (always) or `3:+200ms@20s+15s`: its messages leave that late;
//! - flapping link `0-1:2s,25%` or `0-1:2s,25%@20s+15s`: in every period of 2 s, the link
//!   between 0 and 1 is down (both directions held) for the first 25% of it.

use std::{fmt, time::Duration};

use crate::committee::AuthorityIndex;

/// Held messages are released after at most this many down windows in a row (a bound on
/// the search, not a limit of the model in practice).
const MAX_RELEASES: usize = 1_000;

/// The length of an open window.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A window of time, relative to the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Start after the epoch.
    pub start: Duration,
    /// Length.
    pub duration: Duration,
}

impl Window {
    /// The end of the window.
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }

    fn contains(&self, t: Duration) -> bool {
        self.start <= t && t < self.end()
    }
}

/// One scheduled fault.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Messages between validators on different sides are held during the window.
    Partition {
        /// Two or more disjoint sets of validators.
        sides: Vec<Vec<AuthorityIndex>>,
        /// When.
        window: Window,
    },
    /// Everything the validator sends leaves `extra` later.
    Slow {
        /// The slow validator.
        validator: AuthorityIndex,
        /// Extra egress delay.
        extra: Duration,
        /// When (None: always).
        window: Option<Window>,
    },
    /// The link between two validators goes down for `down` of every `period`.
    Flap {
        /// One end.
        a: AuthorityIndex,
        /// The other end.
        b: AuthorityIndex,
        /// Period of the cycle.
        period: Duration,
        /// Fraction of each period the link is down (at its start).
        down: f64,
        /// When (None: from the epoch on).
        window: Option<Window>,
    },
}

impl Fault {
    /// Parses a partition, `0,1/2,3@20s+15s`.
    pub fn parse_partition(spec: &str) -> Result<Self, String> {
        let (sides, window) = spec.split_once('@').ok_or_else(|| {
            format!("partition `{spec}`: expected SIDES@START+DURATION, e.g. 0,1/2,3@20s+15s")
        })?;
        let sides = sides
            .split('/')
            .map(|side| {
                side.split(',')
                    .map(|v| parse_validator(v, spec))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        if sides.len() < 2 {
            return Err(format!(
                "partition `{spec}`: needs at least two sides separated by `/`"
            ));
        }
        let mut seen = Vec::new();
        for v in sides.iter().flatten() {
            if seen.contains(v) {
                return Err(format!("partition `{spec}`: validator {v} is on two sides"));
            }
            seen.push(*v);
        }
        Ok(Self::Partition {
            sides,
            window: parse_window(window, spec)?,
        })
    }

    /// Parses a slow validator, `3:+200ms` or `3:+200ms@20s+15s`.
    pub fn parse_slow(spec: &str) -> Result<Self, String> {
        let (validator, rest) = spec.split_once(":+").ok_or_else(|| {
            format!("slow validator `{spec}`: expected V:+DELAY[@START+DURATION], e.g. 3:+200ms")
        })?;
        let (extra, window) = split_window(rest, spec)?;
        Ok(Self::Slow {
            validator: parse_validator(validator, spec)?,
            extra: parse_duration(extra, spec)?,
            window,
        })
    }

    /// Parses a flapping link, `0-1:2s,25%` or `0-1:2s,25%@20s+15s`.
    pub fn parse_flap(spec: &str) -> Result<Self, String> {
        let usage = || {
            format!("flapping link `{spec}`: expected A-B:PERIOD,DOWN%[@START+DURATION], e.g. 0-1:2s,25%")
        };
        let (pair, rest) = spec.split_once(':').ok_or_else(usage)?;
        let (a, b) = pair.split_once('-').ok_or_else(usage)?;
        let (cycle, window) = split_window(rest, spec)?;
        let (period, down) = cycle.split_once(',').ok_or_else(usage)?;
        let down: f64 = down
            .trim()
            .strip_suffix('%')
            .and_then(|d| d.parse().ok())
            .ok_or_else(usage)?;
        if !(0.0..=100.0).contains(&down) {
            return Err(format!(
                "flapping link `{spec}`: the down share {down}% is not within 0-100%"
            ));
        }
        let period = parse_duration(period, spec)?;
        if period.is_zero() {
            return Err(format!(
                "flapping link `{spec}`: the period must be positive"
            ));
        }
        let (a, b) = (parse_validator(a, spec)?, parse_validator(b, spec)?);
        if a == b {
            return Err(format!(
                "flapping link `{spec}`: a link joins two different validators"
            ));
        }
        Ok(Self::Flap {
            a,
            b,
            period,
            down: down / 100.0,
            window,
        })
    }

    /// Every validator the fault names.
    pub fn validators(&self) -> Vec<AuthorityIndex> {
        match self {
            Self::Partition { sides, .. } => sides.iter().flatten().copied().collect(),
            Self::Slow { validator, .. } => vec![*validator],
            Self::Flap { a, b, .. } => vec![*a, *b],
        }
    }

    /// The end of the down period of the link `from -> to` that contains `t`, if any.
    fn down_until(
        &self,
        from: AuthorityIndex,
        to: AuthorityIndex,
        t: Duration,
    ) -> Option<Duration> {
        match self {
            Self::Partition { sides, window } => {
                let side = |v| sides.iter().position(|s| s.contains(&v));
                match (side(from), side(to)) {
                    (Some(x), Some(y)) if x != y && window.contains(t) => Some(window.end()),
                    _ => None,
                }
            }
            Self::Slow { .. } => None,
            Self::Flap {
                a,
                b,
                period,
                down,
                window,
            } => {
                if !((from, to) == (*a, *b) || (from, to) == (*b, *a)) {
                    return None;
                }
                let start = window.map_or(Duration::ZERO, |w| w.start);
                if t < start || window.is_some_and(|w| !w.contains(t)) {
                    return None;
                }
                let cycles = ((t - start).as_nanos() / period.as_nanos()) as u32;
                let cycle_start = start + *period * cycles;
                let up_at = cycle_start + period.mul_f64(*down);
                let up_at = window.map_or(up_at, |w| up_at.min(w.end()));
                (t < up_at).then_some(up_at)
            }
        }
    }

    /// Extra egress delay of `from` at `t`.
    fn extra_delay(&self, from: AuthorityIndex, t: Duration) -> Duration {
        match self {
            Self::Slow {
                validator,
                extra,
                window,
            } if *validator == from && window.is_none_or(|w| w.contains(t)) => *extra,
            _ => Duration::ZERO,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let window = |w: &Option<Window>| {
            w.map_or(String::new(), |w| {
                format!("@{}+{}", show(w.start), show(w.duration))
            })
        };
        match self {
            Self::Partition { sides, window: w } => {
                let sides: Vec<String> = sides
                    .iter()
                    .map(|s| s.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
                    .collect();
                write!(f, "partition {}{}", sides.join("/"), window(&Some(*w)))
            }
            Self::Slow {
                validator,
                extra,
                window: w,
            } => write!(f, "slow {validator}:+{}{}", show(*extra), window(w)),
            Self::Flap {
                a,
                b,
                period,
                down,
                window: w,
            } => write!(
                f,
                "flap {a}-{b}:{},{}%{}",
                show(*period),
                down * 100.0,
                window(w)
            ),
        }
    }
}

/// Every fault of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSchedule {
    faults: Vec<Fault>,
}

impl FaultSchedule {
    /// A schedule of `faults`.
    pub fn new(faults: Vec<Fault>) -> Self {
        Self { faults }
    }

    /// The faults.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Whether there is no fault.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// Refuses a fault that names a validator outside a committee of `n`.
    pub fn check_committee(&self, n: usize) -> Result<(), String> {
        for fault in &self.faults {
            if let Some(v) = fault.validators().into_iter().find(|v| *v as usize >= n) {
                return Err(format!(
                    "{fault}: validator {v} does not exist (the committee has {n}: 0 to {})",
                    n.saturating_sub(1)
                ));
            }
        }
        Ok(())
    }

    /// Extra egress delay of `from` for a message sent at `t`.
    pub fn extra_delay(&self, from: AuthorityIndex, t: Duration) -> Duration {
        self.faults.iter().map(|f| f.extra_delay(from, t)).sum()
    }

    /// When a message on `from -> to` that is in transit from `departure` to `arrival` can
    /// be delivered: `arrival` if the link is up at both ends of the transit, else the end
    /// of the down period plus the transit, as a retransmission after the heal would
    /// (repeated while that lands in a down period again).
    pub fn release(
        &self,
        from: AuthorityIndex,
        to: AuthorityIndex,
        departure: Duration,
        arrival: Duration,
    ) -> Duration {
        let transit = arrival.saturating_sub(departure);
        let down_until = |t| {
            self.faults
                .iter()
                .filter_map(|f| f.down_until(from, to, t))
                .max()
        };
        let mut at = arrival;
        let mut probe = departure;
        for _ in 0..MAX_RELEASES {
            match down_until(probe).or_else(|| down_until(at)) {
                Some(up) => {
                    probe = up;
                    at = up + transit;
                }
                None => break,
            }
        }
        at
    }

    /// The same faults with every window moved `offset` later: for a caller whose time
    /// origin is `offset` before the epoch. An open flap then cycles from `offset` on.
    pub fn shifted(&self, offset: Duration) -> Self {
        let shift = |w: Window| Window {
            start: w.start + offset,
            duration: w.duration,
        };
        let faults = self
            .faults
            .iter()
            .map(|f| match f.clone() {
                Fault::Partition { sides, window } => Fault::Partition {
                    sides,
                    window: shift(window),
                },
                Fault::Slow {
                    validator,
                    extra,
                    window,
                } => Fault::Slow {
                    validator,
                    extra,
                    window: window.map(shift),
                },
                Fault::Flap {
                    a,
                    b,
                    period,
                    down,
                    window,
                } => Fault::Flap {
                    a,
                    b,
                    period,
                    down,
                    window: Some(shift(window.unwrap_or(Window {
                        start: Duration::ZERO,
                        duration: FOREVER,
                    }))),
                },
            })
            .collect();
        Self { faults }
    }
}

fn parse_validator(text: &str, spec: &str) -> Result<AuthorityIndex, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{spec}`: `{text}` is not a validator index"))
}

fn split_window<'a>(text: &'a str, spec: &str) -> Result<(&'a str, Option<Window>), String> {
    match text.split_once('@') {
        Some((head, window)) => Ok((head, Some(parse_window(window, spec)?))),
        None => Ok((text, None)),
    }
}

fn parse_window(text: &str, spec: &str) -> Result<Window, String> {
    let (start, duration) = text.split_once('+').ok_or_else(|| {
        format!("`{spec}`: the window `{text}` is not START+DURATION, e.g. 20s+15s")
    })?;
    Ok(Window {
        start: parse_duration(start, spec)?,
        duration: parse_duration(duration, spec)?,
    })
}

/// Parses `250ms`, `20s` or `1.5s`.
pub fn parse_duration(text: &str, spec: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(format!(
            "`{spec}`: `{text}` needs a unit, ms or s (e.g. 200ms, 20s)"
        ));
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Duration::from_secs_f64(v * unit)),
        _ => Err(format!(
            "`{spec}`: `{text}` is not a duration (e.g. 200ms, 20s)"
        )),
    }
}

fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const S: Duration = Duration::from_secs(1);

    #[test]
    fn parses_and_prints_every_kind() {
        for spec in ["0,1/2,3@20s+15s", "3/0,1,2@500ms+2s"] {
            let f = Fault::parse_partition(spec).expect(spec);
            assert_eq!(f.to_string(), format!("partition {spec}"));
        }
        let f = Fault::parse_slow("3:+200ms").expect("slow");
        assert_eq!(
            f,
            Fault::Slow {
                validator: 3,
                extra: 200 * MS,
                window: None
            }
        );
        let f = Fault::parse_flap("0-1:2s,25%@1s+10s").expect("flap");
        assert_eq!(f.to_string(), "flap 0-1:2s,25%@1s+10s");
    }

    #[test]
    fn bad_specs_say_what_is_expected() {
        let cases = [
            (Fault::parse_partition("0,1@1s+1s"), "two sides"),
            (Fault::parse_partition("0,1/1,2@1s+1s"), "on two sides"),
            (Fault::parse_partition("0/1"), "SIDES@START+DURATION"),
            (
                Fault::parse_partition("0/x@1s+1s"),
                "`x` is not a validator",
            ),
            (Fault::parse_partition("0/1@1+1s"), "needs a unit"),
            (Fault::parse_slow("3+200ms"), "V:+DELAY"),
            (Fault::parse_flap("0-1:2s,150%"), "not within 0-100%"),
            (Fault::parse_flap("0-0:2s,10%"), "two different"),
        ];
        for (result, expected) in cases {
            let err = result.expect_err(expected);
            assert!(err.contains(expected), "`{err}` lacks `{expected}`");
        }
        let schedule = FaultSchedule::new(vec![Fault::parse_partition("0/4@1s+1s").expect("p")]);
        let err = schedule.check_committee(4).expect_err("validator 4 of 4");
        assert!(err.contains("validator 4 does not exist"), "{err}");
        assert!(schedule.check_committee(5).is_ok());
    }

    #[test]
    fn a_partition_holds_messages_between_its_sides_until_it_heals() {
        let s = FaultSchedule::new(vec![Fault::parse_partition("3/0,1,2@10s+5s").expect("p")]);
        // Across the sides: held to the heal, then the transit again.
        assert_eq!(s.release(3, 0, 11 * S, 11 * S + 50 * MS), 15 * S + 50 * MS);
        assert_eq!(s.release(1, 3, 12 * S, 12 * S + 50 * MS), 15 * S + 50 * MS);
        // Sent before, arriving during: lost and retransmitted after the heal.
        assert_eq!(s.release(0, 3, 9_990 * MS, 10_040 * MS), 15 * S + 50 * MS);
        // Within a side, before and after: untouched.
        assert_eq!(s.release(0, 1, 11 * S, 11 * S + 50 * MS), 11 * S + 50 * MS);
        assert_eq!(s.release(3, 0, 9 * S, 9 * S + 50 * MS), 9 * S + 50 * MS);
        assert_eq!(s.release(3, 0, 15 * S, 15 * S + 50 * MS), 15 * S + 50 * MS);
    }

    #[test]
    fn a_flapping_link_is_down_for_its_share_of_each_period() {
        let s = FaultSchedule::new(vec![Fault::parse_flap("0-1:2s,25%").expect("flap")]);
        // Down during [0, 0.5 s) of every 2 s period, in both directions.
        assert_eq!(s.release(0, 1, 4_100 * MS, 4_110 * MS), 4_510 * MS);
        assert_eq!(s.release(1, 0, 4_100 * MS, 4_110 * MS), 4_510 * MS);
        assert_eq!(s.release(0, 1, 4_600 * MS, 4_610 * MS), 4_610 * MS);
        assert_eq!(s.release(0, 2, 4_100 * MS, 4_110 * MS), 4_110 * MS);
    }

    #[test]
    fn a_slow_validator_adds_its_delay_in_its_window() {
        let s = FaultSchedule::new(vec![Fault::parse_slow("2:+200ms@1s+1s").expect("slow")]);
        assert_eq!(s.extra_delay(2, 1_500 * MS), 200 * MS);
        assert_eq!(s.extra_delay(2, 2_500 * MS), Duration::ZERO);
        assert_eq!(s.extra_delay(1, 1_500 * MS), Duration::ZERO);
    }

    #[test]
    fn shifting_moves_windows_and_keeps_a_flap_in_phase() {
        let s = FaultSchedule::new(vec![Fault::parse_partition("0/1@10s+5s").expect("p")]);
        let later = s.shifted(2 * S);
        assert_eq!(later.release(0, 1, 16 * S, 16 * S), 17 * S);
        assert_eq!(later.release(0, 1, 11 * S, 11 * S), 11 * S);
        // An open flap cycles from the epoch: 3 s after the origin here.
        let flap = FaultSchedule::new(vec![Fault::parse_flap("0-1:2s,25%").expect("f")]);
        let shifted = flap.shifted(3 * S);
        assert_eq!(shifted.release(0, 1, 1_100 * MS, 1_100 * MS), 1_100 * MS);
        assert_eq!(shifted.release(0, 1, 5_100 * MS, 5_100 * MS), 5_500 * MS);
    }
}
