//! Verification cost per algorithm, in one run, on the same 11-claim token:
//!
//! - `authz`: `Verifier::verify` with every check (size, segments, strict base64, duplicate-free
//!   header and claims, crit/cty, alg bound to the key, signature, typ, exp/nbf/iat, iss, aud,
//!   sub) plus roles/scopes extraction and a `role = "reader"` requirement;
//! - `jsonwebtoken`: a bare `jsonwebtoken::decode` with a pre-parsed key and a pre-built
//!   `Validation` (exp, nbf, iss, aud), the same claims struct;
//! - `floor`: base64url-decode the three segments, the bare aws-lc-rs signature primitive with
//!   a key parsed once, and serde into the claims struct — the least work a correct verifier
//!   can do;
//! - `primitive`: the signature operation alone (parsed key), for the asymmetric algorithms.
//!
//! Run: `taskset -c 0 cargo bench -p authz-core --bench verify` (see the crate README).

#![allow(clippy::unwrap_used)] // setup failures in a benchmark should stop it loudly

use std::hint::black_box;
use std::time::Duration;

use authz_core::{Algorithm, Issuer, KeySet, Requirement, SigningKey, Verifier};
use aws_lc_rs::signature::{self as sig, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use serde_json::json;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "orders";

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct BenchClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    roles: Vec<String>,
    scope: String,
    email: String,
    tenant: String,
}

struct Case {
    alg: Algorithm,
    token: String,
    verifier: Verifier,
    decoding: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
    primitive: Primitive,
}

enum Primitive {
    Hmac(Box<aws_lc_rs::hmac::Key>),
    Public(ParsedPublicKey),
}

impl Primitive {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hmac(key) => aws_lc_rs::hmac::verify(key, message, signature).is_ok(),
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
        }
    }
}

fn case(alg: Algorithm) -> Case {
    let now = jsonwebtoken::get_current_timestamp();
    let secret = b"bench-secret-0123456789abcdefghij";
    let key = match alg {
        Algorithm::HS256 => SigningKey::from_secret(alg, secret).unwrap(),
        _ => SigningKey::generate(alg).unwrap(),
    }
    .with_kid("bench");
    let token = Issuer::new(key.clone())
        .with_typ("at+jwt")
        .issue(&json!({
            "iss": ISS, "sub": "user-1234", "aud": AUD,
            "exp": now + 3600, "nbf": now - 10, "iat": now - 10,
            "jti": "4f1c2b7e-0c1d-4d3e-9a8b-7c6d5e4f3a2b",
            "roles": ["reader", "writer"], "scope": "orders:read orders:write",
            "email": "user1234@example.com", "tenant": "acme-corp",
        }))
        .unwrap();
    let verifying = key.verifying_key();
    let verifier = Verifier::builder(KeySet::single(verifying.clone()))
        .with_issuer(ISS)
        .with_audience(AUD)
        .with_typ("at+jwt")
        .build()
        .unwrap();

    let jalg: jsonwebtoken::Algorithm = alg.as_str().parse().unwrap();
    let pem = verifying.to_pem();
    let decoding = match alg {
        Algorithm::HS256 => jsonwebtoken::DecodingKey::from_secret(secret),
        Algorithm::ES256 => {
            jsonwebtoken::DecodingKey::from_ec_pem(pem.as_ref().unwrap().as_bytes()).unwrap()
        }
        Algorithm::EdDSA => {
            jsonwebtoken::DecodingKey::from_ed_pem(pem.as_ref().unwrap().as_bytes()).unwrap()
        }
        _ => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_ref().unwrap().as_bytes()).unwrap(),
    };
    let mut validation = jsonwebtoken::Validation::new(jalg);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    validation.validate_nbf = true;
    validation.leeway = 30;

    let primitive = match alg {
        Algorithm::HS256 => Primitive::Hmac(Box::new(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            secret,
        ))),
        _ => {
            let spki = verifying.to_spki_der().unwrap();
            let (algorithm, raw): (&'static dyn sig::VerificationAlgorithm, Vec<u8>) = match alg {
                Algorithm::RS256 => (&sig::RSA_PKCS1_2048_8192_SHA256, spki),
                Algorithm::PS256 => (&sig::RSA_PSS_2048_8192_SHA256, spki),
                Algorithm::ES256 => (
                    &sig::ECDSA_P256_SHA256_FIXED,
                    spki[spki.len() - 65..].to_vec(),
                ),
                _ => (&sig::ED25519, spki[spki.len() - 32..].to_vec()),
            };
            Primitive::Public(ParsedPublicKey::new(algorithm, raw).unwrap())
        }
    };

    // Every path must accept the token before it is timed.
    assert!(verifier.verify(&token).is_ok());
    assert!(jsonwebtoken::decode::<BenchClaims>(&token, &decoding, &validation).is_ok());
    assert!(floor(&token, &primitive).is_some());
    Case {
        alg,
        token,
        verifier,
        decoding,
        validation,
        primitive,
    }
}

/// The least work a correct verifier does: decode, check the signature, parse the claims.
fn floor(token: &str, primitive: &Primitive) -> Option<BenchClaims> {
    let (input, signature) = token.rsplit_once('.')?;
    let (header, payload) = input.split_once('.')?;
    let mut header_buf = [0u8; 128];
    URL_SAFE_NO_PAD.decode_slice(header, &mut header_buf).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    if !primitive.verify(input.as_bytes(), &signature) {
        return None;
    }
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&payload).ok()
}

fn benches(c: &mut Criterion) {
    let reader = Requirement::role("reader");
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let case = case(alg);
        let mut group = c.benchmark_group(format!("verify/{}", case.alg));
        group.bench_function("authz", |b| {
            b.iter(|| {
                let principal = case.verifier.verify(black_box(&case.token)).unwrap();
                reader.evaluate(&principal).unwrap();
                principal
            })
        });
        group.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<BenchClaims>(
                    black_box(&case.token),
                    &case.decoding,
                    &case.validation,
                )
                .unwrap()
            })
        });
        group.bench_function("floor", |b| {
            b.iter(|| floor(black_box(&case.token), &case.primitive).unwrap())
        });
        if alg != Algorithm::HS256 {
            let (input, signature) = case.token.rsplit_once('.').unwrap();
            let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
            group.bench_function("primitive", |b| {
                b.iter(|| {
                    assert!(
                        case.primitive
                            .verify(black_box(input.as_bytes()), &signature)
                    )
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = verify;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}
criterion_main!(verify);
