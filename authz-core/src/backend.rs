//! The crypto backend, chosen by one cargo feature: `aws_lc_rs` (default) or `rust_crypto`.
//!
//! Signatures are made and checked by `jsonwebtoken` through the backend's own
//! `CryptoProvider`, named here explicitly, so that jsonwebtoken's process-wide default (which
//! panics at run time when its features are ambiguous) is never consulted. This module adds
//! what jsonwebtoken does not do: validating public keys at load and generating keys.

#[cfg(all(feature = "aws_lc_rs", feature = "rust_crypto"))]
compile_error!(
    "authz-core: enable exactly one crypto backend. `aws_lc_rs` is the default; for \
     `rust_crypto` set `default-features = false, features = [\"rust_crypto\"]`."
);

#[cfg(not(any(feature = "aws_lc_rs", feature = "rust_crypto")))]
compile_error!(
    "authz-core: no crypto backend. Enable the `aws_lc_rs` (default) or `rust_crypto` feature."
);

use jsonwebtoken::crypto::CryptoProvider;

use crate::error::KeyError;

#[cfg(feature = "aws_lc_rs")]
mod imp {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED,
        ECDSA_P384_SHA384_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey,
        RSA_PKCS1_2048_8192_SHA256,
    };

    use crate::algorithm::Algorithm;
    use crate::error::KeyError;

    pub(crate) const NAME: &str = "aws_lc_rs";

    pub(crate) fn provider() -> &'static jsonwebtoken::crypto::CryptoProvider {
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
    }

    pub(crate) fn check_ec_point(alg: Algorithm, point: &[u8]) -> Result<(), KeyError> {
        let verification = match alg {
            Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED,
            _ => return Err(KeyError::InvalidPublicKey("not an EC algorithm")),
        };
        ParsedPublicKey::new(verification, point)
            .map(drop)
            .map_err(|_| KeyError::InvalidPublicKey("the point is not on the curve"))
    }

    pub(crate) fn check_ed25519(x: &[u8]) -> Result<(), KeyError> {
        ParsedPublicKey::new(&ED25519, x)
            .map(drop)
            .map_err(|_| KeyError::InvalidPublicKey("not an Ed25519 public key"))
    }

    pub(crate) fn check_rsa(pkcs1: &[u8]) -> Result<(), KeyError> {
        ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1)
            .map(drop)
            .map_err(|_| KeyError::InvalidPublicKey("not a usable RSA public key"))
    }

    pub(crate) fn generate_rsa(bits: usize) -> Result<Vec<u8>, KeyError> {
        use aws_lc_rs::rsa::{KeyPair, KeySize};
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => {
                return Err(KeyError::Config(
                    "RSA keys are 2048, 3072 or 4096 bits".into(),
                ));
            }
        };
        let pair = KeyPair::generate(size).map_err(|e| KeyError::Backend(e.to_string()))?;
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair
            .as_der()
            .map_err(|e| KeyError::Backend(e.to_string()))?;
        Ok(der.as_ref().to_vec())
    }

    pub(crate) fn generate_ec(alg: Algorithm) -> Result<Vec<u8>, KeyError> {
        let signing = match alg {
            Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED_SIGNING,
            _ => return Err(KeyError::UnsupportedAlgorithm(alg.to_string())),
        };
        let doc = EcdsaKeyPair::generate_pkcs8(signing, &SystemRandom::new())
            .map_err(|e| KeyError::Backend(e.to_string()))?;
        Ok(doc.as_ref().to_vec())
    }

    pub(crate) fn generate_ed25519() -> Result<Vec<u8>, KeyError> {
        let doc = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
            .map_err(|e| KeyError::Backend(e.to_string()))?;
        Ok(doc.as_ref().to_vec())
    }
}

#[cfg(all(feature = "rust_crypto", not(feature = "aws_lc_rs")))]
mod imp {
    use p256::pkcs8::EncodePrivateKey as _;
    use rand::rngs::OsRng;

    use crate::algorithm::Algorithm;
    use crate::error::KeyError;

    pub(crate) const NAME: &str = "rust_crypto";

    pub(crate) fn provider() -> &'static jsonwebtoken::crypto::CryptoProvider {
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
    }

    pub(crate) fn check_ec_point(alg: Algorithm, point: &[u8]) -> Result<(), KeyError> {
        let ok = match alg {
            Algorithm::ES256 => p256::PublicKey::from_sec1_bytes(point).is_ok(),
            Algorithm::ES384 => p384::PublicKey::from_sec1_bytes(point).is_ok(),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(KeyError::InvalidPublicKey("the point is not on the curve"))
        }
    }

    pub(crate) fn check_ed25519(x: &[u8]) -> Result<(), KeyError> {
        let bytes: &[u8; 32] = x
            .try_into()
            .map_err(|_| KeyError::InvalidPublicKey("not an Ed25519 public key"))?;
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(drop)
            .map_err(|_| KeyError::InvalidPublicKey("not an Ed25519 public key"))
    }

    pub(crate) fn check_rsa(pkcs1: &[u8]) -> Result<(), KeyError> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        rsa::RsaPublicKey::from_pkcs1_der(pkcs1)
            .map(drop)
            .map_err(|_| KeyError::InvalidPublicKey("not a usable RSA public key"))
    }

    pub(crate) fn generate_rsa(bits: usize) -> Result<Vec<u8>, KeyError> {
        if !matches!(bits, 2048 | 3072 | 4096) {
            return Err(KeyError::Config(
                "RSA keys are 2048, 3072 or 4096 bits".into(),
            ));
        }
        let key = rsa::RsaPrivateKey::new(&mut OsRng, bits)
            .map_err(|e| KeyError::Backend(e.to_string()))?;
        let der = rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(&key)
            .map_err(|e| KeyError::Backend(e.to_string()))?;
        Ok(der.as_bytes().to_vec())
    }

    pub(crate) fn generate_ec(alg: Algorithm) -> Result<Vec<u8>, KeyError> {
        let der = match alg {
            Algorithm::ES256 => p256::SecretKey::random(&mut OsRng).to_pkcs8_der(),
            Algorithm::ES384 => p384::SecretKey::random(&mut OsRng).to_pkcs8_der(),
            _ => return Err(KeyError::UnsupportedAlgorithm(alg.to_string())),
        }
        .map_err(|e| KeyError::Backend(e.to_string()))?;
        Ok(der.as_bytes().to_vec())
    }

    pub(crate) fn generate_ed25519() -> Result<Vec<u8>, KeyError> {
        let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
        let der = key
            .to_pkcs8_der()
            .map_err(|e| KeyError::Backend(e.to_string()))?;
        Ok(der.as_bytes().to_vec())
    }
}

/// The name of the compiled-in backend: `"aws_lc_rs"` or `"rust_crypto"`.
pub const BACKEND: &str = imp::NAME;

/// The backend's jsonwebtoken `CryptoProvider`, named explicitly (never the process default).
pub(crate) fn provider() -> &'static CryptoProvider {
    imp::provider()
}

pub(crate) use imp::{
    check_ec_point, check_ed25519, check_rsa, generate_ec, generate_ed25519, generate_rsa,
};

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), KeyError> {
    getrandom::fill(buf).map_err(|e| KeyError::Backend(e.to_string()))
}
