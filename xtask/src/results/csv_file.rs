//! Appending serialisable rows to CSV files, with a header when the file is new.

use std::{fs::OpenOptions, path::Path};

use anyhow::{Context, Result};
use serde::Serialize;

/// Appends `rows` to the CSV file at `path`, writing the header first if the file is new or
/// empty.
pub fn append_rows<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let is_new = std::fs::metadata(path)
        .map(|m| m.len() == 0)
        .unwrap_or(true);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut writer = csv::WriterBuilder::new()
        .has_headers(is_new)
        .from_writer(file);
    for row in rows {
        writer
            .serialize(row)
            .with_context(|| format!("cannot write to {}", path.display()))?;
    }
    writer
        .flush()
        .with_context(|| format!("cannot write to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        a: u32,
        b: Option<f64>,
    }

    #[test]
    fn header_is_written_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("x/rows.csv");
        append_rows(&path, &[Row { a: 1, b: Some(0.5) }]).expect("first");
        append_rows(&path, &[Row { a: 2, b: None }]).expect("second");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "a,b\n1,0.5\n2,\n");
    }
}
