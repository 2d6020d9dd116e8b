//! Strict token verification: every check RFC 7519, 7515, 7518 and 8725 ask of a verifier,
//! on by default.
//!
//! In order, for each token, and stopping at the first failure:
//!
//! 1. size cap (8 KiB by default), before any decoding;
//! 2. exactly three segments, each strict unpadded base64url;
//! 3. the header is a JSON object with no duplicate parameter, no `crit`, no `cty: JWT`;
//! 4. the key is chosen by `kid` from the trusted [`KeySet`]; the header's `alg` must equal
//!    the key's algorithm (so `none`, in any case, and HS256-with-a-public-key never pass);
//!    keys named by `jwk`, `jku`, `x5u` or `x5c` headers are never used or fetched;
//! 5. the signature over the literal `header.payload` bytes;
//! 6. `typ`, when the verifier requires one (e.g. `at+jwt`);
//! 7. the claims are a JSON object with no duplicate claim, and registered claims have their
//!    RFC types (`exp`/`nbf`/`iat` numbers, `iss`/`sub`/`jti` strings, `aud` string or array
//!    of strings);
//! 8. `exp` (required), `nbf`, `iat` not in the future, optional maximum lifetime, `iss`,
//!    `aud`, `sub`, and any other required claim;
//! 9. roles, scopes and permissions read per the [`ClaimMapping`].
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use authz_core::{Algorithm, ErrorKind, Issuer, KeySet, SigningKey, Verifier};
//!
//! let key = SigningKey::generate(Algorithm::ES256)?.with_kid("k1");
//! let issuer = Issuer::new(key.clone())
//!     .with_issuer("https://auth.example.com")
//!     .with_audience("orders")
//!     .with_typ("at+jwt");
//! let verifier = Verifier::builder(KeySet::single(key.verifying_key()))
//!     .with_issuer("https://auth.example.com")
//!     .with_audience("orders")
//!     .with_typ("at+jwt")
//!     .with_max_lifetime(Duration::from_secs(3600))
//!     .build()?;
//!
//! let token = issuer.issue_for("alice")?;
//! assert_eq!(verifier.verify(&token)?.subject(), "alice");
//!
//! let other = Issuer::new(key).with_issuer("https://auth.example.com").with_audience("billing").with_typ("at+jwt");
//! let err = verifier.verify(&other.issue_for("alice")?).unwrap_err();
//! assert_eq!(err.kind(), &ErrorKind::InvalidAudience);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::cache::TokenCache;
use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::error::{ConfigError, ErrorKind, Result, Segment};
use crate::key::set::valid_kid;
use crate::key::source::{KeySource, Source};
use crate::key::{KeySet, SharedKeySet};
use crate::principal::{ClaimMapping, Principal, PrincipalParts, Text};
#[cfg(feature = "remote")]
use crate::remote::RemoteKeySet;
use crate::token::{self, Claims};

/// The default size cap: 8 KiB, far above a real access token (under 1 KiB, or ~2 KiB with
/// many roles) and far below what would let a token cost real CPU or memory.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// The default clock-skew allowance: 30 seconds.
///
/// Services' clocks drift by a few seconds even under NTP, and a token issued on one machine
/// is often checked on another within the same second, so a leeway of zero makes `iat`/`nbf`
/// fail at random. 30 s absorbs that while keeping a 5-minute access token's lifetime
/// meaningful (PyJWT uses 0, jsonwebtoken 60). At most 60 s can be configured.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The largest leeway the builder accepts (RFC 8725 practice; larger means clocks need fixing).
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// Header buffer on the stack; larger headers (e.g. with `x5c` chains) go to the heap.
const HEADER_STACK: usize = 192;

/// Verifies tokens against a [`KeySet`] and a policy. Cheap to clone; share one per app.
///
/// See the [module docs](crate::verify) for the checks and an example.
#[derive(Debug, Clone)]
pub struct Verifier(Arc<Config>);

