//! The summary table printed at the end of a benchmark, fit to the terminal's width: when the
//! whole table is wider, the least important columns are left out (and named below it).

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use super::{SummaryRow, SUMMARY_FILE};
use crate::experiment::FaultMode;

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{:.0}", v * 1000.0))
}

/// A column: its header (lines), its rank (0 is kept longest) and its cell.
struct Column {
    header: &'static str,
    rank: u8,
    cell: fn(&SummaryRow) -> String,
}

impl Column {
    const fn new(header: &'static str, rank: u8, cell: fn(&SummaryRow) -> String) -> Self {
        Self { header, rank, cell }
    }
}

const COLUMNS: [Column; 13] = [
    Column::new("nodes", 0, |r| r.point.committee.to_string()),
    Column::new("faults", 0, |r| match r.point.fault_mode {
        FaultMode::CrashRecovery => format!("{} (c-r)", r.point.faults),
        _ => r.point.faults.to_string(),
    }),
    Column::new("load\ntx/s", 0, |r| r.point.load.to_string()),
    Column::new("rep", 1, |r| r.point.repeat.to_string()),
    Column::new("committed\ntx/s", 0, |r| {
        format!("{:.0}", r.measured.throughput_tps)
    }),
    Column::new("p50\nms", 0, |r| ms(r.measured.latency_p50_s)),
    Column::new("p90\nms", 4, |r| ms(r.measured.latency_p90_s)),
    Column::new("p99\nms", 0, |r| ms(r.measured.latency_p99_s)),
    Column::new("avg\nms", 5, |r| ms(r.measured.latency_avg_s)),
    Column::new("rounds\n/s", 2, |r| {
        format!("{:.1}", r.measured.rounds_per_s)
    }),
    Column::new("rejected\ntx/s", 3, |r| {
        format!("{:.0}", r.measured.rejected_tps)
    }),
    Column::new("cpu/\nnode", 3, |r| {
        r.measured
            .cpu_cores_mean
            .map_or("-".into(), |c| format!("{c:.2}"))
    }),
    Column::new("mem\nMiB", 2, |r| {
        r.measured
            .memory_mib_max
            .map_or("-".into(), |m| format!("{m:.0}"))
    }),
];

/// Renders summary rows as a table, one line per point, within the terminal's width (or
/// `COLUMNS`) when there is one.
pub fn render(rows: &[SummaryRow]) -> String {
    let width = Table::new()
        .width()
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok());
    render_within(rows, width)
}

/// [`render`] within `width` characters (none: every column).
pub fn render_within(rows: &[SummaryRow], width: Option<u16>) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| COLUMNS.iter().map(|c| (c.cell)(r)).collect())
        .collect();
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let header = c.header.lines().map(|l| l.chars().count()).max();
            let data = cells.iter().map(|row| row[i].chars().count()).max();
            header.max(data).unwrap_or(0)
        })
        .collect();
    // Each column adds its width, a space either side and a border.
    let total = |kept: &[bool]| -> usize {
        1 + widths
            .iter()
            .zip(kept)
            .filter(|(_, k)| **k)
            .map(|(w, _)| w + 3)
            .sum::<usize>()
    };
    let mut kept = vec![true; COLUMNS.len()];
    if let Some(width) = width {
        for rank in (1..=5).rev() {
            if total(&kept) <= usize::from(width) {
                break;
            }
            for (i, c) in COLUMNS.iter().enumerate() {
                if c.rank == rank {
                    kept[i] = false;
                }
            }
        }
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(
        COLUMNS
            .iter()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .map(|(c, _)| c.header),
    );
    for row in &cells {
        table.add_row(
            row.iter()
                .zip(&kept)
                .filter(|(_, k)| **k)
                .map(|(text, _)| Cell::new(text).set_alignment(CellAlignment::Right)),
        );
    }
    let left_out: Vec<&str> = COLUMNS
        .iter()
        .zip(&kept)
        .filter(|(_, k)| !**k)
        .map(|(c, _)| c.header.split(['\n', '/']).next().unwrap_or(c.header))
        .collect();
    let mut text = table.to_string();
    if !left_out.is_empty() {
        text.push_str(&format!(
            "\nleft out to fit the terminal: {}\n(every figure is in {SUMMARY_FILE})",
            left_out.join(", ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{metrics::Summary, results::PointParameters};

    #[test]
    fn table_shows_latencies_in_milliseconds() {
        let row = SummaryRow {
            point: PointParameters {
                committee: 4,
                load: 10_000,
                fault_mode: FaultMode::None,
                ..PointParameters::default()
            },
            measured: Summary {
                throughput_tps: 9_987.4,
                latency_p50_s: Some(0.1234),
                latency_p99_s: None,
                ..Summary::default()
            },
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
            point: PointParameters {
                committee: 20,
                faults: 6,
                fault_mode: FaultMode::CrashRecovery,
                load: 100_000,
                repeat: 2,
                ..PointParameters::default()
            },
            measured: Summary {
                throughput_tps: 99_987.4,
                latency_p50_s: Some(1.234),
                latency_p90_s: Some(2.345),
                latency_p99_s: Some(12.345),
                latency_avg_s: Some(1.5),
                rounds_per_s: 56.7,
                rejected_tps: 12_345.0,
                cpu_cores_mean: Some(0.12),
                memory_mib_max: Some(1234.0),
                ..Summary::default()
            },
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
            assert_eq!(text.contains("left out"), width == 80, "{text}");
        }
    }
}
