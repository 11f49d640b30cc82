//! What the documents say is what the repository and a run hold:
//!
//! * every repository path in backticks (`crates/…`, `tests/…`, `docs/…`, …) in the README,
//!   ARCHITECTURE.md, docs/, benches/ and examples/ READMEs resolves in a fresh clone, unless
//!   it lies in a directory the repository's `.gitignore` names (generated: `benches/data/`);
//! * `docs/tables.md` lists exactly the columns, with their types, of the six tables a run
//!   over the embedded sample writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::datatypes::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::support::*;

/// The clone's top-level directories a document may point into.
const ROOTS: &[&str] = &[
    "crates/",
    "tests/",
    "benches/",
    "pipelines/",
    "notebooks/",
    "docs/",
    "examples/",
    "fuzz/",
    ".ci/",
];

/// Backticked spans that look like repository paths, with their line numbers. Globs,
/// placeholders (`<run>`) and `path:line` suffixes are left out or trimmed.
fn repo_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 0 || !ROOTS.iter().any(|r| span.starts_with(r)) {
                continue;
            }
            if span.contains(['*', '<', '{', ' ', '$']) {
                continue;
            }
            let path = span.split(':').next().unwrap_or(span);
            out.push((n + 1, path.trim_end_matches('.').to_owned()));
        }
    }
    out
}

#[test]
fn documents_name_only_files_that_exist() {
    let root = repo();
    let mut docs = vec![
        root.join("README.md"),
        root.join("ARCHITECTURE.md"),
        root.join("benches/README.md"),
        root.join("examples/README.md"),
    ];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    // Anchored directories of .gitignore (`/benches/data/`): made by a command, not cloned.
    let generated: Vec<String> = std::fs::read_to_string(root.join(".gitignore"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix('/'))
        .map(|l| l.trim_end_matches('/').to_owned() + "/")
        .collect();
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for (line, path) in repo_paths(&text) {
            checked += 1;
            if generated
                .iter()
                .any(|g| format!("{path}/").starts_with(g.as_str()))
            {
                continue;
            }
            if !Path::new(&root).join(&path).exists() {
                let doc = doc.strip_prefix(&root).unwrap_or(doc).display();
                missing.push(format!("{doc}:{line}: `{path}`"));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} paths found: is the parser broken?"
    );
    assert!(missing.is_empty(), "missing files:\n{}", missing.join("\n"));
}

/// A type as `docs/tables.md` writes it.
fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".to_owned(),
        DataType::Boolean => "bool".to_owned(),
        DataType::UInt16 => "uint16".to_owned(),
        DataType::UInt32 => "uint32".to_owned(),
        DataType::UInt64 => "uint64".to_owned(),
        DataType::Int64 => "int64".to_owned(),
        DataType::Float64 => "float64".to_owned(),
        DataType::Date32 => "date".to_owned(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) => format!("timestamp[us, {tz}]"),
        DataType::List(item) | DataType::LargeList(item) => {
            format!("list<{}>", type_name(item.data_type()))
        }
        other => format!("{other:?}"),
    }
}

/// `## <table>` sections of docs/tables.md → column → type.
fn documented_columns(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("## ") {
            current = Some(name.trim().to_owned());
            continue;
        }
        let (Some(table), Some(row)) = (&current, line.strip_prefix("| `")) else {
            continue;
        };
        let cells: Vec<&str> = row.split(" | ").collect();
        let column = cells[0].trim_end_matches('`').to_owned();
        let type_ = cells[1].replace("&lt;", "<").replace("&gt;", ">");
        let previous = tables
            .entry(table.clone())
            .or_default()
            .insert(column.clone(), type_);
        assert!(previous.is_none(), "{table}.{column} is listed twice");
    }
    tables
}

/// The columns, with their types, of every file of a table; the hive partition columns as
/// `string (directory)` and `date (directory)`.
fn written_columns(dir: &Path) -> BTreeMap<String, String> {
    let files = parquet_files(dir);
    assert!(!files.is_empty(), "{}: no files", dir.display());
    let mut columns: BTreeMap<String, String> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(dir).unwrap();
        for part in rel.iter().filter_map(|p| p.to_str()) {
            if let Some((key, _)) = part.split_once('=') {
                let type_ = if key == "measurement_day" {
                    "date (directory)"
                } else {
                    "string (directory)"
                };
                columns.insert(key.to_owned(), type_.to_owned());
            }
        }
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap()).unwrap();
        for field in builder.schema().fields() {
            let type_ = type_name(field.data_type());
            if let Some(other) = columns.insert(field.name().clone(), type_.clone()) {
                assert_eq!(
                    other,
                    type_,
                    "{}: {} changes type",
                    file.display(),
                    field.name()
                );
            }
        }
    }
    columns
}

#[test]
fn the_tables_page_lists_every_column_a_run_writes_with_its_type() {
    let documented =
        documented_columns(&std::fs::read_to_string(repo().join("docs/tables.md")).unwrap());
    assert_eq!(
        documented
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(TABLES),
        "docs/tables.md has one section per table"
    );
    let run = run_sample(&sample_bucket(), &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    for table in TABLES {
        let written = written_columns(&run.out.join(table));
        let listed = &documented[table];
        let missing: Vec<_> = written
            .iter()
            .filter(|(c, t)| listed.get(*c) != Some(*t))
            .map(|(c, t)| format!("{c}: {t} (listed: {:?})", listed.get(c)))
            .collect();
        let extra: Vec<_> = listed
            .keys()
            .filter(|c| !written.contains_key(*c))
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "docs/tables.md, {table}: written but not listed as written: {missing:?}; \
             listed but not written: {extra:?}"
        );
    }
}