/// Where a verifier's keys come from.
#[derive(Debug)]
enum Keys {
    Static(KeySet),
    Shared(SharedKeySet),
}

#[derive(Debug)]
struct Config {
    keys: Keys,
    #[cfg(feature = "remote")]
    remote: Option<RemoteKeySet>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    typ: Option<String>,
    required: Vec<String>,
    require_exp: bool,
    any_audience: bool,
    leeway: Duration,
    max_lifetime: Option<Duration>,
    max_len: usize,
    mapping: ClaimMapping,
    clock: Arc<dyn Clock>,
    cache: Option<Arc<TokenCache>>,
    headers: KnownHeaders,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCache")
    }
}

/// Builds a [`Verifier`]. Every setting documents its default.
#[derive(Debug)]
#[must_use]
pub struct VerifierBuilder(Config);

impl Verifier {
    /// Starts a verifier that trusts `keys`: a [`KeySet`], one [`VerifyingKey`], a
    /// [`SharedKeySet`] (whatever it holds at each verification: rotation without a restart;
    /// empty → [`ErrorKind::KeysUnavailable`]), a [`KeyRing`](crate::key::KeyRing)'s
    /// published keys, or a `RemoteKeySet` (feature `remote`: the AuthLayer asks it for one
    /// refresh, single-flight and at most once per cooldown, when a token names an unknown
    /// `kid`). See [`KeySource`].
    ///
    /// [`VerifyingKey`]: crate::VerifyingKey
    pub fn builder(keys: impl Into<KeySource>) -> VerifierBuilder {
        match keys.into().0 {
            Source::Static(keys) => Self::builder_with(Keys::Static(keys)),
            Source::Shared(keys) => Self::builder_with(Keys::Shared(keys)),
            #[cfg(feature = "remote")]
            Source::Remote(remote) => {
                let mut builder = Self::builder_with(Keys::Shared(remote.keys().clone()));
                builder.0.remote = Some(remote);
                builder
            }
        }
    }

