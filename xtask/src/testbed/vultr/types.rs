//! The parts of Vultr's API objects the provider uses.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::testbed::{Instance, InstanceState};

/// What the tag recording an instance's dead-man switch deadline starts with; the UTC time
/// follows in [`DEADLINE_FORMAT`] (letters, digits and hyphens only).
const DEADLINE_TAG: &str = "consensus-bench-deadline-";

/// How the deadline is written in its tag: `20261201T200000Z`.
const DEADLINE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The tag recording the deadline `when`.
pub fn deadline_tag(when: DateTime<Utc>) -> String {
    format!("{DEADLINE_TAG}{}", when.format(DEADLINE_FORMAT))
}

/// What the tag naming the deploy attempt that created an instance starts with; the attempt
/// id follows. It tells apart instances of two deploys of one testbed run at the same time
/// (their labels can be equal).
const ATTEMPT_TAG: &str = "consensus-bench-attempt-";

/// The tag naming deploy attempt `attempt`.
pub fn attempt_tag(attempt: &str) -> String {
    format!("{ATTEMPT_TAG}{attempt}")
}

/// What the tag naming one create request starts with; a random token follows. Vultr creates
/// have no idempotency key: after an unclear answer, the instance is looked up by this tag, so
/// a deploy never takes another's instance of the same label and attempt for its own (two
/// deploys of one testbed started at once on one machine share the attempt).
const CREATE_TAG: &str = "consensus-bench-create-";

/// The tag naming create request `token`.
pub fn create_tag(token: &str) -> String {
    format!("{CREATE_TAG}{token}")
}

/// Whether `tag` is one of the tags this tool adds besides the testbed id.
fn is_tool_tag(tag: &str) -> bool {
    tag.starts_with(DEADLINE_TAG) || tag.starts_with(ATTEMPT_TAG) || tag.starts_with(CREATE_TAG)
}

