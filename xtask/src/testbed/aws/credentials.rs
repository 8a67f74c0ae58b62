//! AWS credentials from the settings' `token_file`, in the AWS credentials file format:
//!
//! ```ini
//! [default]
//! aws_access_key_id = AKIA...
//! aws_secret_access_key = ...
//! aws_session_token = ...   # optional
//! ```
//!
//! Regions come from the settings only: a `region` in the file is refused (with its line), so
//! that no second source of truth decides where instances are created. The file is parsed here
//! rather than by a generic INI reader to point at the line at fault; no error ever quotes a
//! line's contents, which may hold a secret.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use aws_sdk_ec2::config::Credentials;
use thiserror::Error;

use crate::settings::Secret;

/// Static AWS credentials. `Debug` shows only the last characters of the access key id.
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Option<Secret>,
}

/// What can be wrong with an AWS credentials file.
#[derive(Debug, Error)]
pub enum CredentialsError {
    #[error("cannot read the AWS credentials file {path} (settings `token_file`): {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "AWS credentials file {path}, line {line}: `{key}` is not accepted here: regions come from \
         the settings' `regions`; remove this line"
    )]
    Region {
        path: PathBuf,
        line: usize,
        key: String,
    },
    #[error(
        "AWS credentials file {path}, line {line}: expected `[section]` or `key = value` \
         (AWS credentials file format)"
    )]
    Malformed { path: PathBuf, line: usize },
    #[error(
        "AWS credentials file {path} has no `[default]` section (expected `[default]` with \
         aws_access_key_id and aws_secret_access_key)"
    )]
    NoDefaultSection { path: PathBuf },
    #[error("AWS credentials file {path}: the `[default]` section lacks `{key}`")]
    MissingKey { path: PathBuf, key: &'static str },
}

const ACCESS_KEY_ID: &str = "aws_access_key_id";
const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
const SESSION_TOKEN: &str = "aws_session_token";

