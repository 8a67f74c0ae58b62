//! One machine of a testbed as every layer sees it: its address, SSH login and state. A leaf:
//! the providers (`testbed/`) make instances, `ssh/` and the benchmark use them.

use std::fmt;

use chrono::{DateTime, Utc};

/// Lifecycle state of an instance, normalised across providers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InstanceState {
    /// Being created or booting.
    Pending,
    /// Running and reachable (for Vultr: active and server status ok).
    Running,
    /// Being stopped.
    Stopping,
    /// Stopped (may still bill).
    Stopped,
    /// Being deleted or deleted.
    Terminated,
    /// A provider state with no equivalent here, as the provider names it.
    Other(String),
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pending => f.write_str("pending"),
            Self::Running => f.write_str("running"),
            Self::Stopping => f.write_str("stopping"),
            Self::Stopped => f.write_str("stopped"),
            Self::Terminated => f.write_str("terminated"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// One machine of a testbed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Provider's id (AWS instance id, Vultr instance id, `host:port` for static hosts).
    pub id: String,
    /// Region the instance lives in.
    pub region: String,
    /// Address the orchestrator connects to (SSH, metrics). `None` until assigned.
    pub public_ip: Option<String>,
    /// Address validators use to reach each other. Default: the public one.
    pub private_ip: Option<String>,
    /// Instance type or plan.
    pub specs: String,
    /// Current state.
    pub state: InstanceState,
    /// SSH port (22 on clouds).
    pub ssh_port: u16,
    /// SSH login user.
    pub ssh_user: String,
    /// When the instance's dead-man switch powers it off, as recorded with the provider
    /// (`None`: unknown, e.g. created by an older version).
    pub deadline: Option<DateTime<Utc>>,
    /// When the provider created the instance (`None`: not said), what orders a region's
    /// instances from oldest to newest.
    pub created: Option<DateTime<Utc>>,
}

impl Instance {
    /// Whether the instance can run a benchmark now.
    pub fn is_running(&self) -> bool {
        self.state == InstanceState::Running && self.public_ip.is_some()
    }

    /// The address peers use to reach this instance.
    pub fn peer_address(&self) -> Option<&str> {
        self.private_ip.as_deref().or(self.public_ip.as_deref())
    }

    /// The host as the result files name it: its public address, or its id without one.
    pub fn label(&self) -> String {
        self.public_ip.clone().unwrap_or_else(|| self.id.clone())
    }

    /// An instance for unit tests: `id` in `region`, in `state`, at `public_ip`.
    #[cfg(test)]
    pub(crate) fn for_test(
        id: &str,
        region: &str,
        public_ip: Option<&str>,
        state: InstanceState,
    ) -> Self {
        Self {
            id: id.into(),
            region: region.into(),
            public_ip: public_ip.map(str::to_string),
            private_ip: None,
            specs: "p".into(),
            state,
            ssh_port: 22,
            ssh_user: "root".into(),
            deadline: None,
            created: None,
        }
    }
}
