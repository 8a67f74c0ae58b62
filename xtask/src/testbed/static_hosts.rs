//! A static testbed: a fixed list of the user's own SSH hosts (`hosts` in the settings).

use anyhow::{bail, Result};

use super::{Instance, InstanceState, Provider};
use crate::settings::{CloudProvider, StaticTestbed};

/// The user's own machines; nothing is created, started or deleted.
pub struct StaticProvider {
    instances: Vec<Instance>,
}

impl StaticProvider {
    /// The hosts listed in the settings.
    pub fn new(settings: &StaticTestbed) -> Self {
        let default_user = &settings.ssh_user;
        let instances = settings
            .hosts
            .iter()
            .map(|host| Instance {
                id: host.instance_id(),
                region: host.region.clone(),
                public_ip: Some(host.address.clone()),
                private_ip: host.private_address.clone(),
                specs: "static".into(),
                state: InstanceState::Running,
                ssh_port: host.port,
                ssh_user: host.user.clone().unwrap_or_else(|| default_user.clone()),
                deadline: None,
                created: None,
            })
            .collect();
        Self { instances }
    }
}

impl Provider for StaticProvider {
    fn kind(&self) -> CloudProvider {
        CloudProvider::Static
    }

    fn preflight(&self, _regions: &[String]) -> Result<()> {
        Ok(())
    }

    fn price_per_hour(&self, _region: &str) -> Result<Option<f64>> {
        Ok(None)
    }

    fn list_instances(&self) -> Result<Vec<Instance>> {
        Ok(self.instances.clone())
    }

    fn create_instances(&self, _: &super::CreateRequest<'_>) -> Result<Vec<Instance>> {
        bail!("a static testbed uses the hosts listed in the settings (`hosts`): add hosts there instead of deploying")
    }

    fn start_instances(&self, _: &[Instance]) -> Result<()> {
        bail!(
            "a static testbed's hosts are managed by their owner: they cannot be started from here"
        )
    }

    fn stop_instances(&self, _: &[Instance]) -> Result<()> {
        bail!(
            "a static testbed's hosts are managed by their owner: they cannot be stopped from here"
        )
    }

    fn delete_instances(&self, _: &[Instance]) -> Result<()> {
        bail!("a static testbed's hosts are managed by their owner: they cannot be destroyed from here")
    }
}
