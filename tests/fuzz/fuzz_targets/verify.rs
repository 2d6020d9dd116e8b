//! Token verification end to end, past the signature: the harness signs whatever header and
//! claims the fuzzer makes with the verifier's own HS256 key, so every claim check, the claim
//! mapping and the principal's accessors are reached.
//!
//! Input: `flags` (1 byte), then `header 0x00 claims`; without a 0x00, the whole rest is the
//! claims under a fixed valid header. Flags:
//! - bit 0: also verify the raw input (lossy UTF-8), unsigned;
//! - bits 1-2: the segments' base64 variant (url-safe unpadded as JWS says, url-safe padded,
//!   standard unpadded, standard padded) — the signature is always over what is sent;
//! - bit 3: append a fourth segment.
//!
//! Oracles besides "no panic": verifying the same token again (the second time through the
//! known-header path) and through a caching verifier gives the same answer.

#![no_main]

use std::sync::LazyLock;

use authz_core::{
    Algorithm, ClaimMapping, ClaimPath, FixedClock, KeySet, Principal, Requirement, Verifier,
    VerifierBuilder, VerifyingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";
const NOW: u64 = 1_700_000_000;
const DEFAULT_HEADER: &[u8] = br#"{"alg":"HS256","typ":"at+jwt"}"#;

fn builder() -> VerifierBuilder {
    let key = VerifyingKey::from_secret(Algorithm::HS256, SECRET).expect("test key");
    Verifier::builder(KeySet::single(key))
        .with_issuer("https://issuer.example")
        .with_audience("api")
        .with_typ("at+jwt")
        .with_required_claims(["iat", "jti"])
        .with_clock(FixedClock::at_unix(NOW))
        .with_claim_mapping(ClaimMapping::new().with_roles_from(["realm_access.roles", "roles"]))
}

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| builder().build().expect("verifier"));
static CACHED: LazyLock<Verifier> =
    LazyLock::new(|| builder().with_cache(256).build().expect("verifier"));
static ENCODING_KEY: LazyLock<jsonwebtoken::EncodingKey> =
    LazyLock::new(|| jsonwebtoken::EncodingKey::from_secret(SECRET));
static REQUIREMENT: LazyLock<Requirement> = LazyLock::new(|| {
    Requirement::any([
        Requirement::role("admin"),
        Requirement::scope("x"),
        Requirement::all([
            Requirement::claim("realm_access.roles", serde_json::json!(["admin"])),
            Requirement::not(Requirement::permission("p")),
        ]),
        Requirement::claim("tenant", "acme"),
        Requirement::claim("n", 1),
    ])
});
static PATHS: LazyLock<Vec<ClaimPath>> = LazyLock::new(|| {
    ["realm_access.roles", "realm_access", "sub", "a.b.c", "", ".", "x..y"]
        .into_iter()
        .map(ClaimPath::from)
        .collect()
});

/// Every accessor of a verified principal.
fn exercise(p: &Principal) {
    let _ = p.subject().len();
    let _ = (p.issuer(), p.token_id(), p.expires_at(), p.issued_at());
    let _ = (p.algorithm(), p.key_id(), p.claims_json().len());
    let roles: Vec<&str> = p.roles().collect();
    let scopes: Vec<&str> = p.scopes().collect();
    let permissions: Vec<&str> = p.permissions().collect();
    for role in &roles {
        assert!(p.has_role(role), "roles() lists {role:?} but has_role says no");
    }
    for scope in &scopes {
        assert!(p.has_scope(scope), "scopes() lists {scope:?} but has_scope says no");
    }
    for permission in &permissions {
        assert!(p.has_permission(permission));
    }
    let _ = p.claims::<serde_json::Value>();
    for path in PATHS.iter() {
        let _ = p.claim(path);
    }
    let _ = REQUIREMENT.evaluate(p).map_err(|denied| {
        let _ = (denied.requirement().len(), denied.scopes().len(), denied.message().len());
        denied.to_string()
    });
    let _ = format!("{p:?}");
}

fn same(a: &authz_core::Result<Principal>, b: &authz_core::Result<Principal>, what: &str) {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.subject(), b.subject(), "{what}: subjects differ");
            assert!(a.roles().eq(b.roles()), "{what}: roles differ");
            assert!(a.scopes().eq(b.scopes()), "{what}: scopes differ");
        }
        (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{what}: refusals differ"),
        (a, b) => panic!(
            "{what}: one verification passed, the other did not: {:?} vs {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (header, claims) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (DEFAULT_HEADER, rest),
    };

    if flags & 1 == 1 {
        let raw = String::from_utf8_lossy(rest);
        if let Ok(p) = VERIFIER.verify(&raw) {
            exercise(&p);
        }
    }

    let engine = match (flags >> 1) & 3 {
        0 => &URL_SAFE_NO_PAD,
        1 => &URL_SAFE,
        2 => &STANDARD_NO_PAD,
        _ => &STANDARD,
    };
    let input = format!("{}.{}", engine.encode(header), engine.encode(claims));
    let Ok(sig) =
        jsonwebtoken::crypto::sign(input.as_bytes(), &ENCODING_KEY, jsonwebtoken::Algorithm::HS256)
    else {
        return;
    };
    let mut token = format!("{input}.{sig}");
    if flags & 8 != 0 {
        token.push_str(".x");
    }

    let first = VERIFIER.verify(&token);
    if let Ok(p) = &first {
        exercise(p);
    }
    let again = VERIFIER.verify(&token);
    same(&first, &again, "verified twice");
    let cached = CACHED.verify(&token);
    same(&first, &cached, "plain vs caching verifier");
    let cached_again = CACHED.verify(&token);
    same(&first, &cached_again, "plain vs cache hit");
});