/// The deadline a tag records (`None` if it is no deadline tag).
pub fn parse_deadline_tag(tag: &str) -> Option<DateTime<Utc>> {
    let when = tag.strip_prefix(DEADLINE_TAG)?;
    NaiveDateTime::parse_from_str(when, DEADLINE_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// Ubuntu 24.04 x64.
pub const UBUNTU_24_04_OS_ID: u32 = 2284;

/// Hours Vultr bills a month at most: the hourly price is `monthly_cost / 672`.
pub const BILLED_HOURS_PER_MONTH: f64 = 672.0;

/// An instance as `GET /instances` describes it.
#[derive(Clone, Debug, Deserialize)]
pub struct VultrInstance {
    pub id: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub plan: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub main_ip: String,
    /// `pending`, `active`, `suspended`, `resizing`.
    #[serde(default)]
    pub status: String,
    /// `running` or `stopped`.
    #[serde(default)]
    pub power_status: String,
    /// `none`, `locked`, `installingbooting`, `ok`.
    #[serde(default)]
    pub server_status: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// When it was created (`2024-01-01T00:00:00+00:00`).
    #[serde(default)]
    pub date_created: String,
}

impl VultrInstance {
    /// The testbed this tool created the instance for: every instance it creates carries a
    /// deadline tag besides the testbed id, so an instance without one is not the tool's.
    pub fn testbed_of(&self) -> Option<&str> {
        if !self.tags.iter().any(|t| t.starts_with(DEADLINE_TAG)) {
            return None;
        }
        self.tags
            .iter()
            .map(String::as_str)
            .find(|t| !is_tool_tag(t))
    }

    /// Whether deploy attempt `attempt` created the instance.
    pub fn of_attempt(&self, attempt: &str) -> bool {
        self.tags.contains(&attempt_tag(attempt))
    }

    /// The state in the provider-neutral terms: running only once active, powered on and
    /// `server_status` ok (an address alone does not make an instance usable).
    pub fn state(&self) -> InstanceState {
        match (
            self.status.as_str(),
            self.power_status.as_str(),
            self.server_status.as_str(),
        ) {
            ("pending", _, _) => InstanceState::Pending,
            ("active", "stopped", _) => InstanceState::Stopped,
            ("active", "running", "ok") => InstanceState::Running,
            ("active", "running", _) => InstanceState::Pending,
            (status, power, _) => InstanceState::Other(format!("{status}/{power}")),
        }
    }

    /// The public address, once assigned (Vultr shows `0.0.0.0` before).
    pub fn public_ip(&self) -> Option<String> {
        match self.main_ip.as_str() {
            "" | "0.0.0.0" => None,
            ip => Some(ip.to_string()),
        }
    }

    /// The provider-neutral view. Validators reach each other on the public addresses (a
    /// Vultr private network does not span regions).
    pub fn to_instance(&self, ssh_user: &str) -> Instance {
        Instance {
            id: self.id.clone(),
            region: self.region.clone(),
            public_ip: self.public_ip(),
            private_ip: None,
            specs: self.plan.clone(),
            state: self.state(),
            ssh_port: 22,
            ssh_user: ssh_user.to_string(),
            deadline: self.tags.iter().filter_map(|t| parse_deadline_tag(t)).max(),
            created: DateTime::parse_from_rfc3339(&self.date_created)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// `POST /instances` body.
#[derive(Clone, Debug, Serialize)]
pub struct CreateInstance {
    pub region: String,
    pub plan: String,
    pub os_id: u32,
    pub label: String,
    pub hostname: String,
    pub tags: Vec<String>,
    pub sshkey_id: Vec<String>,
    /// Base64 of the boot script.
    pub user_data: String,
    pub firewall_group_id: String,
    pub enable_ipv6: bool,
    pub backups: &'static str,
    pub activation_email: bool,
}

/// `{"instance": {...}}`.
#[derive(Debug, Deserialize)]
pub struct InstanceEnvelope {
    pub instance: VultrInstance,
}

/// A region (`GET /regions`).
#[derive(Clone, Debug, Deserialize)]
pub struct Region {
    pub id: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub country: String,
}

/// A plan (`GET /plans`).
#[derive(Clone, Debug, Deserialize)]
pub struct Plan {
    pub id: String,
    #[serde(default)]
    pub monthly_cost: Option<f64>,
    /// Regions the plan is sold in.
    #[serde(default)]
    pub locations: Vec<String>,
}

impl Plan {
    /// Price per hour in USD.
    pub fn hourly_cost(&self) -> Option<f64> {
        self.monthly_cost.map(|m| m / BILLED_HOURS_PER_MONTH)
    }
}

/// `GET /regions/{id}/availability`.
#[derive(Debug, Deserialize)]
pub struct Availability {
    #[serde(default)]
    pub available_plans: Vec<String>,
}

/// A registered SSH key.
#[derive(Clone, Debug, Deserialize)]
pub struct SshKey {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// `{"ssh_key": {...}}`.
#[derive(Debug, Deserialize)]
pub struct SshKeyEnvelope {
    pub ssh_key: SshKey,
}

/// A firewall group.
#[derive(Clone, Debug, Deserialize)]
pub struct FirewallGroup {
    pub id: String,
    #[serde(default)]
    pub description: String,
}

/// `{"firewall_group": {...}}`.
#[derive(Debug, Deserialize)]
pub struct FirewallGroupEnvelope {
    pub firewall_group: FirewallGroup,
}

/// A firewall rule, as listed and as created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirewallRule {
    pub ip_type: String,
    pub protocol: String,
    pub subnet: String,
    pub subnet_size: u8,
    /// One port (`22`) or a range (`26000:26999`).
    pub port: String,
}

impl FirewallRule {
    /// A rule letting TCP in from anywhere (IPv4) on `port`.
    pub fn tcp_from_anywhere(port: String) -> Self {
        Self {
            ip_type: "v4".into(),
            protocol: "tcp".into(),
            subnet: "0.0.0.0".into(),
            subnet_size: 0,
            port,
        }
    }

    /// Whether `other` lets in the same traffic, however Vultr wrote it back: ports compared
    /// as ranges (`"26000 - 26999"`, `"26000:26999"` and `"26000-26999"` are one range, `"22"`
    /// is `22:22`), subnets as addresses, case ignored.
    pub fn same_as(&self, other: &Self) -> bool {
        self.key() == other.key()
    }

    /// The rule reduced to what it means; unparsable ports and subnets stay as written.
    fn key(&self) -> RuleKey {
        (
            self.ip_type.trim().to_ascii_lowercase(),
            self.protocol.trim().to_ascii_lowercase(),
            self.subnet
                .trim()
                .parse()
                .map_err(|_| self.subnet.trim().to_string()),
            self.subnet_size,
            port_range(&self.port).ok_or_else(|| self.port.trim().to_string()),
        )
    }
}

/// A rule's meaning: IP type, protocol, subnet, subnet size, port range (as written when they
/// do not parse).
type RuleKey = (
    String,
    String,
    Result<std::net::IpAddr, String>,
    u8,
    Result<(u16, u16), String>,
);

/// A port or port range as `(first, last)`: `"22"`, `"26000:26999"`, `"26000 - 26999"`.
pub fn port_range(port: &str) -> Option<(u16, u16)> {
    let mut parts = port.split([':', '-']).map(str::trim);
    let first: u16 = parts.next()?.parse().ok()?;
    let last: u16 = match parts.next() {
        Some(last) => last.parse().ok()?,
        None => first,
    };
    (parts.next().is_none() && first <= last).then_some((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(status: &str, power: &str, server: &str) -> VultrInstance {
        VultrInstance {
            id: "i".into(),
            region: "ewr".into(),
            plan: "vc2-1c-1gb".into(),
            label: String::new(),
            main_ip: "0.0.0.0".into(),
            status: status.into(),
            power_status: power.into(),
            server_status: server.into(),
            tags: vec![],
            date_created: "2026-12-01T20:05:09+00:00".into(),
        }
    }

    #[test]
    fn running_means_active_powered_and_ok() {
        for (status, power, server, state) in [
            ("pending", "running", "none", InstanceState::Pending),
            (
                "active",
                "running",
                "installingbooting",
                InstanceState::Pending,
            ),
            ("active", "running", "ok", InstanceState::Running),
            ("active", "stopped", "ok", InstanceState::Stopped),
            (
                "suspended",
                "stopped",
                "ok",
                InstanceState::Other("suspended/stopped".into()),
            ),
        ] {
            assert_eq!(
                instance(status, power, server).state(),
                state,
                "{status}/{power}/{server}"
            );
        }
        assert_eq!(instance("pending", "running", "none").public_ip(), None);
    }

    #[test]
    fn rules_are_compared_by_meaning_not_spelling() {
        let ours = FirewallRule::tcp_from_anywhere("26000:26999".into());
        let listed = |port: &str, subnet: &str| FirewallRule {
            ip_type: "V4".into(),
            protocol: "TCP".into(),
            subnet: subnet.into(),
            subnet_size: 0,
            port: port.into(),
        };
        for port in [
            "26000 - 26999",
            "26000:26999",
            "26000-26999",
            " 26000 :26999 ",
        ] {
            assert!(ours.same_as(&listed(port, "0.0.0.0")), "{port}");
        }
        assert!(!ours.same_as(&listed("26000 - 26998", "0.0.0.0")));
        assert!(!ours.same_as(&listed("26000 - 26999", "10.0.0.0")));
        let ssh = FirewallRule::tcp_from_anywhere("22".into());
        assert!(ssh.same_as(&listed("22:22", " 0.0.0.0")));
        assert!(!ssh.same_as(&listed("2222", "0.0.0.0")));
        assert_eq!(port_range("99999"), None);
        assert_eq!(port_range("30:20"), None);
        assert_eq!(port_range("1:2:3"), None);
    }

    #[test]
    fn the_deadline_tag_reads_back_to_the_second() {
        let when = DateTime::parse_from_rfc3339("2026-12-01T20:05:09Z")
            .expect("time")
            .with_timezone(&Utc);
        let tag = deadline_tag(when);
        assert_eq!(tag, "consensus-bench-deadline-20261201T200509Z");
        assert_eq!(parse_deadline_tag(&tag), Some(when));
        assert_eq!(parse_deadline_tag("bench"), None);
        assert_eq!(parse_deadline_tag("consensus-bench-deadline-soon"), None);
        let mut tagged = instance("active", "running", "ok");
        tagged.tags = vec!["bench".into(), tag];
        assert_eq!(tagged.to_instance("root").deadline, Some(when));
        assert_eq!(
            instance("active", "running", "ok")
                .to_instance("root")
                .deadline,
            None
        );
        assert_eq!(tagged.to_instance("root").created, Some(when));
    }

    /// Only instances carrying the tool's deadline tag belong to a testbed of the tool; the
    /// testbed is the tag that is neither a deadline nor an attempt.
    #[test]
    fn the_testbed_of_an_instance_is_read_from_its_tags() {
        let mut ours = instance("active", "running", "ok");
        ours.tags = vec![
            attempt_tag("0a1b"),
            "old-bench".into(),
            "consensus-bench-deadline-20261201T200509Z".into(),
        ];
        assert_eq!(ours.testbed_of(), Some("old-bench"));
        assert!(ours.of_attempt("0a1b") && !ours.of_attempt("0a1c"));
        let mut untagged = instance("active", "running", "ok");
        untagged.tags = vec!["old-bench".into(), "web".into()];
        assert_eq!(untagged.testbed_of(), None);
    }

    #[test]
    fn hourly_price_is_the_monthly_over_672() {
        let plan = Plan {
            id: "p".into(),
            monthly_cost: Some(67.2),
            locations: vec![],
        };
        assert!((plan.hourly_cost().unwrap_or_default() - 0.1).abs() < 1e-12);
    }
}
