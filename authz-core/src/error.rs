//! Errors: why a token was refused ([`Error`]), why a key was refused ([`KeyError`]), why a
//! builder refused its settings ([`ConfigError`]) and why signing failed ([`IssueError`]).
//! Failures of the crypto backend keep the backend's own error as their
//! [`source()`](std::error::Error::source) ([`BackendError`]).
//!
//! A token error is one opaque type with a [`kind`](Error::kind), a stable snake_case
//! [`code`](Error::code) for machines and a [`message`](Error::message) for people. The
//! messages are the ones PyJWT users know (`Signature has expired`, …). No error ever carries
//! the token, a claim value taken from it, or key material: they are safe to log and to send.

use std::fmt;
use std::sync::Arc;

use crate::algorithm::Algorithm;

/// A `Result` whose error is a token [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a token was refused.
///
/// Opaque on purpose: match on [`Error::kind`], show [`Error::message`], and send
/// [`Error::code`] to clients that need something stable.
///
/// ```
/// use authz_core::{ErrorKind, KeySet, Verifier, VerifyingKey, Algorithm};
///
/// let key = VerifyingKey::from_secret(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!")?;
/// let verifier = Verifier::builder(KeySet::single(key)).build()?;
/// let err = verifier.verify("not-a-token").unwrap_err();
/// assert_eq!(err.kind(), &ErrorKind::NotEnoughSegments);
/// assert_eq!(err.code(), "not_enough_segments");
/// assert_eq!(err.to_string(), "Not enough segments");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Error(Box<ErrorKind>);

/// Which check refused the token. See [`Error`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token is longer than the verifier's size cap (checked before any decoding).
    TooLarge,
    /// The token has fewer than three dot-separated segments.
    NotEnoughSegments,
    /// The token has more than three segments (JWE or junk).
    TooManySegments,
    /// A segment is not strict, unpadded base64url.
    InvalidBase64(Segment),
    /// The header or the claims are not a UTF-8 JSON object.
    InvalidJson(Segment),
    /// The header or the claims name the same member twice.
    DuplicateMember(Segment),
    /// The header has a `crit` parameter: no extension is supported.
    UnsupportedCritical,
    /// The header says `cty: JWT`: nested tokens are not supported.
    NestedToken,
    /// The header's `alg` is `none`, or is not the algorithm bound to the key.
    AlgorithmNotAllowed,
    /// The header's `kid` is not a short printable string.
    InvalidKeyId,
    /// No trusted key has the header's `kid`.
    UnknownKeyId,
    /// Several keys are trusted and the token names none of them.
    MissingKeyId,
    /// The signature does not verify with the key.
    InvalidSignature,
    /// The header's `typ` is not the one the verifier requires.
    InvalidTokenType,
    /// `now >= exp + leeway`.
    Expired,
    /// `now + leeway < nbf`.
    NotYetValid,
    /// `iat > now + leeway`.
    IssuedInFuture,
    /// `exp - iat` (or `exp - now`) is longer than the verifier allows.
    LifetimeTooLong,
    /// A claim the verifier requires is absent.
    MissingClaim(String),
    /// A claim has the wrong JSON type or an out-of-range value.
    InvalidClaim(String),
    /// `aud` does not contain an accepted audience.
    InvalidAudience,
    /// `iss` is not the accepted issuer.
    InvalidIssuer,
    /// `sub` is not a non-empty string.
    InvalidSubject,
    /// The token was revoked.
    Revoked,
    /// No verification key is available yet (a key source that has never loaded).
    KeysUnavailable,
    /// Never produced: signing reports [`IssueError`] now.
    #[deprecated(note = "signing failures are `IssueError::Backend` now")]
    #[doc(hidden)]
    Signing,
    /// Never produced: signing reports [`IssueError`] now.
    #[deprecated(note = "signing failures are `IssueError::NotAnObject` now")]
    #[doc(hidden)]
    InvalidClaimsToSign,
}

/// A segment of a compact JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Segment {
    /// The JOSE header.
    Header,
    /// The claims (payload).
    Payload,
    /// The signature.
    Signature,
}

