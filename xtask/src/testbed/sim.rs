//! The simulated testbed: `node sim` on this machine runs the whole committee under virtual
//! time. It has one pseudo-instance (what the results name as host and instance type) and
//! nothing to deploy, stop or destroy.

use anyhow::{bail, Result};

use super::{Instance, InstanceState, Provider};
use crate::settings::CloudProvider;

/// The `sim` testbed.
pub struct SimProvider;

/// The instance id, region and instance type the results record for simulated validators.
pub const SIM_HOST: &str = "sim";

impl SimProvider {
    /// The one pseudo-instance of the simulated testbed.
    pub fn instance() -> Instance {
        Instance {
            id: SIM_HOST.into(),
            region: SIM_HOST.into(),
            public_ip: Some("127.0.0.1".into()),
            private_ip: Some("127.0.0.1".into()),
            specs: SIM_HOST.into(),
            state: InstanceState::Running,
            ssh_port: 0,
            ssh_user: String::new(),
            deadline: None,
            created: None,
        }
    }
}

const NOTHING: &str = "the sim testbed is a simulation on this machine: there are no \
    instances (set cloud_provider to \"aws\" or \"vultr\" in the settings to use a cloud)";

impl Provider for SimProvider {
    fn kind(&self) -> CloudProvider {
        CloudProvider::Sim
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
        bail!("{NOTHING}")
    }

    fn start_instances(&self, _: &[Instance]) -> Result<()> {
        Ok(())
    }

    fn stop_instances(&self, _: &[Instance]) -> Result<()> {
        bail!("{NOTHING}")
    }

    fn delete_instances(&self, _: &[Instance]) -> Result<()> {
        bail!("{NOTHING}")
    }
}
