//! [`VerifyingKey`]: a key that checks signatures, built once at load, with a per-thread
//! cache of the backend's verifiers.

use super::*;

/// A key that checks signatures for one [`Algorithm`]: an HMAC secret or a public key.
///
/// See the [module docs](crate::key) for an example.
#[derive(Clone)]
pub struct VerifyingKey {
    /// Unique per loaded key; clones share it. Indexes the per-thread verifier cache.
    pub(super) id: u64,
    pub(super) alg: Algorithm,
    pub(super) kid: Option<Arc<str>>,
    pub(super) public: Public,
    pub(super) decoding: DecodingKey,
    /// A verifier holding the parsed public key, where the backend offers one (shared).
    pub(super) parsed: Option<Arc<dyn JwtVerifier + Send + Sync>>,
    /// The exact signature length this key produces.
    pub(super) signature_len: usize,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl VerifyingKey {
    /// An HMAC key from raw secret bytes (used as given: not base64-decoded, not trimmed).
    ///
    /// # Errors
    ///
    /// If `alg` is not `HS256`/`HS384`/`HS512`, if the secret is shorter than the hash
    /// (32/48/64 bytes, RFC 7518 §3.2), or if it is a well-known example secret.
    ///
    /// ```
    /// use authz_core::{Algorithm, VerifyingKey};
    /// let key = VerifyingKey::from_secret(Algorithm::HS256, b"0123456789abcdef0123456789abcdef")?;
    /// assert_eq!(key.algorithm(), Algorithm::HS256);
    /// assert!(VerifyingKey::from_secret(Algorithm::HS512, &[1u8; 32]).is_err()); // 64 needed
    /// # Ok::<(), authz_core::KeyError>(())
    /// ```
    pub fn from_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        check_secret(alg, secret, true)?;
        Self::build(alg, Public::Secret, DecodingKey::from_secret(secret))
    }

