//! What a hostile client can send, and what it gets: through the public API only.
//!
//! - numbers no f64 holds, anywhere in the claims, are malformed (not carried along as text);
//! - grant claims can be held to one JSON shape;
//! - an RSA key with the ROCA fingerprint is refused at load;
//! - published HMAC secrets are refused, unless loaded through the named escape hatch.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

mod common;

use authz_core::{
    Algorithm, ClaimMapping, ClaimShape, ErrorKind, KeyError, KeySet, Segment, SigningKey,
    VerifyingKey,
};
use common::{builder, claims, hs, verifier};

#[test]
fn numbers_out_of_f64_range_anywhere_in_the_claims_are_malformed() {
    for extra in [
        r#""x":1e999999"#,
        r#""x":-1e400"#,
        r#""nested":{"deep":[1,2,{"n":9.9e9999}]}"#,
        r#""roles":["admin"],"big":1E309"#,
    ] {
        let error = verifier().verify(&hs(&claims(extra))).unwrap_err();
        assert_eq!(
            error.kind(),
            &ErrorKind::InvalidJson(Segment::Payload),
            "{extra}"
        );
    }
    let long = format!(r#""x":{}"#, "1".repeat(400));
    assert_eq!(
        verifier().verify(&hs(&claims(&long))).unwrap_err().kind(),
        &ErrorKind::InvalidJson(Segment::Payload)
    );
    // Large but finite numbers, and the same text inside strings, are fine.
    for extra in [
        r#""x":1e308"#,
        r#""x":"1e999999""#,
        r#""x":123456789012345678901234567890"#,
    ] {
        assert!(verifier().verify(&hs(&claims(extra))).is_ok(), "{extra}");
    }
}

#[test]
fn grant_claims_can_be_held_to_one_shape() {
    let strict = builder()
        .with_claim_mapping(
            ClaimMapping::new()
                .with_roles_shape(ClaimShape::Array)
                .with_scopes_shape(ClaimShape::String),
        )
        .build()
        .unwrap();
    let ok = strict
        .verify(&hs(&claims(r#""roles":["admin"],"scope":"read write""#)))
        .unwrap();
    assert!(ok.has_role("admin") && ok.has_scope("write"));
    for (extra, claim) in [
        (r#""roles":"admin""#, "roles"),
        (r#""scope":["read"]"#, "scope"),
    ] {
        assert_eq!(
            strict.verify(&hs(&claims(extra))).unwrap_err().kind(),
            &ErrorKind::InvalidClaim(claim.into()),
            "{extra}"
        );
    }
    // The default takes either shape.
    assert!(
        verifier()
            .verify(&hs(&claims(r#""roles":"admin","scope":["read"]"#)))
            .unwrap()
            .has_role("admin")
    );
}

#[test]
fn an_rsa_key_with_the_roca_fingerprint_is_refused_at_load() {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/wycheproof/json_web_key_test.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let group = vectors["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["comment"] == "jws_rsa_roca_key")
        .unwrap();
    assert_eq!(
        KeySet::from_jwks(&group["public"].to_string()).unwrap_err(),
        KeyError::RocaFingerprint
    );
    // A freshly made key is not refused.
    let fresh = SigningKey::generate(Algorithm::RS256).unwrap();
    assert!(
        VerifyingKey::from_pem(Algorithm::RS256, fresh.verifying_key().to_pem().unwrap()).is_ok()
    );
}

#[test]
fn published_secrets_need_the_named_escape_hatch() {
    // RFC 7515 Appendix A.1's HMAC key: published, so refused by default.
    use base64::Engine as _;
    let published = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
        .unwrap();
    assert_eq!(
        VerifyingKey::from_secret(Algorithm::HS256, &published).unwrap_err(),
        KeyError::PublicSecret
    );
    assert_eq!(
        SigningKey::from_secret(Algorithm::HS256, &[7; 32]).unwrap_err(),
        KeyError::PublicSecret
    );
    let key = VerifyingKey::insecure_from_published_secret(Algorithm::HS256, &published).unwrap();
    assert_eq!(key.algorithm(), Algorithm::HS256);
    assert!(SigningKey::insecure_from_published_secret(Algorithm::HS256, &[7; 32]).is_ok());
    // The length rule still holds.
    assert!(matches!(
        VerifyingKey::insecure_from_published_secret(Algorithm::HS256, b"short").unwrap_err(),
        KeyError::WeakSecret { .. }
    ));
}
