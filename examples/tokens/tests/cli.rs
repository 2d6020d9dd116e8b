//! Runs the `tokens` binary the way the README says.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::process::{Command, Output};

const SECRET: &str = "k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";

fn tokens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokens"))
        .args(args)
        .env("AUTHZ_SECRET", SECRET)
        .output()
        .expect("run tokens")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn demo_replays_the_tutorial() {
    let out = tokens(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains(r#""sub":"hesam""#), "{text}");
    assert!(
        text.contains("error[invalid_signature]: Signature verification failed"),
        "{text}"
    );
    assert!(
        text.contains("error[token_expired]: Signature has expired"),
        "{text}"
    );
}

#[test]
fn encode_then_decode() {
    let out = tokens(&["encode", "alice", "admin", "user"]);
    assert!(out.status.success());
    let token = stdout(&out).trim().to_owned();
    assert_eq!(token.split('.').count(), 3);
    let out = tokens(&["decode", &token]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let claims: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["roles"], serde_json::json!(["admin", "user"]));

    // Change the last signature character (to another canonical one: 'A' or 'Q').
    let last = if token.ends_with('A') { 'Q' } else { 'A' };
    let tampered = format!("{}{last}", &token[..token.len() - 1]);
    let out = tokens(&["decode", &tampered]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error[invalid_"), "{err}");
}

#[test]
fn weak_secret_is_refused_with_the_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_tokens"))
        .args(["encode", "alice"])
        .env("AUTHZ_SECRET", "123456")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32"));
}

#[test]
fn keygen_prints_a_private_key_and_a_public_jwks() {
    let out = tokens(&["keygen", "EdDSA"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let (private, jwks) = text.split_once("-----END PRIVATE KEY-----\n").unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
    let set = authz_axum::KeySet::from_jwks(jwks.trim()).unwrap();
    assert_eq!(
        set.get("key-1").unwrap().algorithm(),
        authz_axum::Algorithm::EdDSA
    );
}
