//! Faults the simulator schedules precisely, as given on the command line: crashes (for
//! good, or with a restart from the WAL), partitions of chosen validators, message loss on
//! a link.

use std::{str::FromStr, time::Duration};

use anyhow::{bail, Context, Result};

use crate::committee::AuthorityIndex;

/// `I@T` (crashed at T seconds for good) or `I@T+DOWN` (restarted from its WAL DOWN
/// seconds later).
#[derive(Clone, Debug, PartialEq)]
pub struct Crash {
    /// The validator.
    pub validator: AuthorityIndex,
    /// When it crashes.
    pub at: Duration,
    /// How long it stays down (None: for good).
    pub down: Option<Duration>,
}

/// `I,J,...@T1-T2`: these validators are cut off from the others from T1 to T2 seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// One side (the other side is everyone else).
    pub side: Vec<AuthorityIndex>,
    /// Start.
    pub from: Duration,
    /// Heal.
    pub until: Duration,
}

/// `A-B@P`: a fraction P of the messages between A and B (both ways) is lost, from
/// `from` to `until` (the whole run on the command line).
#[derive(Clone, Debug, PartialEq)]
pub struct Loss {
    /// One end.
    pub a: AuthorityIndex,
    /// The other end.
    pub b: AuthorityIndex,
    /// Fraction of messages lost, 0..=1.
    pub fraction: f64,
    /// Start.
    pub from: Duration,
    /// End.
    pub until: Duration,
}

/// A slow link (the explorer's): messages from `a` to `b` sent between `from` and `until`
/// take `extra` longer.
#[derive(Clone, Debug, PartialEq)]
pub struct SlowLink {
    /// Sender.
    pub a: AuthorityIndex,
    /// Receiver.
    pub b: AuthorityIndex,
    /// Added delay.
    pub extra: Duration,
    /// Start.
    pub from: Duration,
    /// End.
    pub until: Duration,
}

fn seconds(text: &str, what: &str) -> Result<Duration> {
    let s: f64 = text
        .trim()
        .parse()
        .with_context(|| format!("{what} `{text}` is not a number of seconds"))?;
    if !(0.0..=1e6).contains(&s) {
        bail!("{what} `{text}` must be between 0 and 1000000 seconds");
    }
    Ok(Duration::from_secs_f64(s))
}

fn index(text: &str) -> Result<AuthorityIndex> {
    text.trim()
        .parse()
        .with_context(|| format!("`{text}` is not a validator index"))
}

impl FromStr for Crash {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let (v, t) = s
            .split_once('@')
            .with_context(|| format!("--crash `{s}`: expected I@T or I@T+DOWN (seconds)"))?;
        let (at, down) = match t.split_once('+') {
            Some((at, down)) => (at, Some(seconds(down, "down time")?)),
            None => (t, None),
        };
        Ok(Self {
            validator: index(v)?,
            at: seconds(at, "crash time")?,
            down,
        })
    }
}

impl FromStr for Partition {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let (side, t) = s
            .split_once('@')
            .with_context(|| format!("--partition `{s}`: expected I,J,...@T1-T2 (seconds)"))?;
        let (from, until) = t
            .split_once('-')
            .with_context(|| format!("--partition `{s}`: expected T1-T2 after @"))?;
        let side = side.split(',').map(index).collect::<Result<Vec<_>>>()?;
        let (from, until) = (
            seconds(from, "partition start")?,
            seconds(until, "heal time")?,
        );
        if until <= from {
            bail!("--partition `{s}`: the heal time must come after the start");
        }
        Ok(Self { side, from, until })
    }
}

impl FromStr for Loss {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let (link, p) = s
            .split_once('@')
            .with_context(|| format!("--loss `{s}`: expected A-B@FRACTION"))?;
        let (a, b) = link
            .split_once('-')
            .with_context(|| format!("--loss `{s}`: expected two validators A-B"))?;
        let fraction: f64 = p
            .trim()
            .parse()
            .with_context(|| format!("--loss `{s}`: `{p}` is not a fraction"))?;
        if !(0.0..=1.0).contains(&fraction) {
            bail!("--loss `{s}`: the fraction must be between 0 and 1");
        }
        Ok(Self {
            a: index(a)?,
            b: index(b)?,
            fraction,
            from: Duration::ZERO,
            until: Duration::MAX,
        })
    }
}

impl Partition {
    /// Whether the partition separates `a` and `b`.
    pub fn separates(&self, a: AuthorityIndex, b: AuthorityIndex) -> bool {
        self.side.contains(&a) != self.side.contains(&b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_what_is_expected() {
        let c: Crash = "3@5+2.5".parse().expect("crash");
        assert_eq!(c.validator, 3);
        assert_eq!(c.down, Some(Duration::from_millis(2500)));
        let p: Partition = "0,1@2-6".parse().expect("partition");
        assert_eq!(p.side, vec![0, 1]);
        assert!(p.separates(0, 2) && !p.separates(0, 1));
        let err = "0,1@6-2".parse::<Partition>().unwrap_err();
        assert!(err.to_string().contains("after the start"), "{err}");
        let err = "x@1".parse::<Crash>().unwrap_err();
        assert!(err.to_string().contains("validator index"), "{err}");
        assert!("0-1@1.5".parse::<Loss>().is_err());
    }
}