impl ErrorKind {
    /// A stable snake_case code for this kind, for response bodies, metrics and logs.
    #[allow(deprecated)]
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "token_too_large",
            Self::NotEnoughSegments => "not_enough_segments",
            Self::TooManySegments => "too_many_segments",
            Self::InvalidBase64(_) => "invalid_base64",
            Self::InvalidJson(_) => "invalid_json",
            Self::DuplicateMember(_) => "duplicate_member",
            Self::UnsupportedCritical => "unsupported_crit",
            Self::NestedToken => "nested_token",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::InvalidKeyId => "invalid_kid",
            Self::UnknownKeyId => "unknown_kid",
            Self::MissingKeyId => "missing_kid",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidTokenType => "invalid_typ",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::InvalidAudience => "invalid_audience",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidSubject => "invalid_subject",
            Self::Revoked => "token_revoked",
            Self::KeysUnavailable => "keys_unavailable",
            Self::Signing => "signing_failed",
            Self::InvalidClaimsToSign => "invalid_claims",
        }
    }
}

impl fmt::Display for ErrorKind {
    #[allow(deprecated)]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => f.write_str("Token is too large"),
            Self::NotEnoughSegments => f.write_str("Not enough segments"),
            Self::TooManySegments => f.write_str("Too many segments"),
            Self::InvalidBase64(Segment::Header) => f.write_str("Invalid header padding"),
            Self::InvalidBase64(Segment::Payload) => f.write_str("Invalid payload padding"),
            Self::InvalidBase64(Segment::Signature) => f.write_str("Invalid crypto padding"),
            Self::InvalidJson(Segment::Payload) => {
                f.write_str("Invalid payload string: must be a json object")
            }
            Self::InvalidJson(_) => f.write_str("Invalid header string: must be a json object"),
            Self::DuplicateMember(Segment::Payload) => f.write_str("Duplicate claim in payload"),
            Self::DuplicateMember(_) => f.write_str("Duplicate parameter in header"),
            Self::UnsupportedCritical => f.write_str("Unsupported critical extension (crit)"),
            Self::NestedToken => f.write_str("Nested tokens (cty: JWT) are not supported"),
            Self::AlgorithmNotAllowed => f.write_str("The specified alg value is not allowed"),
            Self::InvalidKeyId => f.write_str("Invalid kid header"),
            Self::UnknownKeyId => f.write_str("Unable to find a signing key that matches the kid"),
            Self::MissingKeyId => f.write_str("Token is missing the \"kid\" header"),
            Self::InvalidSignature => f.write_str("Signature verification failed"),
            Self::InvalidTokenType => f.write_str("Invalid token type (typ)"),
            Self::Expired => f.write_str("Signature has expired"),
            Self::NotYetValid => f.write_str("The token is not yet valid (nbf)"),
            Self::IssuedInFuture => f.write_str("The token is not yet valid (iat)"),
            Self::LifetimeTooLong => f.write_str("Token lifetime exceeds the allowed maximum"),
            Self::MissingClaim(name) => write!(f, "Token is missing the \"{name}\" claim"),
            Self::InvalidClaim(name) => write!(f, "Invalid \"{name}\" claim: wrong type or value"),
            Self::InvalidAudience => f.write_str("Invalid audience"),
            Self::InvalidIssuer => f.write_str("Invalid issuer"),
            Self::InvalidSubject => f.write_str("Subject must be a non-empty string"),
            Self::Revoked => f.write_str("Token has been revoked"),
            Self::KeysUnavailable => f.write_str("No verification key is available yet"),
            Self::Signing => f.write_str("Signing failed"),
            Self::InvalidClaimsToSign => f.write_str("Claims to sign must be a JSON object"),
        }
    }
}

