//! The fake's resources and routes.
//!
//! Unpleasant parts modelled, from the sources cited where they are:
//! - a new instance stays `pending` with `server_status` none -> locked -> installingbooting ->
//!   ok; while none or locked (`lock_duration` after its creation) DELETE and start/halt answer
//!   `500 "Unable to destroy server: Unable to remove VM: Server is currently locked"`
//!   (vultr/ansible-collection-vultr issues #89 and #113, see shared cloud-apis.md notes);
//! - firewall rule port ranges are listed back as `"26000 - 26999"` whatever was sent (as
//!   observed against the real API), and a group holds at most `max_rules` rules (50: the cap
//!   quoted in malc0mn/vultr-api-client pull request #7; groups show it as `max_rule_count`,
//!   docs.vultr.com/reference/terraform/resources/firewall_group).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Recorded;

/// An instance of the fake.
#[derive(Clone, Debug)]
pub(crate) struct FakeInstance {
    pub id: String,
    pub region: String,
    pub plan: String,
    pub label: String,
    pub tags: Vec<String>,
    pub os_id: u64,
    pub main_ip: String,
    pub status: String,
    pub power_status: String,
    pub server_status: String,
    pub user_data: String,
    pub firewall_group_id: String,
    pub sshkey_id: Vec<String>,
    /// Times a GET has shown it while pending.
    pub polls: u32,
    /// When it was created (its lock counts from then).
    pub created: Instant,
    /// The same, as Vultr lists it (`date_created`, to the second: "2020-10-10T01:56:20+00:00"
    /// in the API reference of `GET /instances`).
    pub date_created: String,
    /// Actions refused because it was locked.
    pub refusals: u32,
}

impl FakeInstance {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "region": self.region, "plan": self.plan, "label": self.label,
            "tags": self.tags, "os_id": self.os_id, "os": "Ubuntu 24.04 LTS x64",
            "main_ip": self.main_ip, "internal_ip": "", "v6_main_ip": "",
            "status": self.status, "power_status": self.power_status,
            "server_status": self.server_status, "firewall_group_id": self.firewall_group_id,
            "vcpu_count": 1, "ram": 1024, "disk": 25, "date_created": self.date_created,
        })
    }
}

/// An injected error answer: the next `remaining` requests matching `method` and `path`
/// answer `status`, before doing anything, or after doing what was asked when `applied`
/// (a gateway error after Vultr acted); or, with `stall`, do what was asked and answer only
/// after that pause (longer than the client waits).
#[derive(Clone, Debug)]
pub(crate) struct Fault {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub remaining: u32,
    pub applied: bool,
    pub stall: Option<Duration>,
}

