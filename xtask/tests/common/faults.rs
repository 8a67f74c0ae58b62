//! Seeded fault schedules for a proxy in front of an emulated cloud API: per request, which
//! fault to inject (or none), drawn from a seeded generator with fixed rates. At most
//! `max_in_a_row` faults hit the same request key (method and path) one after another, so a
//! client that retries more often than that must get through: what a run proves is that no
//! fault, alone or combined, leaks or duplicates anything.

use std::{collections::BTreeMap, collections::HashMap, time::Duration};

use rand::{rngs::StdRng, Rng, SeedableRng};

/// What to do with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Forward it untouched.
    None,
    /// Wait, then forward it.
    Delay(Duration),
    /// Answer "slow down" (HTTP 429, or the API's throttling error) without forwarding.
    Throttle,
    /// Answer this 5xx without forwarding.
    ServerError(u16),
    /// Forward it, then answer this 5xx instead of the upstream's answer: the API acted.
    ServerErrorAfter(u16),
    /// Reset the connection without forwarding.
    Reset,
    /// Forward it, then reset the connection: the API acted and the answer is lost.
    LostAnswer,
}

impl Fault {
    /// The fault's kind, for counting.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Delay(_) => "delay",
            Self::Throttle => "throttle",
            Self::ServerError(_) => "5xx",
            Self::ServerErrorAfter(_) => "5xx after acting",
            Self::Reset => "connection reset",
            Self::LostAnswer => "answer lost after acting",
        }
    }

    /// Whether the request fails (a delay is not a failure).
    pub(crate) fn fails(&self) -> bool {
        !matches!(self, Self::None | Self::Delay(_))
    }
}

/// Probability of each fault per request (the rest: none).
#[derive(Clone, Debug)]
pub(crate) struct Rates {
    pub delay: f64,
    pub throttle: f64,
    pub server_error: f64,
    pub server_error_after: f64,
    pub reset: f64,
    pub lost_answer: f64,
}

impl Rates {
    /// Every kind often enough that a short run meets each several times: 40 % of requests
    /// fail or are delayed.
    pub(crate) fn harsh() -> Self {
        Self {
            delay: 0.08,
            throttle: 0.08,
            server_error: 0.06,
            server_error_after: 0.06,
            reset: 0.06,
            lost_answer: 0.06,
        }
    }
}

/// A soak run's length and seed: `SOAK_CYCLES` (default `cycles`) and `SOAK_SEED` (default 1).
pub(crate) fn soak_parameters(cycles: u64) -> (u64, u64) {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    (env("SOAK_CYCLES", cycles), env("SOAK_SEED", 1))
}

/// The 5xx statuses drawn from.
const SERVER_ERRORS: [u16; 4] = [500, 502, 503, 504];

/// Longest injected delay.
const MAX_DELAY: Duration = Duration::from_millis(20);

/// A seeded schedule and what it injected.
#[derive(Debug)]
pub(crate) struct Schedule {
    rng: StdRng,
    rates: Rates,
    max_in_a_row: u32,
    in_a_row: HashMap<String, u32>,
    requests: u64,
    /// `(request key, fault)` of every fault injected, in order.
    events: Vec<(String, Fault)>,
}

impl Schedule {
    /// A schedule drawing from `seed`.
    pub(crate) fn new(seed: u64, rates: Rates, max_in_a_row: u32) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            rates,
            max_in_a_row,
            in_a_row: HashMap::new(),
            requests: 0,
            events: Vec::new(),
        }
    }

    /// The fault for the next request `key` (e.g. `POST /instances`).
    pub(crate) fn next(&mut self, key: &str) -> Fault {
        self.requests += 1;
        let r: f64 = self.rng.gen();
        let rates = &self.rates;
        let mut edge = 0.0;
        let mut pick = |rate: f64| {
            edge += rate;
            r < edge
        };
        let mut fault = if pick(rates.delay) {
            Fault::Delay(Duration::from_millis(
                self.rng.gen_range(1..=MAX_DELAY.as_millis() as u64),
            ))
        } else if pick(rates.throttle) {
            Fault::Throttle
        } else if pick(rates.server_error) {
            Fault::ServerError(SERVER_ERRORS[self.rng.gen_range(0..SERVER_ERRORS.len())])
        } else if pick(rates.server_error_after) {
            Fault::ServerErrorAfter(SERVER_ERRORS[self.rng.gen_range(0..SERVER_ERRORS.len())])
        } else if pick(rates.reset) {
            Fault::Reset
        } else if pick(rates.lost_answer) {
            Fault::LostAnswer
        } else {
            Fault::None
        };
        let streak = self.in_a_row.entry(key.to_string()).or_default();
        if fault.fails() && *streak >= self.max_in_a_row {
            fault = Fault::None;
        }
        *streak = if fault.fails() { *streak + 1 } else { 0 };
        if fault != Fault::None {
            self.events.push((key.to_string(), fault));
        }
        fault
    }

    /// Requests decided so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests
    }

    /// Faults injected, by kind.
    pub(crate) fn injected(&self) -> BTreeMap<&'static str, u64> {
        let mut counts = BTreeMap::new();
        for (_, fault) in &self.events {
            *counts.entry(fault.kind()).or_default() += 1;
        }
        counts
    }

    /// Panics naming each of `kinds` that was never injected: a soak must meet them all.
    pub(crate) fn assert_injected(&self, kinds: &[&str]) {
        let injected = self.injected();
        for kind in kinds {
            assert!(
                injected.get(kind).copied().unwrap_or(0) > 0,
                "no {kind} injected: {injected:?}"
            );
        }
    }

    /// Faults injected on requests whose key is `key`, by kind.
    pub(crate) fn injected_on(&self, key: &str) -> BTreeMap<&'static str, u64> {
        let mut counts = BTreeMap::new();
        for (_, fault) in self.events.iter().filter(|(k, _)| k == key) {
            *counts.entry(fault.kind()).or_default() += 1;
        }
        counts
    }
}
