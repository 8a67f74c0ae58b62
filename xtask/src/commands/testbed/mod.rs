//! `cargo xtask testbed deploy|status|setup|start|stop|destroy`, for every provider through
//! [`crate::testbed::provider`].

pub mod attempt;
pub mod console;
pub mod deploy;
pub mod lifecycle;
pub mod setup;
pub mod status;
pub mod wait;

use std::time::Duration;

use anyhow::Result;

use crate::{cli::TestbedCommand, settings::LoadedSettings, testbed};
pub use console::Console;
pub use wait::WaitOptions;

/// Runs one `testbed` subcommand.
pub fn run(settings: &LoadedSettings, command: TestbedCommand) -> Result<()> {
    let provider = testbed::provider(settings)?;
    let console = Console::detect();
    match command {
        TestbedCommand::Deploy {
            instances,
            region,
            ttl,
            yes,
            skip_setup,
            wait_timeout,
        } => {
            let options = deploy::DeployOptions {
                instances,
                region,
                ttl_hours: ttl,
                yes,
                skip_setup,
                wait: WaitOptions {
                    timeout: Duration::from_secs(wait_timeout.saturating_mul(60)),
                    ..WaitOptions::default()
                },
            };
            deploy::deploy(provider.as_ref(), settings, &options, console).map(drop)
        }
        TestbedCommand::Status => status::show(provider.as_ref(), settings, console),
        TestbedCommand::Setup => setup::run(provider.as_ref(), settings).map(drop),
        TestbedCommand::Start { instances, ttl } => {
            let deadline = lifecycle::deadline_after(ttl.unwrap_or(settings.ttl_hours()))?;
            lifecycle::start(
                provider.as_ref(),
                settings,
                instances,
                deadline,
                &WaitOptions::default(),
            )
            .map(drop)
        }
        TestbedCommand::Stop => lifecycle::stop(provider.as_ref()).map(drop),
        TestbedCommand::Destroy { yes, keep_network } => lifecycle::destroy(
            provider.as_ref(),
            lifecycle::DestroyOptions { yes, keep_network },
            console,
        )
        .map(drop),
    }
}
