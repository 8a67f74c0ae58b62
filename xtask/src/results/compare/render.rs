//! The comparison as text: a table of deltas, the unmatched points and a verdict line.

use std::fmt::Write as _;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use super::{Change, Comparison, PointComparison, Spread};

fn ms(spread: Option<Spread>) -> String {
    spread.map_or_else(|| "-".into(), |s| format!("{:.0}", s.median * 1000.0))
}

fn percent(change: Option<Change>) -> String {
    match change.and_then(|c| c.relative) {
        Some(r) => format!("{:+.1}%", r * 100.0),
        None => "-".into(),
    }
}

fn verdict(point: &PointComparison) -> String {
    let regressions = point.regressions();
    if !regressions.is_empty() {
        format!("REGRESSION: {}", regressions.join(", "))
    } else if point.noise_only() {
        "ok (within spread)".into()
    } else {
        "ok".into()
    }
}

fn table(comparison: &Comparison) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "nodes",
        "faults",
        "load tx/s",
        "tx B",
        "protocol",
        "reps b/h",
        "tx/s base",
        "tx/s head",
        "Δ tx/s",
        "p50 ms b",
        "p50 ms h",
        "Δ p50",
        "p99 ms b",
        "p99 ms h",
        "Δ p99",
        "verdict",
    ]);
    for p in &comparison.points {
        let faults = match p.key.fault_mode.as_str() {
            "crash-recovery" => format!("{} (c-r)", p.key.faults),
            _ => p.key.faults.to_string(),
        };
        let cells = vec![
            Cell::new(p.key.committee),
            Cell::new(faults),
            Cell::new(p.key.load),
            Cell::new(p.key.transaction_size),
            Cell::new(p.key.protocol()),
            Cell::new(format!("{}/{}", p.base.repeats, p.head.repeats)),
            Cell::new(format!("{:.0}", p.base.throughput.median)),
            Cell::new(format!("{:.0}", p.head.throughput.median)),
            Cell::new(percent(Some(p.throughput))),
            Cell::new(ms(p.base.p50)),
            Cell::new(ms(p.head.p50)),
            Cell::new(percent(p.p50)),
            Cell::new(ms(p.base.p99)),
            Cell::new(ms(p.head.p99)),
            Cell::new(percent(p.p99)),
            Cell::new(verdict(p)),
        ];
        table.add_row(
            cells
                .into_iter()
                .map(|c| c.set_alignment(CellAlignment::Right)),
        );
    }
    table
}

/// The comparison as printed by `cargo xtask compare`.
pub fn render(comparison: &Comparison) -> String {
    let mut out = String::new();
    let (base, head) = &comparison.origins;
    let _ = writeln!(out, "base: {base}\nhead: {head}");
    if base.testbeds != head.testbeds {
        let _ = writeln!(out, "warning: the two sides ran on different testbeds");
    }
    let t = &comparison.thresholds;
    let _ = writeln!(
        out,
        "medians of repeats; thresholds: throughput drop {:.1}%, latency rise {:.1}% \
         (changes within the repeats' spread are not flagged)",
        t.throughput_drop * 100.0,
        t.latency_rise * 100.0
    );
    if !comparison.points.is_empty() {
        let _ = writeln!(out, "{}", table(comparison));
    }
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
    let (base_cut, head_cut) = comparison.interrupted;
    if base_cut + head_cut > 0 {
        let _ = writeln!(
            out,
            "left out: {base_cut} interrupted row(s) in base, {head_cut} in head"
        );
    }
    let regressed = comparison.regressed().len();
    let _ = write!(
        out,
        "{regressed} of {} common point(s) regressed",
        comparison.points.len()
    );
    out
}
