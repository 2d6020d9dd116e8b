//! One guarded handler → its OpenAPI parts: the security requirement, the description line,
//! the refusal responses; and the `AuthError` schema they share.

use std::collections::BTreeSet;

use authz_core::policy::Shape;
use authz_core::{ErrorKind, Requirement};
use serde_json::{Value, json};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{RefOr, Response, Schema};

use crate::AuthRejection;
use crate::guarded::GuardedHandler;

/// The HTTP bearer scheme's name in `components.securitySchemes`.
pub const BEARER: &str = "bearerAuth";
/// The OAuth2 password-flow scheme's name in `components.securitySchemes`.
pub const OAUTH2: &str = "oauth2";
/// The refusal body's schema name in `components.schemas`.
pub const AUTH_ERROR: &str = "AuthError";

/// Past this many alternatives (an `all` of many `any`s), scopes are no longer spelled out:
/// the requirement stays in the description.
const MAX_ALTERNATIVES: usize = 16;

/// The sets of scopes that satisfy `requirement`, one per alternative: `any(...)` adds
/// alternatives, `all(...)` unites them, a role, permission, claim or policy adds no scope
/// (it is in the description), `not(...)` is not expressible and adds none. In order of
/// first appearance, without duplicates.
pub fn scope_alternatives(requirement: Option<&Requirement>) -> Vec<Vec<String>> {
    let Some(requirement) = requirement else {
        return vec![Vec::new()];
    };
    let mut out: Vec<Vec<String>> = Vec::new();
    for alternative in alternatives(requirement).unwrap_or_else(|| vec![BTreeSet::new()]) {
        let scopes: Vec<String> = alternative.into_iter().collect();
        if !out.contains(&scopes) {
            out.push(scopes);
        }
    }
    out
}

fn alternatives(requirement: &Requirement) -> Option<Vec<BTreeSet<String>>> {
    Some(match requirement.shape() {
        Shape::Scope(scope) => vec![BTreeSet::from([scope.to_owned()])],
        Shape::Any(parts) => {
            let mut all = Vec::new();
            for part in parts {
                all.extend(alternatives(part)?);
            }
            if all.len() > MAX_ALTERNATIVES {
                return None;
            }
            all
        }
        Shape::All(parts) => {
            let mut product = vec![BTreeSet::new()];
            for part in parts {
                let options = alternatives(part)?;
                if product.len() * options.len() > MAX_ALTERNATIVES {
                    return None;
                }
                product = product
                    .iter()
                    .flat_map(|have| {
                        options.iter().map(move |option| {
                            let mut set = have.clone();
                            set.extend(option.iter().cloned());
                            set
                        })
                    })
                    .collect();
            }
            product
        }
        _ => vec![BTreeSet::new()],
    })
}

/// The operation's `security`: for each scope alternative, `{"bearerAuth": scopes}` (OpenAPI
/// 3.1 lets a non-OAuth2 scheme list what it needs), then, with the password flow,
/// `{"oauth2": scopes}` for each.
pub fn security(requirement: Option<&Requirement>, oauth2: bool) -> Vec<SecurityRequirement> {
    let alternatives = scope_alternatives(requirement);
    let mut out: Vec<SecurityRequirement> = alternatives
        .iter()
        .map(|scopes| SecurityRequirement::new(BEARER, scopes.clone()))
        .collect();
    if oauth2 {
        out.extend(
            alternatives
                .iter()
                .map(|scopes| SecurityRequirement::new(OAUTH2, scopes.clone())),
        );
    }
    out
}

/// The line added to the operation's description: what `#[require_auth]` asks, spelled as
/// the attribute spells it (roles, permissions and claims have no OpenAPI field).
///
/// `**Requires** a valid bearer token and `role = "admin"`; policy `is_owner`; quota 30/min
/// per caller.`
pub fn description(handler: &GuardedHandler) -> String {
    let mut text = String::from("**Requires** a valid bearer token");
    if let Some(requirement) = handler.requirement() {
        text.push_str(" and `");
        text.push_str(&requirement.to_string());
        text.push('`');
    }
    if let Some(policy) = handler.policy() {
        text.push_str("; policy `");
        text.push_str(policy);
        text.push('`');
    }
    if let Some(quota) = handler.quota() {
        text.push_str("; quota ");
        text.push_str(quota);
        text.push_str(" per caller");
    }
    text.push_str(" (`#[require_auth]`).");
    text
}

