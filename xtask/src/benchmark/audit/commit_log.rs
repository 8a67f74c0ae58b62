//! Reading a validator's commit log: the CSV the node appends its commit chain to
//! (`index,leader_round,leader_author,chain`, a line every few commits and at a clean stop;
//! see `node/README.md`).

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};

/// A validator's sampled commit chain: commit index -> chain hash (hex).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CommitLog {
    pub(crate) chains: BTreeMap<u64, String>,
    /// The first index the validator logged twice with different chains (its own committed
    /// sequence changed, e.g. across a restart).
    pub(crate) self_fork: Option<u64>,
}

impl CommitLog {
    /// Parses the text of a commit log. A last line without its newline (the validator was
    /// killed while writing it) is ignored; anything else malformed is an error naming the
    /// line.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let mut log = Self::default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        let mut lines = complete.lines().enumerate();
        let Some((_, header)) = lines.next() else {
            return Ok(log);
        };
        let columns: Vec<&str> = header.split(',').collect();
        let column = |name: &str| {
            columns
                .iter()
                .position(|c| *c == name)
                .with_context(|| format!("the header {header:?} has no `{name}` column"))
        };
        let (index_at, chain_at) = (column("index")?, column("chain")?);
        for (number, line) in lines {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != columns.len() {
                bail!(
                    "line {} has {} fields, the header {}",
                    number + 1,
                    fields.len(),
                    columns.len()
                );
            }
            let index: u64 = fields[index_at]
                .parse()
                .with_context(|| format!("line {}: index {:?}", number + 1, fields[index_at]))?;
            let chain = fields[chain_at];
            if chain.len() != 64 || !chain.chars().all(|c| c.is_ascii_hexdigit()) {
                bail!("line {}: {chain:?} is not a 32-byte hex hash", number + 1);
            }
            match log.chains.get(&index) {
                Some(known) if known != chain => {
                    log.self_fork = Some(log.self_fork.map_or(index, |i| i.min(index)));
                }
                Some(_) => {}
                None => {
                    log.chains.insert(index, chain.to_string());
                }
            }
        }
        Ok(log)
    }

    /// Reads and parses the commit log at `path`.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("{} is malformed", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: char) -> String {
        byte.to_string().repeat(64)
    }

    #[test]
    fn parses_samples_and_ignores_a_torn_last_line() {
        let text = format!(
            "index,leader_round,leader_author,chain\n10,12,0,{}\n20,23,3,{}\n30,3",
            hash('a'),
            hash('b')
        );
        let log = CommitLog::parse(&text).expect("parse");
        assert_eq!(
            log.chains,
            BTreeMap::from([(10, hash('a')), (20, hash('b'))])
        );
        assert_eq!(log.self_fork, None);
        assert_eq!(CommitLog::parse("").expect("empty"), CommitLog::default());
    }

    #[test]
    fn an_index_logged_twice_with_different_chains_is_a_fork_of_that_validator() {
        let text = format!(
            "index,leader_round,leader_author,chain\n10,12,0,{a}\n20,23,3,{b}\n10,12,0,{a}\n20,23,3,{c}\n",
            a = hash('a'),
            b = hash('b'),
            c = hash('c')
        );
        let log = CommitLog::parse(&text).expect("parse");
        assert_eq!(log.self_fork, Some(20));
    }

    #[test]
    fn malformed_lines_are_named() {
        let header = "index,leader_round,leader_author,chain\n";
        for (body, expected) in [
            ("x,1,0,ab\n", "line 2: index"),
            ("10,1,0\n", "line 2 has 3 fields"),
            ("10,1,0,abc\n", "not a 32-byte hex hash"),
        ] {
            let err = CommitLog::parse(&format!("{header}{body}")).expect_err(body);
            assert!(format!("{err:#}").contains(expected), "{err:#}");
        }
        let err = CommitLog::parse("a,b\n1,2\n").expect_err("another file");
        assert!(format!("{err:#}").contains("no `index` column"), "{err:#}");
    }
}
