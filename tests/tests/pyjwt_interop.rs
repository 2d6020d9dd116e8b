//! Interoperability with [PyJWT](https://pyjwt.readthedocs.io), the reference most of our users
//! come from, for HS256, RS256, PS256, ES256 and EdDSA:
//!
//! - tokens PyJWT signs verify with our [`Verifier`] (subject, roles, issuer, audience, `typ`,
//!   and the `kid` PyJWT wrote in the header);
//! - tokens our [`Issuer`] signs decode in PyJWT, which checks the signature, `exp`, `iat`,
//!   `aud` and `iss`, and sees our header (`alg`, `kid`, `typ`);
//! - a PyJWT token signed with another key is refused as [`ErrorKind::InvalidSignature`], an
//!   expired one as [`ErrorKind::Expired`] with PyJWT's own message, "Signature has expired";
//! - PyJWT refuses our forged, expired, wrong-issuer and wrong-audience tokens as we do
//!   (same exception, and the same message except for the audience).
//!
//! The PyJWT side is `tests/py/pyjwt_interop.py`, run as `python3` with JSON on stdin and
//! stdout. It needs `pip install "pyjwt[crypto]"`. When `python3 -c "import jwt, cryptography"`
//! fails at build time, every test here is reported as *ignored*, with that reason (see
//! `tests/build/probe.rs`), unless `AUTHZ_REQUIRE_PYJWT=1` is set (as CI does): then the build
//! fails.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authz_axum::{
    Algorithm, ErrorKind, FixedClock, Issuer, KeySet, Principal, SigningKey, Verifier,
    generate_secret,
};
use serde_json::{Value, json};

/// The algorithms checked in both directions.
const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "orders";
const TYP: &str = "at+jwt";

// ---------------------------------------------------------------------------------------------
// Running the PyJWT script
// ---------------------------------------------------------------------------------------------

/// PyJWT refused a token: the exception class and its message.
#[derive(Debug)]
struct Refused {
    error: String,
    message: String,
}

/// Runs `tests/py/pyjwt_interop.py MODE` with `request` on stdin. `Ok` holds the JSON it
/// printed, `Err` the PyJWT exception (exit status 2); anything else is a broken test.
fn pyjwt(mode: &str, request: &Value) -> Result<Value, Refused> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/pyjwt_interop.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write the request to python3");
    let out = child.wait_with_output().expect("wait for python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let parsed = || -> Value {
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("{mode}: python printed no JSON ({e}): {stdout}\nstderr: {stderr}")
        })
    };
    match out.status.code() {
        Some(0) => Ok(parsed()),
        Some(2) => {
            let v = parsed();
            let field = |name: &str| {
                v[name]
                    .as_str()
                    .unwrap_or_else(|| panic!("{mode}: no {name:?} in {v}"))
                    .to_owned()
            };
            Err(Refused {
                error: field("error"),
                message: field("message"),
            })
        }
        _ => panic!("{mode}: python3 failed ({}):\n{stderr}", out.status),
    }
}

/// A token PyJWT signs with `key`'s private half (or secret) and the given header.
fn pyjwt_sign(
    key: &TestKey,
    claims: Value,
    headers: Value,
    iat_offset: i64,
    exp_offset: i64,
) -> String {
    let out = pyjwt(
        "sign",
        &json!({
            "alg": key.alg.as_str(),
            "key": key.private,
            "claims": claims,
            "headers": headers,
            "iat_offset": iat_offset,
            "exp_offset": exp_offset,
        }),
    )
    .unwrap_or_else(|e| panic!("PyJWT refused to sign with {}: {e:?}", key.alg));
    out["token"].as_str().expect("a token string").to_owned()
}

/// PyJWT's `decode_complete` of `token` with `key`'s public half (or secret), checking
/// `aud` = [`AUDIENCE`] and `iss` = [`ISSUER`]. `Ok` holds `{"header", "claims"}`.
fn pyjwt_verify(key: &TestKey, token: &str) -> Result<Value, Refused> {
    pyjwt(
        "verify",
        &json!({
            "alg": key.alg.as_str(),
            "key": key.public,
            "token": token,
            "audience": AUDIENCE,
            "issuer": ISSUER,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Keys, generated once per test binary
// ---------------------------------------------------------------------------------------------

/// A key of ours and the same key as PyJWT takes it.
struct TestKey {
    alg: Algorithm,
    signing: SigningKey,
    /// PKCS#8 PEM private key, or the hex secret.
    private: String,
    /// SPKI PEM public key, or the hex secret.
    public: String,
}

impl TestKey {
    fn generate(alg: Algorithm, kid: &str) -> Self {
        let (signing, private, public) = if alg.is_symmetric() {
            let secret = generate_secret(alg).expect("generate an HMAC secret");
            let signing = SigningKey::from_secret(alg, &secret).expect("load the HMAC secret");
            (signing, hex(&secret), hex(&secret))
        } else {
            let signing = SigningKey::generate(alg).expect("generate a key pair");
            let private = signing.to_pkcs8_pem().expect("a PKCS#8 PEM").to_string();
            let public = signing.verifying_key().to_pem().expect("an SPKI PEM");
            (signing, private, public)
        };
        Self {
            alg,
            signing: signing.with_kid(kid),
            private,
            public,
        }
    }

    fn kid(&self) -> &str {
        self.signing.kid().expect("test keys have a kid")
    }

    /// A verifier that trusts this key only, with our issuer, audience and `typ`.
    fn verifier(&self) -> Verifier {
        Verifier::builder(KeySet::single(self.signing.verifying_key()))
            .with_issuer(ISSUER)
            .with_audience(AUDIENCE)
            .with_typ(TYP)
            .with_required_claims(["iat"])
            .build()
            .expect("build a verifier")
    }

    fn issuer(&self) -> Issuer {
        Issuer::new(self.signing.clone())
            .with_issuer(ISSUER)
            .with_audience(AUDIENCE)
            .with_typ(TYP)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// One key per algorithm, `kid` `py-<alg>`.
fn keys() -> &'static [TestKey] {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        ALGORITHMS
            .iter()
            .map(|&alg| TestKey::generate(alg, &format!("py-{alg}")))
            .collect()
    })
}

/// A second, unrelated key per algorithm with the same `kid` as in [`keys`].
fn other_keys() -> &'static [TestKey] {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        ALGORITHMS
            .iter()
            .map(|&alg| TestKey::generate(alg, &format!("py-{alg}")))
            .collect()
    })
}

