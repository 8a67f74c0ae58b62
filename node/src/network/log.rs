//! Warnings about what peers send: bounded in length and rate, since peers choose how many
//! of them we write.

use std::{borrow::Cow, sync::Mutex, time::Duration};

use crate::ratelimit::RateLimit;

/// Longest warning message, in bytes.
pub(super) const MAX_LOG_MESSAGE: usize = 256;

/// Shortest interval between two warnings (10 per second); the rest are counted and
/// reported with the next one.
const INTERVAL: Duration = Duration::from_millis(100);

/// `text` cut to at most `max` bytes (at a character boundary), marked when cut.
pub(super) fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}... ({} bytes)", &text[..end], text.len()))
}

/// A rate limit shared by every connection of a listener.
pub(super) struct PeerLog {
    limit: Mutex<RateLimit>,
}

impl Default for PeerLog {
    fn default() -> Self {
        Self {
            limit: Mutex::new(RateLimit::new(INTERVAL)),
        }
    }
}

impl PeerLog {
    /// Logs `message` (truncated) at warning level unless the rate limit is reached.
    pub(super) fn warn(&self, peer: &dyn std::fmt::Display, message: &str) {
        let allowed = self.limit.lock().unwrap_or_else(|p| p.into_inner()).check();
        if let Some(suppressed) = allowed {
            let message = truncate(message, MAX_LOG_MESSAGE);
            tracing::warn!(%peer, suppressed, "{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate("ééééé", 3);
        assert_eq!(cut, "é... (10 bytes)");
    }
}