    /// Starts a verifier that trusts whatever `keys` holds at each verification.
    #[deprecated(
        since = "0.2.0",
        note = "use `Verifier::builder(keys)`: it takes any `KeySource`"
    )]
    #[doc(hidden)]
    pub fn builder_shared(keys: SharedKeySet) -> VerifierBuilder {
        Self::builder(keys)
    }

    /// Starts a verifier that trusts a JWKS fetched from a URL and kept fresh by `remote`.
    #[cfg(feature = "remote")]
    #[deprecated(
        since = "0.2.0",
        note = "use `Verifier::builder(remote)`: it takes any `KeySource`"
    )]
    #[doc(hidden)]
    pub fn builder_remote(remote: RemoteKeySet) -> VerifierBuilder {
        Self::builder(remote)
    }

    fn builder_with(keys: Keys) -> VerifierBuilder {
        VerifierBuilder(Config {
            keys,
            #[cfg(feature = "remote")]
            remote: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            typ: None,
            required: Vec::new(),
            require_exp: true,
            any_audience: false,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: None,
            max_len: DEFAULT_MAX_TOKEN_LEN,
            mapping: ClaimMapping::new(),
            clock: Arc::new(SystemClock),
            cache: None,
            headers: KnownHeaders::default(),
        })
    }

    /// The trusted keys right now (`None` while a shared or remote set is still empty).
    pub fn keys(&self) -> Option<KeySet> {
        match &self.0.keys {
            Keys::Static(keys) => Some(keys.clone()),
            Keys::Shared(shared) => shared.current(),
        }
    }

    /// The remote key source, for verifiers built from a `RemoteKeySet`.
    #[cfg(feature = "remote")]
    pub fn remote(&self) -> Option<&RemoteKeySet> {
        self.0.remote.as_ref()
    }

    /// The clock this verifier reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.0.clock
    }

    /// Verifies `token` and returns the principal it proves.
    ///
    /// # Errors
    ///
    /// The first check that fails, as an [`Error`](crate::Error) with its kind, code and
    /// PyJWT-style message. The error never contains the token or anything read from it.
    pub fn verify(&self, token: &str) -> Result<Principal> {
        let c = &*self.0;
        if token.len() > c.max_len {
            return Err(ErrorKind::TooLarge.into());
        }
        // One clock read per token, for the cache and the claim checks alike.
        let now = unix_seconds(c.clock.now());
        let Some(cache) = &c.cache else {
            return self
                .verify_inner(token, now)
                .map(|(principal, _)| principal)
                .map_err(Into::into);
        };
        let shared;
        let keys = match &c.keys {
            Keys::Static(keys) => Some(keys),
            Keys::Shared(keys) => {
                shared = keys.load();
                shared.as_deref()
            }
        };
        // Still trusted: the set still picks the same key for it (one lookup by `kid`, however
        // many keys there are).
        let trusted = |id: u64, kid: Option<&str>| {
            keys.is_some_and(|keys| keys.select(kid).is_ok_and(|k| k.id() == id))
        };
        if let Some(principal) = cache.get(token, now, c.leeway.as_secs_f64(), trusted) {
            return Ok(principal);
        }
        let (principal, key_id) = self.verify_inner(token, now)?;
        cache.insert(token, &principal, key_id);
        Ok(principal)
    }

    fn verify_inner(&self, token: &str, now: f64) -> Result<(Principal, u64), ErrorKind> {
        let c = &*self.0;
        let parts = token::split(token)?;
        let header_text = parts.header;

        // The header: an issuer sends the same one on every token, so one that came with a
        // verified token before is known by its text (its checks passed then, `typ`
        // included). Any other is decoded (on the stack when it fits) and checked.
        let known = c.headers.load();
        let known = known.iter().find(|h| *h.text == *parts.header);
        let mut stack = [0u8; HEADER_STACK];
        let heap;
        let parsed;
        // A `typ` refusal waits for the signature check: a forged token says so first.
        let mut wrong_typ = false;
        let (alg, kid) = match known {
            Some(known) => (&*known.alg, known.kid.as_deref()),
            None => {
                let header_json: &[u8] = if parts.header.len() / 4 * 3 + 3 <= HEADER_STACK {
                    let n = token::decode_into(parts.header, &mut stack, Segment::Header)?;
                    &stack[..n]
                } else {
                    heap = token::decode(parts.header, Segment::Header)?;
                    &heap
                };
                parsed = token::parse_header(header_json)?;
                if parsed.crit {
                    return Err(ErrorKind::UnsupportedCritical);
                }
                if parsed
                    .cty
                    .as_deref()
                    .is_some_and(|cty| cty.eq_ignore_ascii_case("JWT"))
                {
                    return Err(ErrorKind::NestedToken);
                }
                let alg = parsed
                    .alg
                    .as_deref()
                    .ok_or(ErrorKind::AlgorithmNotAllowed)?;
                let kid = parsed.kid.as_deref();
                if kid.is_some_and(|kid| !valid_kid(kid)) {
                    return Err(ErrorKind::InvalidKeyId);
                }
                if let Some(required) = &c.typ {
                    wrong_typ = !parsed
                        .typ
                        .as_deref()
                        .is_some_and(|typ| typ_matches(typ, required));
                }
                (alg, kid)
            }
        };
        let shared;
        let keys = match &c.keys {
            Keys::Static(keys) => keys,
            Keys::Shared(keys) => {
                shared = keys.load();
                shared.as_deref().ok_or(ErrorKind::KeysUnavailable)?
            }
        };
        let key = keys.select(kid)?;
        if alg != key.algorithm().as_str() {
            return Err(ErrorKind::AlgorithmNotAllowed);
        }

        key.verify_signature(parts.signing_input.as_bytes(), parts.signature)?;
        if wrong_typ {
            return Err(ErrorKind::InvalidTokenType);
        }

        let payload = token::decode(parts.payload, Segment::Payload)?;
        let json =
            String::from_utf8(payload).map_err(|_| ErrorKind::InvalidJson(Segment::Payload))?;
        let claims = token::parse_claims(&json)?;
        let subject = self.check_claims(&claims, now)?;
        let grants = c.mapping.extract(&json, &claims.others)?;
        let parts = PrincipalParts {
            subject: Text::from_cow(&json, subject),
            issuer: claims.iss.as_ref().map(|s| Text::from_cow(&json, s)),
            token_id: claims.jti.as_ref().map(|s| Text::from_cow(&json, s)),
            expires_at: claims.exp,
            issued_at: claims.iat,
            grants,
            algorithm: key.algorithm(),
            key_id: key.kid_arc().cloned(),
            json: String::new(),
        };
        drop(claims);
        if known.is_none() {
            c.headers.remember(header_text, alg, kid);
        }
        Ok((
            Principal::from_parts(PrincipalParts { json, ..parts }),
            key.id(),
        ))
    }

    /// Checks the claims at `now` and returns the subject (always required).
    fn check_claims<'c, 'j>(
        &self,
        claims: &'c Claims<'j>,
        now: f64,
    ) -> Result<&'c Cow<'j, str>, ErrorKind> {
        let c = &*self.0;
        let leeway = c.leeway.as_secs_f64();
        let missing = |name: &str| ErrorKind::MissingClaim(name.to_owned());

        if c.require_exp && claims.exp.is_none() {
            return Err(missing("exp"));
        }
        let subject = claims.sub.as_ref().ok_or_else(|| missing("sub"))?;
        if let Some(name) = c.required.iter().find(|name| !claims.has(name)) {
            return Err(missing(name));
        }
        if claims.exp.is_some_and(|exp| now >= exp + leeway) {
            return Err(ErrorKind::Expired);
        }
        if claims.nbf.is_some_and(|nbf| now + leeway < nbf) {
            return Err(ErrorKind::NotYetValid);
        }
        if claims.iat.is_some_and(|iat| iat > now + leeway) {
            return Err(ErrorKind::IssuedInFuture);
        }
        if let (Some(max), Some(exp)) = (c.max_lifetime, claims.exp)
            && exp - claims.iat.unwrap_or(now) > max.as_secs_f64()
        {
            return Err(ErrorKind::LifetimeTooLong);
        }
        if !c.issuers.is_empty() {
            let iss = claims.iss.as_deref().ok_or_else(|| missing("iss"))?;
            if !c.issuers.iter().any(|accepted| accepted == iss) {
                return Err(ErrorKind::InvalidIssuer);
            }
        }
        match (&claims.aud, c.audiences.is_empty()) {
            (None, false) => return Err(missing("aud")),
            (Some(aud), false)
                if !aud
                    .iter()
                    .any(|a| c.audiences.iter().any(|accepted| accepted == a)) =>
            {
                return Err(ErrorKind::InvalidAudience);
            }
            // A token meant for some audience, at a verifier that does not know its own
            // name, is refused (as PyJWT and jsonwebtoken do) unless the app opts out.
            (Some(_), true) if !c.any_audience => return Err(ErrorKind::InvalidAudience),
            _ => {}
        }
        if subject.is_empty() {
            return Err(ErrorKind::InvalidSubject);
        }
        Ok(subject)
    }
}