/// The claims both sides sign: `iat` and `exp` are added by the signer.
fn claims_for(alg: Algorithm) -> Value {
    json!({
        "sub": format!("alice-{alg}"),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "roles": ["admin", "auditor"],
        "tenant": "acme",
    })
}

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("seconds fit i64")
}

fn assert_alice(principal: &Principal, key: &TestKey) {
    let alg = key.alg;
    assert_eq!(principal.subject(), format!("alice-{alg}"), "{alg}");
    assert_eq!(principal.issuer(), Some(ISSUER), "{alg}");
    assert!(
        principal.has_role("admin"),
        "{alg}: {:?}",
        principal.roles().collect::<Vec<_>>()
    );
    assert!(
        principal.has_role("auditor"),
        "{alg}: {:?}",
        principal.roles().collect::<Vec<_>>()
    );
    assert!(!principal.has_role("owner"), "{alg}");
    assert_eq!(principal.algorithm(), alg);
    assert_eq!(principal.key_id(), Some(key.kid()), "{alg}");
    let claims: Value = principal.claims().expect("the claims are JSON");
    assert_eq!(claims["tenant"], "acme", "{alg}: {claims}");
    assert_eq!(claims["aud"], AUDIENCE, "{alg}: {claims}");
}

// ---------------------------------------------------------------------------------------------
// PyJWT -> authz
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(authz_pyjwt),
    ignore = "needs PyJWT: pip install \"pyjwt[crypto]\" (python3 must import jwt and cryptography)"
)]
fn pyjwt_tokens_verify_with_our_verifier() {
    for key in keys() {
        let alg = key.alg;
        let token = pyjwt_sign(
            key,
            claims_for(alg),
            json!({"kid": key.kid(), "typ": TYP}),
            0,
            300,
        );

        let principal = key
            .verifier()
            .verify(&token)
            .unwrap_or_else(|e| panic!("{alg}: PyJWT token refused: {e} ({:?})", e.kind()));
        assert_alice(&principal, key);
        let iat = principal.issued_at().expect("iat");
        let exp = principal.expires_at().expect("exp");
        assert_eq!(exp - iat, 300.0, "{alg}");
        assert!((iat - now() as f64).abs() <= 5.0, "{alg}: iat {iat}");

        // The kid PyJWT wrote is the one that selected our key: under another kid it is unknown.
        let renamed = Verifier::builder(KeySet::single(
            key.signing.verifying_key().with_kid("someone-else"),
        ))
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .build()
        .unwrap();
        let err = renamed.verify(&token).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::UnknownKeyId, "{alg}");
    }
}

#[test]
#[cfg_attr(
    not(authz_pyjwt),
    ignore = "needs PyJWT: pip install \"pyjwt[crypto]\" (python3 must import jwt and cryptography)"
)]
fn pyjwt_token_signed_with_another_key_is_an_invalid_signature() {
    for (key, other) in keys().iter().zip(other_keys()) {
        let alg = key.alg;
        assert_eq!(other.alg, alg);
        assert_eq!(other.kid(), key.kid());
        let forged = pyjwt_sign(
            other,
            claims_for(alg),
            json!({"kid": key.kid(), "typ": TYP}),
            0,
            300,
        );
        // The forgery is otherwise a good token: the key it was signed with accepts it.
        assert_alice(&other.verifier().verify(&forged).unwrap(), other);

        let err = key.verifier().verify(&forged).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidSignature, "{alg}");
        assert_eq!(err.to_string(), "Signature verification failed", "{alg}");
    }
}

