//! [`TokenCookies`]: which cookies the token routes set, with which attributes.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Uri, header};

use super::csrf::Csrf;

/// The default name of the access-token cookie.
pub const DEFAULT_ACCESS_COOKIE: &str = "__Host-access";
/// The default name of the refresh-token cookie. `__Secure-`, not `__Host-`: a `__Host-`
/// cookie must have `Path=/`, and this one is scoped to the refresh route.
pub const DEFAULT_REFRESH_COOKIE: &str = "__Secure-refresh";
/// The default path of the refresh cookie: the token routes' refresh route.
pub const DEFAULT_REFRESH_PATH: &str = "/token/refresh";

/// The cookies that carry a browser's session, set by the token routes
/// ([`TokenRoutes::with_cookies`](crate::token::TokenRoutes::with_cookies)) and read by the
/// [`AuthLayer`](crate::AuthLayer) ([`with_token_cookies`](crate::AuthLayer::with_token_cookies)).
///
/// | cookie (default name) | carries | attributes |
/// | --- | --- | --- |
/// | [`__Host-access`](DEFAULT_ACCESS_COOKIE) | the access token (JWT) | `Path=/; Max-Age=<access TTL>; HttpOnly; Secure; SameSite=Lax` |
/// | [`__Secure-refresh`](DEFAULT_REFRESH_COOKIE) | `<session id>.<refresh token>` | `Path=/token/refresh; Max-Age=<refresh idle TTL>; HttpOnly; Secure; SameSite=Strict` |
/// | [`__Host-csrf`](super::DEFAULT_CSRF_COOKIE) | the session's CSRF token, [`Csrf::token_for_session`] | `Path=/; Max-Age=<refresh idle TTL>; Secure; SameSite=Strict` (readable by script) |
///
/// - The access cookie is `SameSite=Lax`, so that following a link to the app from another
///   site arrives logged in; `Lax` cookies still go along with requests from the same *site*
///   (a sibling subdomain, another port of `localhost`), which is why the CSRF check
///   exists.
/// - The refresh cookie goes only to the refresh route (`Path`), never to another site
///   (`Strict`). Its value starts with the session id, so that a refresh by cookie can check
///   the CSRF token of that session *before* rotating anything.
/// - The CSRF cookie holds `HMAC(key, session id)`: it survives access-token refreshes and
///   changes at each login; logout clears it.
/// - Login and refresh set all three; logout and logout-all clear all three (`Max-Age=0`,
///   with the same attributes, which `__Host-` cookies need to be replaced).
///
/// `Secure` and the prefixes stay on by default, also in development: browsers treat
/// `http://localhost` as a secure context (Chromium and Firefox accept `Secure` and
/// `__Host-` cookies from it). For a client that does not,
/// [`insecure_http_for_localhost`](Self::insecure_http_for_localhost) drops them, for
/// loopback hosts only.
///
/// # Example
///
/// ```
/// use authz_axum::cookie::{Csrf, TokenCookies};
///
/// let cookies = TokenCookies::new(Csrf::new(b"a CSRF key of at least 32 bytes....")?);
/// assert_eq!(cookies.access_name(), "__Host-access");
/// assert_eq!(cookies.refresh_name(), "__Secure-refresh");
/// assert_eq!(cookies.csrf().cookie_name(), "__Host-csrf");
/// # Ok::<(), authz_axum::cookie::CsrfConfigError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct TokenCookies {
    csrf: Csrf,
    access: String,
    refresh: String,
    refresh_path: String,
    body_tokens: bool,
    insecure_localhost: bool,
}

impl fmt::Debug for TokenCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCookies")
            .field("csrf", &self.csrf)
            .field("access", &self.access)
            .field("refresh", &self.refresh)
            .field("refresh_path", &self.refresh_path)
            .field("body_tokens", &self.body_tokens)
            .field("insecure_http_for_localhost", &self.insecure_localhost)
            .finish()
    }
}

impl TokenCookies {
    /// The three cookies with their default names and attributes, CSRF tokens made by `csrf`
    /// (whose cookie name is the CSRF cookie's). Tokens only in cookies: the JSON body of a
    /// login or refresh says `token_type` and `expires_in`, not the tokens.
    pub fn new(csrf: Csrf) -> Self {
        Self {
            csrf,
            access: DEFAULT_ACCESS_COOKIE.to_owned(),
            refresh: DEFAULT_REFRESH_COOKIE.to_owned(),
            refresh_path: DEFAULT_REFRESH_PATH.to_owned(),
            body_tokens: false,
            insecure_localhost: false,
        }
    }

