//! `cargo xtask compare --base REV`: one sweep run for two builds of the node on one testbed,
//! interleaved run by run so that a change of the machine's load falls on both sides.
//!
//! The run directory holds `base/` and `head/`, each an ordinary run directory (summary,
//! time series, logs, provenance of its build), `plan.csv` (the order the runs took) and, once
//! compared, `comparison.json` and `comparison.md`.

use std::path::{Path, PathBuf};

use crate::progress;
use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar};
use serde::Serialize;

use super::{
    kernel::{deployment, prepare_context, start_run_dir, timestamp, write_json, NewRun},
    RunContext,
};
use crate::{
    builder::{self, source::Source, Build},
    experiment::{Bench, Point},
    interrupt,
    results::{self, SummaryRow},
    settings::LoadedSettings,
    workspace,
};

/// Which build a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Side {
    Base,
    Head,
}

impl Side {
    /// Its name, also its directory in the run directory.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Head => "head",
        }
    }
}

/// One run of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) side: Side,
    pub(crate) point: Point,
}

/// The order of the runs: each point of the sweep (load and repeat) on both sides back to
/// back, the side that goes first alternating from one point to the next (base, head, head,
/// base, base, head, ...), so neither side is always the one after a pause or a build.
pub(crate) fn interleave(points: &[Point]) -> Vec<Step> {
    points
        .iter()
        .enumerate()
        .flat_map(|(i, point)| {
            let order = if i % 2 == 0 {
                [Side::Base, Side::Head]
            } else {
                [Side::Head, Side::Base]
            };
            order.map(|side| Step {
                side,
                point: point.clone(),
            })
        })
        .collect()
}

/// The revisions compared: `head` `None` is the working tree as it is.
#[derive(Clone, Debug)]
pub(crate) struct Revisions {
    pub(crate) base: String,
    pub(crate) head: Option<String>,
}

/// What an A/B run leaves.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) run_dir: PathBuf,
    /// The run directory of each side.
    pub(crate) base_dir: PathBuf,
    pub(crate) head_dir: PathBuf,
    /// Why the plan did not complete (a failed run), if it did not.
    pub(crate) problems: Vec<String>,
    /// Rows measured, per side.
    pub(crate) rows: (Vec<SummaryRow>, Vec<SummaryRow>),
}

/// Provenance of one side, as `compare.json` records it.
#[derive(Debug, Serialize)]
struct SideRecord {
    revision: String,
    commit: String,
    dirty: bool,
    node_hash: String,
}

/// One line of `plan.csv`.
#[derive(Debug, Serialize)]
struct PlanRow {
    index: usize,
    side: Side,
    load: u64,
    repeat: usize,
    started_at: String,
}

fn source(root: &Path, revision: Option<&str>) -> Result<Source> {
    match revision {
        None => Ok(Source::workspace(root)),
        Some(rev) => builder::source::revision(root, rev, &workspace::cache_dir()),
    }
}

fn build(side: Side, source: &Source, target: Option<&str>) -> Result<Build> {
    eprintln!(
        "building the {} node (release) at {}{}...",
        side.name(),
        &source.commit[..12.min(source.commit.len())],
        if source.dirty {
            " with local changes"
        } else {
            ""
        }
    );
    builder::build(source, target).with_context(|| format!("cannot build the {} side", side.name()))
}

/// Points `context` at `side`: its binary, provenance and run directory.
fn switch(
    context: &mut RunContext,
    side: Side,
    build: &Build,
    run_id: &str,
    dir: &Path,
) -> Result<()> {
    if context.node.hash != build.node.hash {
        context.deployment.install(build)?;
    }
    context.node = build.node.clone();
    context.local_tool = build.local_tool.clone();
    context.provenance.git_commit = build.source.commit.clone();
    context.provenance.git_dirty = build.source.dirty;
    context.provenance.node_hash = build.node.hash.clone();
    context.provenance.run_id = format!("{run_id}/{}", side.name());
    context.run_id = context.provenance.run_id.clone();
    context.run_dir = dir.to_path_buf();
    Ok(())
}

fn overall_bar(multi: &MultiProgress, steps: usize, run_seconds: u64) -> ProgressBar {
    multi.add(progress::bar(
        steps as u64 * run_seconds,
        "A/B plan [{bar:30}] {msg}, {eta} left",
    ))
}

