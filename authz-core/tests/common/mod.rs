//! Helpers shared by the integration tests: hand-crafted tokens (any header, any payload,
//! duplicate members and all) signed with real keys through jsonwebtoken.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use authz_core::{
    Algorithm, FixedClock, KeySet, SigningKey, Verifier, VerifierBuilder, VerifyingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;

/// A 32-byte secret with no pattern.
pub const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";
/// The fixed "now" of these tests.
pub const NOW: u64 = 1_700_000_000;

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature`, HMAC-signed over the literal segments.
pub fn hs_raw(secret: &[u8], alg: jsonwebtoken::Algorithm, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &EncodingKey::from_secret(secret), alg)
        .expect("sign");
    format!("{input}.{sig}")
}

/// An HS256 token with the default header.
pub fn hs(payload: &str) -> String {
    hs_raw(
        SECRET,
        jsonwebtoken::Algorithm::HS256,
        r#"{"alg":"HS256","typ":"JWT"}"#,
        payload,
    )
}

/// Signs literal segments with an asymmetric key (its PKCS#8 PEM).
pub fn asym_raw(key: &SigningKey, header: &str, payload: &str) -> String {
    let pem = key.to_pkcs8_pem().expect("asymmetric key");
    let alg = key.algorithm();
    let encoding = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .expect("encoding key");
    let jalg: jsonwebtoken::Algorithm = alg.as_str().parse().expect("alg");
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &encoding, jalg).expect("sign");
    format!("{input}.{sig}")
}

/// Default valid claims at [`NOW`], with extra members appended.
pub fn claims(extra: &str) -> String {
    let base = format!(r#"{{"sub":"alice","iat":{NOW},"exp":{}"#, NOW + 300);
    if extra.is_empty() {
        format!("{base}}}")
    } else {
        format!("{base},{extra}}}")
    }
}

pub fn clock() -> FixedClock {
    FixedClock::at_unix(NOW)
}

pub fn hs_key() -> VerifyingKey {
    VerifyingKey::from_secret(Algorithm::HS256, SECRET).expect("key")
}

/// A builder over the HS256 test key at the fixed clock.
pub fn builder() -> VerifierBuilder {
    Verifier::builder(KeySet::single(hs_key())).with_clock(clock())
}

pub fn verifier() -> Verifier {
    builder().build().expect("verifier")
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