impl Error {
    /// What refused the token.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// The kind, by value.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// The stable snake_case code, e.g. `token_expired`.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// The human message, e.g. `Signature has expired`. Same as `to_string()`.
    pub fn message(&self) -> String {
        self.0.to_string()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self(Box::new(kind))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Error").field(&self.0).finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {}

/// Why a key, a key set or a verifier configuration was refused at load time.
///
/// These errors are for operators: they say what is wrong and how to fix it, and never
/// include the key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// An HMAC secret is shorter than its hash (RFC 7518 §3.2).
    WeakSecret {
        /// The algorithm the secret was meant for.
        alg: Algorithm,
        /// The secret's length in bytes.
        len: usize,
        /// The minimum length for `alg`.
        min: usize,
    },
    /// The secret is a well-known example value found in tutorials and cracking lists.
    PublicSecret,
    /// An RSA modulus is shorter than 2048 bits (RFC 7518 §3.3).
    RsaTooSmall {
        /// The modulus length in bits.
        bits: usize,
    },
    /// An RSA modulus has the ROCA fingerprint (CVE-2017-15361): made by a flawed generator,
    /// it can be factored.
    RocaFingerprint,
    /// The key's type does not fit the algorithm (an RSA key for `ES256`, …).
    WrongKeyType {
        /// The algorithm asked for.
        alg: Algorithm,
        /// The key type found (`RSA`, `EC`, `OKP`, `oct`).
        found: &'static str,
    },
    /// An EC key's curve does not match the algorithm (P-256 for ES256, P-384 for ES384).
    CurveMismatch {
        /// The algorithm asked for.
        alg: Algorithm,
        /// The curve found.
        curve: String,
    },
    /// A public key is not a valid point or encoding.
    InvalidPublicKey(&'static str),
    /// The input is not PEM or DER of a supported kind.
    Format(String),
    /// A private key was given where a public key is expected.
    PrivateKeyGiven,
    /// A JWK is malformed or its members (`kty`, `crv`, `alg`, `use`, `key_ops`) disagree.
    Jwk {
        /// The `kid` of the offending key, if it has one.
        kid: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A public key set (JWKS) holds a private or symmetric key.
    NotPublic {
        /// The `kid` of the offending key, if it has one.
        kid: Option<String>,
    },
    /// Two keys of a set share a `kid`.
    DuplicateKid(String),
    /// A set with several keys has a key without `kid` (it could never be selected).
    MissingKid,
    /// A set mixes symmetric (HMAC) and asymmetric keys (ASVS 5.0 V9.1.2).
    MixedKeyFamilies,
    /// A set has no usable key.
    EmptySet,
    /// The algorithm is not supported (for example `ES512`, or `none`).
    UnsupportedAlgorithm(String),
    /// A `kid` is empty, too long or has control characters.
    InvalidKid,
    /// RSA keys are generated with 2048, 3072 or 4096 bits.
    UnsupportedKeySize {
        /// The size asked for.
        bits: usize,
    },
    /// An HMAC key cannot be published (in a key ring or a JWKS).
    NotPublishable,
    /// A key ring was asked to promote its next key, and none is staged.
    NothingStaged,
    /// The crypto backend refused the key or could not generate one.
    Backend(BackendError),
    /// Never produced: builders report [`ConfigError`], key rings their own variants.
    #[deprecated(note = "builders report `ConfigError` now")]
    #[doc(hidden)]
    Config(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WeakSecret { alg, len, min } => write!(
                f,
                "the {alg} secret is {len} bytes; RFC 7518 requires at least {min} random bytes \
                 (at a shell: `openssl rand -base64 {min}`; in code: `generate_secret`)"
            ),
            Self::PublicSecret => f.write_str(
                "the secret is a well-known example value; generate a random secret instead",
            ),
            Self::RsaTooSmall { bits } => {
                write!(f, "the RSA key has {bits} bits; at least 2048 are required")
            }
            Self::RocaFingerprint => f.write_str(
                "the RSA key has the ROCA fingerprint (CVE-2017-15361): it was made by a flawed \
                 generator and can be factored; make a new key",
            ),
            Self::WrongKeyType { alg, found } => {
                write!(f, "a {found} key cannot be used with {alg}")
            }
            Self::CurveMismatch { alg, curve } => {
                write!(f, "the key's curve {curve} does not match {alg}")
            }
            Self::InvalidPublicKey(why) => write!(f, "invalid public key: {why}"),
            Self::Format(why) => write!(f, "unsupported key format: {why}"),
            Self::PrivateKeyGiven => f.write_str(
                "a private key was given where a public key is expected; \
                 load it as a SigningKey, or pass the public key",
            ),
            Self::Jwk {
                kid: Some(kid),
                reason,
            } => write!(f, "JWK {kid:?}: {reason}"),
            Self::Jwk { kid: None, reason } => write!(f, "JWK: {reason}"),
            Self::NotPublic { kid } => write!(
                f,
                "the public key set holds a private or symmetric key{}",
                kid.as_deref()
                    .map(|k| format!(" ({k:?})"))
                    .unwrap_or_default()
            ),
            Self::DuplicateKid(kid) => write!(f, "two keys share the kid {kid:?}"),
            Self::MissingKid => {
                f.write_str("a set of several keys needs a kid on every key to select them")
            }
            Self::MixedKeyFamilies => f.write_str(
                "a key set cannot mix HMAC secrets with asymmetric keys; use one verifier each",
            ),
            Self::EmptySet => f.write_str("the key set has no usable key"),
            Self::UnsupportedAlgorithm(alg) => write!(f, "unsupported algorithm {alg:?}"),
            Self::InvalidKid => {
                f.write_str("a kid must be 1 to 256 bytes with no control characters")
            }
            Self::UnsupportedKeySize { bits } => {
                write!(
                    f,
                    "cannot generate a {bits}-bit RSA key; use 2048, 3072 or 4096"
                )
            }
            Self::NotPublishable => {
                f.write_str("an HMAC key cannot be published; use an RS, PS, ES or EdDSA key")
            }
            Self::NothingStaged => f.write_str("no key is staged; stage one before promoting"),
            Self::Backend(error) => fmt::Display::fmt(error, f),
            #[allow(deprecated)]
            Self::Config(why) => write!(f, "invalid configuration: {why}"),
        }
    }
}

impl std::error::Error for KeyError {
    /// The backend's own error, for [`Backend`](Self::Backend).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Backend(error) => std::error::Error::source(error),
            _ => None,
        }
    }
}