/// Runs the sweep `bench` for both revisions, interleaved, writing as it goes.
pub(crate) fn run(
    settings: &LoadedSettings,
    bench: &Bench,
    revisions: &Revisions,
) -> Result<Outcome> {
    interrupt::install();
    let root = workspace::root()?;
    eprintln!("workspace: {}", root.display());
    let NewRun {
        experiment,
        provider,
        instances,
        run_id,
        results_dir,
        run_dir,
    } = NewRun::of(settings, bench, || format!("compare-{}", timestamp()))?;
    if settings.common.repository.is_some() {
        eprintln!("note: compare builds --base and --head; the settings' `repository` is not used");
    }
    let base_source = source(&root, Some(&revisions.base))?;
    let head_source = source(&root, revisions.head.as_deref())?;
    let mut deployment = deployment(
        settings,
        &instances,
        bench.hosts,
        &run_id,
        &settings.common.ports,
        experiment.committee,
    )?;
    let builds = (|| -> Result<(Build, Build)> {
        let target = deployment.target()?;
        let base = build(Side::Base, &base_source, target.as_deref())?;
        let head = build(Side::Head, &head_source, target.as_deref())?;
        if interrupt::requested() {
            bail!("interrupted before anything was started on the hosts");
        }
        deployment.install(&base)?;
        Ok((base, head))
    })();
    let (base, head) = match builds {
        Ok(builds) => builds,
        Err(e) => {
            deployment.finish(&run_dir).ok();
            return Err(e);
        }
    };
    if base.node.hash == head.node.hash {
        eprintln!(
            "note: both sides built the same node binary ({})",
            base.node.short_hash()
        );
    }

    let dirs = [
        (Side::Base, run_dir.join(Side::Base.name())),
        (Side::Head, run_dir.join(Side::Head.name())),
    ];
    let mut context = prepare_context(
        settings,
        experiment,
        provider,
        instances,
        deployment,
        &base,
        run_id.clone(),
        dirs[0].1.clone(),
    )?;
    for (side, dir) in &dirs {
        start_run_dir(dir, settings, &context.experiment)?;
        let build = if *side == Side::Base { &base } else { &head };
        let revision = match side {
            Side::Base => revisions.base.clone(),
            Side::Head => revisions
                .head
                .clone()
                .unwrap_or_else(|| "working tree".into()),
        };
        write_json(
            &dir.join("revision.json"),
            &SideRecord {
                revision,
                commit: build.source.commit.clone(),
                dirty: build.source.dirty,
                node_hash: build.node.hash.clone(),
            },
        )?;
    }

    let steps = interleave(&context.experiment.points());
    let multi = MultiProgress::new();
    let overall = overall_bar(&multi, steps.len(), context.experiment.run_seconds());
    context.progress = Some(multi.clone());
    let mut rows = (Vec::new(), Vec::new());
    let mut problems = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        if interrupt::requested() {
            break;
        }
        overall.set_message(format!("run {}/{}", index + 1, steps.len()));
        let (build, dir) = match step.side {
            Side::Base => (&base, &dirs[0].1),
            Side::Head => (&head, &dirs[1].1),
        };
        if let Err(e) = switch(&mut context, step.side, build, &run_id, dir) {
            problems.push(format!(
                "cannot switch to the {} node: {e:#}",
                step.side.name()
            ));
            break;
        }
        results::append_rows(
            &run_dir.join("plan.csv"),
            &[PlanRow {
                index,
                side: step.side,
                load: step.point.load,
                repeat: step.point.repeat,
                started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }],
        )?;
        let label = format!(
            "{} load {} tx/s r{}",
            step.side.name(),
            step.point.load,
            step.point.repeat
        );
        match super::measure(&context, &step.point, &label) {
            Ok(row) => {
                results::run_dir::record(dir, &results_dir, &row)?;
                match step.side {
                    Side::Base => rows.0.push(row),
                    Side::Head => rows.1.push(row),
                }
            }
            Err(e) => {
                problems.push(format!(
                    "the {} run at load {} tx/s, repeat {} failed: {e:#}",
                    step.side.name(),
                    step.point.load,
                    step.point.repeat
                ));
                break;
            }
        }
        overall.inc(context.experiment.run_seconds());
    }
    overall.finish_and_clear();
    if interrupt::requested() {
        problems.push("interrupted: the plan was cut short (what was measured is kept)".into());
    }
    if let Err(e) = context.deployment.finish(&run_dir) {
        problems.push(format!("cannot release the testbed: {e:#}"));
    }
    Ok(Outcome {
        base_dir: dirs[0].1.clone(),
        head_dir: dirs[1].1.clone(),
        run_dir,
        problems,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_point_runs_on_both_sides_with_the_first_side_alternating() {
        let points: Vec<Point> = [(1000, 0), (1000, 1), (5000, 0), (5000, 1)]
            .into_iter()
            .map(|(load, repeat)| Point { load, repeat })
            .collect();
        let order: Vec<(Side, u64, usize)> = interleave(&points)
            .into_iter()
            .map(|s| (s.side, s.point.load, s.point.repeat))
            .collect();
        use Side::{Base as B, Head as H};
        assert_eq!(
            order,
            vec![
                (B, 1000, 0),
                (H, 1000, 0),
                (H, 1000, 1),
                (B, 1000, 1),
                (B, 5000, 0),
                (H, 5000, 0),
                (H, 5000, 1),
                (B, 5000, 1),
            ]
        );
    }
}
