//! Loading keys from files and the environment, with the checks authz-core does at load (weak
//! secrets, small RSA keys, wrong curves are refused with the reason).
//!
//! A key file is recognised by its content:
//!
//! | content | signs | verifies |
//! | --- | --- | --- |
//! | PEM `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`, `EC PRIVATE KEY` | yes | its public half |
//! | PEM `PUBLIC KEY`, `RSA PUBLIC KEY` | — | yes |
//! | a JWKS (`{"keys": [...]}`) | — | its keys |
//! | a public JWK | — | yes |
//! | an `oct` JWK (HMAC secret in `k`) | yes | yes |
//! | anything else: an HMAC secret, the file's bytes with one trailing newline removed | yes | yes |
//!
//! Error messages name the file, never its content.

use std::path::Path;

use authz_axum::{Algorithm, KeySet, SigningKey, VerifyingKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::cli::KeyArgs;
use crate::outcome::Failure;

/// The environment variable read when no key is given.
pub(crate) const DEFAULT_SECRET_ENV: &str = "AUTHZ_SECRET";

/// What one file holds.
enum Loaded {
    /// A key that signs (private key or secret).
    Signing(SigningKey),
    /// Keys that only verify (public keys).
    Verifying(Vec<VerifyingKey>),
}

impl KeyArgs {
    /// The one key that signs, for `encode`: a private key gets its thumbprint as `kid`
    /// unless `--kid` names it.
    pub(crate) fn signing_key(&self) -> Result<SigningKey, Failure> {
        let key = match (self.files.as_slice(), &self.secret_env) {
            ([], _) => self.env_secret()?,
            ([file], None) => match load(file, self.alg)? {
                Loaded::Signing(key) => key,
                Loaded::Verifying(_) => {
                    return Err(Failure::input(format!(
                        "{}: a public key cannot sign; give the private key",
                        file.display()
                    )));
                }
            },
            ([_], Some(_)) => {
                return Err(Failure::input(
                    "give either --key or --secret-env, not both",
                ));
            }
            _ => return Err(Failure::input("encode signs with one key: give one --key")),
        };
        Ok(match &self.kid {
            Some(kid) => key.with_kid(kid.clone()),
            None if key.kid().is_none() => key.with_thumbprint_kid(),
            None => key,
        })
    }

    /// The keys that verify, for `verify`, `explain` and `decode`: `None` when no key was
    /// given and `AUTHZ_SECRET` is not set.
    ///
    /// One key keeps no `kid` unless `--kid` or its JWK names one (it then verifies a token
    /// whatever `kid` the token names); with several, each one without `kid` is named by its
    /// thumbprint, as `encode` and `jwks` name them.
    pub(crate) fn verifying_keys(&self) -> Result<Option<KeySet>, Failure> {
        let mut keys = Vec::new();
        if self.files.is_empty() {
            if self.secret_env.is_none() && std::env::var_os(DEFAULT_SECRET_ENV).is_none() {
                return Ok(None);
            }
            keys.push(self.env_secret()?.verifying_key());
        } else if self.secret_env.is_some() {
            return Err(Failure::input(
                "give either --key or --secret-env, not both",
            ));
        }
        for file in &self.files {
            match load(file, self.alg)? {
                Loaded::Signing(key) => keys.push(key.verifying_key()),
                Loaded::Verifying(more) => keys.extend(more),
            }
        }
        if let Some(kid) = &self.kid {
            match keys.as_mut_slice() {
                [one] => *one = one.clone().with_kid(kid.clone()),
                _ => return Err(Failure::input("--kid names one key; give one --key")),
            }
        }
        if keys.len() == 1 {
            return Ok(keys.pop().map(KeySet::single));
        }
        KeySet::new(keys.into_iter().map(named))
            .map(Some)
            .map_err(|e| Failure::input(format!("the keys do not make a key set: {e}")))
    }

    /// The HMAC secret in `--secret-env` (default `AUTHZ_SECRET`).
    fn env_secret(&self) -> Result<SigningKey, Failure> {
        let var = self.secret_env.as_deref().unwrap_or(DEFAULT_SECRET_ENV);
        let Some(secret) = std::env::var_os(var) else {
            return Err(Failure::input(format!(
                "no key: give --key FILE, or set {var} to an HMAC secret"
            )));
        };
        let secret = Zeroizing::new(secret.into_encoded_bytes());
        let alg = self.alg.unwrap_or(Algorithm::HS256);
        SigningKey::from_secret(alg, &secret).map_err(|e| Failure::input(format!("{var}: {e}")))
    }
}

/// The public keys in `files`, for `jwks`: every key named by its `kid`, or by its thumbprint
/// when it has none.
pub(crate) fn public_keys(
    files: &[impl AsRef<Path>],
    alg: Option<Algorithm>,
) -> Result<Vec<VerifyingKey>, Failure> {
    let mut keys = Vec::new();
    for file in files {
        let file = file.as_ref();
        let found = match load(file, alg)? {
            Loaded::Signing(key) => vec![key.verifying_key()],
            Loaded::Verifying(keys) => keys,
        };
        for key in found {
            if key.is_symmetric() {
                return Err(Failure::input(format!(
                    "{}: an HMAC secret is never published in a JWKS",
                    file.display()
                )));
            }
            keys.push(named(key));
        }
    }
    Ok(keys)
}

/// The key with its `kid`, or named by its thumbprint when it has none (as `keygen` names
/// keys); an HMAC secret without `kid` keeps none.
fn named(key: VerifyingKey) -> VerifyingKey {
    match (key.kid(), key.thumbprint()) {
        (None, Some(thumbprint)) => key.with_kid(thumbprint),
        _ => key,
    }
}

/// Reads and loads one key file.
fn load(path: &Path, alg: Option<Algorithm>) -> Result<Loaded, Failure> {
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?,
    );
    let text = std::str::from_utf8(&bytes).ok();
    let start = text.map(str::trim_start).unwrap_or_default();
    let name = path.display();
    let refused = |e: &dyn std::fmt::Display| Failure::input(format!("{name}: {e}"));
    if start.starts_with("-----BEGIN") {
        let private = start.contains("PRIVATE KEY-----");
        // `--alg` decides among the algorithms of its key type; other types are inferred
        // (so that `jwks --alg PS256 rsa.pem ec.pem` works).
        let algs: Vec<Algorithm> = Algorithm::ALL
            .into_iter()
            .filter(|a| !a.is_symmetric())
            .filter(|a| alg.is_none_or(|alg| *a == alg || a.family() != alg.family()))
            .collect();
        let mut found = Vec::new();
        let mut first_err = None;
        for alg in algs {
            let loaded = if private {
                SigningKey::from_pem(alg, start).map(Loaded::Signing)
            } else {
                VerifyingKey::from_pem(alg, start).map(|key| Loaded::Verifying(vec![key]))
            };
            match loaded {
                Ok(key) => found.push((alg, key)),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        return match found.len() {
            1 => Ok(found.remove(0).1),
            0 => Err(refused(
                &first_err.map_or_else(|| "not a key".to_owned(), |e| e.to_string()),
            )),
            _ => Err(Failure::input(format!(
                "{name}: an RSA key works with several algorithms: say which with --alg \
                 (RS256, RS384, RS512, PS256, PS384, PS512)"
            ))),
        };
    }
    if start.starts_with('{') {
        let json: Value = serde_json::from_str(start)
            .map_err(|_| Failure::input(format!("{name}: not a JSON object")))?;
        if json.get("keys").is_some() {
            let set = KeySet::from_jwks(start).map_err(|e| refused(&e))?;
            return Ok(Loaded::Verifying(set.keys().to_vec()));
        }
        if json.get("kty").and_then(Value::as_str) == Some("oct") {
            return oct_jwk(&json, alg).map_err(|e| refused(&e));
        }
        return VerifyingKey::from_jwk(start)
            .map(|key| Loaded::Verifying(vec![key]))
            .map_err(|e| refused(&e));
    }
    let secret = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(&bytes);
    SigningKey::from_secret(alg.unwrap_or(Algorithm::HS256), secret)
        .map(Loaded::Signing)
        .map_err(|e| refused(&e))
}

/// An HMAC secret in an `oct` JWK (`k`, base64url), with its `alg` and `kid`.
fn oct_jwk(json: &Value, alg: Option<Algorithm>) -> Result<Loaded, String> {
    let k = json
        .get("k")
        .and_then(Value::as_str)
        .ok_or("an oct JWK needs \"k\"")?;
    let secret = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(k)
            .map_err(|_| "\"k\" is not base64url")?,
    );
    let alg = match (json.get("alg").and_then(Value::as_str), alg) {
        (Some(named), _) => named
            .parse()
            .map_err(|e: authz_axum::core::KeyError| e.to_string())?,
        (None, Some(alg)) => alg,
        (None, None) => return Err("an oct JWK without \"alg\" needs --alg".to_owned()),
    };
    let key = SigningKey::from_secret(alg, &secret).map_err(|e| e.to_string())?;
    Ok(Loaded::Signing(
        match json.get("kid").and_then(Value::as_str) {
            Some(kid) => key.with_kid(kid),
            None => key,
        },
    ))
}
