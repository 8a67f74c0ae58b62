//! The safety audit of a point: every honest validator's committed sequence must be a prefix
//! of the others'. Each validator logs a running hash over its committed sequence (the commit
//! chain) at sampled commit indices; two validators that hold the same chain at an index
//! committed the same leaders with the same sub-DAGs up to there. The audit compares them at
//! every index they have in common and reports the first one where they differ.

pub(crate) mod commit_log;
pub(crate) mod liveness;
pub(crate) mod rejoin;

use std::{collections::BTreeMap, path::Path};

pub(crate) use commit_log::CommitLog;

use crate::{protocol::files::commit_log_file, results::Safety};

/// Compares the commit logs of `logs` (validator -> log).
pub(crate) fn compare(logs: &BTreeMap<usize, CommitLog>) -> Safety {
    let mut forks: Vec<Safety> = logs
        .iter()
        .filter_map(|(&v, log)| {
            log.self_fork.map(|index| Safety::Fork {
                index,
                a: v,
                b: v,
                agreed: None,
            })
        })
        .collect();
    // Every index any validator logged, with the validators that logged it, by chain.
    let mut by_index: BTreeMap<u64, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    for (&v, log) in logs {
        for (&index, chain) in &log.chains {
            by_index
                .entry(index)
                .or_default()
                .entry(chain.as_str())
                .or_default()
                .push(v);
        }
    }
    let mut checked = None;
    for (&index, groups) in &by_index {
        if groups.len() > 1 {
            // Name a validator of the largest group and the first one outside it.
            let (_, majority) = groups
                .iter()
                .max_by(|x, y| x.1.len().cmp(&y.1.len()).then(y.1[0].cmp(&x.1[0])))
                .expect("two groups");
            let a = majority[0];
            let b = groups
                .values()
                .flatten()
                .filter(|v| !majority.contains(v))
                .min()
                .copied()
                .expect("a validator outside the largest group");
            let agreed = logs[&a]
                .chains
                .range(..index)
                .rev()
                .map(|(i, _)| *i)
                .find(|i| logs[&b].chains.contains_key(i));
            forks.push(Safety::Fork {
                index,
                a: a.min(b),
                b: a.max(b),
                agreed,
            });
            break;
        }
        if groups.values().map(Vec::len).sum::<usize>() > 1 {
            checked = Some(index);
        }
    }
    if let Some(first) = forks.into_iter().min_by_key(|f| match f {
        Safety::Fork { index, .. } => *index,
        _ => u64::MAX,
    }) {
        return first;
    }
    match checked {
        Some(checked) => Safety::Ok { checked },
        None => Safety::Unchecked(format!(
            "no commit index logged by two of validators {}",
            list(logs.keys())
        )),
    }
}

fn list<'a>(validators: impl Iterator<Item = &'a usize>) -> String {
    validators
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Audits the point whose logs are in `logs_dir`: the commit logs of `validators` (the
/// honest validators that were started). A log that is missing or unreadable makes the
/// verdict `unchecked` (naming it) unless the others already show a fork.
pub(crate) fn audit(logs_dir: &Path, validators: &[usize]) -> Safety {
    let mut logs = BTreeMap::new();
    let mut problems = Vec::new();
    for &v in validators {
        let path = logs_dir.join(commit_log_file(v));
        if !path.exists() {
            problems.push(format!(
                "no commit log from validator {v} ({})",
                commit_log_file(v)
            ));
            continue;
        }
        match CommitLog::read(&path) {
            Ok(log) => {
                logs.insert(v, log);
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    let verdict = compare(&logs);
    if problems.is_empty() || matches!(verdict, Safety::Fork { .. }) {
        return verdict;
    }
    Safety::Unchecked(problems.join("; "))
}

#[cfg(test)]
mod tests;
