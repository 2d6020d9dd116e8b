//! Why a request was refused, and the RFC 6750 response for it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use arc_swap::ArcSwap;
use authz_core::{Denied, ErrorKind};
use axum::body::{Body, Bytes};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

use crate::quota::{RateLimit, Refusal};

/// Why the auth layer, an extractor or a guard refused a request.
///
/// Each has a status, a stable `code`, a human `detail`, and an RFC 6750 `WWW-Authenticate`
/// challenge. The default response is JSON `{"detail": "…", "code": "…"}`; replace it with
/// [`AuthLayer::on_rejection`](crate::AuthLayer::on_rejection). The rejection is also put in
/// the response's extensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No token (or another scheme, such as `Basic`): 401 with a bare challenge.
    MissingToken,
    /// The token was refused by the verifier (or revoked): 401 `invalid_token`.
    InvalidToken(ErrorKind),
    /// The request itself is malformed (two tokens, bad `Authorization` syntax): 400
    /// `invalid_request`.
    InvalidRequest(&'static str),
    /// The token is valid but does not meet the requirement: 403 `insufficient_scope`.
    Forbidden(Denied),
    /// The token's claims do not fit the app's `Claims<T>`: 401 `invalid_token`.
    ClaimsMismatch,
    /// A guard or extractor ran on a route without the auth layer: 500, logged. Never open.
    MissingLayer,
    /// A cookie authenticated an unsafe request that failed the CSRF check (see
    /// [`crate::cookie`]): 403 `csrf_failed`, with the reason.
    CsrfFailed(&'static str),
    /// A check the request needs could not be made (the revocation store is down or slow):
    /// 503 `temporarily_unavailable` with `Retry-After` — neither a refusal nor a pass.
    Unavailable,
    /// A quota is spent (a `#[require_auth(quota = …)]` or the usage layer's): 429
    /// `rate_limited` with `Retry-After` and `RateLimit-Limit`/`-Remaining`/`-Reset`
    /// (draft-ietf-httpapi-ratelimit-headers).
    RateLimited(RateLimit),
    /// A shared quota store could not be asked in time and the quota fails closed: 503
    /// `quota_unavailable` with `Retry-After: 1`.
    QuotaUnavailable,
}

impl From<Refusal> for AuthRejection {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Limited(limit) => Self::RateLimited(limit),
            Refusal::Unavailable => Self::QuotaUnavailable,
        }
    }
}

impl AuthRejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::ClaimsMismatch => StatusCode::UNAUTHORIZED,
            Self::InvalidToken(ErrorKind::KeysUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) | Self::CsrfFailed(_) => StatusCode::FORBIDDEN,
            Self::Unavailable | Self::QuotaUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable snake_case code (the token's [`ErrorKind::code`] for invalid tokens).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidToken(kind) => kind.code(),
            Self::InvalidRequest(_) => "invalid_request",
            Self::Forbidden(_) => "insufficient_scope",
            Self::ClaimsMismatch => "claims_mismatch",
            Self::MissingLayer => "auth_layer_missing",
            Self::CsrfFailed(_) => "csrf_failed",
            Self::Unavailable => "temporarily_unavailable",
            Self::RateLimited(_) => "rate_limited",
            Self::QuotaUnavailable => "quota_unavailable",
        }
    }

    /// The human message (PyJWT's, for invalid tokens).
    pub fn detail(&self) -> Cow<'_, str> {
        match self {
            Self::MissingToken => "Not authenticated".into(),
            Self::InvalidToken(kind) => kind.to_string().into(),
            Self::InvalidRequest(why) => format!("Invalid request: {why}").into(),
            Self::Forbidden(denied) => denied.message().into(),
            Self::ClaimsMismatch => "The token's claims do not have the expected shape".into(),
            Self::MissingLayer => "Internal Server Error".into(),
            Self::CsrfFailed(why) => format!("CSRF check failed: {why}").into(),
            Self::Unavailable => "The service is temporarily unavailable; try again".into(),
            Self::RateLimited(limit) if limit.cap => format!(
                "Quota exhausted for this period; try again in {} seconds",
                limit.retry_after
            )
            .into(),
            Self::RateLimited(limit) => format!(
                "Rate limit exceeded; try again in {} seconds",
                limit.retry_after
            )
            .into(),
            Self::QuotaUnavailable => "Rate limiting is unavailable; try again".into(),
        }
    }

    /// The `WWW-Authenticate` challenge for `realm` (none for a 500).
    pub fn challenge(&self, realm: &str) -> Option<String> {
        self.challenge_with(realm, &self.detail())
    }

    fn challenge_with(&self, realm: &str, detail: &str) -> Option<String> {
        let error = match self {
            // Not a bearer-token problem: no RFC 6750 challenge.
            Self::MissingLayer
            | Self::CsrfFailed(_)
            | Self::Unavailable
            | Self::RateLimited(_)
            | Self::QuotaUnavailable => return None,
            Self::MissingToken => None,
            Self::InvalidToken(_) | Self::ClaimsMismatch => Some("invalid_token"),
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::Forbidden(_) => Some("insufficient_scope"),
        };
        let mut value = String::with_capacity(64 + realm.len() + detail.len());
        value.push_str("Bearer realm=\"");
        push_quoted(&mut value, realm);
        value.push('"');
        if let Some(error) = error {
            value.push_str(", error=\"");
            value.push_str(error);
            value.push_str("\", error_description=\"");
            push_quoted(&mut value, detail);
            value.push('"');
        }
        if let Self::Forbidden(denied) = self
            && !denied.scopes().is_empty()
        {
            value.push_str(", scope=\"");
            push_quoted(&mut value, &denied.scopes().join(" "));
            value.push('"');
        }
        Some(value)
    }

    /// The default response: status, challenge, `Retry-After` for a 503, and the JSON body.
    pub fn to_response(&self, realm: &str) -> Response {
        Rendered::new(self, realm).response(self.clone())
    }

    /// Whether the default response may be kept for the next time: everything but what
    /// names a part of the token (claim names are the client's to choose).
    fn is_reusable(&self) -> bool {
        !matches!(
            self,
            Self::InvalidToken(ErrorKind::InvalidClaim(_)) | Self::RateLimited(_)
        )
    }
}

