//! `bench`'s arguments validated into the experiment model: every refused combination is
//! refused here, with the flag at fault, before anything starts.

use std::path::Path;

use anyhow::{bail, Result};

use super::BenchArgs;
use crate::experiment::{
    Bench, Byzantine, Experiment, Faults, HostPreparation, LatencyMatrix, PlantedCeiling, Protocol,
};

impl BenchArgs {
    /// The bench these arguments ask for; `assets` holds the latency presets and the built-in
    /// network profiles.
    pub fn bench(&self, assets: &Path) -> Result<Bench> {
        Ok(Bench {
            experiment: self.experiment(assets)?,
            run_id: self.run_id.clone(),
            saturation: self.saturation.search()?,
            hosts: HostPreparation {
                skip_update: self.skip_update,
                skip_configure: self.skip_configure,
                no_wait: self.no_wait,
            },
        })
    }

    /// The experiment these arguments describe, validated.
    pub fn experiment(&self, assets: &Path) -> Result<Experiment> {
        let args = self;
        if args.committee == 0 {
            bail!("--committee must be at least 1");
        }
        if 3 * args.faults + 1 > args.committee {
            bail!(
                "--committee {} cannot tolerate --faults {}: BFT needs at least 3f+1 = {} validators",
                args.committee,
                args.faults,
                3 * args.faults + 1
            );
        }
        let byzantine = match (args.byzantine, args.behaviour) {
            (0, Some(b)) => bail!("--behaviour {b} needs --byzantine K > 0 validators"),
            (0, None) => None,
            (k, None) => bail!(
                "--byzantine {k} needs --behaviour MODE ({})",
                crate::protocol::Behaviour::names().join(", ")
            ),
            (validators, Some(behaviour)) => Some(Byzantine {
                validators,
                behaviour,
            }),
        };
        let faulty = args.faults + args.byzantine;
        if args.byzantine > 0 && 3 * faulty + 1 > args.committee {
            bail!(
                "--committee {} cannot tolerate --faults {} plus --byzantine {}: BFT needs at \
                 least 3f+1 = {} validators for f = {faulty} faulty ones",
                args.committee,
                args.faults,
                args.byzantine,
                3 * faulty + 1
            );
        }
        if args.loads.is_empty() {
            bail!("--loads needs at least one load");
        }
        if let Some(zero) = args.loads.iter().find(|l| **l == 0) {
            bail!("--loads: a load of {zero} tx/s measures nothing; give loads above 0");
        }
        if args.repeat == 0 {
            bail!("--repeat must be at least 1");
        }
        if args.transaction_size < 16 {
            bail!(
                "--transaction-size {} is too small: a transaction carries a 16-byte timestamp and counter",
                args.transaction_size
            );
        }
        if args.duration == 0 {
            bail!("--duration must be at least 1 second");
        }
        if !(args.scrape_interval >= 0.1 && args.scrape_interval <= args.duration as f64) {
            bail!(
                "--scrape-interval {} must be between 0.1 s and --duration ({} s)",
                args.scrape_interval,
                args.duration
            );
        }
        if args.crash_recovery && args.faults == 0 {
            bail!("--crash-recovery needs --faults F > 0 validators to crash");
        }
        if args.crash_recovery && args.crash_interval == 0 {
            bail!("--crash-interval must be at least 1 second");
        }
        match args.down_time {
            Some(_) if !args.crash_recovery => {
                bail!("--down-time needs --crash-recovery (validators that come back)")
            }
            Some(0) => bail!("--down-time must be at least 1 second"),
            _ => {}
        }
        if args.wave_length < 3 {
            bail!(
                "--wave-length {} is below 3 (propose, vote, certify)",
                args.wave_length
            );
        }
        if args.leaders == 0 || args.leaders as usize > args.committee {
            bail!(
                "--leaders {} must be between 1 and the committee size {}",
                args.leaders,
                args.committee
            );
        }
        let latency_matrix = args
            .latency_matrix
            .as_deref()
            .map(|spec| LatencyMatrix::resolve(spec, assets))
            .transpose()?;
        if let Some(v) = args.plant_fork.filter(|&v| v >= args.committee) {
            bail!(
                "--plant-fork {v} is not a validator of a committee of {}",
                args.committee
            );
        }
        let faults = match (args.faults, args.crash_recovery) {
            (0, _) => Faults::None,
            (validators, false) => Faults::Crash { validators },
            (validators, true) => Faults::CrashRecovery {
                validators,
                interval_s: args.crash_interval,
                down_time_s: args.down_time.unwrap_or(args.crash_interval),
            },
        };
        Ok(Experiment {
            committee: args.committee,
            faults,
            byzantine,
            loads: args.loads.clone(),
            repeat: args.repeat,
            transaction_size: args.transaction_size,
            warmup_s: args.warmup,
            duration_s: args.duration,
            scrape_interval_s: args.scrape_interval,
            protocol: Protocol {
                wave_length: args.wave_length,
                leaders: args.leaders,
                leader_wait: !args.no_leader_wait,
                leader_timeout_ms: args.leader_timeout_ms,
            },
            network: args
                .network
                .network(latency_matrix, args.committee, args.duration, assets)?,
            plant_fork: args.plant_fork,
            planted_ceiling: PlantedCeiling {
                max_block_bytes: args.plant_max_block_bytes,
                min_round_delay_ms: args.plant_min_round_delay_ms,
            },
        })
    }
}

#[cfg(test)]
mod tests;
