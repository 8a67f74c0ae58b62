//! Network profile files (JSON): regions, a link per ordered pair of regions, egress
//! bandwidth per region. Built-in profiles (`lan`, `aws`, `degraded`) are compiled in from
//! `assets/network/`; a CSV latency matrix converts to a profile of constant delays.
//!
//! ```json
//! {
//!   "description": "what it models and where its numbers come from",
//!   "regions": ["a", "b"],
//!   "retransmit_timeout_ms": 200,
//!   "defaults": { "jitter": { "distribution": "normal", "sd_ms": 1, "max_ms": 5 }, "loss": 0 },
//!   "links": [
//!     { "from": "a", "to": "b", "delay_ms": 40, "jitter": { "distribution": "pareto", "scale_ms": 2, "shape": 2.5, "max_ms": 100 }, "loss": 0.001 },
//!     ...one per ordered pair, a region to itself included
//!   ],
//!   "egress_mbps": { "a": 1000 }
//! }
//! ```

use std::{collections::BTreeMap, path::Path, time::Duration};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{jitter::Jitter, link::Link, FaultSchedule, Outbound};
use crate::{
    committee::{AuthorityIndex, Committee},
    network::LatencyMatrix,
};

/// The profiles compiled into the node, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("lan", include_str!("../../../../assets/network/lan.json")),
    ("aws", include_str!("../../../../assets/network/aws.json")),
    (
        "degraded",
        include_str!("../../../../assets/network/degraded.json"),
    ),
];

/// Linux's minimum retransmission timeout (TCP_RTO_MIN), the default of a profile.
pub const DEFAULT_RETRANSMIT_TIMEOUT_MS: f64 = 200.0;

/// A validated network profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// What it models.
    pub description: String,
    regions: Vec<String>,
    links: BTreeMap<(usize, usize), Link>,
    egress: Vec<Option<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile<'a> {
    #[serde(default)]
    description: String,
    regions: Vec<String>,
    #[serde(default = "default_retransmit_timeout")]
    retransmit_timeout_ms: f64,
    #[serde(default)]
    defaults: Defaults,
    #[serde(borrow)]
    links: Vec<&'a RawValue>,
    #[serde(default)]
    egress_mbps: BTreeMap<String, f64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    #[serde(default)]
    jitter: Jitter,
    #[serde(default)]
    loss: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkEntry {
    from: String,
    to: String,
    delay_ms: f64,
    jitter: Option<Jitter>,
    loss: Option<f64>,
}

fn default_retransmit_timeout() -> f64 {
    DEFAULT_RETRANSMIT_TIMEOUT_MS
}

