//! Result CSV files: appending rows (with a header when the file is new) and reading them back
//! with a check that the file has this version's columns.

use std::{fs::OpenOptions, path::Path};

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};

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

/// The column names of a row type, in order (its header as [`append_rows`] writes it).
pub fn columns<T: Serialize + Default>() -> Result<Vec<String>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.serialize(T::default())?;
    let bytes = writer.into_inner().context("cannot render a header")?;
    let text = String::from_utf8(bytes).context("header is not UTF-8")?;
    let header = text.lines().next().unwrap_or_default();
    Ok(header.split(',').map(str::to_string).collect())
}

/// Reads every row of the CSV file at `path`. A file without all of `T`'s columns (an older
/// schema or another tool's file) is refused with the missing columns named.
pub fn read_rows<T: Serialize + DeserializeOwned + Default>(path: &Path) -> Result<Vec<T>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    let header = reader
        .headers()
        .with_context(|| format!("{} has no header row", path.display()))?
        .clone();
    let missing: Vec<String> = columns::<T>()?
        .into_iter()
        .filter(|column| !header.iter().any(|h| h == column))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} is not a result file of this version (an older schema or another tool's file): \
             missing columns {}",
            path.display(),
            missing.join(", ")
        );
    }
    reader
        .deserialize()
        .enumerate()
        .map(|(i, row)| row.with_context(|| format!("{}: row {}", path.display(), i + 2)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Serialize, serde::Deserialize, Debug, PartialEq)]
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
        let rows: Vec<Row> = read_rows(&path).expect("read back");
        assert_eq!(
            rows,
            vec![Row { a: 1, b: Some(0.5) }, Row { a: 2, b: None }]
        );
    }

    #[test]
    fn a_file_without_the_columns_is_refused_with_them_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("other.csv");
        std::fs::write(&path, "a,c\n1,2\n").expect("write");
        let err = read_rows::<Row>(&path).expect_err("missing column b");
        let text = err.to_string();
        assert!(text.contains("missing columns b"), "{text}");
        assert!(text.contains("other.csv"), "{text}");
        assert_eq!(columns::<Row>().expect("columns"), vec!["a", "b"]);
    }
}
