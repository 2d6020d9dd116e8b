//! Key loading: every supported format, and every refusal the loading policy promises
//! (weak, inconsistent, private-in-public, duplicate kid, mixed families), with the reason.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

mod common;

use authz_core::{Algorithm, Issuer, Jwk, KeyError, KeySet, SigningKey, Verifier, VerifyingKey};
use common::*;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn round_trip(signing: SigningKey, verifying: VerifyingKey) {
    let token = Issuer::new(signing)
        .with_clock(clock())
        .issue_for("alice")
        .unwrap();
    let v = Verifier::builder(KeySet::single(verifying))
        .with_clock(clock())
        .build()
        .unwrap();
    assert_eq!(v.verify(&token).unwrap().subject(), "alice");
}

#[test]
fn rsa_keys_load_from_pkcs1_pkcs8_spki_and_der() {
    let private =
        SigningKey::from_pem(Algorithm::RS256, data("rsa2048-pkcs1-private.pem")).unwrap();
    for public in [
        VerifyingKey::from_pem(Algorithm::RS256, data("rsa2048-pkcs1-public.pem")).unwrap(),
        VerifyingKey::from_pem(Algorithm::RS256, data("rsa2048-spki-public.pem")).unwrap(),
        VerifyingKey::from_der(Algorithm::RS256, &data("rsa2048-spki-public.der")).unwrap(),
    ] {
        round_trip(private.clone(), public);
    }
    // PKCS#1 private re-exported as PKCS#8 loads again.
    let pkcs8 = private.to_pkcs8_pem().unwrap();
    let again = SigningKey::from_pem(Algorithm::PS512, pkcs8.as_bytes()).unwrap();
    round_trip(again.clone(), again.verifying_key());
    // The derived public key is the file's.
    assert_eq!(
        private.verifying_key().to_pem().unwrap(),
        String::from_utf8(data("rsa2048-spki-public.pem")).unwrap()
    );
}

#[test]
fn ec_sec1_private_key_loads() {
    let private = SigningKey::from_pem(Algorithm::ES256, data("ec-p256-sec1-private.pem")).unwrap();
    let public = VerifyingKey::from_pem(Algorithm::ES256, data("ec-p256-spki-public.pem")).unwrap();
    round_trip(private, public);
}

#[test]
fn weak_and_unsupported_keys_are_refused_with_the_reason() {
    let err =
        VerifyingKey::from_pem(Algorithm::RS256, data("rsa1024-spki-public.pem")).unwrap_err();
    assert_eq!(err, KeyError::RsaTooSmall { bits: 1024 });
    assert!(err.to_string().contains("at least 2048"));
    let err =
        SigningKey::from_pem(Algorithm::RS256, data("rsa1024-pkcs8-private.pem")).unwrap_err();
    assert_eq!(err, KeyError::RsaTooSmall { bits: 1024 });
    assert!(VerifyingKey::from_pem(Algorithm::ES256, data("ec-p521-spki-public.pem")).is_err());
    assert!(matches!(
        VerifyingKey::from_pem(Algorithm::ES256, b"not a pem"),
        Err(KeyError::Format(_))
    ));
    assert!(VerifyingKey::from_der(Algorithm::ES256, b"\x30\x03\x02\x01\x00").is_err());
    assert!(matches!(
        VerifyingKey::from_pem(Algorithm::ES256, data("rsa2048-spki-public.pem")),
        Err(KeyError::WrongKeyType { found: "RSA", .. })
    ));
}

