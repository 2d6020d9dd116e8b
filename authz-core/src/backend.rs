//! The crypto backend, chosen by cargo features: `aws_lc_rs` (default) or `rust_crypto`.
//! The features are additive: when both are on (cargo unifies features across a build, so
//! two dependents may each pick one), aws-lc-rs is used and the RustCrypto crates are only
//! compiled.
//!
//! Signatures are made and checked by `jsonwebtoken` through the backend's own
//! `CryptoProvider`, named here explicitly, so that jsonwebtoken's process-wide default (which
//! panics at run time when its features are ambiguous) is never consulted. This module adds
//! what jsonwebtoken does not do: validating public keys at load and generating keys.

#[cfg(not(any(feature = "aws_lc_rs", feature = "rust_crypto")))]
compile_error!(
    "authz-core: no crypto backend. Enable the `aws_lc_rs` (default) or `rust_crypto` feature."
);

use jsonwebtoken::crypto::CryptoProvider;

use crate::error::KeyError;

/// The public material of a key, kept for export (JWK, PEM) and size checks.
#[derive(Clone)]
pub(crate) enum Public {
    /// An HMAC secret: nothing public to export.
    Secret,
    /// A PKCS#1 RSAPublicKey.
    Rsa { pkcs1: Vec<u8> },
    /// An uncompressed SEC1 point, `04 || x || y`.
    Ec { point: Vec<u8> },
    /// The 32-byte Ed25519 public key.
    Ed { x: Vec<u8> },
}

#[cfg(feature = "aws_lc_rs")]
mod imp {
    use std::sync::Arc;

    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED,
        ECDSA_P384_SHA384_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey,
        RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
        RSA_PSS_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384, RSA_PSS_2048_8192_SHA512,
        VerificationAlgorithm,
    };
    use jsonwebtoken::crypto::JwtVerifier;
    use jsonwebtoken::signature::Verifier;

    use super::Public;
    use crate::algorithm::Algorithm;
    use crate::error::KeyError;

    pub(crate) const NAME: &str = "aws_lc_rs";

    /// A jsonwebtoken `JwtVerifier` over a public key parsed once, with the same aws-lc
    /// algorithm objects as jsonwebtoken's own aws-lc verifiers (which re-parse the key on
    /// every call: ~4 µs per RSA verification).
    struct Parsed {
        key: ParsedPublicKey,
        alg: jsonwebtoken::Algorithm,
    }

    impl Verifier<Vec<u8>> for Parsed {
        fn verify(
            &self,
            msg: &[u8],
            signature: &Vec<u8>,
        ) -> Result<(), jsonwebtoken::signature::Error> {
            self.key
                .verify_sig(msg, signature)
                .map_err(jsonwebtoken::signature::Error::from_source)
        }
    }

    impl JwtVerifier for Parsed {
        fn algorithm(&self) -> jsonwebtoken::Algorithm {
            self.alg
        }
    }

    /// Validates the public key (points on the curve, a usable RSA key) by parsing it once,
    /// and returns a verifier that keeps the parsed key.
    pub(crate) fn public_verifier(
        alg: Algorithm,
        public: &Public,
    ) -> Result<Option<Arc<dyn JwtVerifier + Send + Sync>>, KeyError> {
        let (verification, bytes): (&'static dyn VerificationAlgorithm, &[u8]) = match (alg, public)
        {
            (_, Public::Secret) => return Ok(None),
            (Algorithm::RS256, Public::Rsa { pkcs1 }) => (&RSA_PKCS1_2048_8192_SHA256, pkcs1),
            (Algorithm::RS384, Public::Rsa { pkcs1 }) => (&RSA_PKCS1_2048_8192_SHA384, pkcs1),
            (Algorithm::RS512, Public::Rsa { pkcs1 }) => (&RSA_PKCS1_2048_8192_SHA512, pkcs1),
            (Algorithm::PS256, Public::Rsa { pkcs1 }) => (&RSA_PSS_2048_8192_SHA256, pkcs1),
            (Algorithm::PS384, Public::Rsa { pkcs1 }) => (&RSA_PSS_2048_8192_SHA384, pkcs1),
            (Algorithm::PS512, Public::Rsa { pkcs1 }) => (&RSA_PSS_2048_8192_SHA512, pkcs1),
            (Algorithm::ES256, Public::Ec { point }) => (&ECDSA_P256_SHA256_FIXED, point),
            (Algorithm::ES384, Public::Ec { point }) => (&ECDSA_P384_SHA384_FIXED, point),
            (Algorithm::EdDSA, Public::Ed { x }) => (&ED25519, x),
            _ => {
                return Err(KeyError::WrongKeyType {
                    alg,
                    found: "mismatched",
                });
            }
        };
        let key = ParsedPublicKey::new(verification, bytes).map_err(|_| super::refused(public))?;
        Ok(Some(Arc::new(Parsed {
            key,
            alg: alg.to_jsonwebtoken(),
        })))
    }

    pub(crate) fn provider() -> &'static jsonwebtoken::crypto::CryptoProvider {
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
    }

    pub(crate) fn generate_rsa(bits: usize) -> Result<Vec<u8>, KeyError> {
        use aws_lc_rs::rsa::{KeyPair, KeySize};
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => {
                return Err(KeyError::UnsupportedKeySize { bits });
            }
        };
        let pair = KeyPair::generate(size).map_err(super::generation)?;
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().map_err(super::generation)?;
        Ok(der.as_ref().to_vec())
    }

    pub(crate) fn generate_ec(alg: Algorithm) -> Result<Vec<u8>, KeyError> {
        let signing = match alg {
            Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED_SIGNING,
            _ => return Err(KeyError::UnsupportedAlgorithm(alg.to_string())),
        };
        let doc = EcdsaKeyPair::generate_pkcs8(signing, &SystemRandom::new())
            .map_err(super::generation)?;
        Ok(doc.as_ref().to_vec())
    }

    pub(crate) fn generate_ed25519() -> Result<Vec<u8>, KeyError> {
        let doc =
            Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).map_err(super::generation)?;
        Ok(doc.as_ref().to_vec())
    }
}

