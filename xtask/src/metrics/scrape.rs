//! Fetches a validator's `/metrics` over HTTP.

use std::time::Duration;

use anyhow::{Context, Result};

use super::Snapshot;

/// An HTTP client for scraping, with short timeouts so a dead validator cannot stall a run.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(1))
        .timeout(Duration::from_secs(3))
        .build()
}

/// Fetches the raw text of a metrics endpoint.
pub fn fetch(agent: &ureq::Agent, url: &str) -> Result<String> {
    agent
        .get(url)
        .call()
        .with_context(|| format!("cannot scrape {url}"))?
        .into_string()
        .with_context(|| format!("cannot read the answer of {url}"))
}

/// Fetches and parses a metrics endpoint.
pub fn scrape(agent: &ureq::Agent, url: &str) -> Result<Snapshot> {
    let text = fetch(agent, url)?;
    Snapshot::parse(&text).with_context(|| format!("bad metrics from {url}"))
}