fn jwks(keys: &[String]) -> String {
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

fn ec_jwk(kid: &str) -> String {
    SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid(kid)
        .verifying_key()
        .to_jwk()
        .unwrap()
        .to_json()
}

#[test]
fn jwks_round_trip_with_every_key_type() {
    let keys = [
        SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid("es256"),
        SigningKey::generate(Algorithm::ES384)
            .unwrap()
            .with_kid("es384"),
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .with_kid("ed"),
        SigningKey::from_pem(Algorithm::PS256, data("rsa2048-pkcs1-private.pem"))
            .unwrap()
            .with_kid("ps"),
    ];
    let published = KeySet::new(keys.iter().map(SigningKey::verifying_key))
        .unwrap()
        .to_jwks_string();
    assert!(
        !published.contains("\"d\""),
        "no private member is published"
    );
    let set = KeySet::from_jwks(&published).unwrap();
    assert_eq!(set.len(), 4);
    let v = Verifier::builder(set).with_clock(clock()).build().unwrap();
    for key in keys {
        let token = Issuer::new(key.clone())
            .with_clock(clock())
            .issue_for("alice")
            .unwrap();
        assert_eq!(v.verify(&token).unwrap().key_id(), key.kid());
    }
}

#[test]
fn jwks_policy_refusals() {
    let good = ec_jwk("good");
    let with = |edit: &dyn Fn(&str) -> String| {
        KeySet::from_jwks(&jwks(&[good.clone(), edit(&ec_jwk("bad"))]))
    };

    // alg disagrees with crv
    let err = with(&|j| j.replace(r#""alg":"ES256""#, r#""alg":"ES384""#)).unwrap_err();
    assert!(matches!(err, KeyError::CurveMismatch { .. }), "{err}");
    // alg disagrees with kty
    let err = with(&|j| j.replace(r#""alg":"ES256""#, r#""alg":"RS256""#)).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    // use is not sig but key_ops say verify: inconsistent
    let err = with(&|j| {
        j.replace(
            r#""use":"sig""#,
            r#""use":"sig","key_ops":["encrypt","verify"]"#,
        )
    })
    .unwrap_err();
    assert!(err.to_string().contains("key_ops"), "{err}");
    let err = with(&|j| j.replace(r#""use":"sig""#, r#""key_ops":["sign"]"#)).unwrap_err();
    assert!(err.to_string().contains("verify"), "{err}");
    // a private key in a public set
    let err = with(&|j| j.replace(r#""kty":"EC""#, r#""kty":"EC","d":"AAAA""#)).unwrap_err();
    assert_eq!(
        err,
        KeyError::NotPublic {
            kid: Some("bad".into())
        }
    );
    // a symmetric key in a public set
    let oct = r#"{"kty":"oct","kid":"h","alg":"HS256","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"}"#;
    let err = KeySet::from_jwks(&jwks(&[good.clone(), oct.to_owned()])).unwrap_err();
    assert_eq!(
        err,
        KeyError::NotPublic {
            kid: Some("h".into())
        }
    );
    // duplicate kid
    let err = KeySet::from_jwks(&jwks(&[good.clone(), ec_jwk("good")])).unwrap_err();
    assert_eq!(err, KeyError::DuplicateKid("good".into()));
    // off-curve point
    let err = with(&|j| {
        let mut v: serde_json::Value = serde_json::from_str(j).unwrap();
        v["y"] = serde_json::Value::String(b64([7u8; 32]));
        v.to_string()
    })
    .unwrap_err();
    assert!(matches!(err, KeyError::InvalidPublicKey(_)), "{err}");
    // wrong coordinate length
    let err = with(&|j| {
        let mut v: serde_json::Value = serde_json::from_str(j).unwrap();
        v["x"] = serde_json::Value::String(b64([7u8; 31]));
        v.to_string()
    })
    .unwrap_err();
    assert!(err.to_string().contains("32 bytes"), "{err}");
    // padded base64
    let err = with(&|j| {
        let mut v: serde_json::Value = serde_json::from_str(j).unwrap();
        v["x"] = serde_json::Value::String(format!("{}=", v["x"].as_str().unwrap()));
        v.to_string()
    })
    .unwrap_err();
    assert!(err.to_string().contains("base64url"), "{err}");
    // RSA-1024 and RSA without alg
    let n1024 = b64([0xc5u8; 128]);
    let rsa = |alg: &str| {
        format!(r#"{{"kty":"RSA","kid":"r","use":"sig"{alg},"n":"{n1024}","e":"AQAB"}}"#)
    };
    assert_eq!(
        KeySet::from_jwks(&jwks(&[rsa(r#","alg":"RS256""#)])).unwrap_err(),
        KeyError::RsaTooSmall { bits: 1024 }
    );
    let err = KeySet::from_jwks(&jwks(&[rsa("")])).unwrap_err();
    assert!(err.to_string().contains("must name its \"alg\""), "{err}");
    // alg none
    let err = with(&|j| j.replace(r#""alg":"ES256""#, r#""alg":"none""#)).unwrap_err();
    assert!(err.to_string().contains("unsupported \"alg\""), "{err}");
}

#[test]
fn jwks_ignores_keys_that_are_not_for_us() {
    let good = ec_jwk("good");
    let enc = ec_jwk("enc")
        .replace(r#""use":"sig""#, r#""use":"enc""#)
        .replace(r#","alg":"ES256""#, "");
    let unknown_kty = r#"{"kty":"XYZ","kid":"x"}"#.to_owned();
    let es512 =
        r#"{"kty":"EC","kid":"p521","crv":"P-521","alg":"ES512","x":"AA","y":"AA"}"#.to_owned();
    let set = KeySet::from_jwks(&jwks(&[enc, unknown_kty.clone(), good, es512.clone()])).unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.get("good").is_some());
    assert_eq!(
        KeySet::from_jwks(&jwks(&[unknown_kty, es512])).unwrap_err(),
        KeyError::EmptySet
    );
    assert!(KeySet::from_jwks("[]").is_err());
    assert!(KeySet::from_jwks(r#"{"keys":[],"keys":[]}"#).is_err());
}

#[test]
fn single_jwk_loading_allows_hmac_but_checks_it() {
    let ok = r#"{"kty":"oct","alg":"HS256","k":"azcjcFE5diFMbTIkWHI4XlR6NCZXYjYqTnkxKEhjMyk"}"#;
    let key = VerifyingKey::from_jwk(ok).unwrap();
    assert!(key.is_symmetric());
    round_trip(
        SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap(),
        key,
    );
    let short = r#"{"kty":"oct","alg":"HS256","k":"c2VjcmV0"}"#;
    assert!(matches!(
        VerifyingKey::from_jwk(short),
        Err(KeyError::WeakSecret { len: 6, .. })
    ));
    let no_alg = r#"{"kty":"oct","k":"azcjcFE5diFMbTIkWHI4XlR6NCZXYjYqTnkxKEhjMyk"}"#;
    assert!(VerifyingKey::from_jwk(no_alg).is_err());
    let enc = ec_jwk("e").replace(r#""use":"sig""#, r#""use":"enc""#);
    assert!(
        VerifyingKey::from_jwk(&enc)
            .unwrap_err()
            .to_string()
            .contains("\"use\"")
    );
    let jwk = Jwk::parse(&ec_jwk("dbg")).unwrap();
    assert!(!format!("{jwk:?}").contains("\"x\""));
}

#[test]
fn key_set_rules() {
    let hs = VerifyingKey::from_secret(Algorithm::HS256, SECRET).unwrap();
    // A public key as loaded from PEM: no kid (generated keys are named by their thumbprint).
    let generated = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let ed = VerifyingKey::from_pem(
        Algorithm::EdDSA,
        generated.verifying_key().to_pem().unwrap(),
    )
    .unwrap();
    assert_eq!(ed.kid(), None);
    assert_eq!(KeySet::new([]).unwrap_err(), KeyError::EmptySet);
    assert_eq!(
        KeySet::new([hs.clone().with_kid("h"), ed.clone().with_kid("e")]).unwrap_err(),
        KeyError::MixedKeyFamilies
    );
    assert_eq!(
        KeySet::new([ed.clone().with_kid("e"), ed.clone()]).unwrap_err(),
        KeyError::MissingKid
    );
    assert_eq!(
        KeySet::new([ed.clone().with_kid("a\u{0}")]).unwrap_err(),
        KeyError::InvalidKid
    );
    assert_eq!(
        KeySet::new([ed.clone().with_kid("x".repeat(257))]).unwrap_err(),
        KeyError::InvalidKid
    );
    assert!(KeySet::new([ed]).is_ok(), "one key needs no kid");
}

#[test]
fn hmac_secret_lengths_per_algorithm() {
    for (alg, min) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        let secret: Vec<u8> = (0..min as u8).collect();
        assert!(VerifyingKey::from_secret(alg, &secret).is_ok());
        assert_eq!(
            VerifyingKey::from_secret(alg, &secret[..min - 1]).unwrap_err(),
            KeyError::WeakSecret {
                alg,
                len: min - 1,
                min
            }
        );
        assert_eq!(authz_core::generate_secret(alg).unwrap().len(), min);
    }
}

#[test]
fn thumbprints_follow_rfc_7638() {
    // RFC 7638 §3.1: the RSA key of RFC 7517 Appendix A.1 and its thumbprint.
    let jwk = r#"{"kty":"RSA","alg":"RS256","kid":"2011-04-29","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#;
    let key = authz_core::VerifyingKey::from_jwk(jwk).unwrap();
    assert_eq!(
        key.thumbprint().as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
    // Generated keys are named by theirs; HMAC keys are not (it would publish a hash of the
    // secret).
    for alg in [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::PS256,
    ] {
        let key = SigningKey::generate(alg).unwrap();
        let thumbprint = key.verifying_key().thumbprint().unwrap();
        assert_eq!(key.kid(), Some(thumbprint.as_str()), "{alg:?}");
        assert_ne!(
            SigningKey::generate(alg).unwrap().kid(),
            key.kid(),
            "two keys, two names"
        );
    }
    let hmac = SigningKey::generate(Algorithm::HS256).unwrap();
    assert_eq!(hmac.kid(), None);
    assert_eq!(hmac.verifying_key().thumbprint(), None);
    // A key ring names a key without kid by its thumbprint.
    let unnamed = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("temp");
    let ring = authz_core::key::KeyRing::new(
        SigningKey::from_pem(Algorithm::ES256, unnamed.to_pkcs8_pem().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        ring.published_kids(),
        [unnamed.verifying_key().thumbprint().unwrap()]
    );
}
