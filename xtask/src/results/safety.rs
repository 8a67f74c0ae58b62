//! The `safety` column: the verdict of a point's safety audit, typed, and written and read as
//! the text the column has always held (`ok (N commits checked)`, `fork at index I: ...`,
//! `unchecked: why`, empty in rows from before the audit).

use std::{fmt, str::FromStr};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How the column starts when the audit found a fork.
const FORK: &str = "fork at index";

/// The audit's verdict for one point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Safety {
    /// Every pair of validators agrees wherever both logged a commit; `checked` is the
    /// highest commit index at which two of them were compared (the chain covers every
    /// commit up to it).
    Ok { checked: u64 },
    /// Validators `a` and `b` (`a == b`: one validator logged two chains) hold different
    /// chains at commit `index`; `agreed` is the last index both logged before it.
    Fork {
        index: u64,
        a: usize,
        b: usize,
        agreed: Option<u64>,
    },
    /// The audit could not be done: why.
    Unchecked(String),
    /// A row written before the audit existed (an empty column).
    #[default]
    NotAudited,
}

impl Safety {
    /// Whether the audit found a fork.
    pub fn is_fork(&self) -> bool {
        matches!(self, Self::Fork { .. })
    }
}

impl fmt::Display for Safety {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok { checked } => write!(f, "ok ({checked} commits checked)"),
            Self::Fork { index, a, b, .. } if a == b => {
                write!(
                    f,
                    "{FORK} {index}: validator {a} logged two different chains"
                )
            }
            Self::Fork {
                index,
                a,
                b,
                agreed,
            } => {
                write!(f, "{FORK} {index}: validators {a} and {b}")?;
                if let Some(agreed) = agreed {
                    write!(f, " (last agreed at index {agreed})")?;
                }
                Ok(())
            }
            Self::Unchecked(why) => write!(f, "unchecked: {why}"),
            Self::NotAudited => Ok(()),
        }
    }
}

impl FromStr for Safety {
    type Err = anyhow::Error;

    /// Reads the text [`Safety`]'s `Display` writes.
    fn from_str(text: &str) -> Result<Self> {
        let number = |s: &str| -> Result<u64> {
            s.trim()
                .parse()
                .with_context(|| format!("{s:?} is not a number"))
        };
        if text.is_empty() {
            return Ok(Self::NotAudited);
        }
        if let Some(why) = text.strip_prefix("unchecked: ") {
            return Ok(Self::Unchecked(why.to_string()));
        }
        if let Some(checked) = text
            .strip_prefix("ok (")
            .and_then(|rest| rest.strip_suffix(" commits checked)"))
        {
            return Ok(Self::Ok {
                checked: number(checked)?,
            });
        }
        if let Some((index, rest)) = text
            .strip_prefix(FORK)
            .and_then(|rest| rest.split_once(": "))
        {
            let index = number(index)?;
            if let Some(a) = rest
                .strip_prefix("validator ")
                .and_then(|r| r.strip_suffix(" logged two different chains"))
            {
                let a = number(a)? as usize;
                return Ok(Self::Fork {
                    index,
                    a,
                    b: a,
                    agreed: None,
                });
            }
            if let Some(pair) = rest.strip_prefix("validators ") {
                let (pair, agreed) = match pair.split_once(" (last agreed at index ") {
                    Some((pair, agreed)) => {
                        let agreed = agreed.strip_suffix(')').unwrap_or(agreed);
                        (pair, Some(number(agreed)?))
                    }
                    None => (pair, None),
                };
                if let Some((a, b)) = pair.split_once(" and ") {
                    return Ok(Self::Fork {
                        index,
                        a: number(a)? as usize,
                        b: number(b)? as usize,
                        agreed,
                    });
                }
            }
        }
        bail!(
            "{text:?} is not a safety verdict (`ok (N commits checked)`, `fork at index I: ...` \
             or `unchecked: ...`)"
        )
    }
}

impl Serialize for Safety {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Safety {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every verdict reads back as written, so the column's text is unchanged.
    #[test]
    fn every_verdict_reads_back_as_written() {
        for verdict in [
            Safety::Ok { checked: 120 },
            Safety::Fork {
                index: 20,
                a: 0,
                b: 3,
                agreed: Some(10),
            },
            Safety::Fork {
                index: 30,
                a: 1,
                b: 2,
                agreed: None,
            },
            Safety::Fork {
                index: 40,
                a: 2,
                b: 2,
                agreed: None,
            },
            Safety::Unchecked("no commit log from validator 2 (commits-2.csv)".into()),
            Safety::NotAudited,
        ] {
            let text = verdict.to_string();
            assert_eq!(text.parse::<Safety>().expect("parses"), verdict, "{text}");
        }
        assert_eq!(
            Safety::Fork {
                index: 20,
                a: 0,
                b: 3,
                agreed: Some(10)
            }
            .to_string(),
            "fork at index 20: validators 0 and 3 (last agreed at index 10)"
        );
        assert!("forked".parse::<Safety>().is_err());
        assert!("ok (many commits checked)".parse::<Safety>().is_err());
    }
}
