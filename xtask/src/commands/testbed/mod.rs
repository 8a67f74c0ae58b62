//! `cargo xtask testbed deploy|status|setup|start|stop|destroy`, for every provider through
//! [`crate::testbed::provider`].

pub mod attempt;
pub mod billing;
pub mod console;
pub mod deploy;
pub mod expiry;
pub mod lifecycle;
pub mod setup;
pub mod status;
pub mod wait;

use std::time::Duration;

use anyhow::Result;

use crate::{
    cli::TestbedCommand,
    settings::LoadedSettings,
    state_lock::{TestbedLock, Waiting},
    testbed,
};
pub use console::Console;
pub use wait::WaitOptions;

/// Runs one `testbed` subcommand: on the testbed `--testbed-id` names, if given; commands that
/// change the testbed hold its lock ([`TestbedLock`]) while they run.
pub fn run(settings: &LoadedSettings, command: TestbedCommand) -> Result<()> {
    let (testbed_id, no_wait, name) = match &command {
        TestbedCommand::Deploy { no_wait, .. } => (None, Some(*no_wait), "testbed deploy"),
        TestbedCommand::Status { testbed_id } => (testbed_id.clone(), None, "testbed status"),
        TestbedCommand::Setup { no_wait } => (None, Some(*no_wait), "testbed setup"),
        TestbedCommand::Start {
            testbed_id,
            no_wait,
            ..
        } => (testbed_id.clone(), Some(*no_wait), "testbed start"),
        TestbedCommand::Stop {
            testbed_id,
            no_wait,
            ..
        } => (testbed_id.clone(), Some(*no_wait), "testbed stop"),
        TestbedCommand::Destroy {
            testbed_id,
            no_wait,
            ..
        } => (testbed_id.clone(), Some(*no_wait), "testbed destroy"),
    };
    let settings = &match testbed_id {
        Some(id) => settings.for_testbed(&id)?,
        None => settings.clone(),
    };
    let id = &settings.common.testbed_id;
    let _lock = match no_wait {
        Some(no_wait) => Some(TestbedLock::acquire(
            id,
            name,
            Waiting::from_no_wait(no_wait),
        )?),
        None => None,
    };
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
            ..
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
        TestbedCommand::Status { .. } => status::show(provider.as_ref(), settings, console),
        TestbedCommand::Setup { .. } => setup::run(provider.as_ref(), settings).map(drop),
        TestbedCommand::Start { instances, ttl, .. } => {
            let deadline = lifecycle::deadline_after(ttl.unwrap_or(settings.ttl_hours()))?;
            let started = lifecycle::start(
                provider.as_ref(),
                settings,
                instances,
                deadline,
                &WaitOptions::default(),
            )?;
            if !started.is_empty() {
                deploy::schedule_destroy(provider.as_ref(), settings, deadline);
            }
            Ok(())
        }
        TestbedCommand::Stop { yes, .. } => {
            lifecycle::confirm_stop(provider.as_ref(), id, yes, console)?;
            lifecycle::stop(provider.as_ref()).map(drop)
        }
        TestbedCommand::Destroy {
            yes,
            keep_network,
            expired,
            ..
        } => {
            let options = lifecycle::DestroyOptions {
                yes,
                keep_network,
                expired_only: expired,
            };
            lifecycle::destroy(provider.as_ref(), options, console)?;
            after_destroy(provider.as_ref(), settings)
        }
    }
}

/// Once a destroy left nothing of the testbed, forgets its deploy attempt and cancels its
/// scheduled destroy (nothing is left to resume or end); when instances with a later deadline
/// are left (`--expired`), the scheduled destroy moves to the earliest of those deadlines.
fn after_destroy(provider: &dyn testbed::Provider, settings: &LoadedSettings) -> Result<()> {
    let id = &settings.common.testbed_id;
    let left = provider.list_instances()?;
    if left.is_empty() {
        attempt::Attempt::forget(id)?;
        return expiry::cancel(id);
    }
    if !provider.deadline_ends_billing() {
        match left.iter().filter_map(|i| i.deadline).min() {
            Some(next) => {
                // Replaces this process's own record: schedule at the next deadline.
                expiry::cancel(id)?;
                deploy::schedule_destroy(provider, settings, next);
            }
            None => eprintln!(
                "warning: {} instance(s) of testbed {id} have no recorded deadline: nothing \
                 deletes them but `cargo xtask testbed destroy --testbed-id {id}`",
                left.len()
            ),
        }
    }
    Ok(())
}
