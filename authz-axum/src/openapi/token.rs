//! The token routes ([`crate::token::TokenRoutes`]) and the JWKS route ([`crate::jwks`]),
//! documented: request forms, answers, RFC 6749 error codes.

use serde_json::{Value, json};
use utoipa::openapi::path::PathItem;
use utoipa::openapi::{Components, OpenApi};

use super::mapping::{AUTH_ERROR, BEARER, OAUTH2, typed};

/// `TokenResponse` and `TokenError` of `components.schemas`.
const TOKEN_RESPONSE: &str = "TokenResponse";
const TOKEN_ERROR: &str = "TokenError";

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn retry_after() -> Value {
    json!({"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer", "minimum": 1}}})
}

fn no_store() -> Value {
    json!({
        "Cache-Control": {"description": "`no-store`", "schema": {"type": "string"}},
        "Pragma": {"description": "`no-cache`", "schema": {"type": "string"}},
    })
}

/// An RFC 6749 §5.2 error response.
fn error(description: &str, codes: &[&str], headers: Option<Value>) -> Value {
    let mut headers_all = no_store();
    if let (Some(Value::Object(extra)), Some(all)) = (headers, headers_all.as_object_mut()) {
        all.extend(extra);
    }
    json!({
        "description": format!("{description} (`error`: {})", codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")),
        "headers": headers_all,
        "content": {"application/json": {"schema": schema_ref(TOKEN_ERROR)}}
    })
}

/// A request body accepted as a form or as JSON.
fn body(schema: Value) -> Value {
    json!({
        "required": true,
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema.clone()},
            "application/json": {"schema": schema}
        }
    })
}

fn string(description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "description": description})
}

/// Statuses every token route shares: the body's size and type, the store.
fn common_errors(responses: &mut Value) {
    responses["400"] = error(
        "Malformed body or a missing field",
        &["invalid_request"],
        None,
    );
    responses["413"] = error("The body is over the limit", &["invalid_request"], None);
    responses["415"] = error(
        "Neither `application/x-www-form-urlencoded` nor `application/json`",
        &["invalid_request"],
        None,
    );
    responses["503"] = error(
        "A store could not answer in time; nothing changed, retry",
        &["temporarily_unavailable"],
        Some(retry_after()),
    );
}

fn token_path(client_credentials: bool) -> Value {
    let mut grants = vec!["password", "refresh_token"];
    let mut properties = json!({
        "grant_type": {"type": "string", "enum": grants, "description": "`password` (RFC 6749 §4.3; may be left out when `username` is given) or `refresh_token` (§6)."},
        "username": string("The username (or email), for `password`."),
        "password": {"type": "string", "minLength": 1, "format": "password", "description": "For `password`."},
        "refresh_token": string("For `refresh_token`."),
        "scope": string("Ignored for `password`."),
    });
    if client_credentials {
        grants.push("client_credentials");
        properties["grant_type"]["enum"] = json!(grants);
        properties["client_assertion_type"] = json!({"type": "string", "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"], "description": "For `client_credentials` (RFC 7523 §2.2)."});
        properties["client_assertion"] =
            string("The client's signed assertion, for `client_credentials`.");
        properties["client_id"] = string("Optional; must be the assertion's `iss`.");
        properties["scope"] =
            string("For `client_credentials`: space-separated scopes (default: all allowed).");
    }
    let mut responses = json!({
        "200": {
            "description": "The tokens (RFC 6749 §5.1). A password login also sets the device cookie.",
            "headers": no_store(),
            "content": {"application/json": {"schema": schema_ref(TOKEN_RESPONSE)}}
        }
    });
    common_errors(&mut responses);
    responses["400"] = error(
        "Malformed body, missing field, wrong credentials or refresh token, unknown grant",
        if client_credentials {
            &[
                "invalid_request",
                "invalid_grant",
                "unsupported_grant_type",
                "unauthorized_client",
                "invalid_scope",
            ]
        } else {
            &["invalid_request", "invalid_grant", "unsupported_grant_type"]
        },
        None,
    );
    if client_credentials {
        responses["401"] = error(
            "The client assertion was refused",
            &["invalid_client"],
            None,
        );
    }
    responses["429"] = error(
        "Too many login attempts; wait",
        &["too_many_attempts"],
        Some(retry_after()),
    );
    json!({"post": {
        "tags": ["token"],
        "operationId": "token",
        "summary": "Get tokens",
        "description": "The OAuth2 token endpoint: the password grant (the form FastAPI's `OAuth2PasswordRequestForm` posts) and the refresh grant, as a form or JSON.",
        "requestBody": body(json!({"type": "object", "properties": properties})),
        "responses": responses,
        "security": []
    }})
}