/// The parts of a default response that depend only on the rejection and the realm, as
/// shared bytes: made once, then cloned by reference count.
#[derive(Clone)]
struct Rendered {
    body: Bytes,
    challenge: Option<HeaderValue>,
}

impl Rendered {
    fn new(rejection: &AuthRejection, realm: &str) -> Self {
        let detail = rejection.detail();
        let code = rejection.code();
        /// The default body, `{"detail": "…", "code": "…"}`: `detail` first, as every README
        /// shows it (and as FastAPI and DRF write bodies).
        #[derive(serde::Serialize)]
        struct Body<'a> {
            detail: &'a str,
            code: &'a str,
        }
        let body = serde_json::to_vec(&Body {
            detail: &detail,
            code,
        })
        .unwrap_or_default();
        let challenge = rejection
            .challenge_with(realm, &detail)
            .and_then(|c| HeaderValue::try_from(c).ok());
        Self {
            body: Bytes::from(body),
            challenge,
        }
    }

    fn response(&self, rejection: AuthRejection) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        let status = rejection.status();
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(value) = &self.challenge {
            headers.insert(header::WWW_AUTHENTICATE, value.clone());
        }
        if let AuthRejection::RateLimited(limit) = &rejection {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(limit.retry_after));
            rate_headers(headers, limit.limit, 0, limit.reset);
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            // Keys that never loaded take a fetch to come; a store outage is retried sooner,
            // a quota store's sooner still (its answer is a single round trip).
            let seconds = match rejection {
                AuthRejection::QuotaUnavailable => "1",
                AuthRejection::Unavailable => "2",
                _ => "5",
            };
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
        }
        response.extensions_mut().insert(rejection);
        response
    }
}

/// The default responses of one layer (one realm), kept after their first use: a refused
/// request then costs two reference counts instead of formatting a message, a challenge and
/// a body. Bounded; read without a lock. Measured alone (bench/README.md): 4.8–12 % of an
/// uncached HS256 refusal, 21 % of a cached 403.
#[derive(Default)]
pub(crate) struct Responses {
    rendered: ArcSwap<HashMap<AuthRejection, Rendered, foldhash::fast::FixedState>>,
}

/// Distinct rejections are few (one per requirement, refusal reason and missing claim);
/// past this many, the rest are made each time.
const KEPT_RESPONSES: usize = 128;

impl Responses {
    /// The default response for `rejection` at `realm`.
    pub(crate) fn get(&self, rejection: AuthRejection, realm: &str) -> Response {
        if let Some(rendered) = self.rendered.load().get(&rejection) {
            return rendered.response(rejection);
        }
        let rendered = Rendered::new(&rejection, realm);
        if rejection.is_reusable() && self.rendered.load().len() < KEPT_RESPONSES {
            self.rendered.rcu(|kept| {
                let mut kept = HashMap::clone(kept);
                kept.insert(rejection.clone(), rendered.clone());
                kept
            });
        }
        rendered.response(rejection)
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail())
    }
}

impl std::error::Error for AuthRejection {}

