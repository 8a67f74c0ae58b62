//! What Prometheus scrapes: each validator's `/metrics` and each host's node exporter.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{instance::Instance, ports::Ports};

/// One scrape target in Prometheus' file discovery format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `address:port`.
    pub targets: Vec<String>,
    /// Labels attached to every series of the target.
    pub labels: BTreeMap<String, String>,
}

/// The validators of a committee of `committee`, spread round-robin over `instances` as the
/// benchmark places them; validator `i` serves metrics on `metrics_base_port + i`. Instances
/// without an address are skipped.
pub fn validator_targets(ports: &Ports, instances: &[Instance], committee: usize) -> Vec<Target> {
    if instances.is_empty() {
        return Vec::new();
    }
    (0..committee)
        .filter_map(|i| {
            let host = &instances[crate::experiment::host_index(i, instances.len())];
            let address = host.public_ip.as_deref()?;
            let port = u16::try_from(i)
                .ok()
                .and_then(|i| ports.metrics_base.checked_add(i))?;
            Some(Target {
                targets: vec![format!("{address}:{port}")],
                labels: BTreeMap::from([
                    ("validator".to_string(), i.to_string()),
                    ("host".to_string(), host.id.clone()),
                    ("region".to_string(), host.region.clone()),
                ]),
            })
        })
        .collect()
}

/// The node exporter of every host with an address.
pub fn host_targets(ports: &Ports, instances: &[Instance]) -> Vec<Target> {
    let port = ports.node_exporter();
    instances
        .iter()
        .filter_map(|host| {
            let address = host.public_ip.as_deref()?;
            Some(Target {
                targets: vec![format!("{address}:{port}")],
                labels: BTreeMap::from([
                    ("host".to_string(), host.id.clone()),
                    ("region".to_string(), host.region.clone()),
                ]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbed::InstanceState;

    fn instance(id: &str, ip: Option<&str>) -> Instance {
        Instance::for_test(id, "eu-west-1", ip, InstanceState::Running)
    }

    #[test]
    fn validators_go_round_robin_with_their_own_metrics_port() {
        let ports = Ports::default();
        let hosts = [
            instance("a", Some("10.0.0.1")),
            instance("b", Some("10.0.0.2")),
        ];
        let targets = validator_targets(&ports, &hosts, 3);
        let addresses: Vec<&str> = targets.iter().map(|t| t.targets[0].as_str()).collect();
        assert_eq!(
            addresses,
            vec!["10.0.0.1:27000", "10.0.0.2:27001", "10.0.0.1:27002"]
        );
        assert_eq!(targets[1].labels["validator"], "1");
        assert_eq!(targets[1].labels["host"], "b");
        assert!(validator_targets(&ports, &[], 4).is_empty());
    }

    #[test]
    fn hosts_are_scraped_on_the_last_metrics_port() {
        let hosts = [instance("a", Some("10.0.0.1")), instance("pending", None)];
        let targets = host_targets(&Ports::default(), &hosts);
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].targets, vec!["10.0.0.1:27999"]);
    }
}
