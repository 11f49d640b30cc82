//! Shared helpers for the fixture-based tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ooni_observations::{Observed, OutcomeStage, StageOutcome};

/// The real-measurement corpus at the workspace root.
pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/ooni-real"
);

/// The tests `observe` produces observations for.
pub const IN_SCOPE: &[&str] = &[
    "web_connectivity",
    "whatsapp",
    "telegram",
    "signal",
    "facebook_messenger",
    "urlgetter",
    "tor",
    "vanilla_tor",
];

/// Every `*.json` measurement of the corpus (not `files/`), sorted by name.
pub fn fixture_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

/// The file name without `.json`.
pub fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The text of a fixture, by file name.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
}

/// `observe` on a fixture, by file name.
pub fn observe_fixture(name: &str) -> Observed {
    ooni_observations::observe(&fixture(name)).unwrap()
}

/// The outcome of `stage` for `domain`, if any.
pub fn outcome<'o>(o: &'o Observed, domain: &str, stage: OutcomeStage) -> Option<&'o StageOutcome> {
    o.outcomes
        .iter()
        .find(|x| x.domain == domain && x.stage == stage)
}

/// A compact `stage:failure|ok` summary of a domain's outcomes, for failure messages.
pub fn summary(o: &Observed, domain: &str) -> String {
    o.outcomes
        .iter()
        .filter(|x| x.domain == domain)
        .map(|x| {
            format!(
                "{}:{}",
                x.stage.as_str(),
                x.failure.as_deref().unwrap_or("ok")
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}
