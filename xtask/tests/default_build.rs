//! What the default build of the orchestrator (`cargo xtask`) compiles: no cloud SDK and no
//! async runtime, so that a local benchmark on a fresh clone starts quickly; the AWS provider
//! (which needs both) is the `aws` feature.

use std::process::Command;

/// The crates `cargo xtask` builds with `extra` flags (`cargo tree` of its normal dependencies).
fn dependencies(extra: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(xtask::workspace::root().expect("the tests run inside the workspace"))
        .args([
            "tree",
            "--package",
            "xtask",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .args(extra)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn the_default_build_compiles_no_cloud_sdk_and_the_aws_feature_adds_it() {
    let default = dependencies(&[]);
    assert!(default.iter().any(|name| name == "ureq"), "{default:?}");
    let sdk: Vec<_> = default
        .iter()
        .filter(|name| name.starts_with("aws-") || *name == "tokio")
        .collect();
    assert!(sdk.is_empty(), "the default build compiles {sdk:?}");
    let with_aws = dependencies(&["--features", "aws"]);
    assert!(
        with_aws.iter().any(|name| name == "aws-sdk-ec2"),
        "the aws feature must bring in aws-sdk-ec2"
    );
}
