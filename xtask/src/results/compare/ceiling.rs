//! Two saturation searches compared: did the head lower the ceiling? Each side's interval
//! (`saturation.json`: from the highest load that held in every run to the lowest that
//! failed in every run) decides: the head **regressed** when it failed in every run at a
//! load at or below one the base held in every run (head's upper end <= base's lower end),
//! **improved** in the mirror case, **unchanged** when the two intervals overlap, and
//! **inconclusive** when a side's interval lacks the end that would decide (a search that
//! stopped early, found no ceiling or held nothing) or the two searches are not alike
//! (committee, objective, tolerance).

use serde::Serialize;

use super::Verdict;
use crate::results::saturation::SaturationRecord;

/// The comparison of two ceilings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CeilingComparison {
    pub base: Side,
    pub head: Side,
    /// `head / base - 1` of the answers, when both have one.
    pub change: Option<f64>,
    pub verdict: Verdict,
    /// The sentence that says it.
    pub sentence: String,
}

/// One side's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Side {
    pub run_id: String,
    pub saturation_tps: Option<u64>,
    pub interval: (Option<u64>, Option<u64>),
    pub stop: String,
}

impl Side {
    fn of(r: &SaturationRecord) -> Self {
        Self {
            run_id: r.run_id.clone(),
            saturation_tps: r.saturation_tps,
            interval: (r.interval_low_tps, r.interval_high_tps),
            stop: r.stop.clone(),
        }
    }

    fn show(&self) -> String {
        let v = |x: Option<u64>| x.map_or("-".to_string(), thousands);
        format!(
            "{} tx/s [{}, {}]",
            v(self.saturation_tps),
            v(self.interval.0),
            v(self.interval.1)
        )
    }
}

fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Why two searches cannot be compared: they did not search the same thing.
fn unlike(base: &SaturationRecord, head: &SaturationRecord) -> Option<String> {
    let mut differences = Vec::new();
    if base.committee != head.committee {
        differences.push(format!(
            "committee {} against {}",
            base.committee, head.committee
        ));
    }
    if base.slo != head.slo {
        let show = |s: &str| {
            if s.is_empty() {
                "none".to_string()
            } else {
                s.to_string()
            }
        };
        differences.push(format!(
            "objective {} against {}",
            show(&base.slo),
            show(&head.slo)
        ));
    }
    if base.tolerance != head.tolerance {
        differences.push(format!(
            "tolerance {} against {}",
            base.tolerance, head.tolerance
        ));
    }
    (!differences.is_empty()).then(|| differences.join(", "))
}

/// Compares the head's ceiling with the base's.
pub fn compare(base: &SaturationRecord, head: &SaturationRecord) -> CeilingComparison {
    let (b, h) = (Side::of(base), Side::of(head));
    let change = match (base.saturation_tps, head.saturation_tps) {
        (Some(b), Some(h)) if b > 0 => Some(h as f64 / b as f64 - 1.0),
        _ => None,
    };
    let shown = format!(
        "head {} against base {}{}",
        h.show(),
        b.show(),
        change.map_or(String::new(), |c| format!(" ({:+.1}%)", c * 100.0))
    );
    let (verdict, sentence) = if let Some(why) = unlike(base, head) {
        (
            Verdict::Inconclusive,
            format!(
                "the two searches cannot be compared ({why}): search both sides with the same \
                 flags"
            ),
        )
    } else {
        let below = matches!((h.interval.1, b.interval.0), (Some(hh), Some(bl)) if hh <= bl);
        let above = matches!((b.interval.1, h.interval.0), (Some(bh), Some(hl)) if bh <= hl);
        let all = [b.interval.0, b.interval.1, h.interval.0, h.interval.1];
        if below {
            (
                Verdict::Regressed,
                format!(
                    "the ceiling is lower: {shown}; the head failed in every run at a load the \
                     base held in every run"
                ),
            )
        } else if above {
            (
                Verdict::Improved,
                format!(
                    "the ceiling is higher: {shown}; the head held in every run at a load the \
                     base failed in every run"
                ),
            )
        } else if all.iter().all(Option::is_some) {
            (
                Verdict::Unchanged,
                format!("the ceiling did not move beyond the intervals: {shown}"),
            )
        } else {
            (
                Verdict::Inconclusive,
                format!(
                    "the intervals cannot decide: {shown}; base {}, head {} (run the searches \
                     to convergence: more --max-runs or --max-time)",
                    b.stop, h.stop
                ),
            )
        }
    };
    CeilingComparison {
        base: b,
        head: h,
        change,
        verdict,
        sentence,
    }
}

