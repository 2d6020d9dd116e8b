//! Where the token comes from: `Authorization: Bearer` (default), a cookie, a custom header,
//! the query string (only when turned on), or an app-supplied function.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, Uri, header};

/// An app-supplied token extractor: `Ok(None)` when the request carries no token, `Err` with a
/// reason (sent as 400 `invalid_request`) when it carries a malformed one.
pub type ExtractFn =
    Arc<dyn Fn(&HeaderMap, &Uri) -> Result<Option<String>, &'static str> + Send + Sync>;

/// One place a token may be found.
#[derive(Clone)]
pub(crate) enum Source {
    Bearer,
    Cookie(String),
    Header(http::HeaderName),
    Query(String),
    Custom(ExtractFn),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer => f.write_str("Bearer"),
            Self::Cookie(name) => write!(f, "Cookie({name:?})"),
            Self::Header(name) => write!(f, "Header({name:?})"),
            Self::Query(name) => write!(f, "Query({name:?})"),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Where the request's token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// `Authorization`, a custom header, the query, or the app's extractor: never attached by
    /// a browser on its own.
    Explicit,
    /// A cookie: a browser attaches it to cross-site requests too (CSRF applies).
    Cookie,
}

/// The token of a request and where it came from.
pub(crate) struct Found<'r> {
    pub(crate) token: Cow<'r, str>,
    pub(crate) via: Via,
}

/// The query parameter RFC 6750 §2.3 names.
const RFC6750_QUERY: &str = "access_token";

/// Finds the request's token in `sources`.
///
/// - Two explicit sources carrying one is a malformed request (RFC 6750 §2: a client uses
///   one method). So is an `Authorization` token beside an `access_token` query parameter,
///   whether or not the query is a configured source.
/// - A cookie is not one of RFC 6750's methods: when an explicit source has a token, the
///   cookie is ignored (a browser with a session can still call with a bearer token), and
///   only a request the cookie authenticated is subject to CSRF checks.
pub(crate) fn find<'r>(
    sources: &[Source],
    headers: &'r HeaderMap,
    uri: &'r Uri,
) -> Result<Option<Found<'r>>, &'static str> {
    let mut found: Option<Cow<'r, str>> = None;
    let mut bearer_found = false;
    for source in sources {
        let token = match source {
            Source::Bearer => {
                let token = bearer(headers)?;
                bearer_found = token.is_some();
                token.map(Cow::Borrowed)
            }
            Source::Cookie(_) => continue,
            Source::Header(name) => header_value(headers, name)?.map(Cow::Borrowed),
            Source::Query(name) => query(uri, name)?.map(Cow::Borrowed),
            Source::Custom(extract) => extract(headers, uri)?.map(Cow::Owned),
        };
        if token.is_some() {
            if found.is_some() {
                return Err("the token is given by more than one method");
            }
            found = token;
        }
    }
    if bearer_found && has_query_param(uri, RFC6750_QUERY) {
        return Err("the token is given by more than one method");
    }
    if let Some(token) = found {
        return Ok(Some(Found {
            token,
            via: Via::Explicit,
        }));
    }
    let mut cookie_token = None;
    for source in sources {
        if let Source::Cookie(name) = source
            && let Some(token) = cookie(headers, name)?
        {
            if cookie_token.is_some() {
                return Err("the token is given by more than one cookie");
            }
            cookie_token = Some(token);
        }
    }
    Ok(cookie_token.map(|token| Found {
        token: Cow::Borrowed(token),
        via: Via::Cookie,
    }))
}

/// Whether the query has a parameter `name` (with or without a value).
fn has_query_param(uri: &Uri, name: &str) -> bool {
    uri.query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.split_once('=').map_or(pair, |(key, _)| key) == name)
    })
}

/// `Authorization: Bearer <b64token>` (RFC 6750 §2.1): the scheme is case-insensitive, one or
/// more spaces follow it. Another scheme (e.g. `Basic`) is no token at all.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let bytes = value.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
        Some(space) => (&bytes[..space], &bytes[space..]),
        None => (bytes, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    b64token(&rest[start..]).map(Some)
}

/// Whether `b` may appear in a `b64token` before its trailing `=`s: ALPHA / DIGIT / "-" /
/// "." / "_" / "~" / "+" / "/". Comparisons only (no table), so that the check of a whole
/// token compiles to vector instructions: measured alone (bench/README.md), 4.2k instructions
/// (7.6 %) of an HS256 request and 24 % of a cached one, against `is_ascii_alphanumeric` and
/// `all`.
#[inline(always)]
fn b64token_byte(b: u8) -> bool {
    let alpha = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    alpha
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, in one pass.
fn b64token(token: &[u8]) -> Result<&str, &'static str> {
    if token.is_empty() {
        return Err("the Bearer token is empty");
    }
    let body = token
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |last| last + 1);
    // No early exit: a branch per byte would keep the loop from being vectorized, and a token
    // is read whole anyway when it is valid.
    let valid = token[..body]
        .iter()
        .fold(true, |valid, &b| valid & b64token_byte(b));
    if body == 0 || !valid {
        return Err("the Bearer token has characters outside b64token");
    }
    // Every byte is ASCII now, so this cannot fail.
    std::str::from_utf8(token).map_err(|_| "the Bearer token is not ASCII")
}