    /// Also puts the tokens in the JSON body (`access_token`, `refresh_token`), as without
    /// cookies: for apps that serve both browsers and other clients from one route.
    ///
    /// Defaults to cookies only: no token is ever visible to the page's script.
    pub fn with_tokens_in_body(mut self) -> Self {
        self.body_tokens = true;
        self
    }

    /// The name of the access-token cookie.
    ///
    /// Defaults to [`__Host-access`](DEFAULT_ACCESS_COOKIE).
    pub fn with_access_name(mut self, name: impl Into<String>) -> Self {
        self.access = name.into();
        self
    }

    /// The name of the refresh-token cookie.
    ///
    /// Defaults to [`__Secure-refresh`](DEFAULT_REFRESH_COOKIE).
    pub fn with_refresh_name(mut self, name: impl Into<String>) -> Self {
        self.refresh = name.into();
        self
    }

    /// The `Path` of the refresh cookie: where the refresh route is mounted (say,
    /// `/auth/token/refresh` for routes nested under `/auth`).
    ///
    /// Defaults to [`/token/refresh`](DEFAULT_REFRESH_PATH).
    pub fn with_refresh_path(mut self, path: impl Into<String>) -> Self {
        self.refresh_path = path.into();
        self
    }

    /// For local development over plain `http` with a client that refuses `Secure` cookies
    /// from `http://localhost`: the `__Host-` / `__Secure-` prefixes are taken off the names
    /// (browsers refuse a prefixed cookie without `Secure`), and `Secure` is left out of the
    /// cookies set in answer to a request for a loopback host (`localhost`, `*.localhost`,
    /// `127.0.0.0/8`, `[::1]`). Any other host still gets `Secure`.
    ///
    /// # Security
    ///
    /// Cookies without `Secure` travel over plain `http`. Chromium and Firefox do not need
    /// this: they treat `http://localhost` as a secure context and accept `Secure` and
    /// `__Host-` cookies from it.
    pub fn insecure_http_for_localhost(mut self) -> Self {
        self.insecure_localhost = true;
        for name in [&mut self.access, &mut self.refresh] {
            *name = unprefixed(name).to_owned();
        }
        let csrf_name = unprefixed(self.csrf.cookie_name()).to_owned();
        self.csrf = self.csrf.with_cookie_name(csrf_name);
        self
    }

    /// The access cookie's name.
    pub fn access_name(&self) -> &str {
        &self.access
    }

    /// The refresh cookie's name.
    pub fn refresh_name(&self) -> &str {
        &self.refresh
    }

    /// The refresh cookie's `Path`.
    pub fn refresh_path(&self) -> &str {
        &self.refresh_path
    }

    /// The CSRF check (and its cookie's name).
    pub fn csrf(&self) -> &Csrf {
        &self.csrf
    }

    /// Whether the JSON body carries the tokens too.
    pub fn tokens_in_body(&self) -> bool {
        self.body_tokens
    }

    /// Whether `Secure` goes on cookies set in answer to this request.
    #[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
    fn secure(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        !(self.insecure_localhost && is_loopback(headers, uri))
    }

    /// The `Set-Cookie` values of a login or refresh: the access token for `access_ttl`, the
    /// refresh token and the CSRF token of session `sid` for `refresh_ttl`.
    #[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
    pub(crate) fn issue(
        &self,
        request: (&HeaderMap, &Uri),
        tokens: Issued<'_>,
    ) -> Result<Vec<HeaderValue>, http::header::InvalidHeaderValue> {
        let secure = self.secure(request.0, request.1);
        let refresh_value = format!("{}.{}", tokens.sid, tokens.refresh_token);
        let csrf_value = self.csrf.token_for_session(tokens.sid);
        Ok(vec![
            self.access_spec()
                .set(tokens.access_token, tokens.access_ttl.as_secs(), secure)?,
            self.refresh_spec()
                .set(&refresh_value, tokens.refresh_ttl.as_secs(), secure)?,
            self.csrf_spec()
                .set(&csrf_value, tokens.refresh_ttl.as_secs(), secure)?,
        ])
    }

