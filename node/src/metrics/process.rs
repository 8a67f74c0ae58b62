//! CPU time, resident memory and file descriptors of this process, with sub-second CPU
//! precision.
//!
//! The `prometheus` crate's process collector rounds CPU time down to whole seconds, which
//! makes per-second CPU rates meaningless; this collector reads `getrusage` (microseconds) and
//! `/proc/self/statm` instead.

use prometheus::{
    core::{Collector, Desc},
    proto::MetricFamily,
    Counter, Gauge, Opts,
};

use crate::descriptors;

/// Exports `process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_open_fds` and `process_max_fds`.
pub(super) struct ProcessMetrics {
    cpu: Counter,
    memory: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    descs: Vec<Desc>,
}

impl ProcessMetrics {
    /// Creates the collector.
    pub(super) fn new() -> prometheus::Result<Self> {
        let cpu = Counter::with_opts(Opts::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        ))?;
        let memory = Gauge::with_opts(Opts::new(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        ))?;
        let open_fds = Gauge::with_opts(Opts::new(
            "process_open_fds",
            "Number of open file descriptors.",
        ))?;
        let max_fds = Gauge::with_opts(Opts::new(
            "process_max_fds",
            "Maximum number of open file descriptors (the soft limit).",
        ))?;
        let mut descs = cpu.desc().into_iter().cloned().collect::<Vec<_>>();
        descs.extend(memory.desc().into_iter().cloned());
        descs.extend(open_fds.desc().into_iter().cloned());
        descs.extend(max_fds.desc().into_iter().cloned());
        Ok(Self {
            cpu,
            memory,
            open_fds,
            max_fds,
            descs,
        })
    }
}

/// User plus system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Resident set size in bytes (0 where `/proc` is not available).
fn resident_bytes() -> f64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0.0;
    };
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * page)
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let now = cpu_seconds();
        let past = self.cpu.get();
        if now > past {
            self.cpu.inc_by(now - past);
        }
        self.memory.set(resident_bytes());
        if let Some(open) = descriptors::open_count() {
            self.open_fds.set(open as f64);
        }
        if let Some(soft) = descriptors::limit().ok().and_then(|l| l.soft) {
            self.max_fds.set(soft as f64);
        }
        let mut families = self.cpu.collect();
        families.extend(self.memory.collect());
        families.extend(self.open_fds.collect());
        families.extend(self.max_fds.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burns a little CPU: a few milliseconds to a few tens of them.
    fn burn() {
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
    }

    fn cpu(metrics: &ProcessMetrics) -> f64 {
        metrics.collect()[0].get_metric()[0]
            .get_counter()
            .get_value()
    }

    #[test]
    fn reports_cpu_below_one_second_and_resident_memory() {
        let metrics = ProcessMetrics::new().expect("metrics");
        let before = cpu(&metrics);
        burn();
        let after = cpu(&metrics);
        // Well under a second of CPU, seen as such: CPU time rounded to whole seconds would
        // move by a whole number (0, or 1 when a second boundary passes; other tests of the
        // process add their CPU too).
        let used = after - before;
        assert!(
            used > 0.0 && used.fract() != 0.0,
            "{used} CPU seconds counted"
        );
        let families = metrics.collect();
        let memory = families[1].get_metric()[0].get_gauge().get_value();
        assert!(memory > 1024.0 * 1024.0, "memory {memory}");
    }

    #[test]
    fn reports_open_descriptors_and_their_limit() {
        let metrics = ProcessMetrics::new().expect("metrics");
        let files: Vec<_> = (0..20)
            .map(|_| tempfile::tempfile().expect("tempfile"))
            .collect();
        let families = metrics.collect();
        let gauge = |i: usize| families[i].get_metric()[0].get_gauge().get_value();
        assert_eq!(families[2].get_name(), "process_open_fds");
        assert!(gauge(2) >= 20.0, "{} open descriptors", gauge(2));
        assert_eq!(families[3].get_name(), "process_max_fds");
        let soft = descriptors::limit().expect("limit").soft;
        assert_eq!(gauge(3), soft.map_or(0.0, |s| s as f64));
        drop(files);
    }
}
