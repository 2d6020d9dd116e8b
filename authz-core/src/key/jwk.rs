//! JSON Web Keys (RFC 7517): strict loading and public export.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{Public, VerifyingKey, der};
use crate::algorithm::{Algorithm, KeyFamily};
use crate::error::KeyError;

/// One JSON Web Key, as read from or written to a JWK Set.
///
/// Loading applies a policy that `jsonwebtoken`'s `from_jwk` does not: `kty`, `crv`, `alg`,
/// `use` and `key_ops` must agree; RSA keys are at least 2048 bits; EC points are on the named
/// curve; RSA and `oct` keys must name their `alg` (a key is bound to exactly one algorithm,
/// RFC 8725 §3.1), while EC and OKP keys take it from their curve. `Debug` never prints `k` or
/// `d`.
///
/// ```
/// use authz_core::{Algorithm, Jwk, SigningKey};
///
/// let key = SigningKey::generate(Algorithm::ES256)?.with_kid("k1");
/// let jwk: Jwk = key.verifying_key().to_jwk().unwrap();
/// let json = jwk.to_json();
/// assert!(json.contains(r#""crv":"P-256""#) && json.contains(r#""use":"sig""#));
///
/// // A JWK whose members disagree is refused with the reason.
/// let bad = json.replace(r#""alg":"ES256""#, r#""alg":"ES384""#);
/// assert!(Jwk::parse(&bad)?.to_verifying_key(false).is_err());
/// # Ok::<(), authz_core::KeyError>(())
/// ```
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Jwk {
    kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "use")]
    use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_ops: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    /// Symmetric secret: read, never written.
    #[serde(default, skip_serializing)]
    k: Option<String>,
    /// Private members: their presence is all we look at.
    #[serde(default, skip_serializing)]
    d: Option<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing)]
    p: Option<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing)]
    q: Option<serde::de::IgnoredAny>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("crv", &self.crv)
            .finish_non_exhaustive()
    }
}

/// What a JWK in a set is for, before we try to load it.
pub(crate) enum Purpose {
    /// A signature key we support: load it (and refuse the set if it is bad).
    Signature,
    /// Not for us (encryption key, unknown `kty`, unsupported algorithm): ignore it
    /// (RFC 7517 §5).
    Ignore,
}

const ENCRYPTION_OPS: &[&str] = &["encrypt", "decrypt", "wrapKey", "unwrapKey", "deriveKey"];

