//! End-to-end: a short benchmark on the local testbed (real node processes on loopback) under
//! the node's network emulation, driven by `bench`'s network flags: a profile and a
//! partition whose window counts from the start of the measured window.

mod common;

use xtask::{
    results::{SummaryRow, TimeseriesRow},
    settings::SettingsFile,
};

use common::{assert_safe_under_faults, read_rows};

/// Committed transactions of `validator` at its scrapes between `from` and `to` seconds.
fn committed(series: &[TimeseriesRow], validator: usize, from: f64, to: f64) -> Vec<f64> {
    series
        .iter()
        .filter(|r| r.validator == validator && r.elapsed_s >= from && r.elapsed_s <= to)
        .map(|r| r.committed_transactions)
        .collect()
}

#[test]
fn a_partition_under_the_lan_profile_cuts_off_one_validator_in_its_window() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut settings = SettingsFile::local_default();
    let base = common::free_base_port(4);
    settings.base_port = base;
    settings.metrics_base_port = base + 1000;
    settings.results_directory = Some(dir.path().to_path_buf());
    let settings = settings.validate().expect("valid local settings");
    // Warm-up 2 s, 9 s measured; validator 3 cut off from 2 s to 6 s of the window, that is
    // from 4 s to 8 s after the recording's start.
    let partition = "0,1,2/3@2s+4s";
    let args = common::bench_args(
        9,
        &[
            "--loads",
            "2000",
            "--run-id",
            "wan",
            "--network",
            "lan",
            "--partition",
            partition,
        ],
    );
    let rows = xtask::commands::bench::rows(&settings, &args).expect("bench under a partition");
    let row: &SummaryRow = &rows[0];
    assert_eq!(row.network.network, "lan");
    assert_eq!(row.network.network_faults, format!("partition {partition}"));
    assert_safe_under_faults(row);

    let run = dir.path().join("wan");
    let committee =
        std::fs::read_to_string(run.join("n4-f0-load2000-r0/committee.json")).expect("committee");
    assert!(committee.contains("\"region\": \"lan\""), "{committee}");
    let series: Vec<TimeseriesRow> = read_rows(&run.join("timeseries.csv"));
    for r in &series {
        let inside = (4.0..8.0).contains(&r.elapsed_s);
        let expected = if inside {
            format!("partition {partition}")
        } else {
            String::new()
        };
        assert_eq!(r.network_faults, expected, "scrape at {} s", r.elapsed_s);
    }
    // Well inside the window (a second after it starts, to its end), validator 3 commits
    // nothing while the other three, a quorum, go on; after the heal it catches up.
    let cut_off = committed(&series, 3, 5.0, 7.9);
    let quorum = committed(&series, 0, 5.0, 7.9);
    assert!(cut_off.len() >= 2, "scrapes of validator 3: {cut_off:?}");
    assert_eq!(
        cut_off.first(),
        cut_off.last(),
        "validator 3 committed during its partition: {cut_off:?}"
    );
    assert!(
        quorum.last() > quorum.first(),
        "the quorum stopped committing: {quorum:?}"
    );
    let after = committed(&series, 3, 8.0, 12.0);
    assert!(
        after.last() > cut_off.last(),
        "validator 3 did not catch up after the heal: {after:?}"
    );
}
