//! One storage directory, one process: a second `node run` on a directory in use is
//! refused, naming the directory and the holder's pid; once the holder is SIGKILLed the
//! directory is free again.

mod process;

use std::time::Duration;

use process::*;

/// What a validator logs once every task runs.
const STARTED: &str = "validator started";

#[test]
fn a_second_process_on_a_storage_directory_is_refused_until_the_first_dies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let genesis = Genesis::new(dir.path(), 4, serde_json::json!({}));
    let storage = dir.path().join("storage-0");
    let run = |committee, log: &str| Run {
        genesis: &genesis,
        authority: 0,
        storage: storage.clone(),
        committee,
        load: 0,
        open_files: None,
        log: dir.path().join(log),
    };

    let mut first = run(None, "first.log").start();
    assert!(
        first.wait_for_log(STARTED, Duration::from_secs(60)),
        "the first process did not start: {}",
        first.log()
    );

    // The same key and storage on other ports: its own ports are free, the storage is not.
    let other_ports = genesis.committee_on_other_ports("committee-other-ports.json");
    let mut second = run(Some(other_ports.clone()), "second.log").start();
    let status = second.wait_exit(Duration::from_secs(60));
    let log = second.log();
    assert!(
        status.is_some_and(|s| !s.success()),
        "a second process on {} kept running ({status:?}): {log}",
        storage.display()
    );
    assert!(
        log.contains(&format!("storage directory {} ", storage.display())),
        "the refusal does not name the directory: {log}"
    );
    assert!(
        log.contains(&format!("pid {}", first.pid())),
        "the refusal does not name the holder's pid {}: {log}",
        first.pid()
    );
    assert!(!log.contains(STARTED), "{log}");
    assert!(first.exited().is_none(), "the first process stopped");

    // A SIGKILL leaves no clean-up behind, and the OS releases the lock.
    first.kill();
    let mut third = run(Some(other_ports), "third.log").start();
    assert!(
        third.wait_for_log(STARTED, Duration::from_secs(60)),
        "no process started on {} after its holder was killed: {}",
        storage.display(),
        third.log()
    );
    assert!(third.stop().is_some_and(|s| s.success()), "{}", third.log());
}
