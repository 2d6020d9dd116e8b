//! [`Csrf`]: the cross-site request forgery check for tokens read from a cookie.

use std::fmt;
use std::sync::Arc;

use authz_core::{ClaimPath, Principal};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use http::{HeaderMap, HeaderName, Method, Uri, header};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// The default header that carries the CSRF token (read by the page's script from the CSRF
/// cookie and sent back).
pub const DEFAULT_CSRF_HEADER: &str = "x-csrf-token";
/// The default name of the readable CSRF cookie.
pub const DEFAULT_CSRF_COOKIE: &str = "__Host-csrf";
/// The shortest CSRF key accepted: 256 bits.
pub const MIN_CSRF_KEY_BYTES: usize = 32;

/// Cross-site request forgery protection for requests that a **cookie** authenticated.
///
/// A browser attaches cookies to requests that another site makes it send; a token in the
/// `Authorization` header is never attached that way. So whenever the
/// [`AuthLayer`](crate::AuthLayer) takes the token from a cookie and the method is not safe
/// (anything but `GET`, `HEAD`, `OPTIONS`, `TRACE`), it checks, in this order:
///
/// 1. **Fetch metadata and origin** (OWASP CSRF cheat sheet, "Fetch Metadata headers" and
///    "Verifying Origin with standard headers"): `Sec-Fetch-Site: cross-site` or `same-site`
///    passes only from a [trusted origin](Csrf::with_trusted_origins); an `Origin` header (or,
///    without one, the `Referer`'s origin) must be the request's own host or a trusted origin;
///    `Origin: null` is refused.
/// 2. **A signed double-submit token** (OWASP, "Signed Double-Submit Cookie"): the header
///    [`x-csrf-token`](DEFAULT_CSRF_HEADER) must equal the readable CSRF cookie, and both must
///    equal `HMAC-SHA256(key, session)`, where the session is the token's `sid` claim (its
///    refresh family: the CSRF token survives access-token refreshes and changes at each
///    login), else its `jti`. An attacker who can plant cookies from a sibling domain still
///    cannot make a value that passes without the key.
///
/// A refusal is 403 with `{"detail": "CSRF check failed: …", "code": "csrf_failed"}`, before
/// any handler runs, so nothing changes. Requests that carry their token in the
/// `Authorization` header are not checked (and a header token wins over the cookie).
///
/// Not implemented from the cheat sheet: synchronizer (per-request) tokens, which need
/// server-side state per session; custom-header-only defences, which the double submit
/// already covers. `SameSite` and the `__Host-` prefix are the cookies' business (see the
/// [module docs](crate::cookie)).
///
/// # Example
///
/// ```
/// use authz_axum::cookie::Csrf;
///
/// let csrf = Csrf::new(b"a CSRF key of at least 32 bytes....")?
///     .with_trusted_origins(["https://app.example.com"])?;
/// assert_eq!(csrf.token_for_session("family-1"), csrf.token_for_session("family-1"));
/// assert_ne!(csrf.token_for_session("family-1"), csrf.token_for_session("family-2"));
/// # Ok::<(), authz_axum::cookie::CsrfConfigError>(())
/// ```
#[derive(Clone)]
pub struct Csrf {
    inner: Arc<Inner>,
}

struct Inner {
    key: Zeroizing<Vec<u8>>,
    header: HeaderName,
    cookie: String,
    origins: Vec<String>,
    disabled: bool,
}

impl fmt::Debug for Csrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Csrf")
            .field("key", &"[redacted]")
            .field("header", &self.inner.header)
            .field("cookie", &self.inner.cookie)
            .field("trusted_origins", &self.inner.origins)
            .field("disabled", &self.inner.disabled)
            .finish()
    }
}

/// A CSRF setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrfConfigError {
    /// The key is shorter than [`MIN_CSRF_KEY_BYTES`].
    KeyTooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// A trusted origin is not `scheme://host[:port]`.
    InvalidOrigin {
        /// The value given.
        origin: String,
    },
    /// No random bytes could be had for a key.
    Random,
}

