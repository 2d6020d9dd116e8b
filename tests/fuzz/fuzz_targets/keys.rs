//! Key loading: every public constructor of `VerifyingKey`, `SigningKey`, `Jwk` and `KeySet`,
//! for every algorithm.
//!
//! Input: `mode` (1 byte), then the key bytes. `mode % 8` picks the entry point:
//! 0 `VerifyingKey::from_pem`, 1 `VerifyingKey::from_der`, 2 `SigningKey::from_pem`,
//! 3 `SigningKey::from_der` (each for all 12 algorithms), 4 `VerifyingKey::from_jwk`,
//! 5 `KeySet::from_jwks`, 6 `Jwk::parse` + `to_verifying_key` (both policies),
//! 7 raw secrets (`from_secret`, `insecure_from_published_secret`) and `Algorithm::from_str`.
//!
//! Oracles besides "no panic": what loads round-trips through its own exports (PEM, DER, JWK,
//! JWKS, PKCS#8), and a loaded signing key signs a token that its verifying key accepts — the
//! library's promise is that a bad key is refused at load, never at the first token.

#![no_main]

use std::sync::LazyLock;

use authz_core::{Algorithm, Issuer, Jwk, KeySet, SigningKey, Verifier, VerifyingKey};
use libfuzzer_sys::fuzz_target;

static CLAIMS: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::json!({"sub": "fuzz", "roles": ["r"]}));

/// A loaded verifying key re-exports and re-loads as the same key.
fn check_verifying(key: &VerifyingKey) {
    let alg = key.algorithm();
    let _ = (key.kid(), format!("{key:?}"));
    if key.is_symmetric() {
        assert!(key.to_pem().is_none() && key.to_jwk().is_none() && key.thumbprint().is_none());
        return;
    }
    let pem = key.to_pem().expect("a public key has a PEM");
    let again = VerifyingKey::from_pem(alg, &pem)
        .unwrap_or_else(|e| panic!("{alg:?}: a loaded public key's own PEM is refused: {e}"));
    assert_eq!(again.thumbprint(), key.thumbprint(), "{alg:?}: PEM round trip changes the key");
    let der = key.to_spki_der().expect("a public key has a DER");
    VerifyingKey::from_der(alg, &der)
        .unwrap_or_else(|e| panic!("{alg:?}: a loaded public key's own DER is refused: {e}"));
    let jwk = key.to_jwk().expect("a public key has a JWK").to_json();
    let from_jwk = VerifyingKey::from_jwk(&jwk)
        .unwrap_or_else(|e| panic!("{alg:?}: a loaded public key's own JWK is refused: {e}"));
    assert_eq!(from_jwk.algorithm(), alg, "JWK round trip changes the algorithm");
    assert_eq!(from_jwk.thumbprint(), key.thumbprint(), "{alg:?}: JWK round trip changes the key");
    let thumbprint = key.thumbprint().expect("a public key has a thumbprint");
    assert_eq!(thumbprint.len(), 43);
    let set = KeySet::single(key.clone().with_kid("k"));
    let jwks = set.to_jwks_string();
    let reloaded = KeySet::from_jwks(&jwks)
        .unwrap_or_else(|e| panic!("{alg:?}: a loaded public key's own JWKS is refused: {e}"));
    assert_eq!(reloaded.len(), 1);
}

/// A loaded signing key signs tokens its verifying key accepts, and re-loads from its PKCS#8.
fn check_signing(key: &SigningKey) {
    let alg = key.algorithm();
    let public = key.verifying_key();
    assert_eq!(public.algorithm(), alg);
    check_verifying(&public);
    if let Some(pem) = key.to_pkcs8_pem() {
        let again = SigningKey::from_pem(alg, pem.as_bytes())
            .unwrap_or_else(|e| panic!("{alg:?}: a loaded key's own PKCS#8 is refused: {e}"));
        assert_eq!(
            again.verifying_key().thumbprint(),
            public.thumbprint(),
            "{alg:?}: PKCS#8 round trip changes the key"
        );
    } else {
        assert!(alg.is_symmetric(), "{alg:?}: an asymmetric key without PKCS#8");
    }
    let token = Issuer::new(key.clone())
        .with_audience("api")
        .issue(&*CLAIMS)
        .unwrap_or_else(|e| panic!("{alg:?}: a key that loaded cannot sign: {e}"));
    let verifier = Verifier::builder(KeySet::single(public))
        .with_audience("api")
        .build()
        .expect("verifier");
    if let Err(e) = verifier.verify(&token) {
        panic!("{alg:?}: a loaded key's token is refused by its own public key: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    match mode % 8 {
        0 => {
            for alg in Algorithm::ALL {
                if let Ok(key) = VerifyingKey::from_pem(alg, bytes) {
                    assert_eq!(key.algorithm(), alg);
                    check_verifying(&key);
                }
            }
        }
        1 => {
            for alg in Algorithm::ALL {
                if let Ok(key) = VerifyingKey::from_der(alg, bytes) {
                    assert_eq!(key.algorithm(), alg);
                    check_verifying(&key);
                }
            }
        }
        2 => {
            for alg in Algorithm::ALL {
                if let Ok(key) = SigningKey::from_pem(alg, bytes) {
                    check_signing(&key);
                }
            }
        }
        3 => {
            for alg in Algorithm::ALL {
                if let Ok(key) = SigningKey::from_der(alg, bytes) {
                    check_signing(&key);
                }
            }
        }
        4 => {
            if let Ok(key) = VerifyingKey::from_jwk(&String::from_utf8_lossy(bytes)) {
                check_verifying(&key);
            }
        }
        5 => {
            if let Ok(set) = KeySet::from_jwks(&String::from_utf8_lossy(bytes)) {
                assert!(!set.is_empty());
                for key in set.keys() {
                    assert!(!key.is_symmetric(), "a JWKS gave a symmetric key");
                    if let Some(kid) = key.kid() {
                        assert!(set.get(kid).is_some());
                    }
                    check_verifying(key);
                }
                let again = KeySet::from_jwks(&set.to_jwks_string())
                    .unwrap_or_else(|e| panic!("a loaded JWKS's own export is refused: {e}"));
                assert_eq!(again.len(), set.len(), "JWKS round trip changes the set");
            }
        }
        6 => {
            if let Ok(jwk) = Jwk::parse(&String::from_utf8_lossy(bytes)) {
                let _ = (jwk.kid(), jwk.alg(), jwk.to_json(), format!("{jwk:?}"));
                let strict = jwk.to_verifying_key(false);
                let lenient = jwk.to_verifying_key(true);
                if let Ok(key) = &strict {
                    assert!(lenient.is_ok(), "allowing symmetric keys refused a public key");
                    assert!(!key.is_symmetric());
                }
                if let Ok(key) = &lenient {
                    check_verifying(key);
                }
            }
        }
        _ => {
            let _ = String::from_utf8_lossy(bytes).parse::<Algorithm>();
            for alg in Algorithm::ALL {
                let strict = VerifyingKey::from_secret(alg, bytes);
                let published = VerifyingKey::insecure_from_published_secret(alg, bytes);
                if strict.is_ok() {
                    assert!(published.is_ok(), "the insecure loader is stricter");
                }
                if let Ok(key) = SigningKey::from_secret(alg, bytes) {
                    assert!(strict.is_ok(), "signing and verifying secrets disagree");
                    check_signing(&key);
                }
                if let Ok(key) = SigningKey::insecure_from_published_secret(alg, bytes) {
                    check_signing(&key);
                }
            }
        }
    }
});
