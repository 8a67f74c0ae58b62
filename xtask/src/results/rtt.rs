//! Owns the measured network of a remote run: `rtt.csv` (one row per ordered pair of hosts:
//! the TCP connect times from one host to the other's SSH port, measured before the first
//! point) and the summary columns every row of the run carries ([`RoundTrips`]): the
//! median and the slowest of the pairs' median round trips, the file, and whether the
//! measured network matches the latency matrix the run emulated. Local runs leave them empty.

use serde::{Deserialize, Serialize};

/// File name inside the run directory.
pub const RTT_FILE: &str = "rtt.csv";

/// A measured round trip differs from the emulated one when they are further apart than
/// this many milliseconds and this share of the emulated one.
pub const MARGIN_MS: f64 = 5.0;
pub const MARGIN_SHARE: f64 = 0.2;

/// One ordered pair of hosts in `rtt.csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RttRow {
    pub run_id: String,
    /// The host probing, as the result files name hosts.
    pub from_host: String,
    pub from_region: String,
    /// The host probed and the address and port it was probed at (its SSH port).
    pub to_host: String,
    pub to_region: String,
    pub to_address: String,
    pub to_port: u16,
    /// Probes sent and answered.
    pub probes: usize,
    pub answered: usize,
    /// TCP connect time (one round trip), in milliseconds; empty when none answered.
    pub rtt_min_ms: Option<f64>,
    pub rtt_median_ms: Option<f64>,
    pub rtt_max_ms: Option<f64>,
    /// The round trip the latency matrix emulates between the two hosts' regions (both
    /// one-way delays); empty without a matrix.
    pub emulated_rtt_ms: Option<f64>,
}

impl RttRow {
    /// The pair's figures from its probes' times (`None`: a probe not answered).
    pub fn with_samples(mut self, samples: &[Option<f64>]) -> Self {
        let mut answered: Vec<f64> = samples.iter().flatten().copied().collect();
        answered.sort_by(f64::total_cmp);
        self.probes = samples.len();
        self.answered = answered.len();
        self.rtt_min_ms = answered.first().copied();
        self.rtt_max_ms = answered.last().copied();
        self.rtt_median_ms = median(&answered);
        self
    }

    /// Whether the measured round trip is beyond the margin of the emulated one.
    fn differs(&self) -> Option<(f64, f64)> {
        let (measured, emulated) = (self.rtt_median_ms?, self.emulated_rtt_ms?);
        let margin = MARGIN_MS.max(MARGIN_SHARE * emulated);
        ((measured - emulated).abs() > margin).then_some((measured, emulated))
    }
}

fn median(sorted: &[f64]) -> Option<f64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The network columns of a summary row, appended after the checks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundTrips {
    /// Median over the pairs of hosts of their median round trip (ms).
    pub rtt_median_ms: Option<f64>,
    /// The slowest pair's median round trip (ms).
    pub rtt_max_ms: Option<f64>,
    /// The file with every pair (`rtt.csv`).
    pub rtt_file: String,
    /// The measured network against the emulated latency matrix: `real network, no matrix`,
    /// `matches matrix <name>` (every pair within the margin), `differs from matrix <name>:
    /// ...` naming the pair furthest apart, or `unmeasured: ...`.
    pub rtt_vs_matrix: String,
}