impl fmt::Display for CsrfConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyTooShort { len } => write!(
                f,
                "the CSRF key is {len} bytes; it must be at least {MIN_CSRF_KEY_BYTES}"
            ),
            Self::InvalidOrigin { origin } => write!(
                f,
                "trusted origin {origin:?} is not of the form scheme://host[:port]"
            ),
            Self::Random => f.write_str("the system's random number generator failed"),
        }
    }
}

impl std::error::Error for CsrfConfigError {}

impl Csrf {
    /// CSRF protection keyed by `key` (at least 32 bytes). Give every instance of an app the
    /// same key, so that a CSRF token made by one is accepted by all.
    ///
    /// # Errors
    ///
    /// [`CsrfConfigError::KeyTooShort`].
    pub fn new(key: &[u8]) -> Result<Self, CsrfConfigError> {
        if key.len() < MIN_CSRF_KEY_BYTES {
            return Err(CsrfConfigError::KeyTooShort { len: key.len() });
        }
        Ok(Self::with_key(Zeroizing::new(key.to_vec())))
    }

    /// CSRF protection with a random key made now: right for one process; several instances
    /// need [`Csrf::new`] with a shared key.
    ///
    /// # Errors
    ///
    /// [`CsrfConfigError::Random`] if the system has no randomness to give.
    pub fn random() -> Result<Self, CsrfConfigError> {
        let mut key = Zeroizing::new(vec![0u8; MIN_CSRF_KEY_BYTES]);
        getrandom::fill(&mut key).map_err(|_| CsrfConfigError::Random)?;
        Ok(Self::with_key(key))
    }

    /// A check that refuses every unsafe cookie-authenticated request: what
    /// [`AuthLayer::with_cookie`](crate::AuthLayer::with_cookie) falls back to in the
    /// unlikely case that the system has no randomness for a key.
    pub(crate) fn refusing() -> Self {
        Self::with_key(Zeroizing::new(Vec::new()))
    }

