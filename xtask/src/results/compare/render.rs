//! The comparison as a terminal table, a Markdown table for a pull-request comment, or JSON
//! for a CI system.

use std::fmt::Write as _;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use super::{verdict::MAX_REPEATS_NEEDED, Comparison, MetricComparison, PointComparison, Verdict};
use crate::experiment::FaultMode;

/// How `compare` prints its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for the terminal.
    #[default]
    Text,
    /// A Markdown table, ready for a pull-request comment.
    Markdown,
    /// One JSON document.
    Json,
}

fn spread(m: &MetricComparison, side: Option<super::Spread>) -> String {
    side.map_or_else(|| "-".into(), |s| m.metric.show(s.median))
}

fn change(m: &MetricComparison) -> String {
    m.change.map_or_else(|| "-".into(), |c| c.to_string())
}

/// The verdict of a figure with what would settle it when it is inconclusive.
fn verdict(m: &MetricComparison) -> String {
    if m.verdict != Verdict::Inconclusive {
        return m.verdict.to_string();
    }
    if let Some(note) = &m.note {
        return format!("inconclusive: {note}");
    }
    match m.repeats_needed {
        Some(n) => format!("inconclusive (~{n} repeats/side at this noise)"),
        None => format!("inconclusive (>{MAX_REPEATS_NEEDED} repeats/side at this noise)"),
    }
}

fn point_label(p: &PointComparison) -> String {
    let faults = match p.key.fault_mode {
        FaultMode::CrashRecovery => format!("f{} c-r", p.key.faults),
        _ => format!("f{}", p.key.faults),
    };
    format!(
        "n{} {faults} {} tx/s, {} B, {}",
        p.key.committee,
        p.key.load,
        p.key.transaction_size,
        p.key.protocol()
    )
}

fn header(comparison: &Comparison) -> String {
    let mut out = String::new();
    let (base, head) = &comparison.origins;
    let _ = writeln!(out, "base: {base}\nhead: {head}");
    if base.testbeds != head.testbeds {
        let _ = writeln!(out, "warning: the two sides ran on different testbeds");
    }
    let t = &comparison.thresholds;
    let samples = match comparison.per_second {
        (true, true) => "repeats and per-second samples",
        _ => "repeats (no per-second samples: a summary file without timeseries.csv)",
    };
    let _ = writeln!(
        out,
        "change of the medians of repeats, {:.0}% bootstrap interval over {samples} (seed {}); \
         thresholds: throughput drop {:.1}%, latency rise {:.1}%",
        comparison.confidence * 100.0,
        comparison.seed,
        t.throughput_drop * 100.0,
        t.latency_rise * 100.0
    );
    out
}

fn footer(comparison: &Comparison) -> String {
    let mut out = String::new();
    for (side, keys) in [
        ("base", &comparison.only_in_base),
        ("head", &comparison.only_in_head),
    ] {
        if !keys.is_empty() {
            let _ = writeln!(out, "only in {side} (not compared):");
            for key in keys {
                let _ = writeln!(out, "  {key}");
            }
        }
    }
    for p in comparison.points.iter().filter(|p| !p.disturbed.is_empty()) {
        let _ = writeln!(out, "disturbed, {}:", point_label(p));
        for run in &p.disturbed {
            let _ = writeln!(out, "  {run}");
        }
    }
    let (base_cut, head_cut) = comparison.interrupted;
    if base_cut + head_cut > 0 {
        let _ = writeln!(
            out,
            "left out: {base_cut} interrupted row(s) in base, {head_cut} in head"
        );
    }
    for problem in &comparison.problems {
        let _ = writeln!(out, "cannot decide: {problem}");
    }
    let count = |v: Verdict| comparison.points.iter().filter(|p| p.verdict == v).count();
    let _ = write!(
        out,
        "verdict: {} ({} of {} common point(s) regressed, {} inconclusive, {} improved)",
        comparison.verdict,
        count(Verdict::Regressed),
        comparison.points.len(),
        count(Verdict::Inconclusive),
        count(Verdict::Improved)
    );
    out
}

fn text(comparison: &Comparison) -> String {
    let mut out = header(comparison);
    if !comparison.points.is_empty() {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "point",
            "reps b/h",
            "figure",
            "base",
            "head",
            "change [CI]",
            "verdict",
        ]);
        for p in &comparison.points {
            for (i, m) in p.metrics.iter().enumerate() {
                let (label, repeats) = if i == 0 {
                    (
                        point_label(p),
                        format!("{}/{}", p.base_repeats, p.head_repeats),
                    )
                } else {
                    (String::new(), String::new())
                };
                table.add_row(vec![
                    Cell::new(label),
                    Cell::new(repeats),
                    Cell::new(m.metric.name()),
                    Cell::new(spread(m, m.base)).set_alignment(CellAlignment::Right),
                    Cell::new(spread(m, m.head)).set_alignment(CellAlignment::Right),
                    Cell::new(change(m)).set_alignment(CellAlignment::Right),
                    Cell::new(verdict(m)),
                ]);
            }
        }
        let _ = writeln!(out, "{table}");
    }
    out + &footer(comparison)
}

fn markdown(comparison: &Comparison) -> String {
    let mut out = String::new();
    let icon = match comparison.verdict {
        Verdict::Regressed => "❌",
        Verdict::Inconclusive => "⚠️",
        _ => "✅",
    };
    let _ = writeln!(
        out,
        "### {icon} Performance check: {}\n",
        comparison.verdict
    );
    for line in header(comparison).lines() {
        let _ = writeln!(out, "{line}  ");
    }
    let _ = writeln!(
        out,
        "\n| point | reps b/h | figure | base | head | change [CI] | verdict |\n\
         |---|---:|---|---:|---:|---:|---|"
    );
    for p in &comparison.points {
        for m in &p.metrics {
            let shown = verdict(m);
            let shown = if m.verdict == Verdict::Regressed {
                format!("**{shown}**")
            } else {
                shown
            };
            let _ = writeln!(
                out,
                "| {} | {}/{} | {} | {} | {} | {} | {} |",
                point_label(p),
                p.base_repeats,
                p.head_repeats,
                m.metric.name(),
                spread(m, m.base),
                spread(m, m.head),
                change(m),
                shown
            );
        }
    }
    let _ = writeln!(out);
    for line in footer(comparison).lines() {
        let _ = writeln!(out, "{line}  ");
    }
    out.trim_end().to_string()
}

/// The comparison in `format`, as `cargo xtask compare` prints it.
pub fn render(comparison: &Comparison, format: Format) -> String {
    match format {
        Format::Text => text(comparison),
        Format::Markdown => markdown(comparison),
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Report<'a> {
                exit_code: i32,
                #[serde(flatten)]
                comparison: &'a Comparison,
            }
            let report = Report {
                exit_code: comparison.exit_code(),
                comparison,
            };
            serde_json::to_string_pretty(&report)
                .unwrap_or_else(|e| format!("{{\"error\": \"cannot render the comparison: {e}\"}}"))
        }
    }
}