/// Everything the fake knows.
#[derive(Debug)]
pub(crate) struct State {
    pub token: String,
    /// Largest page served, whatever `per_page` asks.
    pub page_size: usize,
    /// GETs showing a pending instance before it becomes active and ok (once its lock ended).
    pub polls_until_active: u32,
    /// How long a new instance stays locked (refusing DELETE, halt and start).
    pub lock_duration: Duration,
    /// Rules a firewall group holds at most.
    pub max_rules: usize,
    /// `(region, label)` of every instance created through the API, in order (duplicates
    /// would show a create sent twice).
    pub creates: Vec<(String, String)>,
    /// DELETE, halt or start answers refused because the instance was locked.
    pub locked_refusals: u32,
    /// Pending instances also stay locked until every pending instance was refused once: a
    /// client acting on them one after another never gets past the first, one acting on all
    /// at once does (what tells the two apart without timing).
    pub lock_until_all_refused: bool,
    /// How long the request being answered holds its answer back (taken by the server).
    pub stall: Option<Duration>,
    /// `(id, city, country)`.
    pub regions: Vec<(String, String, String)>,
    /// `(id, monthly_cost, locations)`.
    pub plans: Vec<(String, f64, Vec<String>)>,
    /// Plans sold in a region but out of capacity there: `(region, plan)`.
    pub sold_out: Vec<(String, String)>,
    pub instances: Vec<FakeInstance>,
    /// `(id, name, ssh_key)`.
    pub ssh_keys: Vec<(String, String, String)>,
    /// `(id, description, rules)`.
    pub firewalls: Vec<(String, String, Vec<Value>)>,
    pub faults: Vec<Fault>,
    pub log: Vec<Recorded>,
    next_id: u64,
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl State {
    /// A fake account with five regions and a few plans.
    pub(crate) fn new(token: &str) -> Self {
        let everywhere = ["ewr", "ams", "fra", "nrt", "sgp"];
        Self {
            token: token.to_string(),
            page_size: 2,
            polls_until_active: 2,
            lock_duration: Duration::from_millis(250),
            max_rules: 50,
            creates: Vec::new(),
            locked_refusals: 0,
            lock_until_all_refused: false,
            stall: None,
            regions: vec![
                ("ewr".into(), "New Jersey".into(), "US".into()),
                ("ams".into(), "Amsterdam".into(), "NL".into()),
                ("fra".into(), "Frankfurt".into(), "DE".into()),
                ("nrt".into(), "Tokyo".into(), "JP".into()),
                ("sgp".into(), "Singapore".into(), "SG".into()),
            ],
            plans: vec![
                ("vc2-1c-1gb".into(), 5.0, owned(&everywhere)),
                ("vc2-2c-4gb".into(), 20.0, owned(&everywhere)),
                ("vc2-4c-8gb".into(), 40.0, owned(&everywhere)),
                ("vhf-8c-32gb".into(), 192.0, owned(&["ewr", "fra"])),
            ],
            sold_out: vec![("nrt".into(), "vc2-4c-8gb".into())],
            instances: Vec::new(),
            ssh_keys: Vec::new(),
            firewalls: Vec::new(),
            faults: Vec::new(),
            log: Vec::new(),
            next_id: 1,
        }
    }

    /// Makes the next `count` requests `method path` answer `status`.
    pub(crate) fn inject(&mut self, method: &str, path: &str, status: u16, count: u32) {
        self.faults.push(Fault {
            method: method.into(),
            path: path.into(),
            status,
            remaining: count,
            applied: false,
            stall: None,
        });
    }

    /// Makes the next `count` requests `method path` do what they ask, then answer `status`.
    pub(crate) fn inject_after_applying(
        &mut self,
        method: &str,
        path: &str,
        status: u16,
        count: u32,
    ) {
        self.faults.push(Fault {
            method: method.into(),
            path: path.into(),
            status,
            remaining: count,
            applied: true,
            stall: None,
        });
    }

    /// Makes the next `count` requests `method path` do what they ask and answer only after
    /// `pause`.
    pub(crate) fn inject_stall(&mut self, method: &str, path: &str, pause: Duration, count: u32) {
        self.faults.push(Fault {
            method: method.into(),
            path: path.into(),
            status: 0,
            remaining: count,
            applied: true,
            stall: Some(pause),
        });
    }

    /// Adds an instance as if created earlier (active and ok when `active`).
    pub(crate) fn seed_instance(
        &mut self,
        region: &str,
        label: &str,
        tags: &[&str],
        active: bool,
    ) -> String {
        let id = self.new_id();
        let n = self.instances.len() + 1;
        self.instances.push(FakeInstance {
            id: id.clone(),
            region: region.into(),
            plan: "vc2-1c-1gb".into(),
            label: label.into(),
            tags: owned(tags),
            os_id: 2284,
            main_ip: if active {
                format!("192.0.2.{n}")
            } else {
                "0.0.0.0".into()
            },
            status: if active { "active" } else { "pending" }.into(),
            power_status: "running".into(),
            server_status: if active { "ok" } else { "none" }.into(),
            user_data: String::new(),
            firewall_group_id: String::new(),
            sshkey_id: Vec::new(),
            polls: 0,
            created: Instant::now(),
            date_created: now_as_vultr_writes_it(),
            refusals: 0,
        });
        id
    }

    /// Whether Vultr still refuses to delete or power the instance (`server_status` none or
    /// locked).
    fn locked(&self, instance: &FakeInstance) -> bool {
        instance.status == "pending"
            && (instance.created.elapsed() < self.lock_duration
                || (self.lock_until_all_refused
                    && self
                        .instances
                        .iter()
                        .any(|i| i.status == "pending" && i.refusals == 0)))
    }

    /// The testbed's firewall groups (by description) and SSH keys (by name prefix) left.
    pub(crate) fn network_left(&self, description: &str, key_prefix: &str) -> (usize, usize) {
        (
            self.firewalls.iter().filter(|f| f.1 == description).count(),
            self.ssh_keys
                .iter()
                .filter(|k| k.1.starts_with(key_prefix))
                .count(),
        )
    }

    /// Instances carrying `tag`.
    /// The ids of every instance of the account, in creation order.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.instances.iter().map(|i| i.id.clone()).collect()
    }