impl CeilingComparison {
    /// The exit status, as `compare`'s other verdicts: 0 no regression, 1 a regression, 2
    /// could not decide.
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Unchanged | Verdict::Improved => 0,
            Verdict::Regressed => 1,
            Verdict::Inconclusive => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(run: &str, held: u64, low: Option<u64>, high: Option<u64>) -> SaturationRecord {
        SaturationRecord {
            run_id: run.into(),
            committee: 4,
            saturation_tps: Some(held),
            failed_tps: high,
            interval_low_tps: low,
            interval_high_tps: high,
            committed_tps: Some(held as f64),
            stop: "converged".into(),
            converged: true,
            runs: 9,
            elapsed_s: 100.0,
            slo: String::new(),
            tolerance: 0.05,
            start_tps: 10_000,
            max_load_tps: 10_000_000,
            growth: 2.0,
            resolution: 0.05,
            knee_repeats: 3,
            max_runs: None,
            max_time_s: None,
            points: Vec::new(),
        }
    }

    #[test]
    fn a_lower_ceiling_is_a_regression_only_when_the_intervals_say_so() {
        let base = record("base", 400_000, Some(390_000), Some(420_000));
        // Failed in every run at 380k, which the base held in every run.
        let lower = record("head", 360_000, Some(350_000), Some(380_000));
        let c = compare(&base, &lower);
        assert_eq!((c.verdict, c.exit_code()), (Verdict::Regressed, 1));
        assert!(
            c.sentence.contains("the ceiling is lower"),
            "{}",
            c.sentence
        );
        assert!(c.sentence.contains("-10.0%"), "{}", c.sentence);
        // A lower answer whose interval overlaps the base's: not a regression.
        let close = record("head", 385_000, Some(380_000), Some(400_000));
        let c = compare(&base, &close);
        assert_eq!((c.verdict, c.exit_code()), (Verdict::Unchanged, 0));
        // Touching intervals: the head failed at the base's lowest always-held load.
        let touching = record("head", 380_000, Some(370_000), Some(390_000));
        assert_eq!(compare(&base, &touching).verdict, Verdict::Regressed);
        let higher = record("head", 450_000, Some(440_000), Some(460_000));
        assert_eq!(compare(&base, &higher).verdict, Verdict::Improved);
    }

    #[test]
    fn an_open_interval_or_unlike_searches_cannot_decide() {
        let base = record("base", 400_000, Some(390_000), Some(420_000));
        let mut open = record("head", 400_000, Some(380_000), None);
        open.stop = "stopped at the maximum number of runs".into();
        let c = compare(&base, &open);
        assert_eq!((c.verdict, c.exit_code()), (Verdict::Inconclusive, 2));
        assert!(
            c.sentence.contains("maximum number of runs"),
            "{}",
            c.sentence
        );
        let mut other = record("head", 100_000, Some(90_000), Some(110_000));
        other.slo = "p99<=2000ms".into();
        let c = compare(&base, &other);
        assert_eq!(c.verdict, Verdict::Inconclusive);
        assert!(
            c.sentence.contains("objective none against p99<=2000ms"),
            "{}",
            c.sentence
        );
    }
}
