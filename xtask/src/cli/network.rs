//! `bench`'s network flags (`--network`, `--egress-mbps`, `--partition`, `--slow`, `--flap`)
//! validated into the experiment's [`Network`]: a profile that exists and parses, a positive
//! cap, faults naming validators of the committee and ending within the measured window.
//! Only what the orchestrator reasons about is read (a profile's regions, the faults'
//! validators and times); the node checks the rest at start. Each flag becomes a
//! [`NodeArg`] every validator gets.

use std::{path::Path, time::Duration};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;

use crate::{
    experiment::{
        FaultWindow, LatencyMatrix, Network, NetworkFault, NetworkFaultKind, NetworkProfile,
        ProfileSource,
    },
    protocol::{files::NETWORK_PROFILE_FILE, NodeArg, NodeFlag, NodeValue},
};

/// The network flags of `bench` (the node's network emulation, `node/README.md`).
#[derive(Debug, Clone, Default, Args)]
pub struct NetworkArgs {
    /// Network profile the node emulates between validators (jitter, asymmetry, loss, egress
    /// caps): a built-in name (`lan`, `aws`, `degraded`: `assets/network/`) or a JSON file.
    /// Validators are placed on its regions round-robin. E.g. `--network aws`. Not with
    /// --latency-matrix.
    #[arg(long, value_name = "NAME|FILE")]
    pub network: Option<String>,
    /// Cap on every validator's outgoing bandwidth in Mbit/s (replacing the profile's cap of its
    /// region). E.g. `--egress-mbps 100`.
    #[arg(long, value_name = "MBPS")]
    pub egress_mbps: Option<f64>,
    /// A partition, SIDES@START+DURATION, times from the start of the measured window:
    /// messages between the sides are held until it heals. E.g. `--partition 0,1,2/3@5s+10s`
    /// (validator 3 cut off from 5 s to 15 s of the window). Repeatable.
    #[arg(long, value_name = "SPEC")]
    pub partition: Vec<String>,
    /// A slow validator, V:+DELAY[@START+DURATION]: everything it sends leaves DELAY late
    /// (always, or in the window). E.g. `--slow 3:+200ms@0s+10s`. Repeatable.
    #[arg(long, value_name = "SPEC")]
    pub slow: Vec<String>,
    /// A flapping link, A-B:PERIOD,DOWN%[@START+DURATION]: down (both ways) for the first
    /// DOWN% of every PERIOD, from the start of the measured window or in the window. E.g.
    /// `--flap 0-1:2s,25%`. Repeatable.
    #[arg(long, value_name = "SPEC")]
    pub flap: Vec<String>,
}

impl NetworkArgs {
    /// The network of a committee of `committee` measured for `duration_s` seconds, with
    /// the latency matrix already read; `assets` holds the built-in profiles.
    pub(super) fn network(
        &self,
        latency_matrix: Option<LatencyMatrix>,
        committee: usize,
        duration_s: u64,
        assets: &Path,
    ) -> Result<Network> {
        let profile = self
            .network
            .as_deref()
            .map(|spec| resolve_profile(spec, assets))
            .transpose()?;
        if let (Some(profile), Some(matrix)) = (&profile, &latency_matrix) {
            bail!(
                "--network {} and --latency-matrix {} both place validators on regions: give \
                 one (a profile has its own delays)",
                profile.name,
                matrix.name
            );
        }
        let mut node_args = Vec::new();
        if let Some(profile) = &profile {
            let value = match &profile.source {
                ProfileSource::BuiltIn => NodeValue::Text(profile.name.clone()),
                ProfileSource::File(_) => NodeValue::RunFile(NETWORK_PROFILE_FILE),
            };
            node_args.push(NodeArg {
                flag: NodeFlag::NetworkProfile,
                value,
            });
        }
        if let Some(mbps) = self.egress_mbps {
            if !(mbps.is_finite() && mbps > 0.0) {
                bail!("--egress-mbps {mbps}: give a positive number of megabits per second");
            }
            node_args.push(NodeArg::text(NodeFlag::EgressMbps, mbps));
        }
        let mut faults = Vec::new();
        for (kind, specs) in [
            (NetworkFaultKind::Partition, &self.partition),
            (NetworkFaultKind::Slow, &self.slow),
            (NetworkFaultKind::Flap, &self.flap),
        ] {
            for spec in specs {
                let fault = parse_fault(kind, spec.trim())
                    .and_then(|f| check_fault(f, committee, duration_s))
                    .with_context(|| format!("{} {spec}", flag(kind)))?;
                node_args.push(NodeArg::text(fault_flag(kind), &fault.spec));
                faults.push(fault);
            }
        }
        Ok(Network {
            latency_matrix,
            profile,
            egress_mbps: self.egress_mbps,
            faults,
            node_args,
        })
    }
}

/// The node flag of a fault kind.
fn fault_flag(kind: NetworkFaultKind) -> NodeFlag {
    match kind {
        NetworkFaultKind::Partition => NodeFlag::Partition,
        NetworkFaultKind::Slow => NodeFlag::Slow,
        NetworkFaultKind::Flap => NodeFlag::Flap,
    }
}

/// The `bench` flag of a fault kind (the node's name).
fn flag(kind: NetworkFaultKind) -> &'static str {
    fault_flag(kind).name()
}

