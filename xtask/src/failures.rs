//! Work on independent items (hosts, instances, regions) that must all be tried before any
//! failure is reported: each failure is kept as a line naming its item, and the lines are
//! reported together under one heading.

use std::fmt::Display;

use anyhow::Result;

/// Failures of independent items, one line each (`item: error`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failures(Vec<String>);

impl Failures {
    /// Splits `(item, result)` pairs into the successful values and the failures, each named
    /// with `name(item)` unless its error already starts with that name.
    pub fn collect<I, T>(
        results: impl IntoIterator<Item = (I, Result<T>)>,
        name: impl Fn(&I) -> String,
    ) -> (Vec<T>, Self) {
        let mut values = Vec::new();
        let mut failures = Self::default();
        for (item, result) in results {
            match result {
                Ok(value) => values.push(value),
                Err(error) => failures.push(name(&item), format!("{error:#}")),
            }
        }
        (values, failures)
    }

    /// Records that `item` failed with `error`.
    pub fn push(&mut self, item: impl Display, error: impl Display) {
        let (item, error) = (item.to_string(), error.to_string());
        self.0.push(if item.is_empty() || error.starts_with(&item) {
            error
        } else {
            format!("{item}: {error}")
        });
    }

    /// The failures, one indented line each.
    pub fn lines(&self) -> String {
        self.0.join("\n  ")
    }

    /// Nothing failed, or an error: `heading(count)`, then a line per failure.
    pub fn check(&self, heading: impl FnOnce(usize) -> String) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        anyhow::bail!("{}:\n  {}", heading(self.len()), self.lines())
    }
}

impl std::ops::Deref for Failures {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_is_named_once_under_one_heading() {
        let results = vec![
            ("a", Ok(1)),
            ("b", Err(anyhow::anyhow!("refused"))),
            ("c", Err(anyhow::anyhow!("c: timed out"))),
            ("d", Ok(4)),
        ];
        let (values, failures) = Failures::collect(results, |item| item.to_string());
        assert_eq!(values, vec![1, 4]);
        let error = failures
            .check(|n| format!("{n} of 4 hosts failed"))
            .expect_err("two failed");
        assert_eq!(
            format!("{error:#}"),
            "2 of 4 hosts failed:\n  b: refused\n  c: timed out"
        );
        assert!(Failures::default().check(|_| unreachable!()).is_ok());
    }
}