/// Headers that came with verified tokens, by their exact base64url text, with the two
/// parameters the key choice needs. Its checks (`crit`, `cty`, `kid` syntax, `typ`) passed
/// then and give the same answer for the same text, so a known header skips decoding and
/// parsing; the key is still chosen by `kid` and bound to `alg` on every token. A few
/// entries (an issuer's current and previous keys); a new one replaces the oldest. Measured
/// alone (bench/README.md): 2.5k instructions, 4.7 % of an uncached HS256 request.
#[derive(Default)]
struct KnownHeaders(ArcSwap<Vec<KnownHeader>>);

struct KnownHeader {
    text: Box<str>,
    alg: Box<str>,
    kid: Option<Box<str>>,
}

/// How many headers are kept.
const KNOWN_HEADERS: usize = 8;

impl fmt::Debug for KnownHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KnownHeaders({})", self.0.load().len())
    }
}

impl KnownHeaders {
    fn load(&self) -> arc_swap::Guard<Arc<Vec<KnownHeader>>> {
        self.0.load()
    }

    /// Remembers the header of a token that was just verified.
    fn remember(&self, text: &str, alg: &str, kid: Option<&str>) {
        // Headers longer than a few parameters (e.g. with certificate chains) are rare and
        // not worth keeping.
        if text.len() > 2 * HEADER_STACK {
            return;
        }
        self.0.rcu(|known| {
            let mut next: Vec<KnownHeader> = Vec::with_capacity(KNOWN_HEADERS);
            let skip = (known.len() + 1).saturating_sub(KNOWN_HEADERS);
            next.extend(
                known
                    .iter()
                    .skip(skip)
                    .filter(|h| *h.text != *text)
                    .map(|h| KnownHeader {
                        text: h.text.clone(),
                        alg: h.alg.clone(),
                        kid: h.kid.clone(),
                    }),
            );
            next.push(KnownHeader {
                text: text.into(),
                alg: alg.into(),
                kid: kid.map(Into::into),
            });
            next
        });
    }
}

