//! The READMEs cannot drift from the code: the response table of `authz-axum/README.md` is
//! replayed against a real `AuthLayer` (status, challenge, body), and every `{"detail", "code"}`
//! body shown in any README of the repository keeps the field order the server writes.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::path::{Path, PathBuf};

use authz_axum::{
    Algorithm, AuthLayer, Issuer, KeySet, RevocationStatus, SigningKey, Verifier, require_auth,
};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";

fn key() -> SigningKey {
    SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap()
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

#[require_auth(role = "admin")]
async fn admin() -> &'static str {
    "admin area"
}

/// One row of the README's table: situation, status, challenge, body.
fn table() -> Vec<[String; 4]> {
    let readme = std::fs::read_to_string(repository().join("authz-axum/README.md")).unwrap();
    let start = readme
        .find("| situation | status | `WWW-Authenticate` | body |")
        .expect("the response table is gone from authz-axum/README.md");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_owned())
                .collect();
            assert_eq!(cells.len(), 4, "{line}");
            [
                cells[0].clone(),
                cells[1].clone(),
                cells[2].clone(),
                cells[3].clone(),
            ]
        })
        .collect()
}

/// `…` in the README stands for any text.
fn matches_shown(shown: &str, actual: &str) -> bool {
    let mut rest = actual;
    for (i, part) in shown.split('…').enumerate() {
        match rest.find(part) {
            Some(at) if i > 0 || at == 0 => rest = &rest[at + part.len()..],
            _ => return false,
        }
    }
    shown.ends_with('…') || rest.is_empty()
}

#[tokio::test]
async fn the_response_table_is_what_the_layer_answers() {
    let verifier = Verifier::builder(KeySet::single(key().verifying_key()))
        .build()
        .unwrap();
    let app =
        Router::new()
            .route("/admin", get(admin))
            .layer(AuthLayer::new(verifier).with_revocation(
                |principal: authz_axum::Principal| async move {
                    if principal.subject() == "revoked" {
                        RevocationStatus::Revoked
                    } else {
                        RevocationStatus::Active
                    }
                },
            ));
    let issue = |claims: Value| Issuer::new(key()).issue(&claims).unwrap();
    let user = issue(json!({"sub": "bob", "roles": ["user"]}));
    let mut checked = 0;
    for [situation, status, challenge, body] in table() {
        let request = Request::get("/admin");
        let request = match situation.as_str() {
            "no token, or another scheme" => request,
            "token refused" => request.header(
                "authorization",
                format!(
                    "Bearer {}",
                    issue(json!({"sub": "bob", "exp": 1_000_000_000}))
                ),
            ),
            "malformed request" => request.header("authorization", "Bearer a b"),
            "requirement not met" => request.header("authorization", format!("Bearer {user}")),
            "revoked" => request.header(
                "authorization",
                format!("Bearer {}", issue(json!({"sub": "revoked"}))),
            ),
            // Shown without a full body: covered by their own tests (remote keys, guard).
            "keys not loaded yet" | "guard without the layer" => continue,
            other => panic!("a new row in the README's response table: {other:?}"),
        };
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status().as_str(), status, "{situation}");
        let header = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        // The first code span of the cell (the rest is prose).
        let shown = challenge.split('`').nth(1).unwrap_or("");
        let shown = shown.strip_prefix("…, ").unwrap_or(shown);
        if !shown.contains('=') {
            // A bare error name (`invalid_token`).
            assert!(
                header.contains(&format!("error=\"{shown}\"")),
                "{situation}: {header}"
            );
        } else {
            for part in shown.split(", ").filter(|p| *p != "…") {
                assert!(
                    matches_shown(&format!("…{part}…"), &header),
                    "{situation}: README shows {part:?}, the layer sent {header:?}"
                );
            }
        }
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let actual = String::from_utf8(bytes.to_vec()).unwrap();
        let shown = body.trim_matches('`');
        assert!(
            matches_shown(shown, &actual),
            "{situation}: README shows {shown}, the layer sent {actual}"
        );
        checked += 1;
    }
    assert_eq!(checked, 5, "rows replayed");
}

fn readmes(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                readmes(&path, found);
            }
        } else if name.ends_with(".md") {
            found.push(path);
        }
    }
}

#[test]
fn every_body_shown_puts_detail_before_code() {
    let mut files = Vec::new();
    readmes(&repository(), &mut files);
    assert!(files.len() > 5, "{files:?}");
    let mut bodies = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("\"code\"") {
            // The object around it: back to its `{`.
            let Some(open) = text[..at].rfind('{') else {
                continue;
            };
            let object = &text[open..at];
            if object.contains('}') {
                continue;
            }
            if object.contains("\"detail\"") {
                bodies += 1;
            } else if text[at..]
                .split(['{', '}'])
                .next()
                .is_some_and(|rest| rest.contains("\"detail\""))
            {
                let line = text[..at].lines().count();
                panic!(
                    "{}:{line}: a body shows \"code\" before \"detail\"; the server writes \
                     {{\"detail\", \"code\"}}",
                    file.display()
                );
            }
        }
    }
    assert!(bodies >= 10, "only {bodies} bodies found");
}
