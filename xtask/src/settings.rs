//! The orchestrator's settings: the file the user writes (`settings.json`, one flat JSON
//! object, [`SettingsFile`]) and what validating it makes, [`LoadedSettings`]: the [`Common`]
//! block and the [`Testbed`] typed per `cloud_provider`, so each kind's required fields are
//! there by type. It owns the file's format, its checks and their messages (the field at
//! fault, the path that could not be read, the line and column of a syntax error, the value
//! expected), and what the settings hand the lower floors (SSH options, ports, paths).
//!
//! Loading checks what the command needs ([`Location`]): commands that only read results take
//! the common block; the others the whole testbed. The provider's API token is read from
//! `token_file` into a [`Secret`] that never prints.

mod error;
mod file;
mod loaded;
mod repository;
mod secret;
mod validate;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use error::SettingsError;
pub use file::{expand_tilde, CloudProvider, SettingsFile, StaticHost};
pub use loaded::{Cloud, Common, LoadedSettings, SimTestbed, StaticTestbed, Testbed};
pub use repository::{mask_url_credentials, Repository};
pub use secret::Secret;

use crate::workspace;

/// Where the command line says the settings are: `--settings FILE`, else `settings.json` in
/// the workspace root if present, else none (the embedded local testbed).
#[derive(Clone, Debug)]
pub struct Location(Option<PathBuf>);

impl Location {
    /// The settings file of a command line given `--settings` (or not).
    pub fn from_command_line(explicit: Option<&Path>) -> Result<Self> {
        if let Some(path) = explicit {
            return Ok(Self(Some(path.to_path_buf())));
        }
        let default = workspace::root()?.join("settings.json");
        Ok(Self(default.is_file().then_some(default)))
    }

    /// Everything, typed per testbed: what commands that use the testbed need.
    pub fn load(&self) -> Result<LoadedSettings> {
        match &self.0 {
            Some(path) => SettingsFile::load(path).context("invalid settings"),
            None => Ok(SettingsFile::local_default().validate()?),
        }
    }

    /// The common block only (results and logs directories, repository, ports): what commands
    /// that only read results need; the testbed's token, key and hosts are not looked at.
    pub fn common(&self) -> Result<Common> {
        let file = match &self.0 {
            Some(path) => SettingsFile::read(path).context("invalid settings")?,
            None => SettingsFile::local_default(),
        };
        file.common().context("invalid settings")
    }
}

#[cfg(test)]
mod tests;
