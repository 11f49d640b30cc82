//! Every fixture of the real-measurement corpus goes through `observe`; the observations
//! and outcomes of every in-scope measurement with `test_keys` are snapshotted (one
//! snapshot per fixture, named after the file).
#![allow(clippy::unwrap_used)]

mod common;

use common::{IN_SCOPE, fixture_paths, stem};

#[test]
fn every_fixture_observes_and_in_scope_ones_match_their_snapshot() {
    let paths = fixture_paths();
    assert!(paths.len() >= 206, "the corpus has 206 measurements");
    let mut snapshotted = 0;
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let observed =
            ooni_observations::observe(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let test_name = value["test_name"].as_str().unwrap_or("");
        let in_scope = IN_SCOPE.contains(&test_name) && value["test_keys"].is_object();
        if !in_scope {
            assert_eq!(observed, Default::default(), "{}", path.display());
            continue;
        }
        snapshotted += 1;
        insta::with_settings!({
            snapshot_path => "snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => stem(path),
        }, {
            insta::assert_yaml_snapshot!(stem(path), observed);
        });
    }
    assert!(snapshotted > 100, "only {snapshotted} snapshots");
}
