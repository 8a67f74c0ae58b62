//! Owns how progress shows on the terminal: one look for every bar of counted work (the caller
//! says what its line reads) and a spinner for work of unknown length.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps whose line is `template` (indicatif's syntax, e.g.
/// `"drawing [{bar:30}] {pos}/{len} figures: {msg}"`).
pub(crate) fn bar(len: u64, template: &str) -> ProgressBar {
    ProgressBar::new(len).with_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    )
}

/// A spinner that says `message` and the time elapsed, ticking on its own.
pub(crate) fn spinner(message: &str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner.set_message(message.to_string());
    spinner
}