    /// The ids of the instances tagged `tag`, sorted.
    pub(crate) fn tagged_ids(&self, tag: &str) -> Vec<String> {
        let mut ids: Vec<String> = self.tagged(tag).into_iter().map(|i| i.id).collect();
        ids.sort_unstable();
        ids
    }

    pub(crate) fn tagged(&self, tag: &str) -> Vec<FakeInstance> {
        self.instances
            .iter()
            .filter(|i| i.tags.iter().any(|t| t == tag))
            .cloned()
            .collect()
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!(
            "{:08x}-7a1e-4b5c-9d3e-{:012x}",
            rand::random::<u32>(),
            self.next_id
        )
    }

    /// Answers one request: status and JSON body (`None`: empty body).
    pub(crate) fn handle(&mut self, request: Recorded) -> (u16, Option<Value>) {
        self.log.push(request.clone());
        if request.authorization.as_deref() != Some(&format!("Bearer {}", self.token)) {
            return error(401, "Unauthorized IP address: 203.0.113.9");
        }
        if let Some(fault) = self
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && f.method == request.method && f.path == request.path)
        {
            fault.remaining -= 1;
            let (status, applied) = (fault.status, fault.applied);
            if let Some(pause) = fault.stall {
                self.stall = Some(pause);
                return self.route(&request);
            }
            let message = match status {
                429 => "rate limit exceeded",
                _ => "internal error",
            };
            if applied {
                self.route(&request);
            }
            return error(status, message);
        }
        self.route(&request)
    }

    /// Does what `request` asks; its answer.
    fn route(&mut self, request: &Recorded) -> (u16, Option<Value>) {
        let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
        let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
        let query = |name: &str| {
            request
                .query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["regions"]) => {
                let items: Vec<Value> = self
                    .regions
                    .iter()
                    .map(|(id, city, country)| {
                        json!({"id": id, "city": city, "country": country, "continent": "", "options": []})
                    })
                    .collect();
                self.page("regions", items, request)
            }
            ("GET", ["regions", region, "availability"]) => {
                if !self.regions.iter().any(|r| r.0 == *region) {
                    return error(404, "Invalid region");
                }
                let plans: Vec<&str> = self
                    .plans
                    .iter()
                    .filter(|p| p.2.iter().any(|l| l == region))
                    .filter(|p| !self.sold_out.contains(&(region.to_string(), p.0.clone())))
                    .map(|p| p.0.as_str())
                    .collect();
                (200, Some(json!({ "available_plans": plans })))
            }
            ("GET", ["plans"]) => {
                let items: Vec<Value> = self
                    .plans
                    .iter()
                    .map(|(id, cost, locations)| {
                        json!({"id": id, "vcpu_count": 1, "ram": 1024, "disk": 25, "bandwidth": 1024,
                               "monthly_cost": cost, "type": "vc2", "locations": locations})
                    })
                    .collect();
                self.page("plans", items, request)
            }
            ("GET", ["ssh-keys"]) => {
                let items = self
                    .ssh_keys
                    .iter()
                    .map(|(id, name, key)| json!({"id": id, "name": name, "ssh_key": key, "date_created": ""}))
                    .collect();
                self.page("ssh_keys", items, request)
            }
            ("POST", ["ssh-keys"]) => {
                let (Some(name), Some(key)) = (body["name"].as_str(), body["ssh_key"].as_str())
                else {
                    return error(400, "name and ssh_key are required");
                };
                let id = self.new_id();
                self.ssh_keys.push((id.clone(), name.into(), key.into()));
                (
                    201,
                    Some(
                        json!({"ssh_key": {"id": id, "name": name, "ssh_key": key, "date_created": ""}}),
                    ),
                )
            }
            ("GET", ["firewalls"]) => {
                let items = self
                    .firewalls
                    .iter()
                    .map(|(id, description, rules)| {
                        json!({"id": id, "description": description, "rule_count": rules.len(),
                               "max_rule_count": self.max_rules, "instance_count": 0})
                    })
                    .collect();
                self.page("firewall_groups", items, request)
            }
            ("POST", ["firewalls"]) => {
                let id = self.new_id();
                let description = body["description"].as_str().unwrap_or_default().to_string();
                self.firewalls
                    .push((id.clone(), description.clone(), Vec::new()));
                (
                    201,
                    Some(json!({"firewall_group": {"id": id, "description": description}})),
                )
            }
            ("DELETE", ["firewalls", id]) => {
                let before = self.firewalls.len();
                self.firewalls.retain(|f| f.0 != *id);
                if self.firewalls.len() == before {
                    error(404, "firewall group not found")
                } else {
                    (204, None)
                }
            }
            ("DELETE", ["ssh-keys", id]) => {
                let before = self.ssh_keys.len();
                self.ssh_keys.retain(|k| k.0 != *id);
                if self.ssh_keys.len() == before {
                    error(404, "ssh key not found")
                } else {
                    (204, None)
                }
            }
            ("GET", ["firewalls", id, "rules"]) => {
                let Some(group) = self.firewalls.iter().find(|f| f.0 == *id) else {
                    return error(404, "firewall group not found");
                };
                let items = group.2.clone();
                self.page("firewall_rules", items, request)
            }
            ("POST", ["firewalls", id, "rules"]) => {
                let Some(group) = self.firewalls.iter_mut().find(|f| f.0 == *id) else {
                    return error(404, "firewall group not found");
                };
                for field in ["ip_type", "protocol", "subnet", "subnet_size"] {
                    if body.get(field).is_none() {
                        return error(400, &format!("{field} is required"));
                    }
                }
                if group.2.len() >= self.max_rules {
                    return error(
                        400,
                        "Unable to add rule: this firewall group has reached its maximum number of rules",
                    );
                }
                let mut rule = body.clone();
                // Ranges come back spaced, as the real API lists them.
                if let Some((first, last)) = rule["port"].as_str().and_then(|p| p.split_once(':')) {
                    rule["port"] = json!(format!("{} - {}", first.trim(), last.trim()));
                }
                rule["id"] = json!(group.2.len() + 1);
                rule["type"] = rule["ip_type"].clone();
                rule["action"] = json!("accept");
                group.2.push(rule.clone());
                (201, Some(json!({ "firewall_rule": rule })))
            }
            ("GET", ["instances"]) => {
                let tag = query("tag");
                let region = query("region");
                let label = query("label");
                let (polls_until_active, lock) = (self.polls_until_active, self.lock_duration);
                let mut items = Vec::new();
                for instance in self.instances.iter_mut() {
                    let keep = tag.as_ref().is_none_or(|t| instance.tags.contains(t))
                        && region.as_ref().is_none_or(|r| &instance.region == r)
                        && label.as_ref().is_none_or(|l| &instance.label == l);
                    if keep {
                        items.push(instance.clone());
                    }
                }
                // Only the instances shown on this page count as polled.
                let (page, next) = self.page_bounds(items.len(), request);
                let mut shown = Vec::new();
                for item in &items[page] {
                    let instance = self
                        .instances
                        .iter_mut()
                        .find(|i| i.id == item.id)
                        .expect("listed instance");
                    poll(instance, polls_until_active, lock);
                    shown.push(instance.json());
                }
                (
                    200,
                    Some(page_answer("instances", shown, next, items.len())),
                )
            }
            ("POST", ["instances"]) => self.create_instance(&body),
            ("GET", ["instances", id]) => {
                let (polls_until_active, lock) = (self.polls_until_active, self.lock_duration);
                match self.instances.iter_mut().find(|i| i.id == *id) {
                    Some(instance) => {
                        poll(instance, polls_until_active, lock);
                        (200, Some(json!({ "instance": instance.json() })))
                    }
                    None => error(404, "instance not found"),
                }
            }
            ("DELETE", ["instances", id]) | ("POST", ["instances", id, "start" | "halt"])
                if self.instances.iter().any(|i| i.id == *id && self.locked(i)) =>
            {
                self.locked_refusals += 1;
                if let Some(instance) = self.instances.iter_mut().find(|i| i.id == *id) {
                    instance.refusals += 1;
                }
                error(
                    500,
                    "Unable to destroy server: Unable to remove VM: Server is currently locked",
                )
            }
            ("PATCH", ["instances", id]) => {
                match self.instances.iter_mut().find(|i| i.id == *id) {
                    Some(instance) => {
                        if let Some(tags) = body["tags"].as_array() {
                            // The tags given replace the instance's tags.
                            instance.tags = tags
                                .iter()
                                .filter_map(|t| t.as_str().map(str::to_string))
                                .collect();
                        }
                        (202, Some(json!({ "instance": instance.json() })))
                    }
                    None => error(404, "instance not found"),
                }
            }
            ("DELETE", ["instances", id]) => {
                let before = self.instances.len();
                self.instances.retain(|i| i.id != *id);
                if self.instances.len() == before {
                    error(404, "instance not found")
                } else {
                    (204, None)
                }
            }
            ("POST", ["instances", id, action @ ("start" | "halt")]) => {
                match self.instances.iter_mut().find(|i| i.id == *id) {
                    Some(instance) => {
                        instance.power_status = if *action == "start" {
                            "running"
                        } else {
                            "stopped"
                        }
                        .into();
                        (204, None)
                    }
                    None => error(404, "instance not found"),
                }
            }
            _ => error(404, "no such route in the fake Vultr API"),
        }
    }

    fn create_instance(&mut self, body: &Value) -> (u16, Option<Value>) {
        let (Some(region), Some(plan)) = (body["region"].as_str(), body["plan"].as_str()) else {
            return error(400, "region and plan are required");
        };
        let Some(os_id) = body["os_id"].as_u64() else {
            return error(
                400,
                "one of os_id, iso_id, snapshot_id, app_id or image_id is required",
            );
        };
        if !self.regions.iter().any(|r| r.0 == region) {
            return error(400, "Invalid region");
        }
        let sold = self
            .plans
            .iter()
            .any(|p| p.0 == plan && p.2.iter().any(|l| l == region));
        if !sold
            || self
                .sold_out
                .contains(&(region.to_string(), plan.to_string()))
        {
            return error(400, "Plan is not available in the selected region");
        }
        let strings = |field: &str| -> Vec<String> {
            body[field]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let id = self.new_id();
        let instance = FakeInstance {
            id,
            region: region.into(),
            plan: plan.into(),
            label: body["label"].as_str().unwrap_or_default().into(),
            tags: strings("tags"),
            os_id,
            main_ip: "0.0.0.0".into(),
            status: "pending".into(),
            power_status: "running".into(),
            server_status: "none".into(),
            user_data: body["user_data"].as_str().unwrap_or_default().into(),
            firewall_group_id: body["firewall_group_id"]
                .as_str()
                .unwrap_or_default()
                .into(),
            sshkey_id: strings("sshkey_id"),
            polls: 0,
            created: Instant::now(),
            date_created: now_as_vultr_writes_it(),
            refusals: 0,
        };
        let answer = json!({ "instance": instance.json() });
        self.creates
            .push((instance.region.clone(), instance.label.clone()));
        self.instances.push(instance);
        (202, Some(answer))
    }

    /// The slice of a listing this request asks for, and the next cursor ("" at the end).
    fn page_bounds(&self, len: usize, request: &Recorded) -> (std::ops::Range<usize>, String) {
        let per_page = request
            .query
            .iter()
            .find(|(k, _)| k == "per_page")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(100)
            .clamp(1, self.page_size);
        let start = request
            .query
            .iter()
            .find(|(k, _)| k == "cursor")
            .and_then(|(_, v)| {
                v.strip_prefix("bmV4dF9f")
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .unwrap_or(0)
            .min(len);
        let end = (start + per_page).min(len);
        let next = if end < len {
            format!("bmV4dF9f{end}")
        } else {
            String::new()
        };
        (start..end, next)
    }

    fn page(&self, key: &str, items: Vec<Value>, request: &Recorded) -> (u16, Option<Value>) {
        let (range, next) = self.page_bounds(items.len(), request);
        let total = items.len();
        let page = items[range].to_vec();
        (200, Some(page_answer(key, page, next, total)))
    }
}

fn page_answer(key: &str, items: Vec<Value>, next: String, total: usize) -> Value {
    let mut answer = json!({ "meta": { "total": total, "links": { "next": next, "prev": "" } } });
    answer[key] = Value::Array(items);
    answer
}

/// A pending instance is locked for `lock` after its creation (`server_status` none, then
/// locked), then installs, and becomes active, ok and addressed after `until` polls.
fn poll(instance: &mut FakeInstance, until: u32, lock: Duration) {
    if instance.status != "pending" {
        return;
    }
    instance.polls += 1;
    let age = instance.created.elapsed();
    instance.server_status = if age < lock / 2 {
        "none"
    } else if age < lock {
        "locked"
    } else {
        "installingbooting"
    }
    .into();
    if age >= lock && instance.polls >= until {
        let n =
            u32::from_str_radix(&instance.id[instance.id.len() - 4..], 16).unwrap_or(1) % 250 + 1;
        instance.status = "active".into();
        instance.server_status = "ok".into();
        instance.main_ip = format!("192.0.2.{n}");
    }
}

/// The current time to the second, as Vultr writes `date_created`.
fn now_as_vultr_writes_it() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

fn error(status: u16, message: &str) -> (u16, Option<Value>) {
    (status, Some(json!({ "error": message, "status": status })))
}
