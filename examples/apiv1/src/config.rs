//! Configuration from the environment, so that outside tests can drive the service.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `AUTHZ_ADDR` | listen address | `127.0.0.1:8000` |
//! | `AUTHZ_SECRET` | the HS256 secret, its bytes as given (at least 32) | random, with tokens printed |
//! | `AUTHZ_JWKS_FILE` | trust the public keys of this JWKS instead (RS/PS/ES/EdDSA, `kid` + `alg`) | — |
//! | `AUTHZ_ISSUER` | required `iss` | none |
//! | `AUTHZ_AUDIENCE` | required `aud` | none |
//! | `AUTHZ_LEEWAY_SECS` | clock-skew allowance, 0–60 | 30 |

use std::time::Duration;

use authz_axum::{Algorithm, KeySet, SigningKey, generate_secret};

/// Where the keys come from.
#[derive(Debug)]
pub enum Keys {
    /// `AUTHZ_SECRET`, or a generated secret whose signing key is kept to print tokens.
    Secret {
        /// The HS256 key.
        key: SigningKey,
        /// Whether it was generated at start (and tokens are printed).
        generated: bool,
    },
    /// `AUTHZ_JWKS_FILE`: verify only.
    Jwks(KeySet),
}

/// The service's configuration.
#[derive(Debug)]
pub struct Config {
    /// Listen address.
    pub addr: String,
    /// Trusted keys.
    pub keys: Keys,
    /// Required issuer.
    pub issuer: Option<String>,
    /// Required audience.
    pub audience: Option<String>,
    /// Leeway.
    pub leeway: Duration,
}

impl Config {
    /// Reads the environment.
    ///
    /// # Errors
    ///
    /// A message naming the variable that is wrong.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let keys = match (var("AUTHZ_SECRET"), var("AUTHZ_JWKS_FILE")) {
            (Some(_), Some(_)) => {
                return Err("set AUTHZ_SECRET or AUTHZ_JWKS_FILE, not both".to_owned());
            }
            (Some(secret), None) => Keys::Secret {
                key: SigningKey::from_secret(Algorithm::HS256, secret.as_bytes())
                    .map_err(|e| format!("AUTHZ_SECRET: {e}"))?,
                generated: false,
            },
            (None, Some(path)) => {
                let json = std::fs::read_to_string(&path)
                    .map_err(|e| format!("AUTHZ_JWKS_FILE {path}: {e}"))?;
                Keys::Jwks(
                    KeySet::from_jwks(&json).map_err(|e| format!("AUTHZ_JWKS_FILE {path}: {e}"))?,
                )
            }
            (None, None) => {
                let secret = generate_secret(Algorithm::HS256).map_err(|e| e.to_string())?;
                let key = SigningKey::from_secret(Algorithm::HS256, &secret)
                    .map_err(|e| e.to_string())?;
                Keys::Secret {
                    key,
                    generated: true,
                }
            }
        };
        let leeway = match var("AUTHZ_LEEWAY_SECS") {
            Some(secs) => Duration::from_secs(
                secs.parse()
                    .map_err(|_| "AUTHZ_LEEWAY_SECS: not a number of seconds")?,
            ),
            None => authz_axum::core::verify::DEFAULT_LEEWAY,
        };
        Ok(Self {
            addr: var("AUTHZ_ADDR").unwrap_or_else(|| "127.0.0.1:8000".to_owned()),
            keys,
            issuer: var("AUTHZ_ISSUER"),
            audience: var("AUTHZ_AUDIENCE"),
            leeway,
        })
    }
}
