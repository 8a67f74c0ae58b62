//! The boot script every cloud instance of a testbed runs (user data): the dead-man switch and
//! the firewall openings the benchmark needs. Shared by the AWS and Vultr providers.

use crate::settings::Settings;

/// How many ports above `base_port` and `metrics_base_port` a testbed opens: enough for the
/// largest committee one host can run (settings keep the two ranges this far apart).
pub const PORT_RANGE_LEN: u16 = 1000;

/// The TCP port ranges (inclusive) the benchmark uses on every host: validator-to-validator
/// traffic and the metrics endpoints. SSH (22) comes on top.
pub fn benchmark_port_ranges(settings: &Settings) -> Vec<(u16, u16)> {
    [settings.base_port, settings.metrics_base_port]
        .into_iter()
        .map(|base| (base, base.saturating_add(PORT_RANGE_LEN - 1)))
        .collect()
}

/// The user-data shell script: schedules a shutdown after `ttl_hours` (with
/// terminate-on-shutdown on AWS this ends the instance; Vultr instances halt and are found by
/// `testbed destroy`), and opens SSH and `port_ranges` in ufw where it is enabled (Vultr's
/// Ubuntu images ship with it on).
pub fn script(testbed_id: &str, ttl_hours: u32, port_ranges: &[(u16, u16)]) -> String {
    let minutes = u64::from(ttl_hours.max(1)) * 60;
    let mut script = format!(
        "#!/bin/bash\n\
         # consensus-bench testbed {testbed_id}: dead-man switch, the instance stops after {ttl_hours} h.\n\
         shutdown -h +{minutes} 'consensus-bench: testbed time to live reached'\n\
         if command -v ufw >/dev/null 2>&1 && ufw status | grep -q 'Status: active'; then\n\
         \x20 ufw allow 22/tcp\n"
    );
    for (first, last) in port_ranges {
        script.push_str(&format!("  ufw allow {first}:{last}/tcp\n"));
    }
    script.push_str("fi\n");
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_schedules_the_shutdown_and_opens_the_ports() {
        let settings = Settings::local_default();
        let ranges = benchmark_port_ranges(&settings);
        assert_eq!(ranges, vec![(26000, 26999), (27000, 27999)]);
        let text = script("bench-1", 6, &ranges);
        assert!(text.starts_with("#!/bin/bash\n"), "{text}");
        assert!(text.contains("shutdown -h +360 "), "{text}");
        assert!(text.contains("ufw allow 22/tcp"), "{text}");
        assert!(text.contains("ufw allow 26000:26999/tcp"), "{text}");
        assert!(text.contains("ufw allow 27000:27999/tcp"), "{text}");
        // The script is valid shell.
        let status = std::process::Command::new("bash")
            .args(["-n", "-c", &text])
            .status()
            .expect("bash");
        assert!(status.success());
    }
}
