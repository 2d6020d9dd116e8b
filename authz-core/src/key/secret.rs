//! HMAC secrets: [`generate_secret`], and the checks that refuse weak, published or
//! key-shaped secrets at load.

use super::*;

/// Secrets that appear in tutorials and cracking word lists (jwt.io, jwt_tool). Shorter ones
/// are already refused by the length check.
pub(super) const PUBLIC_SECRETS: &[&[u8]] = &[
    b"a-string-secret-at-least-256-bits-long",
    b"your-256-bit-secret-your-256-bit-secret",
    b"this-is-a-very-long-secret-key-for-testing",
    b"supersecretkeysupersecretkeysupersecretkey",
    b"secretsecretsecretsecretsecretsecret",
    b"09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
    // RFC 7515 Appendix A.1's HMAC key.
    &[
        3, 35, 53, 75, 43, 15, 165, 188, 131, 126, 6, 101, 119, 123, 166, 143, 90, 179, 40, 230,
        240, 84, 201, 40, 169, 15, 132, 178, 210, 80, 46, 191, 211, 251, 90, 146, 210, 6, 71, 239,
        150, 138, 180, 195, 119, 98, 61, 34, 61, 46, 33, 114, 5, 46, 79, 8, 192, 205, 154, 245,
        103, 208, 128, 163,
    ],
    // RFC 7520 §3.5's symmetric key ("hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg").
    &[
        132, 155, 87, 33, 157, 174, 72, 222, 100, 109, 7, 219, 181, 51, 86, 110, 151, 102, 134, 69,
        124, 20, 145, 190, 58, 118, 220, 234, 108, 66, 113, 136,
    ],
];

/// Generates a random HMAC secret of the hash size for `alg` (32/48/64 bytes).
///
/// # Errors
///
/// If `alg` is not HMAC, or the OS random source fails.
///
/// ```
/// use authz_core::{generate_secret, Algorithm};
/// assert_eq!(generate_secret(Algorithm::HS384)?.len(), 48);
/// # Ok::<(), authz_core::KeyError>(())
/// ```
pub fn generate_secret(alg: Algorithm) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let len = alg
        .min_secret_len()
        .ok_or(KeyError::WrongKeyType { alg, found: "oct" })?;
    let mut secret = Zeroizing::new(vec![0u8; len]);
    backend::random_bytes(&mut secret)?;
    Ok(secret)
}

/// The checks of an HMAC secret; `refuse_published` refuses the well-known ones.
pub(super) fn check_secret(
    alg: Algorithm,
    secret: &[u8],
    refuse_published: bool,
) -> Result<(), KeyError> {
    let min = alg
        .min_secret_len()
        .ok_or(KeyError::WrongKeyType { alg, found: "oct" })?;
    if secret.len() < min {
        return Err(KeyError::WeakSecret {
            alg,
            len: secret.len(),
            min,
        });
    }
    if looks_like_a_key(secret) {
        // A public key passed as an HMAC secret is how algorithm confusion starts.
        return Err(KeyError::Format(
            "this looks like a PEM, JWK or SSH key, not an HMAC secret; load it with \
             VerifyingKey::from_pem or from_jwk"
                .into(),
        ));
    }
    let all_same = secret.iter().all(|&b| b == secret[0]);
    if refuse_published && (all_same || PUBLIC_SECRETS.contains(&secret)) {
        return Err(KeyError::PublicSecret);
    }
    Ok(())
}

/// Whether `secret` is the text of a key: PEM armour, an OpenSSH public key, or a JWK (a JSON
/// object naming a `kty`). Random secrets practically never match (a `{` alone does not).
pub(super) fn looks_like_a_key(secret: &[u8]) -> bool {
    let head = secret.trim_ascii_start();
    let jwk = head.starts_with(b"{") && head.windows(5).any(|w| w == b"\"kty\"");
    jwk || [&b"-----BEGIN "[..], b"ssh-", b"ecdsa-sha2-"]
        .iter()
        .any(|p| head.starts_with(p))
}