fn refresh_path() -> Value {
    let mut responses = json!({
        "200": {
            "description": "A new pair; the refresh token sent is spent (rotation).",
            "headers": no_store(),
            "content": {"application/json": {"schema": schema_ref(TOKEN_RESPONSE)}}
        }
    });
    common_errors(&mut responses);
    responses["400"] = error(
        "Malformed body, missing field, or a bad, expired or reused refresh token",
        &["invalid_request", "invalid_grant"],
        None,
    );
    json!({"post": {
        "tags": ["token"],
        "operationId": "token_refresh",
        "summary": "Refresh",
        "description": "Trades a refresh token for a new access + refresh pair. Reusing a spent refresh token revokes its whole session.",
        "requestBody": body(json!({"type": "object", "required": ["refresh_token"], "properties": {"refresh_token": {"type": "string", "minLength": 1}}})),
        "responses": responses,
        "security": []
    }})
}

fn revoke_path() -> Value {
    let mut responses = json!({
        "200": {"description": "Revoked (or not a token of this service: RFC 7009 §2.2); durable once answered.", "headers": no_store()}
    });
    common_errors(&mut responses);
    json!({"post": {
        "tags": ["token"],
        "operationId": "token_revoke",
        "summary": "Revoke a token",
        "description": "RFC 7009: revokes a refresh token (and its session) or an access token. A `token_type_hint` may be sent; it is ignored.",
        "requestBody": body(json!({"type": "object", "required": ["token"], "properties": {
            "token": {"type": "string", "minLength": 1}
        }})),
        "responses": responses,
        "security": []
    }})
}

fn logout_path(operation_id: &str, summary: &str, description: &str) -> Value {
    let either = json!({"oneOf": [schema_ref(AUTH_ERROR), schema_ref(TOKEN_ERROR)]});
    json!({"post": {
        "tags": ["token"],
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "responses": {
            "204": {"description": "Done; durable once answered."},
            "400": {"description": "Malformed `Authorization` (`invalid_request`).", "content": {"application/json": {"schema": schema_ref(AUTH_ERROR)}}},
            "401": {"description": "No token, a refused token, or a token another issuer made.", "content": {"application/json": {"schema": either.clone()}}},
            "503": {"description": "A store could not answer in time; nothing changed, retry.", "headers": retry_after(), "content": {"application/json": {"schema": either}}}
        },
        "security": [{BEARER: []}, {OAUTH2: []}]
    }})
}

/// Adds the token routes' paths (leaving any the document already has).
pub(super) fn add_paths(doc: &mut OpenApi, client_credentials: bool) {
    let paths = [
        ("/token", token_path(client_credentials)),
        ("/token/refresh", refresh_path()),
        ("/token/revoke", revoke_path()),
        (
            "/logout",
            logout_path(
                "logout",
                "Log out",
                "Revokes this access token and its refresh family.",
            ),
        ),
        (
            "/logout-all",
            logout_path(
                "logout_all",
                "Log out everywhere",
                "Revokes every session of the caller.",
            ),
        ),
    ];
    for (path, item) in paths {
        doc.paths
            .paths
            .entry(path.to_owned())
            .or_insert_with(|| typed::<PathItem>(item));
    }
}

/// Adds `GET path`: the published JWK set.
pub(super) fn add_jwks(doc: &mut OpenApi, path: &str) {
    let item = json!({"get": {
        "tags": ["token"],
        "operationId": "jwks",
        "summary": "Public keys",
        "description": "The JWK set (RFC 7517) that verifies this issuer's tokens.",
        "responses": {"200": {
            "description": "The keys.",
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["keys"],
                "properties": {"keys": {"type": "array", "items": {"type": "object", "required": ["kty"], "properties": {
                    "kty": {"type": "string"}, "kid": {"type": "string"}, "alg": {"type": "string"}, "use": {"type": "string"}
                }}}}
            }}}
        }},
        "security": []
    }});
    doc.paths
        .paths
        .entry(path.to_owned())
        .or_insert_with(|| typed::<PathItem>(item));
}

/// `TokenResponse` and `TokenError`.
pub(super) fn add_schemas(components: &mut Components) {
    components.schemas.insert(
        TOKEN_RESPONSE.to_owned(),
        typed(json!({
            "type": "object",
            "required": ["access_token", "token_type", "expires_in"],
            "properties": {
                "access_token": {"type": "string", "description": "A JWT, sent as `Authorization: Bearer …`."},
                "token_type": {"type": "string", "description": "`Bearer` (case-insensitive)."},
                "expires_in": {"type": "integer", "minimum": 0, "description": "Seconds the access token lives."},
                "refresh_token": {"type": "string", "description": "For `/token/refresh`; not for client credentials."},
                "scope": {"type": "string", "description": "The scopes granted (client credentials)."}
            }
        })),
    );
    components.schemas.insert(
        TOKEN_ERROR.to_owned(),
        typed(json!({
            "type": "object",
            "description": "An RFC 6749 §5.2 error.",
            "required": ["error", "error_description"],
            "properties": {
                "error": {"type": "string", "enum": [
                    "invalid_request", "invalid_grant", "unsupported_grant_type", "invalid_client",
                    "unauthorized_client", "invalid_scope", "too_many_attempts", "conflict",
                    "invalid_token", "temporarily_unavailable"
                ]},
                "error_description": {"type": "string"}
            }
        })),
    );
}
