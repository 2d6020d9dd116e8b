//! Keys: loading, checking, generating and exporting them.
//!
//! A [`VerifyingKey`] checks signatures, a [`SigningKey`] makes them, a [`KeySet`] picks the
//! key for a token by its `kid`. Every key is bound to exactly one [`Algorithm`] when it is
//! loaded, and is refused at load — never at the first request — when it is weak or
//! inconsistent: HMAC secrets shorter than the hash, RSA under 2048 bits, an EC curve that does
//! not match the algorithm, off-curve points, JWKs whose members disagree.
//!
//! Keys are parsed once, at construction. `Debug` never prints key material.
//!
//! # Example
//!
//! ```
//! use authz_core::{Algorithm, KeySet, SigningKey, VerifyingKey};
//!
//! // An issuer generates a key pair and publishes the public half as a JWKS.
//! let signing = SigningKey::generate(Algorithm::ES256)?.with_kid("2026-11");
//! let jwks = KeySet::single(signing.verifying_key()).to_jwks_string();
//!
//! // A service that trusts it loads the JWKS: public keys only, checked one by one.
//! let trusted = KeySet::from_jwks(&jwks)?;
//! assert_eq!(trusted.get("2026-11").unwrap().algorithm(), Algorithm::ES256);
//!
//! // Weak keys are refused when loaded, with the reason.
//! let err = VerifyingKey::from_secret(Algorithm::HS256, b"123456").unwrap_err();
//! assert!(err.to_string().contains("at least 32"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod der;
mod jwk;
mod ring;
mod roca;
mod secret;
pub(crate) mod set;
mod shared;
mod signing;
pub(crate) mod source;
mod verifying;

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::crypto::{JwtSigner, JwtVerifier};
use jsonwebtoken::jwk::EllipticCurve;
use jsonwebtoken::{DecodingKey, EncodingKey};
use zeroize::Zeroizing;

pub use self::jwk::Jwk;
pub use self::ring::KeyRing;
pub use self::secret::generate_secret;
pub use self::set::KeySet;
pub use self::shared::SharedKeySet;
pub use self::signing::SigningKey;
pub use self::source::{KeySource, SigningSource};
pub use self::verifying::VerifyingKey;

use self::der::{Curve, KeyAlg};
use self::secret::check_secret;
use crate::algorithm::{Algorithm, KeyFamily};
use crate::backend;
pub(crate) use crate::backend::Public;
use crate::error::{ErrorKind, KeyError, Segment};

static NEXT_KEY_ID: AtomicU64 = AtomicU64::new(1);

fn check_curve(alg: Algorithm, curve: Curve) -> Result<(), KeyError> {
    match (alg, curve) {
        (Algorithm::ES256, Curve::P256) | (Algorithm::ES384, Curve::P384) => Ok(()),
        _ => Err(KeyError::CurveMismatch {
            alg,
            curve: curve.name().to_owned(),
        }),
    }
}

fn key_alg_name(alg: KeyAlg) -> &'static str {
    match alg {
        KeyAlg::Rsa => "RSA",
        KeyAlg::Ec(_) => "EC",
        KeyAlg::Ed25519 => "OKP",
    }
}

/// PEM with LF line endings, as openssl writes it.
fn encode_pem(label: &str, der: Vec<u8>) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(label, der), config)
}

fn parse_pem(input: &[u8]) -> Result<pem::Pem, KeyError> {
    pem::parse(input).map_err(|_| KeyError::Format("not a PEM document".into()))
}

/// Wraps a SEC1 `ECPrivateKey` into PKCS#8, reading the curve from its parameters.
fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Vec<u8>, KeyError> {
    let mut outer = der::Reader::new(sec1);
    let mut seq = der::Reader::new(outer.expect(der::TAG_SEQUENCE)?);
    let _version = seq.expect(der::TAG_INTEGER)?;
    let _private = seq.expect(der::TAG_OCTET_STRING)?;
    let mut curve = None;
    while !seq.is_empty() {
        if let (0xa0, params) = seq.any()? {
            curve = Some(der::Reader::new(params).expect(der::TAG_OID)?);
        }
    }
    let curve = curve.ok_or_else(|| KeyError::Format("EC key without curve parameters".into()))?;
    let mut alg_id = Vec::new();
    der::write_tlv(&mut alg_id, der::TAG_OID, der::OID_EC);
    der::write_tlv(&mut alg_id, der::TAG_OID, curve);
    Ok(wrap_pkcs8(&alg_id, sec1))
}

fn rsa_pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    let mut alg_id = Vec::new();
    der::write_tlv(&mut alg_id, der::TAG_OID, der::OID_RSA);
    der::write_tlv(&mut alg_id, der::TAG_NULL, &[]);
    wrap_pkcs8(&alg_id, pkcs1)
}

fn wrap_pkcs8(alg_id: &[u8], private: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(private.len() + alg_id.len() + 16);
    der::write_tlv(&mut body, der::TAG_INTEGER, &[0]);
    der::write_tlv(&mut body, der::TAG_SEQUENCE, alg_id);
    der::write_tlv(&mut body, der::TAG_OCTET_STRING, private);
    let mut out = Vec::with_capacity(body.len() + 4);
    der::write_tlv(&mut out, der::TAG_SEQUENCE, &body);
    out
}

