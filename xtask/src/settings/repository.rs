//! The code to benchmark (`repository` in the settings), shown with any credentials masked.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The code to benchmark: a git repository and a commit (or branch) of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Clone URL. An access token inside it (`https://TOKEN@host/...`) is masked when shown.
    pub url: String,
    /// Commit hash, tag or branch to build. Default: `HEAD` of this workspace.
    #[serde(default = "default_commit")]
    pub commit: String,
}

fn default_commit() -> String {
    "HEAD".into()
}

impl Repository {
    /// The URL with any credentials replaced by `***`.
    pub fn masked_url(&self) -> String {
        mask_url_credentials(&self.url)
    }
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repository")
            .field("url", &self.masked_url())
            .field("commit", &self.commit)
            .finish()
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.masked_url(), self.commit)
    }
}

/// Replaces the user-info part of a URL (`user:password@` or `token@`) by `***@`.
pub fn mask_url_credentials(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end + 3], &rest[at..]),
        None => url.to_string(),
    }
}
