//! How testbed commands talk to the user: confirmation prompts and colours.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};

/// The user's terminal, as far as the commands care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Console {
    /// Standard input is a terminal: questions can be asked.
    pub interactive: bool,
    /// Output may be coloured (standard output is a terminal and `NO_COLOR` is unset).
    pub color: bool,
}

impl Console {
    /// The console of this process.
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            interactive: std::io::stdin().is_terminal(),
            color: std::io::stdout().is_terminal() && !no_color,
        }
    }

    /// A console with no terminal: no questions, no colours (scripts, tests).
    pub fn batch() -> Self {
        Self {
            interactive: false,
            color: false,
        }
    }

    /// Asks `question` (y/N) unless `assume_yes`. Refuses, with an error telling about
    /// `--yes`, when standard input is not a terminal.
    pub fn confirm(&self, question: &str, assume_yes: bool) -> Result<bool> {
        if assume_yes {
            return Ok(true);
        }
        if !self.interactive {
            bail!(
                "{question} Refusing to go on without confirmation: standard input is not a \
                 terminal. Pass --yes to confirm."
            );
        }
        print!("{question} [y/N] ");
        std::io::stdout()
            .flush()
            .context("cannot write to the terminal")?;
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .context("cannot read the answer")?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_console_refuses_without_yes_and_accepts_with_it() {
        let console = Console::batch();
        let err = console
            .confirm("Create 2 instances?", false)
            .expect_err("refused");
        let message = format!("{err:#}");
        assert!(
            message.contains("--yes") && message.contains("not a terminal"),
            "{message}"
        );
        assert!(console.confirm("Create 2 instances?", true).expect("yes"));
    }
}
