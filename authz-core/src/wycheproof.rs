//! The Wycheproof JWS and JWK vectors (`tests/data/wycheproof/`), run against the key loader,
//! the choice of key by `kid`, the binding of `alg` to the key and the signature check — the
//! steps [`Verifier::verify`](crate::Verifier::verify) takes before the claims (every vector
//! signs a payload that is not a claims object, so the claims step is not theirs to test).

use serde_json::Value;

use crate::error::{ErrorKind, Segment};
use crate::key::{KeySet, VerifyingKey};
use crate::token;

fn vectors(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/wycheproof")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The keys of a test group, as this crate loads them: public keys from `public`, HMAC keys
/// from `private` (`oct`), a JWK or a JWK set. `Err` when the loader refuses them.
///
/// The vectors' HMAC keys are published (RFC 7515/7520 examples among them), which the loader
/// refuses by default; a conformance suite is what
/// [`VerifyingKey::insecure_from_published_secret`] is for, so an `oct` key refused only for
/// being published is loaded through it.
fn load(group: &Value) -> Result<KeySet, String> {
    let source = group.get("public").unwrap_or(&group["private"]);
    let jwks: Vec<&Value> = match source.get("keys") {
        Some(keys) => keys.as_array().unwrap().iter().collect(),
        None => vec![source],
    };
    let keys = jwks
        .iter()
        .map(|jwk| match VerifyingKey::from_jwk(&jwk.to_string()) {
            Err(crate::KeyError::PublicSecret) => published(jwk),
            other => other.map_err(|e| e.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    KeySet::new(keys).map_err(|e| e.to_string())
}

/// A published `oct` key, through the named escape hatch.
fn published(jwk: &Value) -> Result<VerifyingKey, String> {
    use base64::Engine as _;
    let alg = match jwk["alg"].as_str() {
        Some("HS256") => crate::Algorithm::HS256,
        Some("HS384") => crate::Algorithm::HS384,
        Some("HS512") => crate::Algorithm::HS512,
        other => return Err(format!("published key with alg {other:?}")),
    };
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["k"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let key =
        VerifyingKey::insecure_from_published_secret(alg, &secret).map_err(|e| e.to_string())?;
    Ok(match jwk["kid"].as_str() {
        Some(kid) => key.with_kid(kid),
        None => key,
    })
}

/// The checks below the claims, in the verifier's order.
fn verify(keys: &KeySet, jws: &str) -> Result<(), ErrorKind> {
    let parts = token::split(jws)?;
    let header_json = token::decode(parts.header, Segment::Header)?;
    let header = token::parse_header(&header_json)?;
    if header.crit {
        return Err(ErrorKind::UnsupportedCritical);
    }
    let alg = header.alg.ok_or(ErrorKind::AlgorithmNotAllowed)?;
    let key = keys.select(header.kid.as_deref())?;
    if alg != key.algorithm().as_str() {
        return Err(ErrorKind::AlgorithmNotAllowed);
    }
    token::decode(parts.payload, Segment::Payload)?;
    key.verify_signature(parts.signing_input.as_bytes(), parts.signature)
}

/// What the errata (`tests/data/wycheproof/README.md`) say about a test.
enum Erratum {
    /// The label is wrong in a way that leaves no expectation: skip.
    Skip,
    /// Expect a refusal whatever the label.
    Invalid,
}

fn erratum(file: &str, id: u64) -> Option<Erratum> {
    match (file, id) {
        ("jws", 367 | 370) => Some(Erratum::Skip),
        ("jws", 372 | 373 | 346 | 350 | 347 | 351 | 17) | ("jwk", 19) => Some(Erratum::Invalid),
        _ => None,
    }
}

fn run(file: &str, name: &str) -> (usize, usize) {
    let data = vectors(name);
    let (mut run, mut skipped) = (0, 0);
    for group in data["testGroups"].as_array().unwrap() {
        let keys = load(group);
        for test in group["tests"].as_array().unwrap() {
            let id = test["tcId"].as_u64().unwrap();
            let labelled = test["result"] == "valid";
            let expected = match erratum(file, id) {
                Some(Erratum::Skip) => {
                    skipped += 1;
                    continue;
                }
                Some(Erratum::Invalid) => false,
                None => labelled,
            };
            let outcome = match (&keys, test["jws"].as_str()) {
                (Ok(keys), Some(jws)) => verify(keys, jws).map_err(|e| e.to_string()),
                (Ok(_), None) => Err("not a compact JWS".to_owned()),
                (Err(refused), _) => Err(format!("keys refused at load: {refused}")),
            };
            assert_eq!(
                outcome.is_ok(),
                expected,
                "{file} tcId {id} ({}): {outcome:?}",
                test["comment"]
            );
            run += 1;
        }
    }
    (run, skipped)
}

#[test]
fn json_web_signature_vectors() {
    let (run, skipped) = run("jws", "json_web_signature_test.json");
    assert_eq!((run, skipped), (399, 2));
}

#[test]
fn json_web_key_vectors() {
    let (run, skipped) = run("jwk", "json_web_key_test.json");
    assert_eq!((run, skipped), (26, 0));
}

#[test]
fn the_roca_key_is_refused_at_load_with_its_reason() {
    let data = vectors("json_web_key_test.json");
    let group = data["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["comment"] == "jws_rsa_roca_key")
        .unwrap();
    let refused = load(group).unwrap_err();
    assert!(refused.contains("ROCA"), "{refused}");
}