/// `typ` values compare case-insensitively, with an optional `application/` prefix on either
/// side (RFC 7515 §4.1.9, RFC 9068 §2.1).
fn typ_matches(typ: &str, required: &str) -> bool {
    fn strip(s: &str) -> &str {
        match s.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &s[12..],
            _ => s,
        }
    }
    strip(typ).eq_ignore_ascii_case(strip(required))
}

impl VerifierBuilder {
    /// Accepts tokens whose `iss` is exactly `issuer` (and requires `iss`).
    ///
    /// Defaults to no issuer check. Call it more than once to accept several issuers.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.0.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` (string, or array of strings) contains `audience` exactly,
    /// and requires `aud`.
    ///
    /// Defaults to none: then a token that carries an `aud` is refused, since this service
    /// cannot tell whether it is the audience. Call it more than once to accept several names.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.0.audiences.push(audience.into());
        self
    }

    /// Accepts tokens with any `aud` when no audience is configured.
    ///
    /// # Security
    ///
    /// A token minted for another service is then accepted here (RFC 8725 §3.9). Prefer
    /// [`with_audience`](Self::with_audience).
    pub fn insecure_accept_any_audience(mut self) -> Self {
        self.0.any_audience = true;
        self
    }

    /// Requires the header `typ` to be `typ` (case-insensitive, `application/` optional),
    /// e.g. `at+jwt` for OAuth access tokens (RFC 9068).
    ///
    /// Defaults to no `typ` check.
    pub fn with_typ(mut self, typ: impl Into<String>) -> Self {
        self.0.typ = Some(typ.into());
        self
    }

    /// Also requires these claims to be present (e.g. `iat`, `jti`).
    ///
    /// `exp` and `sub` are always required; `iss` and `aud` are when configured.
    pub fn with_required_claims<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        self.0.required.extend(names.into_iter().map(str::to_owned));
        self
    }

    /// Accepts tokens without `exp`, which then never expire.
    ///
    /// # Security
    ///
    /// A stolen token without `exp` works forever (RFC 8725 §3.10, OWASP).
    pub fn insecure_allow_missing_exp(mut self) -> Self {
        self.0.require_exp = false;
        self
    }

    /// The clock-skew allowance for `exp`, `nbf` and `iat`.
    ///
    /// Defaults to [`DEFAULT_LEEWAY`] (30 s); at most [`MAX_LEEWAY`] (60 s).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.0.leeway = leeway;
        self
    }

    /// Refuses tokens whose lifetime `exp - iat` (or `exp - now` without `iat`) exceeds `max`.
    ///
    /// Defaults to no maximum.
    pub fn with_max_lifetime(mut self, max: Duration) -> Self {
        self.0.max_lifetime = Some(max);
        self
    }

    /// The size cap in bytes, checked before any decoding.
    ///
    /// Defaults to [`DEFAULT_MAX_TOKEN_LEN`] (8 KiB).
    pub fn with_max_token_len(mut self, max: usize) -> Self {
        self.0.max_len = max;
        self
    }

    /// Where roles, scopes and permissions are read from.
    ///
    /// Defaults to [`ClaimMapping::new`].
    pub fn with_claim_mapping(mut self, mapping: ClaimMapping) -> Self {
        self.0.mapping = mapping;
        self
    }

    /// Caches up to `capacity` verified tokens, for clients that send the same token on
    /// every request: a hit skips the signature and claims work.
    ///
    /// A hit needs the exact same token text, and is re-checked at the current time: an
    /// expired token or one whose key left the key set is verified (and refused) again.
    /// Refusals are never cached. The layer's revocation hook still runs on every request.
    ///
    /// Defaults to no cache.
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.0.cache = (capacity > 0).then(|| Arc::new(TokenCache::new(capacity)));
        self
    }

    /// The clock for time checks.
    ///
    /// Defaults to [`SystemClock`].
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.0.clock = Arc::new(clock);
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    ///
    /// If the leeway exceeds [`MAX_LEEWAY`], the size cap is under 64 bytes, or an issuer or
    /// audience is empty.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        let c = self.0;
        if c.leeway > MAX_LEEWAY {
            return Err(ConfigError::invalid(
                "leeway",
                format!("{:?} is over the {MAX_LEEWAY:?} maximum", c.leeway),
            ));
        }
        if c.max_len < 64 {
            return Err(ConfigError::invalid(
                "max_token_len",
                "the token size cap must be at least 64 bytes",
            ));
        }
        if c.issuers.iter().any(String::is_empty) {
            return Err(ConfigError::invalid("issuer", "must not be empty"));
        }
        if c.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::invalid("audience", "must not be empty"));
        }
        Ok(Verifier(Arc::new(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, FixedClock, Issuer, SigningKey};

    fn cached(capacity: usize) -> (Verifier, Issuer, FixedClock) {
        let clock = FixedClock::at_unix(1_700_000_000);
        let key =
            SigningKey::from_secret(Algorithm::HS256, b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)").unwrap();
        let verifier = Verifier::builder(KeySet::single(key.verifying_key()))
            .with_clock(clock.clone())
            .with_leeway(Duration::ZERO)
            .with_cache(capacity)
            .build()
            .unwrap();
        let issuer = Issuer::new(key)
            .with_clock(clock.clone())
            .with_ttl(Duration::from_secs(60));
        (verifier, issuer, clock)
    }

    fn cache_len(v: &Verifier) -> usize {
        v.0.cache.as_ref().unwrap().len()
    }

    #[test]
    fn cache_serves_the_same_token_until_it_expires() {
        let (v, issuer, clock) = cached(16);
        let token = issuer
            .issue(&serde_json::json!({"sub": "alice", "roles": ["a"]}))
            .unwrap();
        assert_eq!(v.verify(&token).unwrap().subject(), "alice");
        assert_eq!(cache_len(&v), 1);
        let again = v.verify(&token).unwrap();
        assert!(again.has_role("a"));
        assert_eq!(cache_len(&v), 1);
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            v.verify(&token).unwrap_err().kind(),
            &ErrorKind::Expired,
            "no stale hit"
        );
        assert_eq!(cache_len(&v), 0, "the expired entry is dropped");
    }

    #[test]
    fn cache_never_stores_refusals_or_serves_lookalikes() {
        let (v, issuer, _) = cached(16);
        let token = issuer.issue_for("alice").unwrap();
        v.verify(&token).unwrap();
        // Same signature (same hashed tail), other payload: verified, and refused.
        let (header, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"sub":"mallory","exp":1700000060}"#,
        );
        let forged = format!("{header}.{payload}.{signature}");
        assert_eq!(
            v.verify(&forged).unwrap_err().kind(),
            &ErrorKind::InvalidSignature
        );
        assert_eq!(
            v.verify(&forged).unwrap_err().kind(),
            &ErrorKind::InvalidSignature
        );
        assert_eq!(
            v.verify(&token).unwrap().subject(),
            "alice",
            "the real entry survives"
        );
        assert!(v.verify("a.b.c").is_err());
        assert_eq!(cache_len(&v), 1);
    }

    #[test]
    fn cache_is_bounded() {
        let (v, issuer, _) = cached(16);
        for i in 0..200 {
            v.verify(&issuer.issue_for(&format!("user-{i}")).unwrap())
                .unwrap();
        }
        assert!(cache_len(&v) <= 16, "{}", cache_len(&v));
    }

    #[test]
    fn known_headers_are_bounded_and_never_skip_the_key_or_signature() {
        let keys: Vec<SigningKey> = (0..12)
            .map(|i| {
                SigningKey::generate(Algorithm::HS256)
                    .unwrap()
                    .with_kid(format!("k{i}"))
            })
            .collect();
        let set = KeySet::new(keys.iter().map(SigningKey::verifying_key)).unwrap();
        let v = Verifier::builder(set).with_typ("at+jwt").build().unwrap();
        let issue = |key: &SigningKey, typ: &str| {
            Issuer::new(key.clone())
                .with_typ(typ)
                .issue_for("alice")
                .unwrap()
        };
        for _ in 0..2 {
            for key in &keys {
                assert_eq!(v.verify(&issue(key, "at+jwt")).unwrap().subject(), "alice");
            }
        }
        assert_eq!(v.0.headers.load().len(), KNOWN_HEADERS);

        // A known header with another key's signature, or with the payload changed.
        let known = issue(&keys[11], "at+jwt");
        let other = issue(&keys[10], "at+jwt");
        let (header, _) = known.split_once('.').unwrap();
        let (_, rest) = other.split_once('.').unwrap();
        assert_eq!(
            v.verify(&format!("{header}.{rest}")).unwrap_err().kind(),
            &ErrorKind::InvalidSignature
        );
        // A header whose checks fail is refused every time, and never kept.
        for _ in 0..2 {
            assert_eq!(
                v.verify(&issue(&keys[11], "JWT")).unwrap_err().kind(),
                &ErrorKind::InvalidTokenType
            );
        }
        assert!(
            v.0.headers.load().iter().all(|h| {
                let json = token::decode(&h.text, crate::error::Segment::Header).unwrap();
                String::from_utf8(json).unwrap().contains("at+jwt")
            }),
            "only headers of verified tokens are kept"
        );
    }

    #[test]
    fn a_known_header_still_needs_its_key_in_the_set() {
        let key = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid("old");
        let shared = SharedKeySet::new(KeySet::single(key.verifying_key()));
        let v = Verifier::builder(shared.clone()).build().unwrap();
        let token = Issuer::new(key).issue_for("alice").unwrap();
        assert!(v.verify(&token).is_ok());
        assert!(v.verify(&token).is_ok());
        let next = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid("new");
        shared.replace(KeySet::single(next.verifying_key()));
        assert_eq!(
            v.verify(&token).unwrap_err().kind(),
            &ErrorKind::UnknownKeyId
        );
    }

    #[test]
    fn typ_comparison() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("application/at+JWT", "at+jwt"));
        assert!(typ_matches("AT+JWT", "application/at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
        assert!(!typ_matches("refresh+jwt", "at+jwt"));
    }
}