#[test]
#[cfg_attr(
    not(authz_pyjwt),
    ignore = "needs PyJWT: pip install \"pyjwt[crypto]\" (python3 must import jwt and cryptography)"
)]
fn expired_pyjwt_token_is_expired_with_pyjwts_message() {
    for key in keys() {
        let alg = key.alg;
        // Issued 15 minutes ago, expired 10 minutes ago: far beyond any allowed leeway.
        let token = pyjwt_sign(
            key,
            claims_for(alg),
            json!({"kid": key.kid(), "typ": TYP}),
            -900,
            -600,
        );
        let err = key.verifier().verify(&token).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Expired, "{alg}");
        assert_eq!(err.to_string(), "Signature has expired", "{alg}");

        // PyJWT says the same of its own token.
        let refused = pyjwt_verify(key, &token).unwrap_err();
        assert_eq!(refused.error, "ExpiredSignatureError", "{alg}");
        assert_eq!(refused.message, err.to_string(), "{alg}");
    }
}

// ---------------------------------------------------------------------------------------------
// authz -> PyJWT
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(authz_pyjwt),
    ignore = "needs PyJWT: pip install \"pyjwt[crypto]\" (python3 must import jwt and cryptography)"
)]
fn our_tokens_decode_in_pyjwt() {
    for key in keys() {
        let alg = key.alg;
        let token = key
            .issuer()
            .issue(&json!({"sub": format!("bob-{alg}"), "roles": ["admin"]}))
            .unwrap();

        let decoded = pyjwt_verify(key, &token)
            .unwrap_or_else(|e| panic!("{alg}: PyJWT refused our token: {e:?}"));
        let header = &decoded["header"];
        assert_eq!(header["alg"], alg.as_str(), "{alg}: {header}");
        assert_eq!(header["kid"], key.kid(), "{alg}: {header}");
        assert_eq!(header["typ"], TYP, "{alg}: {header}");

        let claims = &decoded["claims"];
        assert_eq!(claims["sub"], format!("bob-{alg}"), "{alg}: {claims}");
        assert_eq!(claims["roles"], json!(["admin"]), "{alg}: {claims}");
        assert_eq!(claims["iss"], ISSUER, "{alg}: {claims}");
        assert_eq!(claims["aud"], AUDIENCE, "{alg}: {claims}");
        let iat = claims["iat"].as_i64().expect("integer iat");
        let exp = claims["exp"].as_i64().expect("integer exp");
        assert_eq!(exp - iat, 300, "{alg}: {claims}");
        assert!((iat - now()).abs() <= 5, "{alg}: {claims}");
        assert!(
            claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()),
            "{alg}: {claims}"
        );

        // And the token PyJWT accepted is one we accept too, with the same roles.
        let principal = key.verifier().verify(&token).unwrap();
        assert_eq!(principal.subject(), format!("bob-{alg}"));
        assert!(principal.has_role("admin"));
    }
}

/// Asserts that we refuse `token` with `kind` and PyJWT with `class` (and, when
/// `same_message`, with our message).
fn both_refuse(key: &TestKey, token: &str, kind: ErrorKind, class: &str, same_message: bool) {
    let alg = key.alg;
    let ours = key.verifier().verify(token).expect_err("we must refuse it");
    assert_eq!(ours.kind(), &kind, "{alg}");
    let theirs = pyjwt_verify(key, token).expect_err("PyJWT must refuse it");
    assert_eq!(theirs.error, class, "{alg}: {theirs:?}");
    if same_message {
        assert_eq!(theirs.message, ours.to_string(), "{alg}");
    }
}

#[test]
#[cfg_attr(
    not(authz_pyjwt),
    ignore = "needs PyJWT: pip install \"pyjwt[crypto]\" (python3 must import jwt and cryptography)"
)]
fn pyjwt_refuses_our_bad_tokens_as_we_do() {
    for (key, other) in keys().iter().zip(other_keys()) {
        let claims = json!({"sub": "mallory", "roles": ["admin"]});

        // Signed by a key PyJWT was not given.
        let forged = other.issuer().issue(&claims).unwrap();
        both_refuse(
            key,
            &forged,
            ErrorKind::InvalidSignature,
            "InvalidSignatureError",
            true,
        );

        // Issued an hour ago with our 5-minute default lifetime.
        let an_hour_ago = FixedClock::at(SystemTime::now() - Duration::from_secs(3600));
        let expired = key.issuer().with_clock(an_hour_ago).issue(&claims).unwrap();
        both_refuse(
            key,
            &expired,
            ErrorKind::Expired,
            "ExpiredSignatureError",
            true,
        );

        // Claims win over the issuer's defaults: another issuer, another audience.
        let wrong_iss = key
            .issuer()
            .issue(&json!({"sub": "mallory", "iss": "https://evil.example"}))
            .unwrap();
        both_refuse(
            key,
            &wrong_iss,
            ErrorKind::InvalidIssuer,
            "InvalidIssuerError",
            true,
        );

        // PyJWT says "Audience doesn't match" here, and "Invalid audience" only when it was
        // given no audience: the class is what compares.
        let wrong_aud = key
            .issuer()
            .issue(&json!({"sub": "mallory", "aud": "billing"}))
            .unwrap();
        both_refuse(
            key,
            &wrong_aud,
            ErrorKind::InvalidAudience,
            "InvalidAudienceError",
            false,
        );
    }
}
