//! The round trips between the hosts of a remote testbed, measured from each host against
//! the real sshd hosts on loopback (`TEST_SSH_HOSTS`, started by `scripts/test`): every
//! ordered pair gets its probes, loopback answers within milliseconds, and a peer that does
//! not answer is reported unanswered within the probes' bound.

mod common;

use std::collections::BTreeMap;

use xtask::{
    deployment::{
        remote::{self, rtt, RemoteDeployment},
        Deployment,
    },
    settings::{CloudProvider, LoadedSettings, SettingsFile},
};

fn static_settings(root: &std::path::Path) -> LoadedSettings {
    let mut settings = SettingsFile::local_default();
    settings.testbed_id = common::unique_testbed("rtt");
    settings.cloud_provider = CloudProvider::Static;
    settings.ssh_private_key_file = Some(common::client_key());
    settings.hosts = common::hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| h.static_host("loopback", Some(&root.join(format!("host{i}")))))
        .collect();
    settings.results_directory = Some(root.join("results"));
    settings.validate().expect("valid static settings")
}

#[test]
fn every_pair_of_loopback_hosts_is_probed_and_a_silent_peer_is_unanswered() {
    let root = tempfile::tempdir().expect("tmp");
    let settings = static_settings(root.path());
    let (_, instances) = xtask::testbed::running_instances(&settings).expect("static hosts");
    assert!(instances.len() >= 2, "at least two sshd hosts");
    let working_directories: BTreeMap<String, String> = settings.testbed.working_directories();
    let deployment = RemoteDeployment::prepare(
        settings.ssh_options().expect("ssh options"),
        &instances,
        remote::Options {
            run_id: "rtt".into(),
            consensus_ports: Vec::new(),
            metrics_ports: Vec::new(),
            port_ranges: Vec::new(),
            working_directories,
            scrape_through_ssh: false,
            skip_update: true,
            skip_configure: true,
        },
    )
    .expect("hosts reached");
    let mut targets: Vec<rtt::Target> = instances
        .iter()
        .enumerate()
        .map(|(index, host)| rtt::Target {
            index,
            address: host.peer_address().expect("address").to_string(),
            port: host.ssh_port,
        })
        .collect();
    // A peer where nothing listens: a port of loopback left closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    targets.push(rtt::Target {
        index: instances.len(),
        address: "127.0.0.1".into(),
        port: closed,
    });
    let measured = deployment
        .round_trips(&targets)
        .expect("a remote testbed probes");
    assert_eq!(measured.len(), instances.len());
    for (from, samples) in measured.into_iter().enumerate() {
        let samples = samples.expect("the host probed");
        for (to, probes) in samples.iter().enumerate() {
            eprintln!("{from} -> {to}: {probes:?}");
            if to == from {
                assert!(probes.is_empty(), "host {from} does not probe itself");
            } else if to == instances.len() {
                assert_eq!(
                    probes,
                    &vec![None; rtt::PROBES],
                    "the closed port never answers"
                );
            } else {
                assert_eq!(probes.len(), rtt::PROBES, "{from} -> {to}: {probes:?}");
                for ms in probes {
                    let ms = ms.expect("loopback answers");
                    // Plausible: above a microsecond, below the probe's bound.
                    let bound = (rtt::PROBE_TIMEOUT_S * 1000) as f64;
                    assert!(ms > 0.001 && ms < bound, "{from} -> {to}: {ms} ms");
                }
            }
        }
    }
}
