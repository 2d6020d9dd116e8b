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
pub(crate) mod set;
mod shared;
pub(crate) mod source;

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
pub use self::set::KeySet;
pub use self::shared::SharedKeySet;
pub use self::source::{KeySource, SigningSource};

use self::der::{Curve, KeyAlg};
use crate::algorithm::{Algorithm, KeyFamily};
use crate::backend;
pub(crate) use crate::backend::Public;
use crate::error::{ErrorKind, KeyError, Segment};

/// Secrets that appear in tutorials and cracking word lists (jwt.io, jwt_tool). Shorter ones
/// are already refused by the length check.
const PUBLIC_SECRETS: &[&[u8]] = &[
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

static NEXT_KEY_ID: AtomicU64 = AtomicU64::new(1);

/// A key that checks signatures for one [`Algorithm`]: an HMAC secret or a public key.
///
/// See the [module docs](crate::key) for an example.
#[derive(Clone)]
pub struct VerifyingKey {
    /// Unique per loaded key; clones share it. Indexes the per-thread verifier cache.
    id: u64,
    alg: Algorithm,
    kid: Option<Arc<str>>,
    public: Public,
    decoding: DecodingKey,
    /// A verifier holding the parsed public key, where the backend offers one (shared).
    parsed: Option<Arc<dyn JwtVerifier + Send + Sync>>,
    /// The exact signature length this key produces.
    signature_len: usize,
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
    buffer: Vec<u8>,
    /// jsonwebtoken verifiers by key id.
    verifiers: Vec<(u64, Box<dyn JwtVerifier>)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A key that signs tokens for one [`Algorithm`]: an HMAC secret or a private key.
///
/// ```
/// use authz_core::{Algorithm, SigningKey};
///
/// let key = SigningKey::generate(Algorithm::EdDSA)?.with_kid("ed-1");
/// let private_pem = key.to_pkcs8_pem().unwrap(); // to store it
/// let again = SigningKey::from_pem(Algorithm::EdDSA, private_pem.as_bytes())?;
/// assert_eq!(again.verifying_key().to_pem(), key.verifying_key().to_pem());
/// # Ok::<(), authz_core::KeyError>(())
/// ```
///
/// Cloning is cheap: the key is shared.
#[derive(Clone)]
pub struct SigningKey(Arc<SigningInner>);

#[derive(Clone)]
struct SigningInner {
    alg: Algorithm,
    kid: Option<Arc<str>>,
    encoding: EncodingKey,
    /// The PKCS#8 document, for export; `None` for HMAC secrets.
    pkcs8: Option<Zeroizing<Vec<u8>>>,
    public: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.0.alg)
            .field("kid", &self.0.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    fn from_inner(inner: SigningInner) -> Self {
        Self(Arc::new(inner))
    }

    /// An HMAC key from raw secret bytes; the same checks as [`VerifyingKey::from_secret`].
    ///
    /// # Errors
    ///
    /// If `alg` is not HMAC, or the secret is short or well known.
    pub fn from_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let public = VerifyingKey::from_secret(alg, secret)?;
        Ok(Self::from_inner(SigningInner {
            alg,
            kid: None,
            encoding: EncodingKey::from_secret(secret),
            pkcs8: None,
            public,
        }))
    }

    /// As [`from_secret`](Self::from_secret), but accepts a published secret; see
    /// [`VerifyingKey::insecure_from_published_secret`].
    ///
    /// # Security
    ///
    /// Anyone can sign with a published secret: for conformance suites only.
    ///
    /// # Errors
    ///
    /// As [`from_secret`](Self::from_secret), but for [`KeyError::PublicSecret`].
    pub fn insecure_from_published_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let public = VerifyingKey::insecure_from_published_secret(alg, secret)?;
        Ok(Self::from_inner(SigningInner {
            alg,
            kid: None,
            encoding: EncodingKey::from_secret(secret),
            pkcs8: None,
            public,
        }))
    }

    /// A private key from PEM: PKCS#8 (`PRIVATE KEY`) for RSA, EC and Ed25519, PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    ///
    /// # Errors
    ///
    /// If the PEM is not a private key of `alg`'s type, the RSA key is under 2048 bits, or the
    /// EC curve does not match `alg`.
    pub fn from_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let pem = parse_pem(pem.as_ref())?;
        match pem.tag() {
            "PRIVATE KEY" => Self::from_pkcs8(alg, pem.contents()),
            "RSA PRIVATE KEY" => Self::from_rsa_pkcs1(alg, pem.contents(), None),
            "EC PRIVATE KEY" => Self::from_pkcs8(alg, &sec1_to_pkcs8(pem.contents())?),
            other => Err(KeyError::Format(format!(
                "PEM label {other:?} is not a private key"
            ))),
        }
    }

    /// A private key from DER: PKCS#8, or PKCS#1 for RSA.
    ///
    /// # Errors
    ///
    /// As [`SigningKey::from_pem`].
    pub fn from_der(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        match der::parse_pkcs8(der) {
            Ok(_) => Self::from_pkcs8(alg, der),
            Err(err) if alg.family() == KeyFamily::Rsa => {
                Self::from_rsa_pkcs1(alg, der, None).map_err(|_| err)
            }
            Err(err) => Err(err),
        }
    }

    /// Generates a new key: a random secret of the hash size for HS*, RSA-2048 for RS*/PS*,
    /// a P-256/P-384 key for ES256/ES384, an Ed25519 key for EdDSA. An asymmetric key is named
    /// by its RFC 7638 thumbprint (`kid`), so that no two keys share a name; replace it with
    /// [`with_kid`](Self::with_kid).
    ///
    /// # Errors
    ///
    /// If the backend fails to generate (practically never).
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let key = match alg.family() {
            KeyFamily::Hmac => {
                let secret = generate_secret(alg)?;
                return Self::from_secret(alg, &secret);
            }
            KeyFamily::Rsa => Self::from_pkcs8(alg, &backend::generate_rsa(2048)?),
            KeyFamily::Ec => Self::from_pkcs8(alg, &backend::generate_ec(alg)?),
            KeyFamily::Ed => Self::from_pkcs8(alg, &backend::generate_ed25519()?),
        }?;
        Ok(key.with_thumbprint_kid())
    }

    /// Names the key by its RFC 7638 thumbprint ([`VerifyingKey::thumbprint`]): the `kid` of
    /// generated keys and of key-ring keys without one. An HMAC key keeps its `kid`.
    #[must_use]
    pub fn with_thumbprint_kid(self) -> Self {
        match self.verifying_key().thumbprint() {
            Some(thumbprint) => self.with_kid(thumbprint),
            None => self,
        }
    }

    /// Generates an RSA key of `bits` (2048, 3072 or 4096) for an RS*/PS* algorithm.
    ///
    /// # Errors
    ///
    /// If `alg` is not RSA or `bits` is not one of the sizes above.
    pub fn generate_rsa(alg: Algorithm, bits: usize) -> Result<Self, KeyError> {
        if alg.family() != KeyFamily::Rsa {
            return Err(KeyError::WrongKeyType { alg, found: "RSA" });
        }
        Ok(Self::from_pkcs8(alg, &backend::generate_rsa(bits)?)?.with_thumbprint_kid())
    }

    /// Sets the key id written in the `kid` header of tokens this key signs.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        let kid: Arc<str> = kid.into().into();
        let inner = Arc::make_mut(&mut self.0);
        inner.public.kid = Some(kid.clone());
        inner.kid = Some(kid);
        self
    }

    /// The algorithm this key is bound to.
    pub fn algorithm(&self) -> Algorithm {
        self.0.alg
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.0.kid.as_deref()
    }

    /// The key that verifies this key's signatures (the public half, or the same secret),
    /// with the same `kid`.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.0.public.clone()
    }

    /// The private key as PKCS#8 PEM, for storing it; `None` for an HMAC secret.
    ///
    /// # Security
    ///
    /// This is the private key. Write it with restrictive permissions; never log it.
    pub fn to_pkcs8_pem(&self) -> Option<Zeroizing<String>> {
        let der = self.0.pkcs8.as_ref()?;
        Some(Zeroizing::new(encode_pem("PRIVATE KEY", der.to_vec())))
    }

    /// Signs `message` and returns the raw signature.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let signer: Box<dyn JwtSigner> =
            (backend::provider().signer_factory)(&self.0.alg.to_jsonwebtoken(), &self.0.encoding)
                .map_err(|e| backend_error("signer setup", e))?;
        signer
            .try_sign(message)
            .map_err(|e| backend_error("signing", e))
    }

    fn from_pkcs8(alg: Algorithm, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let (key_alg, inner) = der::parse_pkcs8(pkcs8)?;
        let utils = &backend::provider().key_utils;
        let backend_err = |e: jsonwebtoken::errors::Error| backend_error("key parsing", e);
        let (encoding, public) = match (alg.family(), key_alg) {
            (KeyFamily::Rsa, KeyAlg::Rsa) => {
                return Self::from_rsa_pkcs1(alg, inner, Some(pkcs8));
            }
            (KeyFamily::Ec, KeyAlg::Ec(curve)) => {
                check_curve(alg, curve)?;
                let (_, x, y) =
                    (utils.ec_pub_components_from_private_key)(pkcs8, alg.to_jsonwebtoken())
                        .map_err(backend_err)?;
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (
                    EncodingKey::from_ec_der(pkcs8),
                    VerifyingKey::from_ec_point(alg, &point)?,
                )
            }
            (KeyFamily::Ed, KeyAlg::Ed25519) => {
                let x = (utils.ed_pub_components_from_private_key)(pkcs8, &EllipticCurve::Ed25519)
                    .map_err(backend_err)?;
                (
                    EncodingKey::from_ed_der(pkcs8),
                    VerifyingKey::from_ed_bytes(alg, &x)?,
                )
            }
            (_, found) => {
                return Err(KeyError::WrongKeyType {
                    alg,
                    found: key_alg_name(found),
                });
            }
        };
        let key = Self::from_inner(SigningInner {
            alg,
            kid: None,
            encoding,
            pkcs8: Some(Zeroizing::new(pkcs8.to_vec())),
            public,
        });
        key.sign(b"authz self-test")?;
        Ok(key)
    }

    fn from_rsa_pkcs1(
        alg: Algorithm,
        pkcs1: &[u8],
        pkcs8: Option<&[u8]>,
    ) -> Result<Self, KeyError> {
        if alg.family() != KeyFamily::Rsa {
            return Err(KeyError::WrongKeyType { alg, found: "RSA" });
        }
        let bits = der::bit_len(der::parse_rsa_private_modulus(pkcs1)?);
        if bits < 2048 {
            return Err(KeyError::RsaTooSmall { bits });
        }
        let (n, e) = (backend::provider()
            .key_utils
            .rsa_pub_components_from_private_key)(pkcs1)
        .map_err(|e| backend_error("key parsing", e))?;
        let public = VerifyingKey::from_rsa_pkcs1(alg, &der::rsa_public_pkcs1(&n, &e))?;
        let pkcs8 = match pkcs8 {
            Some(doc) => doc.to_vec(),
            None => rsa_pkcs1_to_pkcs8(pkcs1),
        };
        Ok(Self::from_inner(SigningInner {
            alg,
            kid: None,
            encoding: EncodingKey::from_rsa_der(pkcs1),
            pkcs8: Some(Zeroizing::new(pkcs8)),
            public,
        }))
    }
}

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
fn check_secret(alg: Algorithm, secret: &[u8], refuse_published: bool) -> Result<(), KeyError> {
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
fn looks_like_a_key(secret: &[u8]) -> bool {
    let head = secret.trim_ascii_start();
    let jwk = head.starts_with(b"{") && head.windows(5).any(|w| w == b"\"kty\"");
    jwk || [&b"-----BEGIN "[..], b"ssh-", b"ecdsa-sha2-"]
        .iter()
        .any(|p| head.starts_with(p))
}

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