/// Every code a token refused by the verifier answers with (401 `invalid_token`).
fn invalid_token_codes() -> Vec<&'static str> {
    use authz_core::Segment;
    [
        ErrorKind::TooLarge,
        ErrorKind::NotEnoughSegments,
        ErrorKind::TooManySegments,
        ErrorKind::InvalidBase64(Segment::Header),
        ErrorKind::InvalidJson(Segment::Header),
        ErrorKind::DuplicateMember(Segment::Header),
        ErrorKind::UnsupportedCritical,
        ErrorKind::NestedToken,
        ErrorKind::AlgorithmNotAllowed,
        ErrorKind::InvalidKeyId,
        ErrorKind::UnknownKeyId,
        ErrorKind::MissingKeyId,
        ErrorKind::InvalidSignature,
        ErrorKind::InvalidTokenType,
        ErrorKind::Expired,
        ErrorKind::NotYetValid,
        ErrorKind::IssuedInFuture,
        ErrorKind::LifetimeTooLong,
        ErrorKind::MissingClaim(String::new()),
        ErrorKind::InvalidClaim(String::new()),
        ErrorKind::InvalidAudience,
        ErrorKind::InvalidIssuer,
        ErrorKind::InvalidSubject,
        ErrorKind::Revoked,
    ]
    .iter()
    .map(ErrorKind::code)
    .collect()
}

/// The stable codes of each refusal status, from the rejections themselves.
pub fn codes(status: u16) -> Vec<&'static str> {
    match status {
        400 => vec![AuthRejection::InvalidRequest("").code()],
        401 => {
            let mut codes = vec![
                AuthRejection::MissingToken.code(),
                AuthRejection::ClaimsMismatch.code(),
            ];
            codes.extend(invalid_token_codes());
            codes
        }
        403 => vec![
            AuthRejection::Forbidden(authz_core::Denied::new("")).code(),
            AuthRejection::CsrfFailed("").code(),
        ],
        429 => vec!["rate_limited"],
        503 => vec![
            AuthRejection::Unavailable.code(),
            ErrorKind::KeysUnavailable.code(),
            AuthRejection::QuotaUnavailable.code(),
        ],
        _ => Vec::new(),
    }
}

/// `AuthError`: `{"detail": "…", "code": "…"}`, `code` one of the stable codes.
pub fn auth_error_schema() -> RefOr<Schema> {
    let mut all = Vec::new();
    for status in [400, 401, 403, 429, 503] {
        all.extend(codes(status));
    }
    typed(json!({
        "type": "object",
        "description": "Why authz refused the request (`AuthLayer`, `#[require_auth]`).",
        "required": ["detail", "code"],
        "properties": {
            "detail": {"type": "string", "description": "A human-readable message."},
            "code": {"type": "string", "enum": all, "description": "A stable code."}
        }
    }))
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

fn refusal(description: &str, headers: Value) -> RefOr<Response> {
    let mut response = json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{AUTH_ERROR}")}}}
    });
    if headers.as_object().is_some_and(|h| !h.is_empty()) {
        response["headers"] = headers;
    }
    typed(response)
}

/// `Retry-After` and `RateLimit-Limit`/`-Remaining`/`-Reset`, as a 429 from a quota sends.
pub fn rate_limit_headers() -> Value {
    let integer = json!({"type": "integer", "minimum": 0});
    json!({
        "Retry-After": header("Seconds to wait.", integer.clone()),
        "RateLimit-Limit": header("Requests allowed per window.", integer.clone()),
        "RateLimit-Remaining": header("Requests left in the window.", integer.clone()),
        "RateLimit-Reset": header("Seconds until the window resets.", integer),
    })
}

/// The 429 of a spent quota (`rate_limited`), with [`rate_limit_headers`].
pub fn rate_limited() -> RefOr<Response> {
    refusal(
        "The caller's quota is spent (`rate_limited`).",
        rate_limit_headers(),
    )
}

/// The refusal responses of a guarded operation, by status: 400, 401, 403, 503, and 429
/// when `quota`.
pub fn refusals(quota: bool) -> Vec<(&'static str, RefOr<Response>)> {
    let challenge = || {
        json!({"WWW-Authenticate": header(
            "The RFC 6750 challenge: `Bearer realm=\"…\"`, with `error`, `error_description` (and `scope` for a 403).",
            json!({"type": "string"}),
        )})
    };
    let mut out = vec![
        (
            "400",
            refusal(
                "Malformed request (`invalid_request`): two tokens, or a bad `Authorization` header.",
                challenge(),
            ),
        ),
        (
            "401",
            refusal(
                "No token (`missing_token`), or a token refused (`invalid_token`: signature, expiry, audience, revoked, …).",
                challenge(),
            ),
        ),
        (
            "403",
            refusal(
                "The token does not meet the requirement (`insufficient_scope`).",
                challenge(),
            ),
        ),
    ];
    if quota {
        out.push(("429", rate_limited()));
    }
    out.push((
        "503",
        refusal(
            "A key source or store could not answer; retry after `Retry-After` seconds.",
            json!({"Retry-After": header("Seconds to wait.", json!({"type": "integer", "minimum": 0}))}),
        ),
    ));
    out
}

/// A fixed JSON literal of this module as utoipa's type (tested: every literal converts).
pub(crate) fn typed<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("the module's fixed OpenAPI JSON is well-formed")
}
