//! [`SigningKey`]: a key that signs, and its verifying half.

use super::*;

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
    pub(super) alg: Algorithm,
    pub(super) kid: Option<Arc<str>>,
    pub(super) encoding: EncodingKey,
    /// The PKCS#8 document, for export; `None` for HMAC secrets.
    pkcs8: Option<Zeroizing<Vec<u8>>>,
    pub(super) public: VerifyingKey,
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
