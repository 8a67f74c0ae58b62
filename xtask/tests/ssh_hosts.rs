//! The SSH layer against real OpenSSH servers on loopback: parallel commands, scp both ways,
//! pinned host keys, unreachable hosts named in errors.

mod common;

use std::time::Duration;

use xtask::ssh::{SshClient, SshOptions};

fn client(name: &str) -> (tempfile::TempDir, SshClient) {
    let state = tempfile::tempdir().expect("tmp");
    let mut options = SshOptions::new(Some(common::client_key()), state.path(), name);
    options.connect_timeout = Duration::from_secs(3);
    options.connect_attempts = 2;
    (state, SshClient::new(options).expect("client"))
}

#[test]
fn runs_commands_on_every_host_in_parallel_and_pins_their_keys() {
    let hosts = common::hosts();
    let instances: Vec<_> = hosts.iter().map(common::instance).collect();
    let (state, ssh) = client("ssh-run-all");
    ssh.connect_all(&instances).expect("all hosts reachable");
    let results = ssh.run_all(&instances, "echo $SSH_CONNECTION");
    assert_eq!(results.len(), hosts.len());
    for ((instance, result), host) in results.iter().zip(&hosts) {
        let output = result.as_ref().expect("command succeeds");
        // The server side of the connection is the host's own address and port.
        assert!(
            output
                .stdout
                .trim()
                .ends_with(&format!("{} {}", host.address, host.port)),
            "{}: {}",
            instance.id,
            output.stdout
        );
    }
    // Every host key is now pinned, and it is the key the server really has.
    let known = std::fs::read_to_string(state.path().join("known_hosts")).expect("known_hosts");
    for host in &hosts {
        let key = std::fs::read_to_string(&host.host_key).expect("host key");
        let key_material = key.split_whitespace().nth(1).expect("key");
        let line = format!("[{}]:{}", host.address, host.port);
        assert!(
            known
                .lines()
                .any(|l| l.starts_with(&line) && l.contains(key_material)),
            "{line} not pinned with its key in {known}"
        );
    }
    // A failing command names its host and exit code.
    let err = ssh
        .run(&instances[0], "echo bad >&2; exit 7")
        .expect_err("fails");
    let message = format!("{err:#}");
    assert!(
        message.contains(&hosts[0].address) && message.contains("7") && message.contains("bad"),
        "{message}"
    );
    ssh.disconnect_all(&instances);
}

#[test]
fn copies_files_both_ways_with_scp() {
    let hosts = common::hosts();
    let instance = common::instance(&hosts[0]);
    let (_state, ssh) = client("ssh-scp");
    let dir = tempfile::tempdir().expect("tmp");
    let local = dir.path().join("payload");
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &payload).expect("write");
    let remote = dir.path().join("remote-copy");
    let remote = remote.to_str().expect("utf-8");
    ssh.upload(&instance, &local, remote, Duration::from_secs(60))
        .expect("upload");
    let back = dir.path().join("back");
    ssh.download(&instance, remote, &back, Duration::from_secs(60))
        .expect("download");
    assert_eq!(std::fs::read(&back).expect("read"), payload);
    ssh.disconnect(&instance);
}

#[test]
fn an_unreachable_host_is_named_and_the_others_still_connect() {
    let hosts = common::hosts();
    let mut instances: Vec<_> = hosts.iter().map(common::instance).collect();
    // A port held by a socket that does not listen: no sshd can be there.
    let (_held, port) = common::refused_port(std::net::Ipv4Addr::LOCALHOST);
    let mut down = instances[0].clone();
    down.id = format!("127.0.0.1:{port}");
    down.public_ip = Some("127.0.0.1".into());
    down.ssh_port = port;
    // First in the list: the hosts after it are connected all the same.
    instances.insert(0, down);
    let (_state, ssh) = client("ssh-down");
    let err = ssh.connect_all(&instances).expect_err("one host is down");
    let message = format!("{err:#}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(
        message.contains(&format!("1 of {} hosts unreachable", instances.len())),
        "{message}"
    );
    for host in &hosts {
        assert!(
            !message.contains(&format!("@{}:", host.address)),
            "{message}"
        );
    }
    assert!(!connection_open(&ssh, &instances[0]));
    for instance in &instances[1..] {
        assert!(
            connection_open(&ssh, instance),
            "{} was not connected",
            instance.id
        );
    }
    ssh.disconnect_all(&instances);
}

/// Whether the client holds an open multiplexed connection to `host` (`ssh -O check`, which
/// never opens one).
fn connection_open(ssh: &SshClient, host: &xtask::testbed::Instance) -> bool {
    let mut args = ssh.command_args(host, "true").expect("ssh arguments");
    // The destination is last before `-- true`.
    args.truncate(args.len() - 2);
    args.splice(0..0, ["-O".to_string(), "check".to_string()]);
    std::process::Command::new("ssh")
        .args(&args)
        .output()
        .expect("ssh runs")
        .status
        .success()
}

#[test]
fn a_host_whose_key_changed_is_refused() {
    let hosts = common::hosts();
    let instance = common::instance(&hosts[0]);
    let (state, ssh) = client("ssh-pinned");
    // Pin another host's key for this address, as if the server had been replaced.
    let other = hosts.get(1).unwrap_or(&hosts[0]);
    let wrong_key = if other.host_key != hosts[0].host_key {
        std::fs::read_to_string(&other.host_key).expect("key")
    } else {
        // Only one host: a freshly generated key.
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("k");
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen");
        assert!(status.success());
        std::fs::read_to_string(path.with_extension("pub")).expect("key")
    };
    let mut fields = wrong_key.split_whitespace();
    let line = format!(
        "[{}]:{} {} {}\n",
        hosts[0].address,
        hosts[0].port,
        fields.next().expect("type"),
        fields.next().expect("key")
    );
    std::fs::write(state.path().join("known_hosts"), line).expect("write known_hosts");
    let err = ssh.connect(&instance).expect_err("key mismatch refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("host key") && message.contains(&hosts[0].address),
        "{message}"
    );
}
