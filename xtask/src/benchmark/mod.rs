//! The benchmark: what is measured and how, over the deployment wing (`crate::deployment`),
//! which starts and stops the validators.
//!
//! Two drivers share one small [`kernel`] (a new run, its hosts made ready, the node built and
//! installed, the context its points read): the [`sweep`] of `cargo xtask bench` and the A/B
//! driver of `cargo xtask compare --base` ([`ab`]), which interleaves two builds run by run.
//! Each run of a point ([`point`]) makes a fresh committee ([`genesis`]), starts the
//! validators, records their metrics through the warm-up and the window while applying the
//! fault schedule ([`faults`], [`recording`]), stops them, and turns the recording into
//! figures and rows ([`figures`], from the node's metrics read by `crate::metrics`) and
//! audits ([`audit`]: safety, liveness, rejoin). The rows go to `crate::results`. With
//! `--find-saturation`, the sweep hands over to the [`saturation`] search, whose every load is
//! such a point. On the simulated testbed a point is a run of `node sim` whose outputs take
//! the same path ([`sim`]); [`measure`] picks one or the other.

pub(crate) mod ab;
pub(crate) mod audit;
pub(crate) mod fault_epoch;
pub(crate) mod faults;
pub(crate) mod figures;
pub(crate) mod genesis;
mod kernel;
pub(crate) mod point;
pub(crate) mod recording;
mod round_trips;
mod saturation;
pub(crate) mod sim;
pub(crate) mod sweep;

pub(crate) use kernel::RunContext;

/// Runs one point on the context's testbed: validators that run (local, remote), or the
/// simulator (`sim`). Its summary row.
pub(crate) fn measure(
    context: &RunContext,
    point: &crate::experiment::Point,
    label: &str,
) -> anyhow::Result<crate::results::SummaryRow> {
    match context.settings.testbed.sim() {
        Some(sim) => sim::run_point(context, sim, point, label),
        None => point::run(context, point, label),
    }
}
pub(crate) use sweep::{run, run_all};
