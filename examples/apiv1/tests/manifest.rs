//! Every route of the app is guarded or public on purpose: the route manifest
//! (`authz_axum::manifest`) is kept as a snapshot (`tests/manifest.txt`), so a changed
//! requirement, a new route or a forgotten attribute shows up in review.
//!
//! After an intended change: `UPDATE_SNAPSHOTS=1 cargo test -p apiv1 --test manifest`.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::time::Duration;

use apiv1::config::{Config, Keys};
use authz_axum::{Algorithm, SigningKey};

#[tokio::test]
async fn every_route_is_guarded_or_public_as_the_snapshot_says() {
    let config = Config {
        addr: "127.0.0.1:0".into(),
        keys: Keys::Secret {
            key: SigningKey::from_secret(Algorithm::HS256, b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)")
                .unwrap(),
            generated: false,
        },
        issuer: None,
        audience: None,
        leeway: Duration::from_secs(30),
    };
    let manifest = apiv1::routes(&config).unwrap().manifest().await;
    manifest.check().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/manifest.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, manifest.to_string()).unwrap();
    }
    let snapshot = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        manifest.to_string(),
        snapshot,
        "the routes changed; if on purpose: UPDATE_SNAPSHOTS=1 cargo test -p apiv1 --test manifest"
    );
}
