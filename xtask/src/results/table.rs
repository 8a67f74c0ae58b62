//! The summary table printed at the end of a benchmark, fit to the terminal's width.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};

use super::SummaryRow;

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{:.0}", v * 1000.0))
}

/// Renders summary rows as a table, one line per point, as wide as the terminal (or `COLUMNS`)
/// allows: headers wrap before the numbers do.
pub fn render(rows: &[SummaryRow]) -> String {
    let width = Table::new()
        .width()
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok());
    render_within(rows, width)
}

/// [`render`] within `width` characters (none: as wide as the cells need).
pub fn render_within(rows: &[SummaryRow], width: Option<u16>) -> String {
    let mut table = Table::new();
    table.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(width) = width {
        table.set_width(width);
    }
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

    #[test]
    fn the_table_fits_80_and_120_columns() {
        let row = SummaryRow {
            committee: 20,
            faults: 6,
            fault_mode: "crash-recovery".into(),
            load: 100_000,
            repeat: 2,
            throughput_tps: 99_987.4,
            latency_p50_s: Some(1.234),
            latency_p90_s: Some(2.345),
            latency_p99_s: Some(12.345),
            latency_avg_s: Some(1.5),
            rounds_per_s: 56.7,
            rejected_tps: 12_345.0,
            cpu_cores_mean: 0.12,
            memory_mib_max: 1234.0,
            ..SummaryRow::default()
        };
        for width in [80, 120] {
            let text = render_within(&[row.clone(), row.clone()], Some(width));
            for line in text.lines() {
                assert!(
                    line.chars().count() <= width as usize,
                    "wider than {width}: {line}"
                );
            }
            assert!(text.contains("99987") && text.contains("12345"), "{text}");
        }
    }
}
