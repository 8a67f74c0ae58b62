//! The local testbed: this machine is the only host; validators run as processes on loopback.

use anyhow::{bail, Result};

use super::{Instance, InstanceState, Provider};
use crate::settings::CloudProvider;

/// The embedded default testbed.
pub struct LocalProvider;

impl LocalProvider {
    /// The one instance of the local testbed.
    pub fn instance() -> Instance {
        Instance {
            id: "localhost".into(),
            region: "local".into(),
            public_ip: Some("127.0.0.1".into()),
            private_ip: Some("127.0.0.1".into()),
            specs: "local".into(),
            state: InstanceState::Running,
            ssh_port: 0,
            ssh_user: String::new(),
            deadline: None,
            created: None,
        }
    }
}

impl Provider for LocalProvider {
    fn kind(&self) -> CloudProvider {
        CloudProvider::Local
    }

    fn preflight(&self, _regions: &[String]) -> Result<()> {
        Ok(())
    }

    fn price_per_hour(&self, _region: &str) -> Result<Option<f64>> {
        Ok(Some(0.0))
    }

    fn list_instances(&self) -> Result<Vec<Instance>> {
        Ok(vec![Self::instance()])
    }

    fn create_instances(&self, _: &super::CreateRequest<'_>) -> Result<Vec<Instance>> {
        bail!("the local testbed is this machine: there are no instances to deploy (set cloud_provider to \"aws\" or \"vultr\" in the settings)")
    }

    fn start_instances(&self, _: &[Instance]) -> Result<()> {
        Ok(())
    }

    fn stop_instances(&self, _: &[Instance]) -> Result<()> {
        bail!("the local testbed is this machine: it cannot be stopped")
    }

    fn delete_instances(&self, _: &[Instance]) -> Result<()> {
        bail!("the local testbed is this machine: it cannot be destroyed")
    }
}