    /// The `Set-Cookie` values that clear all three (`Max-Age=0`).
    #[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
    pub(crate) fn clear(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<Vec<HeaderValue>, http::header::InvalidHeaderValue> {
        let secure = self.secure(headers, uri);
        [self.access_spec(), self.refresh_spec(), self.csrf_spec()]
            .into_iter()
            .map(|spec| spec.set("", 0, secure))
            .collect()
    }

    /// The refresh cookie of a request, split into its session id and refresh token: `None`
    /// when it is absent, repeated or not of that shape.
    #[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
    pub(crate) fn refresh_cookie<'h>(&self, headers: &'h HeaderMap) -> Option<(&'h str, &'h str)> {
        let value = super::csrf::cookie_value(headers, &self.refresh)?;
        let (sid, token) = value.split_once('.')?;
        (!sid.is_empty() && !token.is_empty()).then_some((sid, token))
    }

    #[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
    fn access_spec(&self) -> Spec<'_> {
        Spec {
            name: &self.access,
            path: "/",
            http_only: true,
            same_site: "Lax",
        }
    }

    #[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
    fn refresh_spec(&self) -> Spec<'_> {
        Spec {
            name: &self.refresh,
            path: &self.refresh_path,
            http_only: true,
            same_site: "Strict",
        }
    }

    #[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
    fn csrf_spec(&self) -> Spec<'_> {
        Spec {
            name: self.csrf.cookie_name(),
            path: "/",
            http_only: false,
            same_site: "Strict",
        }
    }
}

/// What a login or refresh issued, for its cookies.
#[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
pub(crate) struct Issued<'a> {
    pub(crate) access_token: &'a str,
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_token: &'a str,
    pub(crate) refresh_ttl: Duration,
    pub(crate) sid: &'a str,
}

/// One cookie's fixed attributes.
#[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
struct Spec<'a> {
    name: &'a str,
    path: &'a str,
    http_only: bool,
    same_site: &'static str,
}

impl Spec<'_> {
    fn set(
        &self,
        value: &str,
        max_age: u64,
        secure: bool,
    ) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
        let mut cookie = format!(
            "{}={value}; Path={}; Max-Age={max_age}",
            self.name, self.path
        );
        if self.http_only {
            cookie.push_str("; HttpOnly");
        }
        if secure {
            cookie.push_str("; Secure");
        }
        cookie.push_str("; SameSite=");
        cookie.push_str(self.same_site);
        HeaderValue::try_from(cookie)
    }
}

#[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
fn unprefixed(name: &str) -> &str {
    name.strip_prefix("__Host-")
        .or_else(|| name.strip_prefix("__Secure-"))
        .unwrap_or(name)
}

/// Whether the request is addressed to a loopback host.
#[cfg_attr(not(feature = "token-routes"), allow(dead_code))]
fn is_loopback(headers: &HeaderMap, uri: &Uri) -> bool {
    let authority = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let Some(authority) = authority else {
        return false;
    };
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().unwrap());
        headers
    }

    #[test]
    fn loopback_hosts() {
        let uri = Uri::from_static("/");
        for yes in [
            "localhost",
            "localhost:8080",
            "app.localhost:1",
            "127.0.0.1:80",
            "127.9.9.9",
            "[::1]:8000",
        ] {
            assert!(is_loopback(&host(yes), &uri), "{yes}");
        }
        for no in [
            "example.com",
            "localhost.example.com",
            "10.0.0.1:80",
            "[::2]",
        ] {
            assert!(!is_loopback(&host(no), &uri), "{no}");
        }
    }

    #[test]
    fn insecure_localhost_drops_prefixes_and_secure_for_loopback_only() {
        let csrf = Csrf::new(&[1; 32]).unwrap();
        let cookies = TokenCookies::new(csrf).insecure_http_for_localhost();
        assert_eq!(cookies.access_name(), "access");
        assert_eq!(cookies.refresh_name(), "refresh");
        assert_eq!(cookies.csrf().cookie_name(), "csrf");
        let uri = Uri::from_static("/");
        let local = cookies.clear(&host("localhost:3000"), &uri).unwrap();
        assert!(
            local
                .iter()
                .all(|c| !c.to_str().unwrap().contains("Secure"))
        );
        let remote = cookies.clear(&host("app.example"), &uri).unwrap();
        assert!(
            remote
                .iter()
                .all(|c| c.to_str().unwrap().contains("; Secure"))
        );
    }
}