#[cfg(all(feature = "rust_crypto", not(feature = "aws_lc_rs")))]
mod imp {
    use std::sync::Arc;

    use jsonwebtoken::crypto::JwtVerifier;
    use p256::pkcs8::EncodePrivateKey as _;
    use rand::rngs::OsRng;

    use super::Public;
    use crate::algorithm::Algorithm;
    use crate::error::KeyError;

    pub(crate) const NAME: &str = "rust_crypto";

    /// Validates the public key; jsonwebtoken's RustCrypto verifiers are then used as they are
    /// (built once per key and thread), so no verifier is returned.
    pub(crate) fn public_verifier(
        alg: Algorithm,
        public: &Public,
    ) -> Result<Option<Arc<dyn JwtVerifier + Send + Sync>>, KeyError> {
        let valid = match public {
            Public::Secret => true,
            Public::Rsa { pkcs1 } => {
                use rsa::pkcs1::DecodeRsaPublicKey as _;
                rsa::RsaPublicKey::from_pkcs1_der(pkcs1).is_ok()
            }
            Public::Ec { point } => match alg {
                Algorithm::ES256 => p256::PublicKey::from_sec1_bytes(point).is_ok(),
                Algorithm::ES384 => p384::PublicKey::from_sec1_bytes(point).is_ok(),
                _ => false,
            },
            Public::Ed { x } => <&[u8; 32]>::try_from(x.as_slice())
                .is_ok_and(|x| ed25519_dalek::VerifyingKey::from_bytes(x).is_ok()),
        };
        if valid {
            Ok(None)
        } else {
            Err(super::refused(public))
        }
    }

    pub(crate) fn provider() -> &'static jsonwebtoken::crypto::CryptoProvider {
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
    }

    pub(crate) fn generate_rsa(bits: usize) -> Result<Vec<u8>, KeyError> {
        if !matches!(bits, 2048 | 3072 | 4096) {
            return Err(KeyError::UnsupportedKeySize { bits });
        }
        let key = rsa::RsaPrivateKey::new(&mut OsRng, bits).map_err(super::generation)?;
        let der = rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(&key).map_err(super::generation)?;
        Ok(der.as_bytes().to_vec())
    }

    pub(crate) fn generate_ec(alg: Algorithm) -> Result<Vec<u8>, KeyError> {
        let der = match alg {
            Algorithm::ES256 => p256::SecretKey::random(&mut OsRng).to_pkcs8_der(),
            Algorithm::ES384 => p384::SecretKey::random(&mut OsRng).to_pkcs8_der(),
            _ => return Err(KeyError::UnsupportedAlgorithm(alg.to_string())),
        }
        .map_err(super::generation)?;
        Ok(der.as_bytes().to_vec())
    }

    pub(crate) fn generate_ed25519() -> Result<Vec<u8>, KeyError> {
        let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
        let der = key.to_pkcs8_der().map_err(super::generation)?;
        Ok(der.as_bytes().to_vec())
    }
}

/// The name of the backend in use: `"aws_lc_rs"` (also when both backend features are on) or
/// `"rust_crypto"`.
pub const BACKEND: &str = imp::NAME;

/// The backend's jsonwebtoken `CryptoProvider`, named explicitly (never the process default).
pub(crate) fn provider() -> &'static CryptoProvider {
    imp::provider()
}

pub(crate) use imp::{generate_ec, generate_ed25519, generate_rsa, public_verifier};

/// The error for a public key the backend refuses.
fn refused(public: &Public) -> KeyError {
    KeyError::InvalidPublicKey(match public {
        Public::Ec { .. } => "the point is not on the curve",
        Public::Ed { .. } => "not an Ed25519 public key",
        Public::Rsa { .. } => "not a usable RSA public key",
        Public::Secret => "not a key",
    })
}

/// Fills `buf` from the operating system's CSPRNG.
/// `len` random bytes (at most 64), base64url without padding.
/// A key-generation failure of the backend, keeping its error.
fn generation(error: impl std::error::Error + Send + Sync + 'static) -> KeyError {
    KeyError::Backend(crate::error::BackendError::new("key generation", error))
}

pub(crate) fn random_b64url(len: usize) -> Result<String, KeyError> {
    use base64::Engine as _;
    let mut buf = [0u8; 64];
    let buf = &mut buf[..len.min(64)];
    random_bytes(buf)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), KeyError> {
    getrandom::fill(buf)
        .map_err(|e| KeyError::Backend(crate::error::BackendError::new("random source", e)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_backend_in_use_is_named() {
        let expected = if cfg!(feature = "aws_lc_rs") {
            "aws_lc_rs"
        } else {
            "rust_crypto"
        };
        assert_eq!(super::BACKEND, expected);
    }
}
