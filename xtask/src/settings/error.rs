//! Everything that can be wrong with a settings file, in words naming the field at fault.

use std::path::PathBuf;

use thiserror::Error;

use super::CloudProvider;

/// Everything that can be wrong with a settings file.
#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("cannot read settings file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("settings file {path} is malformed at line {line}, column {column}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("settings: `{field}` is required for cloud_provider \"{provider}\"")]
    Missing {
        field: &'static str,
        provider: CloudProvider,
    },
    #[error("settings: `{field}` = {path}: {reason}")]
    BadFile {
        field: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("settings: `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
}
