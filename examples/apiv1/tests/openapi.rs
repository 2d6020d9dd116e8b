//! The drift check: the OpenAPI document made from the code (the handlers' `#[utoipa::path]`
//! and `#[require_auth]`) equals the checked-in `tests/openapi.json`, so that a changed
//! requirement or answer shows up in review. After an intended change, rewrite it with
//! `UPDATE_SNAPSHOTS=1 cargo test -p apiv1 --test openapi` and commit the diff.

use std::path::Path;

#[test]
fn document_matches_the_snapshot() -> Result<(), Box<dyn std::error::Error>> {
    let document = apiv1::openapi::document().to_pretty_json()? + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &document)?;
        return Ok(());
    }
    let snapshot = std::fs::read_to_string(&path).unwrap_or_default();
    if snapshot != document {
        let first = snapshot
            .lines()
            .zip(document.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| snapshot.lines().count().min(document.lines().count()));
        let around = |text: &str| {
            text.lines()
                .skip(first.saturating_sub(3))
                .take(8)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "the OpenAPI document differs from tests/openapi.json from line {}:\n\
             --- snapshot\n{}\n+++ now\n{}\n\
             If the change is intended: UPDATE_SNAPSHOTS=1 cargo test -p apiv1 --test openapi",
            first + 1,
            around(&snapshot),
            around(&document),
        );
    }
    Ok(())
}