static RATELIMIT_LIMIT: http::HeaderName = http::HeaderName::from_static("ratelimit-limit");
static RATELIMIT_REMAINING: http::HeaderName = http::HeaderName::from_static("ratelimit-remaining");
static RATELIMIT_RESET: http::HeaderName = http::HeaderName::from_static("ratelimit-reset");

/// Sets `RateLimit-Limit`, `-Remaining` and `-Reset` (draft-ietf-httpapi-ratelimit-headers).
pub(crate) fn rate_headers(headers: &mut http::HeaderMap, limit: u64, remaining: u64, reset: u64) {
    headers.insert(RATELIMIT_LIMIT.clone(), HeaderValue::from(limit));
    headers.insert(RATELIMIT_REMAINING.clone(), HeaderValue::from(remaining));
    headers.insert(RATELIMIT_RESET.clone(), HeaderValue::from(reset));
}

/// Appends text as a quoted-string of `WWW-Authenticate` as RFC 6750 §3 restricts it
/// (%x20-21 / %x23-5B / %x5D-7E): `"` becomes `'`, `\` and anything else outside becomes `?`.
fn push_quoted(out: &mut String, text: &str) {
    out.extend(text.chars().map(|c| match c {
        '"' => '\'',
        '\\' => '?',
        ' '..='~' => c,
        _ => '?',
    }));
}

/// Customizes rejection responses: one place for the whole app.
///
/// Gets the rejection and the default response, returns the response to send. Implemented for
/// closures `Fn(&AuthRejection, Response) -> Response`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot customize auth rejections",
    note = "use a closure `Fn(&AuthRejection, Response) -> Response + Send + Sync + 'static`"
)]
pub trait OnRejection: Send + Sync + 'static {
    /// The response for `rejection`, given the `default` one.
    fn on_rejection(&self, rejection: &AuthRejection, default: Response) -> Response;
}

impl<F> OnRejection for F
where
    F: Fn(&AuthRejection, Response) -> Response + Send + Sync + 'static,
{
    fn on_rejection(&self, rejection: &AuthRejection, default: Response) -> Response {
        self(rejection, default)
    }
}

/// Sends the default response unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultOnRejection;

impl OnRejection for DefaultOnRejection {
    fn on_rejection(&self, _: &AuthRejection, default: Response) -> Response {
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_description_stays_within_rfc6750_characters() {
        let rejection = AuthRejection::InvalidToken(ErrorKind::MissingClaim("exp".into()));
        let challenge = rejection.challenge("api").unwrap();
        assert_eq!(
            challenge,
            r#"Bearer realm="api", error="invalid_token", error_description="Token is missing the 'exp' claim""#
        );
        let mut out = String::new();
        push_quoted(&mut out, "a\"b\\c\u{e9}\n");
        assert_eq!(out, "a'b?c??");
        // The body is JSON whose `detail` reads back as the detail, whatever it holds.
        let odd = AuthRejection::InvalidRequest("a\"b\\c\u{e9}\n");
        let body: serde_json::Value =
            serde_json::from_slice(&Rendered::new(&odd, "api").body).unwrap();
        assert_eq!(body["detail"], "Invalid request: a\"b\\c\u{e9}\n");
        assert_eq!(body["code"], "invalid_request");
    }

    #[test]
    fn kept_responses_are_bounded_and_never_keep_token_chosen_names() {
        let responses = Responses::default();
        for i in 0..KEPT_RESPONSES + 50 {
            let denied = Denied::new(format!("policy = p{i}"));
            let response = responses.get(AuthRejection::Forbidden(denied), "api");
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
        assert_eq!(responses.rendered.load().len(), KEPT_RESPONSES);

        let responses = Responses::default();
        let claim = AuthRejection::InvalidToken(ErrorKind::InvalidClaim("x-chosen".into()));
        let response = responses.get(claim.clone(), "api");
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], {
            claim.challenge("api").unwrap()
        });
        assert!(responses.rendered.load().is_empty());
        responses.get(AuthRejection::MissingToken, "api");
        responses.get(AuthRejection::MissingToken, "api");
        assert_eq!(responses.rendered.load().len(), 1);
    }

    #[test]
    fn statuses() {
        assert_eq!(AuthRejection::MissingToken.status(), 401);
        assert_eq!(AuthRejection::InvalidRequest("x").status(), 400);
        assert_eq!(
            AuthRejection::InvalidToken(ErrorKind::KeysUnavailable).status(),
            503
        );
        assert_eq!(AuthRejection::MissingLayer.status(), 500);
        assert_eq!(AuthRejection::MissingLayer.challenge("r"), None);
    }
}