/// A failure of the crypto backend or of the system's random source, with the backend's own
/// error as [`source()`](std::error::Error::source). Holds no key material.
#[derive(Clone)]
pub struct BackendError {
    what: &'static str,
    source: Arc<dyn std::error::Error + Send + Sync>,
}

impl BackendError {
    /// `what` failed (`"signing"`, `"key generation"`, …) because of `source`.
    pub(crate) fn new(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            what,
            source: Arc::new(source),
        }
    }

    /// What failed: `"signing"`, `"key generation"`, `"random source"`, ….
    pub fn what(&self) -> &'static str {
        self.what
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendError")
            .field("what", &self.what)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "crypto backend: {} failed", self.what)
    }
}

impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        self.what == other.what && self.source.to_string() == other.source.to_string()
    }
}

impl Eq for BackendError {}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// Why a builder ([`VerifierBuilder`](crate::VerifierBuilder), the token service's, …)
/// refused its settings. For operators: it names the setting and says what is wrong.
///
/// ```
/// use std::time::Duration;
/// use authz_core::{Algorithm, ConfigError, KeySet, SigningKey, Verifier};
///
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let error = Verifier::builder(KeySet::single(key.verifying_key()))
///     .with_leeway(Duration::from_secs(3600))
///     .build()
///     .unwrap_err();
/// assert!(matches!(error, ConfigError::Invalid { setting: "leeway", .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting's value is refused.
    Invalid {
        /// The setting, as its builder method names it (`leeway`, `max_token_len`, …).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A key the settings need could not be made or used.
    Key(KeyError),
}

impl ConfigError {
    pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { setting, reason } => write!(f, "invalid {setting}: {reason}"),
            Self::Key(error) => write!(f, "key: {error}"),
        }
    }
}

impl std::error::Error for ConfigError {
    /// The key error's own cause (its text is already in this error's).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Key(error) => std::error::Error::source(error),
            Self::Invalid { .. } => None,
        }
    }
}

impl From<KeyError> for ConfigError {
    fn from(error: KeyError) -> Self {
        Self::Key(error)
    }
}

/// Why [`Issuer::issue`](crate::Issuer::issue) could not sign.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueError {
    /// The claims do not serialize to a JSON object.
    NotAnObject,
    /// The crypto backend (or the random source, for `jti`) failed.
    Backend(BackendError),
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("claims to sign must be a JSON object"),
            Self::Backend(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl std::error::Error for IssueError {
    /// The backend's own error.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Backend(error) => std::error::Error::source(error),
            Self::NotAnObject => None,
        }
    }
}

impl From<KeyError> for IssueError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::Backend(error) => Self::Backend(error),
            // Signing reports only backend failures; anything else is the backend's too.
            other => Self::Backend(BackendError::new("signing", other)),
        }
    }
}