impl RoundTrips {
    /// The columns of a remote run whose pairs measured `rows`, emulating the matrix `matrix`
    /// (by name) if any.
    pub fn of(rows: &[RttRow], matrix: Option<&str>) -> Self {
        let mut medians: Vec<f64> = rows.iter().filter_map(|r| r.rtt_median_ms).collect();
        medians.sort_by(f64::total_cmp);
        let unanswered: Vec<String> = rows
            .iter()
            .filter(|r| r.answered == 0)
            .map(|r| format!("{} to {}", r.from_host, r.to_host))
            .collect();
        let rtt_vs_matrix = if !unanswered.is_empty() {
            format!(
                "unmeasured: no probe answered from {} (see {RTT_FILE})",
                unanswered.join(", ")
            )
        } else if rows.is_empty() {
            "unmeasured: one host, no pair".to_string()
        } else {
            match matrix {
                None => "real network, no matrix".to_string(),
                Some(name) => {
                    let worst = rows.iter().filter_map(|r| Some((r, r.differs()?))).max_by(
                        |(_, (m1, e1)), (_, (m2, e2))| (m1 - e1).abs().total_cmp(&(m2 - e2).abs()),
                    );
                    match worst {
                        None => format!("matches matrix {name}"),
                        Some((r, (measured, emulated))) => format!(
                            "differs from matrix {name}: {} to {} measured {measured:.1} ms, \
                             emulated {emulated:.1} ms",
                            r.from_host, r.to_host
                        ),
                    }
                }
            }
        };
        Self {
            rtt_median_ms: median(&medians),
            rtt_max_ms: medians.last().copied(),
            rtt_file: RTT_FILE.to_string(),
            rtt_vs_matrix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(from: &str, to: &str, samples: &[Option<f64>], emulated: Option<f64>) -> RttRow {
        RttRow {
            from_host: from.into(),
            to_host: to.into(),
            emulated_rtt_ms: emulated,
            ..RttRow::default()
        }
        .with_samples(samples)
    }

    #[test]
    fn pairs_summarise_into_the_row_columns() {
        let rows = [
            pair("a", "b", &[Some(1.0), Some(3.0), Some(2.0)], None),
            pair("b", "a", &[Some(4.0), None, Some(6.0)], None),
            pair("a", "c", &[Some(9.0), Some(8.0), Some(7.0)], None),
        ];
        assert_eq!(
            (rows[1].answered, rows[1].rtt_median_ms, rows[1].rtt_min_ms),
            (2, Some(5.0), Some(4.0))
        );
        let columns = RoundTrips::of(&rows, None);
        assert_eq!(columns.rtt_median_ms, Some(5.0));
        assert_eq!(columns.rtt_max_ms, Some(8.0));
        assert_eq!(columns.rtt_file, "rtt.csv");
        assert_eq!(columns.rtt_vs_matrix, "real network, no matrix");
    }

    #[test]
    fn a_real_network_is_never_taken_for_the_emulated_one() {
        // Loopback hosts (0.1 ms) emulating 70 ms between regions: far beyond the margin.
        let emulated = [
            pair("a", "b", &[Some(0.1), Some(0.1), Some(0.2)], Some(140.0)),
            pair("b", "a", &[Some(0.5), Some(0.5), Some(0.5)], Some(140.0)),
        ];
        let text = RoundTrips::of(&emulated, Some("aws")).rtt_vs_matrix;
        assert!(
            text.starts_with("differs from matrix aws: a to b measured 0.1 ms, emulated 140.0"),
            "{text}"
        );
        // A real WAN whose round trips are the matrix's, within 20%.
        let real = [
            pair(
                "a",
                "b",
                &[Some(150.0), Some(151.0), Some(149.0)],
                Some(140.0),
            ),
            pair("b", "a", &[Some(138.0)], Some(140.0)),
        ];
        assert_eq!(
            RoundTrips::of(&real, Some("aws")).rtt_vs_matrix,
            "matches matrix aws"
        );
        // Same region pairs: 0 ms emulated, 3 ms measured, inside the 5 ms margin.
        let near = [pair("a", "b", &[Some(3.0)], Some(0.0))];
        assert_eq!(
            RoundTrips::of(&near, Some("aws")).rtt_vs_matrix,
            "matches matrix aws"
        );
        let silent = [pair("a", "b", &[None, None], Some(0.0))];
        assert!(RoundTrips::of(&silent, Some("aws"))
            .rtt_vs_matrix
            .starts_with("unmeasured: no probe answered from a to b"));
    }
}