fn check_b64token(token: &str) -> Result<(), &'static str> {
    b64token(token.as_bytes()).map(drop)
}

fn cookie<'r>(headers: &'r HeaderMap, name: &str) -> Result<Option<&'r str>, &'static str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((key, token)) = pair.trim().split_once('=')
                && key == name
            {
                if found.is_some() {
                    return Err("the token cookie is set more than once");
                }
                check_b64token(token).map_err(|_| "the token cookie is not a token")?;
                found = Some(token);
            }
        }
    }
    Ok(found)
}

fn header_value<'r>(
    headers: &'r HeaderMap,
    name: &http::HeaderName,
) -> Result<Option<&'r str>, &'static str> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("the token header is repeated");
    }
    let token = value
        .to_str()
        .map_err(|_| "the token header is not ASCII")?
        .trim();
    check_b64token(token).map_err(|_| "the token header is not a token")?;
    Ok(Some(token))
}

fn query<'r>(uri: &'r Uri, name: &str) -> Result<Option<&'r str>, &'static str> {
    let mut found = None;
    for pair in uri.query().unwrap_or_default().split('&') {
        if let Some((key, token)) = pair.split_once('=')
            && key == name
        {
            if found.is_some() {
                return Err("the token parameter is repeated");
            }
            check_b64token(token).map_err(|_| "the token parameter is not a token")?;
            found = Some(token);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn bearer_of(value: &str) -> Result<Option<String>, &'static str> {
        bearer(&headers(&[("authorization", value)])).map(|t| t.map(str::to_owned))
    }

    #[test]
    fn bearer_syntax() {
        assert_eq!(
            bearer_of("Bearer abc.def.ghi").unwrap().as_deref(),
            Some("abc.def.ghi")
        );
        assert_eq!(
            bearer_of("bEaReR   abc").unwrap().as_deref(),
            Some("abc"),
            "case and spaces"
        );
        assert_eq!(bearer_of("Bearer abc==").unwrap().as_deref(), Some("abc=="));
        assert_eq!(
            bearer_of("Basic dXNlcjpwdw==").unwrap(),
            None,
            "another scheme is no token"
        );
        assert!(bearer_of("Bearer").is_err());
        assert!(bearer_of("Bearer ").is_err());
        assert!(bearer_of("Bearer a b").is_err());
        assert!(bearer_of("Bearer a=b").is_err());
        assert!(bearer_of("Bearer ===").is_err());
        let two = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert!(bearer(&two).is_err());
    }

    #[test]
    fn b64token_bytes_are_exactly_the_rfc_6750_set() {
        for b in 0..=255u8 {
            let expected =
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            assert_eq!(b64token_byte(b), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn more_than_one_method_is_malformed() {
        let h = headers(&[
            ("authorization", "Bearer a"),
            ("cookie", "x=1; access_token=b"),
        ]);
        let uri: Uri = "/".parse().unwrap();
        let token = |sources: &[Source], h: &HeaderMap, uri: &Uri| {
            find(sources, h, uri).map(|found| found.map(|f| (f.token.into_owned(), f.via)))
        };
        let sources = [Source::Bearer, Source::Cookie("access_token".into())];
        assert_eq!(
            token(&sources, &h, &uri).unwrap(),
            Some(("a".to_owned(), Via::Explicit)),
            "a header token wins over the cookie"
        );
        assert_eq!(
            token(&sources[1..], &h, &uri).unwrap(),
            Some(("b".to_owned(), Via::Cookie))
        );
        let q: Uri = "/x?a=1&access_token=tok".parse().unwrap();
        let query_sources = [Source::Query("access_token".into())];
        assert_eq!(
            token(&query_sources, &HeaderMap::new(), &q).unwrap(),
            Some(("tok".to_owned(), Via::Explicit))
        );
        let header_only = headers(&[("authorization", "Bearer a")]);
        assert!(
            token(&[Source::Bearer], &header_only, &q).is_err(),
            "header + query is two methods even when the query is not a source"
        );
        let both = [Source::Bearer, Source::Query("access_token".into())];
        assert!(token(&both, &header_only, &q).is_err());
        let flag: Uri = "/x?access_token".parse().unwrap();
        assert!(token(&[Source::Bearer], &header_only, &flag).is_err());
        let other: Uri = "/x?token=x".parse().unwrap();
        assert!(token(&[Source::Bearer], &header_only, &other).is_ok());
    }
}
