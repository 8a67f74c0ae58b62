//! `testbed status`: the testbed's instances, one table per region.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use owo_colors::OwoColorize;

use crate::testbed::{Instance, InstanceState};

/// The status text: per region a line of counts (running in green, stopped in red when
/// `color`) and a table of instance id, IP and state. Regions of the settings come first, in
/// their order, then any other region an instance is in.
pub fn render(instances: &[Instance], regions: &[String], color: bool) -> String {
    let mut order: Vec<&str> = regions.iter().map(String::as_str).collect();
    for instance in instances {
        if !order.contains(&instance.region.as_str()) {
            order.push(&instance.region);
        }
    }
    if order.is_empty() {
        return "the testbed has no instances\n".into();
    }
    let mut out = String::new();
    for region in order {
        let mut here: Vec<&Instance> = instances.iter().filter(|i| i.region == region).collect();
        here.sort_by(|a, b| a.id.cmp(&b.id));
        out.push_str(&format!("{region}: {}\n", counts(&here, color)));
        if here.is_empty() {
            continue;
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(["instance", "IP", "state"]);
        for instance in here {
            table.add_row([
                instance.id.clone(),
                instance.public_ip.clone().unwrap_or_else(|| "-".into()),
                instance.state.to_string(),
            ]);
        }
        out.push_str(&table.to_string());
        out.push('\n');
    }
    out
}

/// `2 running, 1 stopped, 1 pending` (states with no instance left out), or `no instances`.
fn counts(instances: &[&Instance], color: bool) -> String {
    if instances.is_empty() {
        return "no instances".into();
    }
    let mut states: Vec<(String, usize)> = Vec::new();
    for instance in instances {
        let name = instance.state.to_string();
        match states.iter_mut().find(|(s, _)| *s == name) {
            Some((_, n)) => *n += 1,
            None => states.push((name, 1)),
        }
    }
    let rank = |name: &str| match name {
        "running" => 0,
        "stopped" => 1,
        _ => 2,
    };
    states.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.0.cmp(&b.0)));
    states
        .into_iter()
        .map(|(state, n)| {
            let text = format!("{n} {state}");
            match (color, state.as_str()) {
                (true, s) if s == InstanceState::Running.to_string() => text.green().to_string(),
                (true, s) if s == InstanceState::Stopped.to_string() => text.red().to_string(),
                _ => text,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, region: &str, ip: Option<&str>, state: InstanceState) -> Instance {
        Instance {
            id: id.into(),
            region: region.into(),
            public_ip: ip.map(str::to_string),
            private_ip: None,
            specs: "p".into(),
            state,
            ssh_port: 22,
            ssh_user: "root".into(),
        }
    }

    #[test]
    fn colours_running_green_and_stopped_red_only_when_asked() {
        let instances = [
            instance("a", "ewr", Some("192.0.2.1"), InstanceState::Running),
            instance("b", "ewr", None, InstanceState::Stopped),
        ];
        let regions = ["ewr".to_string(), "ams".to_string()];
        let plain = render(&instances, &regions, false);
        assert!(!plain.contains('\u{1b}'), "{plain}");
        assert!(plain.contains("ewr: 1 running, 1 stopped"), "{plain}");
        assert!(plain.contains("ams: no instances"), "{plain}");
        let coloured = render(&instances, &regions, true);
        assert!(
            coloured.contains(&"1 running".green().to_string()),
            "{coloured}"
        );
        assert!(
            coloured.contains(&"1 stopped".red().to_string()),
            "{coloured}"
        );
    }
}
