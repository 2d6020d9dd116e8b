//! Why a request was refused, and the RFC 6750 response for it.

use std::fmt;

use authz_core::{Denied, ErrorKind};
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

/// Why the auth layer, an extractor or a guard refused a request.
///
/// Each has a status, a stable `code`, a human `detail`, and an RFC 6750 `WWW-Authenticate`
/// challenge. The default response is JSON `{"detail": "…", "code": "…"}`; replace it with
/// [`AuthLayer::on_rejection`](crate::AuthLayer::on_rejection). The rejection is also put in
/// the response's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl AuthRejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::ClaimsMismatch => StatusCode::UNAUTHORIZED,
            Self::InvalidToken(ErrorKind::KeysUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
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
        }
    }

    /// The human message (PyJWT's, for invalid tokens).
    pub fn detail(&self) -> String {
        match self {
            Self::MissingToken => "Not authenticated".to_owned(),
            Self::InvalidToken(kind) => kind.to_string(),
            Self::InvalidRequest(why) => format!("Invalid request: {why}"),
            Self::Forbidden(denied) => denied.to_string(),
            Self::ClaimsMismatch => "The token's claims do not have the expected shape".to_owned(),
            Self::MissingLayer => "Internal Server Error".to_owned(),
        }
    }

    /// The `WWW-Authenticate` challenge for `realm` (none for a 500).
    pub fn challenge(&self, realm: &str) -> Option<String> {
        self.challenge_with(realm, &self.detail())
    }

    fn challenge_with(&self, realm: &str, detail: &str) -> Option<String> {
        let error = match self {
            Self::MissingLayer => return None,
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
        let detail = self.detail();
        let code = self.code();
        let mut body = String::with_capacity(32 + detail.len() + code.len());
        body.push_str("{\"code\":\"");
        body.push_str(code);
        body.push_str("\",\"detail\":");
        push_json_string(&mut body, &detail);
        body.push('}');
        let challenge = self.challenge_with(realm, &detail);
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(value) = challenge.and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response.extensions_mut().insert(self.clone());
        response
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail())
    }
}

impl std::error::Error for AuthRejection {}

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

/// Appends `text` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
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
        let mut json = String::new();
        push_json_string(&mut json, "a\"b\\c\u{e9}\n");
        assert_eq!(
            serde_json::from_str::<String>(&json).unwrap(),
            "a\"b\\c\u{e9}\n"
        );
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
