//! The documents a new user reads name only files that exist: every repository path in
//! backticks (`crates/…`, `tests/…`, `docs/…`, …) in the README, ARCHITECTURE.md,
//! docs/, benches/ and examples/ READMEs resolves in a fresh clone, unless it lies in a
//! directory the repository's `.gitignore` names (generated: `benches/data/`, `out/`).

use std::path::Path;

use crate::support::repo;

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