impl Jwk {
    /// Parses one JWK from JSON (no checks beyond the JSON shape; see
    /// [`Jwk::to_verifying_key`]).
    ///
    /// # Errors
    ///
    /// If the text is not a JSON object with a string `kty`.
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        serde_json::from_str(json).map_err(|e| KeyError::Jwk {
            kid: None,
            reason: format!(
                "not a JWK object ({})",
                format!("{:?}", e.classify()).to_lowercase()
            ),
        })
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `alg` member, if any.
    pub fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    /// The key as compact JSON (public members only).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn error(&self, reason: impl Into<String>) -> KeyError {
        KeyError::Jwk {
            kid: self.kid.clone(),
            reason: reason.into(),
        }
    }

    fn has_private_members(&self) -> bool {
        self.d.is_some() || self.p.is_some() || self.q.is_some()
    }

    pub(crate) fn purpose(&self) -> Purpose {
        let known_kty = matches!(self.kty.as_str(), "RSA" | "EC" | "OKP" | "oct");
        let for_encryption = self.use_.as_deref() == Some("enc")
            || self.key_ops.as_ref().is_some_and(|ops| {
                !ops.iter().any(|op| op == "verify" || op == "sign")
                    && ops.iter().any(|op| ENCRYPTION_OPS.contains(&op.as_str()))
            });
        let unsupported_alg = match self.alg.as_deref() {
            None => false,
            Some(name) => name.parse::<Algorithm>().is_err() && !name.eq_ignore_ascii_case("none"),
        };
        let unsupported_crv = matches!(
            self.crv.as_deref(),
            Some("P-521" | "Ed448" | "X25519" | "X448")
        );
        if !known_kty || for_encryption || unsupported_alg || unsupported_crv {
            Purpose::Ignore
        } else {
            Purpose::Signature
        }
    }

    /// Loads the key, applying the consistency and strength policy.
    ///
    /// `allow_symmetric` admits `oct` (HMAC) keys; a public key set passes `false`, and then
    /// private or symmetric keys are refused.
    ///
    /// # Errors
    ///
    /// With the reason, if a member is malformed or members disagree, or the key is weak.
    pub fn to_verifying_key(&self, allow_symmetric: bool) -> Result<VerifyingKey, KeyError> {
        if self.kty == "oct" && !allow_symmetric {
            return Err(KeyError::NotPublic {
                kid: self.kid.clone(),
            });
        }
        if self.has_private_members() {
            return if allow_symmetric {
                Err(KeyError::PrivateKeyGiven)
            } else {
                Err(KeyError::NotPublic {
                    kid: self.kid.clone(),
                })
            };
        }
        if let Some(use_) = self.use_.as_deref()
            && use_ != "sig"
        {
            return Err(self.error(format!("\"use\" is {use_:?}, not \"sig\"")));
        }
        if let Some(ops) = &self.key_ops {
            if !ops.iter().any(|op| op == "verify") {
                return Err(self.error("\"key_ops\" does not include \"verify\""));
            }
            if let Some(op) = ops
                .iter()
                .find(|op| !matches!(op.as_str(), "sign" | "verify"))
            {
                return Err(self.error(format!("\"key_ops\" has {op:?}, not a signature use")));
            }
        }
        let alg = self.algorithm()?;
        let key = match self.kty.as_str() {
            "oct" => {
                let secret = zeroize::Zeroizing::new(self.bytes("k", self.k.as_deref())?);
                VerifyingKey::from_secret(alg, &secret)?
            }
            "RSA" => {
                let n = self.bytes("n", self.n.as_deref())?;
                let e = self.bytes("e", self.e.as_deref())?;
                VerifyingKey::from_rsa_pkcs1(alg, &der::rsa_public_pkcs1(&n, &e))?
            }
            "EC" => {
                let size = if alg == Algorithm::ES256 { 32 } else { 48 };
                let x = self.bytes("x", self.x.as_deref())?;
                let y = self.bytes("y", self.y.as_deref())?;
                if x.len() != size || y.len() != size {
                    return Err(self.error(format!("\"x\" and \"y\" must be {size} bytes")));
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                VerifyingKey::from_ec_point(alg, &point)?
            }
            "OKP" => VerifyingKey::from_ed_bytes(alg, &self.bytes("x", self.x.as_deref())?)?,
            other => return Err(self.error(format!("unsupported \"kty\" {other:?}"))),
        };
        Ok(match &self.kid {
            Some(kid) => key.with_kid(kid.clone()),
            None => key,
        })
    }

    /// The one algorithm this key is for: its `alg`, checked against `kty` and `crv`, or the
    /// curve's algorithm when `alg` is absent.
    fn algorithm(&self) -> Result<Algorithm, KeyError> {
        let from_crv = match (self.kty.as_str(), self.crv.as_deref()) {
            ("EC", Some("P-256")) => Some(Algorithm::ES256),
            ("EC", Some("P-384")) => Some(Algorithm::ES384),
            ("OKP", Some("Ed25519")) => Some(Algorithm::EdDSA),
            ("EC" | "OKP", Some(crv)) => {
                return Err(self.error(format!("unsupported \"crv\" {crv:?}")));
            }
            ("EC" | "OKP", None) => return Err(self.error("\"crv\" is missing")),
            (_, Some(_)) => return Err(self.error("\"crv\" is only for EC and OKP keys")),
            _ => None,
        };
        let alg = match (self.alg.as_deref(), from_crv) {
            (Some(name), _) => name.parse::<Algorithm>().map_err(|_| {
                self.error(format!(
                    "unsupported \"alg\" {:?}",
                    name.chars().take(16).collect::<String>()
                ))
            })?,
            (None, Some(alg)) => alg,
            (None, None) => {
                return Err(self.error(format!(
                    "a {} key must name its \"alg\" (it is bound to exactly one algorithm)",
                    self.kty
                )));
            }
        };
        if alg.family().kty() != self.kty {
            return Err(self.error(format!("\"alg\" {alg} does not fit \"kty\" {:?}", self.kty)));
        }
        if from_crv.is_some_and(|crv_alg| crv_alg != alg) {
            return Err(KeyError::CurveMismatch {
                alg,
                curve: self.crv.clone().unwrap_or_default(),
            });
        }
        Ok(alg)
    }

    fn bytes(&self, name: &str, value: Option<&str>) -> Result<Vec<u8>, KeyError> {
        let value = value.ok_or_else(|| self.error(format!("\"{name}\" is missing")))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| self.error(format!("\"{name}\" is not unpadded base64url")))
    }

    pub(crate) fn from_public(key: &VerifyingKey) -> Option<Self> {
        let b64 = |bytes: &[u8]| Some(URL_SAFE_NO_PAD.encode(bytes));
        let alg = key.algorithm();
        let mut jwk = Self {
            kty: alg.family().kty().to_owned(),
            kid: key.kid().map(str::to_owned),
            use_: Some("sig".to_owned()),
            alg: Some(alg.as_str().to_owned()),
            crv: alg.curve().map(str::to_owned),
            ..Self::default()
        };
        match key.public() {
            Public::Secret => return None,
            Public::Rsa { pkcs1 } => {
                let (n, e) = der::parse_rsa_public(pkcs1).ok()?;
                jwk.n = b64(n);
                jwk.e = b64(e);
            }
            Public::Ec { point } => {
                let (x, y) = point[1..].split_at((point.len() - 1) / 2);
                jwk.x = b64(x);
                jwk.y = b64(y);
            }
            Public::Ed { x } => jwk.x = b64(x),
        }
        debug_assert_ne!(alg.family(), KeyFamily::Hmac);
        Some(jwk)
    }

    /// The RFC 7638 thumbprint of a public key: SHA-256 of its required members in
    /// lexicographic order, no whitespace, base64url. `None` for an HMAC secret (its thumbprint
    /// would publish a hash of the secret in every token).
    pub(crate) fn thumbprint(key: &VerifyingKey) -> Option<String> {
        use sha2::{Digest as _, Sha256};
        let jwk = Self::from_public(key)?;
        let canonical = match key.public() {
            Public::Rsa { .. } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, jwk.e?, jwk.n?),
            Public::Ec { .. } => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                jwk.crv?, jwk.x?, jwk.y?
            ),
            Public::Ed { .. } => {
                format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, jwk.crv?, jwk.x?)
            }
            Public::Secret => return None,
        };
        Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
    }
}