    /// As [`from_secret`](Self::from_secret), but accepts a secret that is published — an
    /// example value from an RFC or a tutorial, or a secret of one repeated byte — which
    /// `from_secret` refuses ([`KeyError::PublicSecret`]). The length rule still holds.
    ///
    /// # Security
    ///
    /// Anyone who has read the same page can sign tokens this key accepts. Only for running
    /// conformance suites and interoperability tests whose vectors use published keys; never
    /// for a key that guards anything.
    ///
    /// # Errors
    ///
    /// As [`from_secret`](Self::from_secret), but for [`KeyError::PublicSecret`].
    pub fn insecure_from_published_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        check_secret(alg, secret, false)?;
        Self::build(alg, Public::Secret, DecodingKey::from_secret(secret))
    }

    /// A public key from PEM: SubjectPublicKeyInfo (`PUBLIC KEY`) for RSA, EC and Ed25519, or
    /// PKCS#1 (`RSA PUBLIC KEY`).
    ///
    /// # Errors
    ///
    /// If the PEM is not a public key, if its type does not fit `alg`, if an RSA key is
    /// under 2048 bits, if an EC key's curve is not `alg`'s, or if the point is invalid.
    pub fn from_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let pem = parse_pem(pem.as_ref())?;
        match pem.tag() {
            "PUBLIC KEY" => Self::from_spki(alg, pem.contents()),
            "RSA PUBLIC KEY" => Self::from_rsa_pkcs1(alg, pem.contents()),
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "OPENSSH PRIVATE KEY" => {
                Err(KeyError::PrivateKeyGiven)
            }
            other => Err(KeyError::Format(format!(
                "PEM label {other:?} is not a public key"
            ))),
        }
    }

    /// A public key from DER: SubjectPublicKeyInfo, or PKCS#1 RSAPublicKey for RSA.
    ///
    /// # Errors
    ///
    /// As [`VerifyingKey::from_pem`].
    pub fn from_der(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        if alg.is_symmetric() {
            return Err(KeyError::WrongKeyType {
                alg,
                found: "public",
            });
        }
        match der::parse_spki(der) {
            Ok(_) => Self::from_spki(alg, der),
            Err(spki_err) if alg.family() == KeyFamily::Rsa => {
                Self::from_rsa_pkcs1(alg, der).map_err(|_| spki_err)
            }
            Err(err) => Err(err),
        }
    }

    /// A key from one JWK (JSON text). A symmetric (`oct`) JWK is accepted here; use
    /// [`KeySet::from_jwks`] for a set of public keys.
    ///
    /// # Errors
    ///
    /// If the JWK is malformed, its members disagree, or the key is weak. See [`Jwk`].
    pub fn from_jwk(json: &str) -> Result<Self, KeyError> {
        Jwk::parse(json)?.to_verifying_key(true)
    }

    /// Sets the key id that tokens name in their `kid` header.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into().into());
        self
    }

    /// The same key with no `kid`: alone in a set, it verifies a token whatever `kid` the
    /// token names (for a key chosen by other means, such as a client assertion's `iss`).
    #[cfg_attr(
        not(feature = "assertion"),
        expect(dead_code, reason = "used by client assertions")
    )]
    pub(crate) fn without_kid(mut self) -> Self {
        self.kid = None;
        self
    }

    /// The algorithm this key is bound to.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether this is an HMAC secret rather than a public key.
    pub fn is_symmetric(&self) -> bool {
        matches!(self.public, Public::Secret)
    }

    /// The public key as PEM (SubjectPublicKeyInfo, `-----BEGIN PUBLIC KEY-----`).
    ///
    /// Returns `None` for an HMAC secret, which has no public half.
    pub fn to_pem(&self) -> Option<String> {
        let der = self.to_spki_der()?;
        Some(encode_pem("PUBLIC KEY", der))
    }

    /// The public key as DER SubjectPublicKeyInfo; `None` for an HMAC secret.
    pub fn to_spki_der(&self) -> Option<Vec<u8>> {
        Some(match &self.public {
            Public::Secret => return None,
            Public::Rsa { pkcs1 } => der::spki(KeyAlg::Rsa, pkcs1),
            Public::Ec { point } => {
                let curve = if self.alg == Algorithm::ES256 {
                    Curve::P256
                } else {
                    Curve::P384
                };
                der::spki(KeyAlg::Ec(curve), point)
            }
            Public::Ed { x } => der::spki(KeyAlg::Ed25519, x),
        })
    }

    /// The public key as a JWK (with `kid`, `alg`, `use: sig`); `None` for an HMAC secret.
    pub fn to_jwk(&self) -> Option<Jwk> {
        Jwk::from_public(self)
    }

    /// The key's RFC 7638 JWK thumbprint (SHA-256, base64url): a `kid` that names this key
    /// and no other, so that a restarted issuer never reuses a `kid` for another key. `None`
    /// for an HMAC secret, whose thumbprint would publish a hash of the secret.
    ///
    /// ```
    /// use authz_core::{Algorithm, SigningKey};
    /// let key = SigningKey::generate(Algorithm::ES256)?;
    /// let thumbprint = key.verifying_key().thumbprint().unwrap();
    /// assert_eq!(key.kid(), Some(thumbprint.as_str()), "generated keys are named by it");
    /// assert_eq!(thumbprint.len(), 43);
    /// # Ok::<(), authz_core::KeyError>(())
    /// ```
    pub fn thumbprint(&self) -> Option<String> {
        Jwk::thumbprint(self)
    }

    fn from_spki(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        let (key_alg, key) = der::parse_spki(der)?;
        match (alg.family(), key_alg) {
            (KeyFamily::Rsa, KeyAlg::Rsa) => Self::from_rsa_pkcs1(alg, key),
            (KeyFamily::Ec, KeyAlg::Ec(curve)) => {
                check_curve(alg, curve)?;
                Self::from_ec_point(alg, key)
            }
            (KeyFamily::Ed, KeyAlg::Ed25519) => Self::from_ed_bytes(alg, key),
            (_, found) => Err(KeyError::WrongKeyType {
                alg,
                found: key_alg_name(found),
            }),
        }
    }

    pub(crate) fn from_rsa_pkcs1(alg: Algorithm, pkcs1: &[u8]) -> Result<Self, KeyError> {
        if alg.family() != KeyFamily::Rsa {
            return Err(KeyError::WrongKeyType { alg, found: "RSA" });
        }
        let (n, _e) = der::parse_rsa_public(pkcs1)?;
        let bits = der::bit_len(n);
        if bits < 2048 {
            return Err(KeyError::RsaTooSmall { bits });
        }
        if roca::has_fingerprint(n) {
            return Err(KeyError::RocaFingerprint);
        }
        let public = Public::Rsa {
            pkcs1: pkcs1.to_vec(),
        };
        Self::build(alg, public, DecodingKey::from_rsa_der(pkcs1))
    }

    pub(crate) fn from_ec_point(alg: Algorithm, point: &[u8]) -> Result<Self, KeyError> {
        let expected = match alg {
            Algorithm::ES256 => 65,
            Algorithm::ES384 => 97,
            _ => return Err(KeyError::WrongKeyType { alg, found: "EC" }),
        };
        if point.len() != expected || point[0] != 0x04 {
            return Err(KeyError::InvalidPublicKey(
                "expected an uncompressed point of the algorithm's curve",
            ));
        }
        let public = Public::Ec {
            point: point.to_vec(),
        };
        Self::build(alg, public, DecodingKey::from_ec_der(point))
    }

    pub(crate) fn from_ed_bytes(alg: Algorithm, x: &[u8]) -> Result<Self, KeyError> {
        if alg != Algorithm::EdDSA {
            return Err(KeyError::WrongKeyType { alg, found: "OKP" });
        }
        if x.len() != 32 {
            return Err(KeyError::InvalidPublicKey(
                "an Ed25519 public key is 32 bytes",
            ));
        }
        Self::build(
            alg,
            Public::Ed { x: x.to_vec() },
            DecodingKey::from_ed_der(x),
        )
    }

    fn build(alg: Algorithm, public: Public, decoding: DecodingKey) -> Result<Self, KeyError> {
        let signature_len = match (&public, alg.signature_len()) {
            (_, Some(len)) => len,
            (Public::Rsa { pkcs1 }, None) => {
                let (n, _) = der::parse_rsa_public(pkcs1)?;
                n.len()
            }
            _ => {
                return Err(KeyError::WrongKeyType {
                    alg,
                    found: "unknown",
                });
            }
        };
        let parsed = backend::public_verifier(alg, &public)?;
        let key = Self {
            id: NEXT_KEY_ID.fetch_add(1, Ordering::Relaxed),
            alg,
            kid: None,
            public,
            decoding,
            parsed,
            signature_len,
        };
        if key.parsed.is_none() {
            // jsonwebtoken's verifier will be used: build it once now, so that a key it
            // refuses fails here rather than at the first token.
            key.new_verifier()?;
        }
        Ok(key)
    }

    /// The unique id of this loaded key (clones share it).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The key id, shared (for principals).
    pub(crate) fn kid_arc(&self) -> Option<&Arc<str>> {
        self.kid.as_ref()
    }

    pub(crate) fn public(&self) -> &Public {
        &self.public
    }

    fn new_verifier(&self) -> Result<Box<dyn JwtVerifier>, KeyError> {
        (backend::provider().verifier_factory)(&self.alg.to_jsonwebtoken(), &self.decoding)
            .map_err(|e| backend_error("verifier setup", e))
    }

    /// Decodes the base64url `signature` segment and checks it over `message` (the literal
    /// `header.payload` bytes).
    ///
    /// Asymmetric keys on the aws-lc backend verify with a key parsed once at load. Otherwise
    /// jsonwebtoken's verifier is built once per key and thread (its verifiers are not `Send`)
    /// and reused, so HMAC keys are not re-derived per token. The signature is decoded into a
    /// per-thread buffer. Measured alone (bench/README.md): 12 % of an HS256 request.
    pub(crate) fn verify_signature(
        &self,
        message: &[u8],
        signature: &str,
    ) -> Result<(), ErrorKind> {
        let outcome = SCRATCH.try_with(|cell| {
            let mut scratch = cell.try_borrow_mut().ok()?;
            Some(self.verify_with(message, signature, &mut scratch))
        });
        match outcome {
            Ok(Some(result)) => result,
            // No thread-local (thread teardown) or re-entered: use a fresh state.
            _ => self.verify_with(message, signature, &mut Scratch::default()),
        }
    }

    fn verify_with(
        &self,
        message: &[u8],
        signature: &str,
        scratch: &mut Scratch,
    ) -> Result<(), ErrorKind> {
        let Scratch { buffer, verifiers } = scratch;
        crate::token::decode_vec(signature, buffer, Segment::Signature)?;
        if buffer.len() != self.signature_len {
            return Err(ErrorKind::InvalidSignature);
        }
        let ok = if let Some(parsed) = &self.parsed {
            parsed.verify(message, buffer).is_ok()
        } else if let Some((_, verifier)) = verifiers.iter().find(|(id, _)| *id == self.id) {
            verifier.verify(message, buffer).is_ok()
        } else {
            let verifier = self
                .new_verifier()
                .map_err(|_| ErrorKind::InvalidSignature)?;
            let ok = verifier.verify(message, buffer).is_ok();
            if verifiers.len() >= VERIFIER_CACHE_CAP {
                verifiers.remove(0);
            }
            verifiers.push((self.id, verifier));
            ok
        };
        if ok {
            Ok(())
        } else {
            Err(ErrorKind::InvalidSignature)
        }
    }
}

/// Verifiers per thread; a handful of keys is the norm, rotation adds a few.
const VERIFIER_CACHE_CAP: usize = 32;

/// Per-thread state of the signature check.
#[derive(Default)]
struct Scratch {
    /// The decoded signature of the token being checked.
    pub(super) buffer: Vec<u8>,
    /// jsonwebtoken verifiers by key id.
    pub(super) verifiers: Vec<(u64, Box<dyn JwtVerifier>)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}
