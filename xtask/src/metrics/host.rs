//! The load of the machine validators run on, from the kernel's own counters: CPU time by kind
//! from `/proc/stat`, and stall time from `/proc/pressure/{cpu,io}` (pressure stall
//! information, on kernels that have it).

use serde::{Deserialize, Serialize};

/// Cumulative counters read at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HostCounters {
    /// Jiffies of all CPUs: total, idle, iowait, steal.
    pub total: f64,
    pub idle: f64,
    pub iowait: f64,
    pub steal: f64,
    /// Microseconds during which some task waited for a CPU, or for I/O.
    pub cpu_stall_us: Option<f64>,
    pub io_stall_us: Option<f64>,
}

/// The machine's load between two readings, as fractions of that time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostPressure {
    /// CPU time neither idle nor waiting for I/O.
    pub cpu_busy: f64,
    /// CPU time idle while I/O was outstanding.
    pub iowait: f64,
    /// CPU time the hypervisor gave to someone else.
    pub steal: f64,
    /// Wall time some task waited for a CPU (`/proc/pressure/cpu`, "some").
    pub cpu_pressure: Option<f64>,
    /// Wall time some task waited for I/O (`/proc/pressure/io`, "some").
    pub io_pressure: Option<f64>,
}

/// Total, idle, iowait and steal jiffies from the `cpu` line of `/proc/stat`.
pub fn parse_stat(text: &str) -> Option<(f64, f64, f64, f64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let get = |i: usize| fields.get(i).copied().unwrap_or(0.0);
    let total: f64 = (0..8).map(get).sum();
    Some((total, get(3), get(4), get(7)))
}

/// The `total` (microseconds) of the "some" line of a `/proc/pressure/*` file.
pub fn parse_pressure(text: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with("some "))?
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

impl HostCounters {
    /// This machine's counters now (`None` without a readable `/proc/stat`).
    pub fn read_local() -> Option<Self> {
        let (total, idle, iowait, steal) =
            parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let pressure = |name: &str| {
            std::fs::read_to_string(format!("/proc/pressure/{name}"))
                .ok()
                .as_deref()
                .and_then(parse_pressure)
        };
        Some(Self {
            total,
            idle,
            iowait,
            steal,
            cpu_stall_us: pressure("cpu"),
            io_stall_us: pressure("io"),
        })
    }

    /// The load between `earlier` and these counters, `seconds` apart.
    pub fn since(&self, earlier: &Self, seconds: f64) -> Option<HostPressure> {
        let total = self.total - earlier.total;
        if total <= 0.0 || seconds <= 0.0 {
            return None;
        }
        let idle = self.idle - earlier.idle;
        let iowait = self.iowait - earlier.iowait;
        let stall = |now: Option<f64>, then: Option<f64>| {
            Some(((now? - then?) / (seconds * 1e6)).clamp(0.0, 1.0))
        };
        Some(HostPressure {
            cpu_busy: ((total - idle - iowait) / total).clamp(0.0, 1.0),
            iowait: (iowait / total).clamp(0.0, 1.0),
            steal: ((self.steal - earlier.steal) / total).clamp(0.0, 1.0),
            cpu_pressure: stall(self.cpu_stall_us, earlier.cpu_stall_us),
            io_pressure: stall(self.io_stall_us, earlier.io_stall_us),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_parse_and_turn_into_fractions() {
        let stat = "cpu  600 0 200 1000 100 0 0 100 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(parse_stat(stat), Some((2000.0, 1000.0, 100.0, 100.0)));
        let psi = "some avg10=3.85 avg60=11.63 avg300=8.21 total=37672371\n\
                   full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_pressure(psi), Some(37_672_371.0));
        let before = HostCounters {
            cpu_stall_us: Some(1_000_000.0),
            ..HostCounters::default()
        };
        let after = HostCounters {
            total: 2000.0,
            idle: 1000.0,
            iowait: 100.0,
            steal: 100.0,
            cpu_stall_us: Some(1_500_000.0),
            io_stall_us: None,
        };
        let p = after.since(&before, 2.0).expect("pressure");
        assert_eq!((p.cpu_busy, p.iowait, p.steal), (0.45, 0.05, 0.05));
        assert_eq!(p.cpu_pressure, Some(0.25));
        assert_eq!(p.io_pressure, None);
        assert_eq!(after.since(&after, 1.0), None);
    }

    #[test]
    fn this_machine_can_be_read() {
        let now = HostCounters::read_local().expect("/proc/stat on Linux");
        assert!(now.total > 0.0);
    }
}
