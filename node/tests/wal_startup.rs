//! A validator does not start on a WAL it cannot trust: another validator's, or one
//! damaged before its end.

mod common;

use common::*;
use node::validator::{Validator, ValidatorConfig};

/// Runs validator 0 alone until it has signed a block, then stops it cleanly.
async fn write_a_wal(config: &ValidatorConfig) {
    let validator = Validator::start(config.clone()).await.expect("start");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while validator.metrics().blocks_proposed.get() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no block proposed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    validator.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn another_validators_wal_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let configs = configs(4, dir.path(), test_parameters());
    write_a_wal(&configs[0]).await;
    let borrowed = ValidatorConfig {
        storage: configs[0].storage.clone(),
        ..configs[1].clone()
    };
    let err = Validator::start(borrowed).await.err().expect("must fail");
    let err = format!("{err:#}");
    assert!(err.contains("was written by validator 0"), "{err}");
    assert!(err.contains("not by this validator (validator 1"), "{err}");
    assert!(err.contains("--storage"), "{err}");
    // Its own validator still starts on it.
    let own = Validator::start(configs[0].clone()).await.expect("restart");
    own.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_wal_damaged_before_its_end_stops_the_validator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let configs = configs(4, dir.path(), test_parameters());
    write_a_wal(&configs[0]).await;
    let segment = configs[0].storage.join("wal-00000000.log");
    let mut data = std::fs::read(&segment).expect("read the segment");
    // The first frame is the header; its payload starts after 12 header bytes.
    data[20] ^= 0x01;
    std::fs::write(&segment, &data).expect("write");
    let err = Validator::start(configs[0].clone())
        .await
        .err()
        .expect("must fail");
    let err = format!("{err:#}");
    assert!(err.contains(&segment.display().to_string()), "{err}");
    assert!(err.contains("corrupted at byte 0 "), "{err}");
}
