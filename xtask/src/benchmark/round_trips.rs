//! The measured network of a run, before its first point: on a remote testbed, the round trip
//! from every host to every other (TCP connects to the peer's SSH port at the address its
//! peers reach it at: `crate::deployment::remote::rtt`) written as `rtt.csv` in the run
//! directory, and the summary columns every row of the run carries. The local testbed has no
//! network between hosts: its columns stay empty. A host that cannot probe is a warning, not
//! the end of the run: its pairs are written unanswered and the columns say `unmeasured`.

use anyhow::{Context as _, Result};

use super::RunContext;
use crate::{
    deployment::remote::rtt::{self, Target},
    results::{
        self,
        rtt::{RoundTrips, RttRow, RTT_FILE},
    },
};

/// Measures the round trips between the hosts of `context` and writes `rtt.csv`; the
/// columns of every row of the run.
pub(super) fn measure(context: &RunContext) -> Result<RoundTrips> {
    let targets: Vec<Target> = context
        .instances
        .iter()
        .enumerate()
        .map(|(index, host)| {
            Ok(Target {
                index,
                address: context.host_address(index)?,
                port: host.ssh_port,
            })
        })
        .collect::<Result<_>>()?;
    let Some(measured) = context.deployment.round_trips(&targets) else {
        return Ok(RoundTrips::default());
    };
    let matrix = context.experiment.network.latency_matrix.as_ref();
    let mut rows = Vec::new();
    for (from, samples) in measured.into_iter().enumerate() {
        let samples = samples.unwrap_or_else(|e| {
            eprintln!(
                "warning: host {} could not measure its round trips: {e:#}",
                context.instances[from].label()
            );
            vec![Vec::new(); targets.len()]
        });
        for (to, target) in targets.iter().enumerate().filter(|(to, _)| *to != from) {
            let emulated = match matrix {
                Some(m) => Some(
                    m.delay_ms(m.region_of(from), m.region_of(to))?
                        + m.delay_ms(m.region_of(to), m.region_of(from))?,
                ),
                None => None,
            };
            let mut probes = samples.get(to).cloned().unwrap_or_default();
            if probes.is_empty() {
                probes = vec![None; rtt::PROBES];
            }
            rows.push(
                RttRow {
                    run_id: context.run_id.clone(),
                    from_host: context.instances[from].label(),
                    from_region: context.instances[from].region.clone(),
                    to_host: context.instances[to].label(),
                    to_region: context.instances[to].region.clone(),
                    to_address: target.address.clone(),
                    to_port: target.port,
                    emulated_rtt_ms: emulated,
                    ..RttRow::default()
                }
                .with_samples(&probes),
            );
        }
    }
    let path = context.run_dir.join(RTT_FILE);
    std::fs::create_dir_all(&context.run_dir)
        .with_context(|| format!("cannot create {}", context.run_dir.display()))?;
    results::append_rows(&path, &rows)?;
    let columns = RoundTrips::of(&rows, matrix.map(|m| m.name.as_str()));
    eprintln!(
        "round trips: median {}, slowest pair {} ({}; {})",
        show(columns.rtt_median_ms),
        show(columns.rtt_max_ms),
        columns.rtt_vs_matrix,
        path.display()
    );
    Ok(columns)
}

fn show(ms: Option<f64>) -> String {
    ms.map_or("-".into(), |v| format!("{v:.2} ms"))
}
