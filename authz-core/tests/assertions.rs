//! Client assertions as draft-ietf-oauth-rfc7523bis asks, through the public API: the audience
//! is one string, other kinds of JWT are refused, the request's `client_id` must match, and
//! replays are refused on the injected clock.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::sync::Arc;

use authz_core::assertion::{AssertionError, ClientAssertions, MemoryReplays};
use authz_core::{Algorithm, ErrorKind, FixedClock, Issuer, KeySet, SigningKey};
use serde_json::{Value, json};

const ISSUER: &str = "https://auth.example.com";
const ENDPOINT: &str = "https://auth.example.com/token";
const NOW: u64 = 1_700_000_000;

fn client() -> SigningKey {
    static KEY: std::sync::OnceLock<SigningKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid("svc")
    })
    .clone()
}

fn clock() -> FixedClock {
    FixedClock::at_unix(NOW)
}

fn assertions() -> ClientAssertions {
    let registered = KeySet::single(client().verifying_key());
    ClientAssertions::new(Arc::new(registered), Arc::new(MemoryReplays::new()), ISSUER)
        .with_clock(clock())
}

/// An assertion by client `svc` with `claims` on top of iss/sub/aud, and header `typ`.
fn assertion(typ: Option<&str>, claims: Value) -> String {
    let mut issuer = Issuer::new(client()).with_clock(clock());
    if let Some(typ) = typ {
        issuer = issuer.with_typ(typ);
    }
    let mut all = json!({"iss": "svc", "sub": "svc", "aud": ISSUER});
    for (k, v) in claims.as_object().unwrap() {
        all[k] = v.clone();
    }
    issuer.issue(&all).unwrap()
}

#[tokio::test]
async fn the_audience_is_one_string_equal_to_the_issuer() {
    let a = assertions();
    assert!(a.verify(&assertion(None, json!({}))).await.is_ok());
    for aud in [
        json!([ISSUER]),
        json!([ISSUER, "https://other"]),
        json!(ENDPOINT),
    ] {
        let error = a
            .verify(&assertion(None, json!({ "aud": aud })))
            .await
            .unwrap_err();
        assert_eq!(
            error,
            AssertionError::Invalid(ErrorKind::InvalidAudience),
            "{aud}"
        );
    }
    // The token endpoint only when configured, and still as one string.
    let with_endpoint = assertions().with_token_endpoint(ENDPOINT);
    assert!(
        with_endpoint
            .verify(&assertion(None, json!({"aud": ENDPOINT})))
            .await
            .is_ok()
    );
    assert!(
        with_endpoint
            .verify(&assertion(None, json!({"aud": [ENDPOINT]})))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn jwts_of_other_kinds_are_refused() {
    let a = assertions();
    for typ in [
        "at+jwt",
        "application/at+jwt",
        "id_token+jwt",
        "logout+jwt",
        "JOSE",
    ] {
        let error = a
            .verify(&assertion(Some(typ), json!({})))
            .await
            .unwrap_err();
        assert_eq!(error, AssertionError::WrongKind, "{typ}");
    }
    for claim in ["nonce", "at_hash", "c_hash", "auth_time"] {
        let error = a
            .verify(&assertion(None, json!({ claim: "x" })))
            .await
            .unwrap_err();
        assert_eq!(error, AssertionError::WrongKind, "ID token claim {claim}");
    }
    // One of our refresh tokens is not a JWT at all.
    assert_eq!(
        a.verify("rt.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .await
            .unwrap_err(),
        AssertionError::UnknownClient
    );
    // Explicit typing is accepted; strict mode requires it.
    for typ in [
        "client-authentication+jwt",
        "application/client-authentication+jwt",
        "JWT",
    ] {
        assert!(
            a.verify(&assertion(Some(typ), json!({}))).await.is_ok(),
            "{typ}"
        );
    }
    let strict = assertions().with_strict_typ();
    assert!(
        strict
            .verify(&assertion(Some("client-authentication+jwt"), json!({})))
            .await
            .is_ok()
    );
    for typ in [Some("JWT"), None] {
        assert_eq!(
            strict.verify(&assertion(typ, json!({}))).await.unwrap_err(),
            AssertionError::WrongKind,
            "{typ:?}"
        );
    }
}

#[tokio::test]
async fn the_requests_client_id_must_be_the_assertions_issuer() {
    let a = assertions();
    assert!(
        a.verify_for_client(&assertion(None, json!({})), Some("svc"))
            .await
            .is_ok()
    );
    assert_eq!(
        a.verify_for_client(&assertion(None, json!({})), Some("other"))
            .await
            .unwrap_err(),
        AssertionError::ClientMismatch
    );
}

#[tokio::test]
async fn replays_are_refused_on_the_injected_clock() {
    // The clock stands in 2023: an assertion valid then, replayed then, is refused — the
    // replay store remembers it until its exp on that clock, not on the system's.
    let a = assertions();
    let token = assertion(None, json!({}));
    assert!(a.verify(&token).await.is_ok());
    assert_eq!(
        a.verify(&token).await.unwrap_err(),
        AssertionError::Replayed
    );
}