impl Profile {
    /// Parses and validates a profile; errors name the source, line and field at fault.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let file: ProfileFile = serde_json::from_str(text)
            .with_context(|| format!("{source} is not a valid network profile"))?;
        let mut regions: Vec<String> = Vec::new();
        for r in &file.regions {
            if regions.contains(r) {
                bail!("{source}: region `{r}` is listed twice in regions");
            }
            regions.push(r.clone());
        }
        if regions.is_empty() {
            bail!("{source}: regions is empty: name at least one region");
        }
        let rto = file.retransmit_timeout_ms;
        if !rto.is_finite() || rto <= 0.0 {
            bail!("{source}: retransmit_timeout_ms is {rto}: it must be positive");
        }
        file.defaults
            .jitter
            .validate()
            .map_err(|e| anyhow::anyhow!("{source}: defaults.{e}"))?;
        check_loss(file.defaults.loss).map_err(|e| anyhow::anyhow!("{source}: defaults.{e}"))?;
        let index = |name: &str| regions.iter().position(|r| r == name);
        let mut links = BTreeMap::new();
        for (i, raw) in file.links.iter().enumerate() {
            let line = line_of(text, raw.get());
            let at = |what: String| anyhow::anyhow!("{source}: line {line}: links[{i}]{what}");
            let entry: LinkEntry =
                serde_json::from_str(raw.get()).map_err(|e| at(format!(": {e}")))?;
            let from = index(&entry.from).ok_or_else(|| {
                at(format!(
                    ".from: region `{}` is not in regions {regions:?}",
                    entry.from
                ))
            })?;
            let to = index(&entry.to).ok_or_else(|| {
                at(format!(
                    ".to: region `{}` is not in regions {regions:?}",
                    entry.to
                ))
            })?;
            let name = format!(" ({} -> {})", entry.from, entry.to);
            if !entry.delay_ms.is_finite() || !(0.0..=60_000.0).contains(&entry.delay_ms) {
                return Err(at(format!(
                    "{name}.delay_ms is {}: it must be 0 to 60000 ms",
                    entry.delay_ms
                )));
            }
            let jitter = entry.jitter.unwrap_or_else(|| file.defaults.jitter.clone());
            jitter.validate().map_err(|e| at(format!("{name}.{e}")))?;
            let loss = entry.loss.unwrap_or(file.defaults.loss);
            check_loss(loss).map_err(|e| at(format!("{name}.{e}")))?;
            let link = Link {
                delay: Duration::from_secs_f64(entry.delay_ms / 1000.0),
                jitter,
                loss,
                retransmit_timeout: Duration::ZERO,
            };
            if links.insert((from, to), link).is_some() {
                return Err(at(format!("{name}: a second link for this pair")));
            }
        }
        for (a, from) in regions.iter().enumerate() {
            for (b, to) in regions.iter().enumerate() {
                if !links.contains_key(&(a, b)) {
                    bail!(
                        "{source}: links: no link from `{from}` to `{to}` (every ordered pair \
                         of regions needs one, a region to itself included)"
                    );
                }
            }
        }
        // The first retransmission timeout: the round trip, at least the minimum.
        let round_trips: BTreeMap<(usize, usize), Duration> = links
            .iter()
            .map(|(&(a, b), l)| ((a, b), l.delay + links[&(b, a)].delay))
            .collect();
        for (pair, link) in links.iter_mut() {
            link.retransmit_timeout = round_trips[pair].max(Duration::from_secs_f64(rto / 1000.0));
        }
        let mut egress = vec![None; regions.len()];
        for (region, mbps) in &file.egress_mbps {
            let r = index(region).with_context(|| {
                format!("{source}: egress_mbps: region `{region}` is not in regions {regions:?}")
            })?;
            if !mbps.is_finite() || *mbps <= 0.0 {
                bail!("{source}: egress_mbps.{region} is {mbps}: it must be positive");
            }
            egress[r] = Some(mbps_to_bytes(*mbps));
        }
        Ok(Self {
            description: file.description,
            regions,
            links,
            egress,
        })
    }

    /// A built-in profile by name (`lan`, `aws`, `degraded`), or else a profile file.
    pub fn load(name_or_path: &str) -> Result<Self> {
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::parse(text, &format!("built-in network profile `{name}`"));
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).with_context(|| {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            format!(
                "cannot read network profile {} (built-in profiles: {})",
                path.display(),
                names.join(", ")
            )
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Constant delays from a latency matrix: no jitter, loss or bandwidth cap.
    pub fn from_latency_matrix(matrix: &LatencyMatrix) -> Self {
        let regions = matrix.regions().to_vec();
        let mut links = BTreeMap::new();
        for (a, from) in regions.iter().enumerate() {
            for (b, to) in regions.iter().enumerate() {
                if let Some(ms) = matrix.delay_ms(from, to) {
                    links.insert((a, b), Link::constant(Duration::from_secs_f64(ms / 1000.0)));
                }
            }
        }
        Self {
            description: format!("constant delays of {}", matrix.source()),
            egress: vec![None; regions.len()],
            regions,
            links,
        }
    }

    /// The regions.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// The link from region `from` to region `to`.
    pub fn link(&self, from: &str, to: &str) -> Option<&Link> {
        let index = |name: &str| self.regions.iter().position(|r| r == name);
        self.links.get(&(index(from)?, index(to)?))
    }

    /// The egress cap of a region, in bytes per second.
    pub fn egress(&self, region: &str) -> Option<u64> {
        let r = self.regions.iter().position(|x| x == region)?;
        self.egress[r]
    }

    /// The outbound model of validator `me`, placed with the others on the committee's
    /// regions; `egress` (bytes per second) overrides its region's cap.
    pub fn outbound(
        &self,
        committee: &Committee,
        me: AuthorityIndex,
        egress: Option<u64>,
        faults: FaultSchedule,
    ) -> Result<Outbound> {
        let region = |i: AuthorityIndex| -> Result<&str> {
            let r = committee
                .authority(i)
                .and_then(|a| a.region.as_deref())
                .with_context(|| {
                    format!(
                        "authority {i} has no region in the committee file (a network profile \
                         places validators by region: give genesis --regions)"
                    )
                })?;
            if !self.regions.iter().any(|x| x == r) {
                bail!(
                    "authority {i}'s region `{r}` is not in the network profile's regions {:?}",
                    self.regions
                );
            }
            Ok(r)
        };
        let mine = region(me)?;
        let mut links = Vec::new();
        for (i, _) in committee.authorities() {
            links.push(if i == me {
                None
            } else {
                let theirs = region(i)?;
                Some(self.link(mine, theirs).cloned().with_context(|| {
                    format!("the network profile has no link from `{mine}` to `{theirs}`")
                })?)
            });
        }
        Ok(Outbound::new(
            me,
            links,
            egress.or(self.egress(mine)),
            faults,
        ))
    }
}

/// Megabits per second in bytes per second.
pub fn mbps_to_bytes(mbps: f64) -> u64 {
    (mbps * 1_000_000.0 / 8.0).round().max(1.0) as u64
}

fn check_loss(loss: f64) -> Result<(), String> {
    if loss.is_finite() && (0.0..1.0).contains(&loss) {
        Ok(())
    } else {
        Err(format!("loss is {loss}: it must be at least 0 and below 1"))
    }
}

/// The 1-based line of `part`, a slice of `text`.
fn line_of(text: &str, part: &str) -> usize {
    let offset = (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"{
  "regions": ["a", "b"],
  "defaults": { "jitter": { "distribution": "normal", "sd_ms": 1, "max_ms": 5 } },
  "links": [
    { "from": "a", "to": "a", "delay_ms": 1 },
    { "from": "a", "to": "b", "delay_ms": 40, "loss": 0.01 },
    { "from": "b", "to": "a", "delay_ms": 80, "jitter": { "distribution": "none" } },
    { "from": "b", "to": "b", "delay_ms": 1 }
  ],
  "egress_mbps": { "b": 8 }
}"#;

    #[test]
    fn parses_links_defaults_and_egress() {
        let p = Profile::parse(TWO, "two.json").expect("valid");
        let ab = p.link("a", "b").expect("a -> b");
        assert_eq!(ab.delay, Duration::from_millis(40));
        assert_eq!(ab.loss, 0.01);
        assert_eq!(
            ab.jitter,
            Jitter::Normal {
                sd_ms: 1.0,
                max_ms: 5.0
            }
        );
        // The round trip (120 ms) is below the minimum timeout.
        assert_eq!(ab.retransmit_timeout, Duration::from_millis(200));
        let ba = p.link("b", "a").expect("b -> a");
        assert_eq!(
            (ba.delay, &ba.jitter),
            (Duration::from_millis(80), &Jitter::None)
        );
        assert_eq!(p.egress("b"), Some(1_000_000));
        assert_eq!(p.egress("a"), None);
    }

    fn error(text: &str) -> String {
        format!("{:#}", Profile::parse(text, "p.json").expect_err("invalid"))
    }

    #[test]
    fn bad_profiles_are_refused_with_the_line_and_field_at_fault() {
        let cases = [
            (
                TWO.replace(r#""delay_ms": 80"#, r#""delay_ms": -80"#),
                "line 7: links[2] (b -> a).delay_ms is -80",
            ),
            (
                TWO.replace(
                    r#""to": "b", "delay_ms": 40"#,
                    r#""to": "c", "delay_ms": 40"#,
                ),
                "line 6: links[1].to: region `c` is not in regions",
            ),
            (
                TWO.replace(
                    "    { \"from\": \"b\", \"to\": \"b\", \"delay_ms\": 1 }\n",
                    "",
                )
                .replace(
                    "\"jitter\": { \"distribution\": \"none\" } },",
                    "\"jitter\": { \"distribution\": \"none\" } }",
                ),
                "no link from `b` to `b`",
            ),
            (
                TWO.replace(r#""distribution": "none""#, r#""distribution": "gauss""#),
                "line 7: links[2]: unknown variant `gauss`",
            ),
            (
                TWO.replace(r#""loss": 0.01"#, r#""loss": 1.5"#),
                "line 6: links[1] (a -> b).loss is 1.5",
            ),
            (
                TWO.replace(r#""sd_ms": 1"#, r#""sd_ms": -1"#),
                "defaults.jitter.sd_ms is -1",
            ),
            (
                TWO.replace(r#""b": 8"#, r#""z": 8"#),
                "egress_mbps: region `z` is not in regions",
            ),
            (TWO.replace("\"regions\"", "\"regoins\""), "line 2"),
        ];
        for (text, expected) in cases {
            let err = error(&text);
            assert!(err.contains(expected), "`{err}` lacks `{expected}`");
        }
    }

    #[test]
    fn the_built_in_profiles_are_valid_and_cover_the_latency_matrix_regions() {
        for (name, _) in BUILTIN {
            let p = Profile::load(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(!p.description.is_empty(), "{name} says what it models");
        }
        let aws = Profile::load("aws").expect("aws");
        let csv = LatencyMatrix::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/latency/aws.csv"
        )))
        .expect("aws.csv");
        assert_eq!(aws.regions(), csv.regions());
    }

    #[test]
    fn a_latency_matrix_becomes_constant_links() {
        let m = LatencyMatrix::parse("region,a,b\na,0,40\nb,41,0\n", "m.csv").expect("parse");
        let p = Profile::from_latency_matrix(&m);
        assert_eq!(
            p.link("b", "a"),
            Some(&Link::constant(Duration::from_millis(41)))
        );
        assert_eq!(
            p.link("a", "b"),
            Some(&Link::constant(Duration::from_millis(40)))
        );
    }
}