/// A built-in profile by name (`assets/network/<name>.json`, compiled into the node) or a
/// profile file; reads its regions, and nothing else.
fn resolve_profile(spec: &str, assets: &Path) -> Result<NetworkProfile> {
    let builtin_dir = assets.join("network");
    let builtin = builtin_dir.join(format!("{spec}.json"));
    let is_name = !spec.contains(['/', '.']);
    let (path, source) = if is_name && builtin.is_file() {
        (builtin, ProfileSource::BuiltIn)
    } else if Path::new(spec).is_file() {
        (spec.into(), ProfileSource::File(spec.into()))
    } else {
        bail!(
            "--network {spec}: neither a built-in profile ({}) nor a readable file: give one of \
             those names or the path of a profile file",
            builtin_names(&builtin_dir).join(", ")
        );
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("--network {spec}: cannot read {}", path.display()))?;
    #[derive(serde::Deserialize)]
    struct Regions {
        regions: Vec<String>,
    }
    let regions = serde_json::from_str::<Regions>(&text)
        .map_err(|e| anyhow!("{e}"))
        .and_then(|r| match r.regions.is_empty() {
            true => Err(anyhow!("`regions` is empty")),
            false => Ok(r.regions),
        })
        .with_context(|| {
            format!(
                "--network {spec}: {} is not a network profile (JSON with `regions` and \
                 `links`, see node/README.md, \"Network emulation\"): fix the file",
                path.display()
            )
        })?;
    let name = match &source {
        ProfileSource::BuiltIn => spec.to_string(),
        ProfileSource::File(path) => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| spec.to_string()),
    };
    Ok(NetworkProfile {
        name,
        source,
        regions,
    })
}

/// The built-in profiles' names (the JSON files of `assets/network/`), sorted.
fn builtin_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// Reads a fault's validators and times (the node checks the rest).
fn parse_fault(kind: NetworkFaultKind, spec: &str) -> Result<NetworkFault> {
    let (body, window) = match spec.split_once('@') {
        Some((body, window)) => (body, Some(parse_window(window)?)),
        None => (spec, None),
    };
    let validators = match kind {
        NetworkFaultKind::Partition => {
            if window.is_none() {
                bail!("expected SIDES@START+DURATION, e.g. 0,1/2,3@5s+10s");
            }
            let sides: Vec<&str> = body.split('/').collect();
            if sides.len() < 2 {
                bail!("needs at least two sides separated by `/`, e.g. 0,1,2/3@5s+10s");
            }
            sides
                .iter()
                .flat_map(|side| side.split(','))
                .map(parse_validator)
                .collect::<Result<Vec<_>>>()?
        }
        NetworkFaultKind::Slow => {
            let (validator, delay) = body
                .split_once(":+")
                .context("expected V:+DELAY[@START+DURATION], e.g. 3:+200ms")?;
            parse_time(delay)?;
            vec![parse_validator(validator)?]
        }
        NetworkFaultKind::Flap => {
            let (pair, cycle) = body
                .split_once(':')
                .context("expected A-B:PERIOD,DOWN%[@START+DURATION], e.g. 0-1:2s,25%")?;
            let (a, b) = pair
                .split_once('-')
                .context("expected A-B:PERIOD,DOWN%, e.g. 0-1:2s,25%")?;
            let (period, _down) = cycle
                .split_once(',')
                .context("expected A-B:PERIOD,DOWN%, e.g. 0-1:2s,25%")?;
            parse_time(period)?;
            vec![parse_validator(a)?, parse_validator(b)?]
        }
    };
    Ok(NetworkFault {
        kind,
        spec: spec.to_string(),
        validators,
        window,
    })
}

/// Refuses a fault naming a validator outside the committee or ending after the measured
/// window.
fn check_fault(fault: NetworkFault, committee: usize, duration_s: u64) -> Result<NetworkFault> {
    if let Some(v) = fault.validators.iter().find(|&&v| v >= committee) {
        bail!(
            "validator {v} is not in the committee of {committee} (validators 0 to {}): name \
             validators of the committee or raise --committee",
            committee - 1
        );
    }
    if let Some(window) = fault.window {
        let end = window.end().as_secs_f64();
        if end > duration_s as f64 {
            bail!(
                "the window ends {end} s into the measured window, past its end (--duration \
                 {duration_s}): shorten or move the window, or lengthen --duration"
            );
        }
    }
    Ok(fault)
}

fn parse_validator(text: &str) -> Result<usize> {
    text.trim()
        .parse()
        .map_err(|_| anyhow!("`{text}` is not a validator index"))
}

fn parse_window(text: &str) -> Result<FaultWindow> {
    let (start, duration) = text
        .split_once('+')
        .with_context(|| format!("the window `{text}` is not START+DURATION, e.g. 5s+10s"))?;
    Ok(FaultWindow {
        start: parse_time(start)?,
        duration: parse_time(duration)?,
    })
}

/// `250ms`, `20s` or `1.5s`, as the node reads them.
fn parse_time(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (number, unit) = match (text.strip_suffix("ms"), text.strip_suffix('s')) {
        (Some(n), _) => (n, 0.001),
        (None, Some(n)) => (n, 1.0),
        _ => bail!("`{text}` needs a unit, ms or s (e.g. 200ms, 20s)"),
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Duration::from_secs_f64(v * unit)),
        _ => bail!("`{text}` is not a duration (e.g. 200ms, 20s)"),
    }
}

#[cfg(test)]
mod tests;