/// A failure of the crypto backend while doing `what`, keeping its error.
fn backend_error(
    what: &'static str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> KeyError {
    KeyError::Backend(crate::error::BackendError::new(what, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn short_hmac_secrets_are_refused_with_the_reason() {
        let err = VerifyingKey::from_secret(Algorithm::HS256, b"123456").unwrap_err();
        assert_eq!(
            err,
            KeyError::WeakSecret {
                alg: Algorithm::HS256,
                len: 6,
                min: 32
            }
        );
        assert!(VerifyingKey::from_secret(Algorithm::HS256, b"").is_err());
        assert!(VerifyingKey::from_secret(Algorithm::HS384, SECRET).is_err());
        assert!(VerifyingKey::from_secret(Algorithm::HS256, SECRET).is_ok());
    }

    #[test]
    fn well_known_and_constant_secrets_are_refused() {
        let known = b"a-string-secret-at-least-256-bits-long";
        assert_eq!(
            VerifyingKey::from_secret(Algorithm::HS256, known).unwrap_err(),
            KeyError::PublicSecret
        );
        assert_eq!(
            VerifyingKey::from_secret(Algorithm::HS256, &[b'a'; 40]).unwrap_err(),
            KeyError::PublicSecret
        );
    }

    #[test]
    fn random_secrets_that_start_like_json_are_fine() {
        let mut secret = *b"{0123456789abcdef0123456789abcdef";
        assert!(VerifyingKey::from_secret(Algorithm::HS256, &secret).is_ok());
        secret[0] = b'-';
        assert!(VerifyingKey::from_secret(Algorithm::HS256, &secret).is_ok());
        let jwk = br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4","e":"AQAB"}"#;
        assert!(matches!(
            VerifyingKey::from_secret(Algorithm::HS256, jwk),
            Err(KeyError::Format(_))
        ));
        for _ in 0..2000 {
            assert!(
                SigningKey::generate(Algorithm::HS256).is_ok(),
                "generated secrets always load"
            );
        }
    }

    #[test]
    fn secrets_are_never_printed() {
        let key = SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap();
        let debug = format!("{key:?} {:?}", key.verifying_key());
        assert!(!debug.contains("0123456789"), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn hmac_key_with_non_hmac_alg_is_refused() {
        assert!(matches!(
            VerifyingKey::from_secret(Algorithm::RS256, SECRET),
            Err(KeyError::WrongKeyType { .. })
        ));
    }

    #[test]
    fn generated_keys_round_trip_through_pem() {
        for alg in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
            Algorithm::PS256,
        ] {
            let key = SigningKey::generate(alg).unwrap();
            let private = key.to_pkcs8_pem().unwrap();
            let again = SigningKey::from_pem(alg, private.as_bytes()).unwrap();
            let public = key.verifying_key().to_pem().unwrap();
            assert!(
                !private.contains('\r') && !public.contains('\r'),
                "LF line endings"
            );
            assert!(private.ends_with("-----END PRIVATE KEY-----\n"));
            assert_eq!(again.verifying_key().to_pem().unwrap(), public);
            let loaded = VerifyingKey::from_pem(alg, &public).unwrap();
            assert_eq!(loaded.algorithm(), alg);
            let der = loaded.to_spki_der().unwrap();
            assert!(VerifyingKey::from_der(alg, &der).is_ok());
        }
    }

    #[test]
    fn curve_mismatch_is_refused() {
        let p384 = SigningKey::generate(Algorithm::ES384).unwrap();
        let pem = p384.verifying_key().to_pem().unwrap();
        assert_eq!(
            VerifyingKey::from_pem(Algorithm::ES256, &pem).unwrap_err(),
            KeyError::CurveMismatch {
                alg: Algorithm::ES256,
                curve: "P-384".into()
            }
        );
        let private = p384.to_pkcs8_pem().unwrap();
        assert!(matches!(
            SigningKey::from_pem(Algorithm::ES256, private.as_bytes()),
            Err(KeyError::CurveMismatch { .. })
        ));
    }

    #[test]
    fn key_type_must_fit_the_algorithm() {
        let ed = SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .verifying_key()
            .to_pem()
            .unwrap();
        assert!(matches!(
            VerifyingKey::from_pem(Algorithm::RS256, &ed),
            Err(KeyError::WrongKeyType { found: "OKP", .. })
        ));
    }

    #[test]
    fn private_key_is_not_a_verifying_key() {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let private = key.to_pkcs8_pem().unwrap();
        assert_eq!(
            VerifyingKey::from_pem(Algorithm::ES256, private.as_bytes()).unwrap_err(),
            KeyError::PrivateKeyGiven
        );
    }

    #[test]
    fn off_curve_point_is_refused() {
        let mut point = vec![4u8];
        point.extend_from_slice(&[1u8; 64]);
        assert!(matches!(
            VerifyingKey::from_ec_point(Algorithm::ES256, &point),
            Err(KeyError::InvalidPublicKey(_))
        ));
    }
}
