//! The testbeds on this machine: the local one (validators as processes on loopback) and the
//! simulated one (`node sim` runs the whole committee under virtual time). Each has one
//! pseudo-instance, what the results name as host, region and instance type, and nothing to
//! deploy, stop or destroy.

use anyhow::{bail, Result};

use super::{Instance, InstanceState, Provider};
use crate::settings::CloudProvider;

/// The local or the simulated testbed (`kind`).
pub struct ThisMachine {
    pub kind: CloudProvider,
}

impl ThisMachine {
    /// The one pseudo-instance: `localhost` in region `local`, or `sim` for the simulator.
    pub fn instance(&self) -> Instance {
        let (id, region) = match self.kind {
            CloudProvider::Sim => ("sim", "sim"),
            _ => ("localhost", "local"),
        };
        Instance {
            id: id.into(),
            region: region.into(),
            public_ip: Some("127.0.0.1".into()),
            private_ip: Some("127.0.0.1".into()),
            specs: region.into(),
            state: InstanceState::Running,
            ssh_port: 0,
            ssh_user: String::new(),
            deadline: None,
            created: None,
        }
    }

    /// Why there is nothing to create, stop or destroy.
    fn nothing_to(&self, what: &str) -> anyhow::Error {
        let testbed = match self.kind {
            CloudProvider::Sim => "the sim testbed is a simulation on this machine",
            _ => "the local testbed is this machine",
        };
        anyhow::anyhow!(
            "{testbed}: there are no instances to {what} (set cloud_provider to \"aws\" or \
             \"vultr\" in the settings to use a cloud)"
        )
    }
}

impl Provider for ThisMachine {
    fn kind(&self) -> CloudProvider {
        self.kind
    }

    fn preflight(&self, _regions: &[String]) -> Result<()> {
        Ok(())
    }

    fn price_per_hour(&self, _region: &str) -> Result<Option<f64>> {
        Ok(Some(0.0))
    }

    fn list_instances(&self) -> Result<Vec<Instance>> {
        Ok(vec![self.instance()])
    }

    fn create_instances(&self, _: &super::CreateRequest<'_>) -> Result<Vec<Instance>> {
        bail!(self.nothing_to("deploy"))
    }

    fn start_instances(&self, _: &[Instance]) -> Result<()> {
        Ok(())
    }

    fn stop_instances(&self, _: &[Instance]) -> Result<()> {
        bail!(self.nothing_to("stop"))
    }

    fn delete_instances(&self, _: &[Instance]) -> Result<()> {
        bail!(self.nothing_to("destroy"))
    }
}