impl AwsCredentials {
    /// Reads and checks the credentials file at `path`.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CredentialsError::Unreadable {
                path: path.to_path_buf(),
                source,
            })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a credentials file; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, CredentialsError> {
        let mut section: Option<String> = None;
        let mut seen_default = false;
        let (mut id, mut secret, mut token) = (None, None, None);
        for (index, raw) in text.lines().enumerate() {
            let line_number = index + 1;
            // An indented line continues the previous value (nested settings): never a key.
            if raw.starts_with([' ', '\t']) && section.is_some() && !raw.trim().is_empty() {
                continue;
            }
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                let name = name
                    .split_once(']')
                    .map(|(name, _)| name.trim())
                    .ok_or_else(|| CredentialsError::Malformed {
                        path: path.to_path_buf(),
                        line: line_number,
                    })?;
                seen_default |= name == "default";
                section = Some(name.to_string());
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(CredentialsError::Malformed {
                    path: path.to_path_buf(),
                    line: line_number,
                });
            };
            let key = key.trim().to_ascii_lowercase();
            if key == "region" {
                return Err(CredentialsError::Region {
                    path: path.to_path_buf(),
                    line: line_number,
                    key,
                });
            }
            if section.as_deref() != Some("default") {
                continue;
            }
            let value = value.trim();
            let value = (!value.is_empty()).then(|| value.to_string());
            match key.as_str() {
                ACCESS_KEY_ID => id = value,
                SECRET_ACCESS_KEY => secret = value.map(Secret::new),
                SESSION_TOKEN => token = value.map(Secret::new),
                _ => {}
            }
        }
        if !seen_default {
            return Err(CredentialsError::NoDefaultSection {
                path: path.to_path_buf(),
            });
        }
        let missing = |key| CredentialsError::MissingKey {
            path: path.to_path_buf(),
            key,
        };
        Ok(Self {
            access_key_id: id.ok_or_else(|| missing(ACCESS_KEY_ID))?,
            secret_access_key: secret.ok_or_else(|| missing(SECRET_ACCESS_KEY))?,
            session_token: token,
        })
    }

    /// The credentials in the SDK's form (whose `Debug` redacts the secrets too).
    pub fn to_sdk(&self) -> Credentials {
        Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.expose().to_string(),
            self.session_token.as_ref().map(|t| t.expose().to_string()),
            None,
            "settings token_file",
        )
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let visible = self.access_key_id.len().saturating_sub(4);
        let tail = self.access_key_id.get(visible..).unwrap_or_default();
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &format_args!("***{tail}"))
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn parse(text: &str) -> Result<AwsCredentials, CredentialsError> {
        AwsCredentials::parse(text, Path::new("/creds"))
    }

    #[test]
    fn reads_the_default_profile() {
        let creds = parse(&format!(
            "# mine\n[other]\naws_access_key_id = NOPE\n\n[default]\n\
             aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key={SECRET}\n\
             aws_session_token = tok3n\n"
        ))
        .expect("valid");
        assert_eq!(creds.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(creds.secret_access_key.expose(), SECRET);
        assert_eq!(
            creds.session_token.as_ref().map(Secret::expose),
            Some("tok3n")
        );
        let sdk = creds.to_sdk();
        assert_eq!(sdk.access_key_id(), "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(sdk.secret_access_key(), SECRET);
        assert_eq!(sdk.session_token(), Some("tok3n"));
    }

    #[test]
    fn debug_never_shows_the_secrets() {
        let creds = parse(&format!(
            "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {SECRET}\n\
             aws_session_token = sessiontokenvalue\n"
        ))
        .expect("valid");
        let shown = format!("{creds:?}");
        assert!(!shown.contains("AKIAIOSFODNN7EXAMPLE"), "{shown}");
        assert!(shown.contains("***MPLE"), "{shown}");
        // The SDK's form shows the access key id (not a secret), never the secret parts.
        let shown = format!("{shown} {:?}", creds.to_sdk());
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("sessiontokenvalue"), "{shown}");
    }

    #[test]
    fn a_region_is_refused_with_its_line() {
        let err = parse(&format!(
            "[default]\naws_access_key_id = A\naws_secret_access_key = {SECRET}\nregion = eu-west-1\n"
        ))
        .map(|_| ())
        .expect_err("region refused");
        let text = err.to_string();
        assert!(
            matches!(err, CredentialsError::Region { line: 4, .. }),
            "{text}"
        );
        assert!(text.contains("/creds, line 4"), "{text}");
        assert!(!text.contains(SECRET), "{text}");
        // In any section.
        let err = parse("[default]\naws_access_key_id=A\naws_secret_access_key=B\n[p]\nRegion=x\n")
            .map(|_| ())
            .expect_err("region refused");
        assert!(
            matches!(err, CredentialsError::Region { line: 5, .. }),
            "{err}"
        );
    }

    #[test]
    fn missing_keys_and_sections_are_named() {
        let err = parse("[default]\naws_access_key_id = A\n")
            .map(|_| ())
            .expect_err("missing secret");
        assert!(
            err.to_string().contains("lacks `aws_secret_access_key`"),
            "{err}"
        );
        let err = parse(&format!("[default]\naws_secret_access_key = {SECRET}\n"))
            .map(|_| ())
            .expect_err("missing id");
        assert!(
            err.to_string().contains("lacks `aws_access_key_id`"),
            "{err}"
        );
        let err = parse("[work]\naws_access_key_id = A\naws_secret_access_key = B\n")
            .map(|_| ())
            .expect_err("no default");
        assert!(
            matches!(err, CredentialsError::NoDefaultSection { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_bare_key_is_malformed_without_echoing_it() {
        let err = parse(SECRET).map(|_| ()).expect_err("not INI");
        let text = err.to_string();
        assert!(
            matches!(err, CredentialsError::Malformed { line: 1, .. }),
            "{text}"
        );
        assert!(!text.contains(SECRET), "{text}");
    }
}