    fn with_key(key: Zeroizing<Vec<u8>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                key,
                header: HeaderName::from_static(DEFAULT_CSRF_HEADER),
                cookie: DEFAULT_CSRF_COOKIE.to_owned(),
                origins: Vec::new(),
                disabled: false,
            }),
        }
    }

    /// No CSRF check at all for cookie-authenticated requests.
    ///
    /// # Security
    ///
    /// Any site the user visits can then make the browser send authenticated `POST`s to the
    /// app. Only for apps whose cookie is `SameSite=Strict` on a domain with no sibling
    /// that an attacker may control, or that check CSRF themselves.
    pub fn insecure_disabled() -> Self {
        let mut csrf = Self::with_key(Zeroizing::new(Vec::new()));
        if let Some(inner) = Arc::get_mut(&mut csrf.inner) {
            inner.disabled = true;
        }
        csrf
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => {
                let i = &self.inner;
                let mut inner = Inner {
                    key: i.key.clone(),
                    header: i.header.clone(),
                    cookie: i.cookie.clone(),
                    origins: i.origins.clone(),
                    disabled: i.disabled,
                };
                f(&mut inner);
                self.inner = Arc::new(inner);
            }
        }
        self
    }

    /// Origins (`scheme://host[:port]`) besides the app's own host whose pages may send
    /// cookie-authenticated unsafe requests (a front-end on another subdomain, say).
    ///
    /// Defaults to none: only the request's own host.
    ///
    /// # Errors
    ///
    /// [`CsrfConfigError::InvalidOrigin`] for a value that is not an origin.
    pub fn with_trusted_origins<I, O>(self, origins: I) -> Result<Self, CsrfConfigError>
    where
        I: IntoIterator<Item = O>,
        O: Into<String>,
    {
        let mut list = Vec::new();
        for origin in origins {
            let origin: String = origin.into();
            let valid = origin.split_once("://").is_some_and(|(scheme, authority)| {
                !scheme.is_empty()
                    && !authority.is_empty()
                    && !authority.contains(['/', '?', '#', ' '])
            });
            if !valid {
                return Err(CsrfConfigError::InvalidOrigin { origin });
            }
            list.push(origin.to_ascii_lowercase());
        }
        Ok(self.edit(|inner| inner.origins = list))
    }

    /// The header the page sends the CSRF token in.
    ///
    /// Defaults to [`x-csrf-token`](DEFAULT_CSRF_HEADER).
    pub fn with_header(self, name: HeaderName) -> Self {
        self.edit(|inner| inner.header = name)
    }

    /// The name of the readable CSRF cookie.
    ///
    /// Defaults to [`__Host-csrf`](DEFAULT_CSRF_COOKIE).
    pub fn with_cookie_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|inner| inner.cookie = name)
    }

    /// The header name.
    pub fn header_name(&self) -> &HeaderName {
        &self.inner.header
    }

    /// The cookie name.
    pub fn cookie_name(&self) -> &str {
        &self.inner.cookie
    }

    /// Whether this is the keyless check that refuses every unsafe request.
    pub(crate) fn is_refusing(&self) -> bool {
        !self.inner.disabled && self.inner.key.is_empty()
    }

    /// Whether the check is off ([`Csrf::insecure_disabled`]).
    pub fn is_disabled(&self) -> bool {
        self.inner.disabled
    }

    /// The CSRF token of a session (the `sid` claim of its access tokens, i.e. the refresh
    /// family): `base64url(HMAC-SHA256(key, "authz-csrf\0sid\0" ‖ sid))`.
    pub fn token_for_session(&self, sid: &str) -> String {
        self.mac("sid", sid)
    }

    /// The CSRF token for a verified principal (bound to its `sid`, else its `jti`), to put
    /// in the readable CSRF cookie; `None` when the token has neither.
    pub fn token(&self, principal: &Principal) -> Option<String> {
        static SID: std::sync::LazyLock<ClaimPath> =
            std::sync::LazyLock::new(|| ClaimPath::new("sid"));
        match principal.claim(&SID) {
            Some(serde_json::Value::String(sid)) => Some(self.mac("sid", &sid)),
            _ => principal.token_id().map(|jti| self.mac("jti", jti)),
        }
    }

    fn mac(&self, kind: &str, id: &str) -> String {
        // HMAC takes keys of every length: this never fails, and an empty token (which no
        // check accepts) would be the answer if it did.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.inner.key) else {
            return String::new();
        };
        mac.update(b"authz-csrf\0");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(id.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The check of an unsafe request that a cookie authenticated; the reason on refusal.
    pub(crate) fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
        uri: &Uri,
        principal: &Principal,
    ) -> Result<(), &'static str> {
        self.check_bound(method, headers, uri, || self.token(principal))
    }

    /// The same check for a request bound to the session `sid` (a refresh by cookie, whose
    /// session comes from the refresh cookie rather than from an access token).
    #[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
    pub(crate) fn check_session(
        &self,
        method: &Method,
        headers: &HeaderMap,
        uri: &Uri,
        sid: &str,
    ) -> Result<(), &'static str> {
        self.check_bound(method, headers, uri, || Some(self.token_for_session(sid)))
    }

    /// Only the origin half of the check, for a request that has no session yet (a login
    /// that will set cookies: OWASP's "login CSRF").
    #[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
    pub(crate) fn check_origin_only(
        &self,
        method: &Method,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<(), &'static str> {
        if self.inner.disabled || is_safe(method) {
            return Ok(());
        }
        self.check_origin(headers, uri)
    }

    fn check_bound(
        &self,
        method: &Method,
        headers: &HeaderMap,
        uri: &Uri,
        expected: impl FnOnce() -> Option<String>,
    ) -> Result<(), &'static str> {
        if self.inner.disabled || is_safe(method) {
            return Ok(());
        }
        if self.inner.key.is_empty() {
            return Err("no CSRF key is configured");
        }
        self.check_origin(headers, uri)?;
        let sent =
            single(headers, &self.inner.header).ok_or("the CSRF header is missing or repeated")?;
        let cookie = cookie_value(headers, &self.inner.cookie)
            .ok_or("the CSRF cookie is missing or repeated")?;
        let expected = expected()
            .filter(|token| !token.is_empty())
            .ok_or("the token names no session to bind a CSRF token to")?;
        let matches_cookie: bool = sent.as_bytes().ct_eq(cookie.as_bytes()).into();
        let matches_session: bool = sent.as_bytes().ct_eq(expected.as_bytes()).into();
        if matches_cookie & matches_session {
            Ok(())
        } else {
            Err("the CSRF token does not match this session")
        }
    }

    /// The origin half of the check (fetch metadata, `Origin` or `Referer`), also run at
    /// WebSocket handshakes that a cookie authenticates.
    pub(crate) fn check_origin(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), &'static str> {
        let own = own_authority(headers, uri);
        let trusted = |origin: &str| {
            let origin = origin.to_ascii_lowercase();
            self.inner.origins.contains(&origin)
        };
        let same_host = |origin: &str| {
            origin.split_once("://").is_some_and(|(_, authority)| {
                own.is_some_and(|own| authority.eq_ignore_ascii_case(own))
            })
        };
        let origin = match single(headers, &header::ORIGIN) {
            Some("null") => return Err("the request comes from an opaque origin"),
            Some(origin) => Some(origin.to_owned()),
            None => single(headers, &header::REFERER).and_then(referer_origin),
        };
        match single(headers, &HeaderName::from_static("sec-fetch-site")) {
            None | Some("same-origin" | "none") => {}
            Some(_) => {
                // same-site (a sibling subdomain, another port) or cross-site: only from
                // an origin the app trusts.
                if !origin.as_deref().is_some_and(trusted) {
                    return Err("the request comes from another site");
                }
            }
        }
        match origin {
            Some(origin) if !(same_host(&origin) || trusted(&origin)) => {
                Err("the request's origin is not trusted")
            }
            _ => Ok(()),
        }
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The one value of a header, as text; `None` when absent, repeated or not ASCII.
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok().map(str::trim)
}