#[cfg(any(feature = "lifecycle", feature = "assertion", feature = "usage"))]
pub use store::{StoreError, StoreResult};

#[cfg(any(feature = "lifecycle", feature = "assertion", feature = "usage"))]
mod store {
    use std::fmt;
    use std::sync::Arc;
    use std::time::Duration;

    /// A store failure. Its text never holds a token, a hash or a password; the backend's own
    /// error is kept as [`source()`](std::error::Error::source).
    ///
    /// Everything but [`Conflict`](Self::Conflict) means "the store could not answer": the
    /// request paths turn it into 503 with `Retry-After`, never into a refusal.
    #[derive(Debug, Clone)]
    #[non_exhaustive]
    pub enum StoreError {
        /// A unique value (a username, an email) is taken.
        Conflict,
        /// The store did not answer within the timeout.
        Timeout {
            /// The timeout that passed.
            after: Duration,
        },
        /// The backend is unreachable, or failed (connection, query, migration).
        Backend(Arc<dyn std::error::Error + Send + Sync>),
    }

    /// A backend failure described in words (a reply of the wrong shape, say).
    #[derive(Debug)]
    struct Message(String);

    impl fmt::Display for Message {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Message {}

    impl StoreError {
        /// A backend failure, keeping `error` as the source.
        pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
            Self::Backend(Arc::new(error))
        }

        /// A backend failure described by `message` (which must hold no secret).
        pub fn message(message: impl Into<String>) -> Self {
            Self::Backend(Arc::new(Message(message.into())))
        }

        /// Whether the store could not answer (a timeout or a backend failure): the caller
        /// should say "try again later" (503), never "refused".
        pub fn is_unavailable(&self) -> bool {
            !matches!(self, Self::Conflict)
        }
    }

    impl PartialEq for StoreError {
        fn eq(&self, other: &Self) -> bool {
            match (self, other) {
                (Self::Conflict, Self::Conflict) => true,
                (Self::Timeout { after: a }, Self::Timeout { after: b }) => a == b,
                (Self::Backend(a), Self::Backend(b)) => a.to_string() == b.to_string(),
                _ => false,
            }
        }
    }

    impl Eq for StoreError {}

    impl fmt::Display for StoreError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Conflict => f.write_str("a user with this username or email already exists"),
                Self::Timeout { after } => {
                    write!(
                        f,
                        "the store did not answer within {} ms",
                        after.as_millis()
                    )
                }
                Self::Backend(error) => write!(f, "store backend failed: {error}"),
            }
        }
    }

    impl std::error::Error for StoreError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            match self {
                Self::Backend(error) => Some(&**error),
                _ => None,
            }
        }
    }

    /// The result of a store call.
    pub type StoreResult<T> = std::result::Result<T, StoreError>;
}

/// Parsing lives here, beside [`KeyError`], so that `algorithm.rs` depends on nothing.
impl std::str::FromStr for Algorithm {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or_else(|| KeyError::UnsupportedAlgorithm(s.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_pyjwt() {
        assert_eq!(
            Error::from(ErrorKind::Expired).to_string(),
            "Signature has expired"
        );
        assert_eq!(
            Error::from(ErrorKind::NotYetValid).to_string(),
            "The token is not yet valid (nbf)"
        );
        assert_eq!(
            Error::from(ErrorKind::InvalidSignature).to_string(),
            "Signature verification failed"
        );
        assert_eq!(
            Error::from(ErrorKind::InvalidAudience).to_string(),
            "Invalid audience"
        );
        assert_eq!(
            Error::from(ErrorKind::InvalidIssuer).to_string(),
            "Invalid issuer"
        );
        assert_eq!(
            Error::from(ErrorKind::NotEnoughSegments).to_string(),
            "Not enough segments"
        );
        assert_eq!(
            Error::from(ErrorKind::MissingClaim("exp".into())).to_string(),
            "Token is missing the \"exp\" claim"
        );
    }

    #[test]
    fn codes_are_snake_case() {
        let kinds = [
            ErrorKind::TooLarge,
            ErrorKind::InvalidBase64(Segment::Header),
            ErrorKind::MissingClaim("x".into()),
            ErrorKind::Expired,
        ];
        for kind in kinds {
            assert!(
                kind.code()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
        }
    }
}
