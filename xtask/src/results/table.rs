//! The summary table printed at the end of a benchmark.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use super::SummaryRow;

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{:.0}", v * 1000.0))
}

/// Renders summary rows as a table, one line per point.
pub fn render(rows: &[SummaryRow]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "nodes",
        "faults",
        "load tx/s",
        "rep",
        "committed tx/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "avg ms",
        "rounds/s",
        "rejected tx/s",
        "cpu/node",
        "mem MiB",
    ]);
    for r in rows {
        let faults = match r.fault_mode.as_str() {
            "crash-recovery" => format!("{} (c-r)", r.faults),
            _ => r.faults.to_string(),
        };
        let mut cells = vec![
            Cell::new(r.committee),
            Cell::new(faults),
            Cell::new(r.load),
            Cell::new(r.repeat),
            Cell::new(format!("{:.0}", r.throughput_tps)),
            Cell::new(ms(r.latency_p50_s)),
            Cell::new(ms(r.latency_p90_s)),
            Cell::new(ms(r.latency_p99_s)),
            Cell::new(ms(r.latency_avg_s)),
            Cell::new(format!("{:.1}", r.rounds_per_s)),
            Cell::new(format!("{:.0}", r.rejected_tps)),
            Cell::new(format!("{:.2}", r.cpu_cores_mean)),
            Cell::new(format!("{:.0}", r.memory_mib_max)),
        ];
        cells = cells
            .into_iter()
            .map(|c| c.set_alignment(CellAlignment::Right))
            .collect();
        table.add_row(cells);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_latencies_in_milliseconds() {
        let row = SummaryRow {
            committee: 4,
            load: 10_000,
            throughput_tps: 9_987.4,
            latency_p50_s: Some(0.1234),
            latency_p99_s: None,
            fault_mode: "none".into(),
            ..SummaryRow::default()
        };
        let text = render(&[row]);
        assert!(text.contains("9987"), "{text}");
        assert!(text.contains("123"), "{text}");
        assert!(text.contains('-'), "{text}");
    }
}