/// The value of the cookie `name`, if it is there exactly once.
pub(crate) fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((key, value)) = pair.trim().split_once('=')
                && key == name
            {
                if found.is_some() {
                    return None;
                }
                found = Some(value);
            }
        }
    }
    found
}

/// `scheme://authority` of a `Referer`.
fn referer_origin(referer: &str) -> Option<String> {
    let (scheme, rest) = referer.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{authority}"))
}

/// The authority the client addressed: `Host` (HTTP/1.1), else the URI's (HTTP/2).
fn own_authority<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    single(headers, &header::HOST).or_else(|| uri.authority().map(|a| a.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referer_gives_its_origin() {
        assert_eq!(
            referer_origin("https://a.example:8443/x/y?z#w").as_deref(),
            Some("https://a.example:8443")
        );
        assert_eq!(referer_origin("nonsense"), None);
    }

    #[test]
    fn keys_and_origins_are_checked_at_configuration() {
        assert_eq!(
            Csrf::new(b"short").unwrap_err(),
            CsrfConfigError::KeyTooShort { len: 5 }
        );
        let csrf = Csrf::new(&[7; 32]).unwrap();
        assert!(csrf.clone().with_trusted_origins(["app.example"]).is_err());
        assert!(
            csrf.clone()
                .with_trusted_origins(["https://app.example/x"])
                .is_err()
        );
        assert!(
            csrf.with_trusted_origins(["https://app.example:8443"])
                .is_ok()
        );
        assert!(format!("{:?}", Csrf::new(&[7; 32]).unwrap()).contains("redacted"));
    }
}
