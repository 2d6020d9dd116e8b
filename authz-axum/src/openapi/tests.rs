use std::sync::LazyLock;

use authz_core::Requirement as R;
use serde_json::{Value, json};
use utoipa::openapi::OpenApi;

use super::*;

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

fn security_json(requirement: Option<&R>, oauth2: bool) -> Value {
    to_json(&security(requirement, oauth2))
}

#[test]
fn bare_require_auth_is_one_requirement_without_scopes() {
    assert_eq!(security_json(None, false), json!([{"bearerAuth": []}]));
    assert_eq!(
        security_json(None, true),
        json!([{"bearerAuth": []}, {"oauth2": []}])
    );
}

#[test]
fn role_permission_claim_need_no_scope() {
    for requirement in [
        R::role("admin"),
        R::permission("posts.delete"),
        R::claim("tenant", "acme"),
        R::not(R::scope("banned")),
    ] {
        assert_eq!(
            security_json(Some(&requirement), true),
            json!([{"bearerAuth": []}, {"oauth2": []}]),
            "{requirement}"
        );
    }
}

#[test]
fn scope_is_listed() {
    assert_eq!(
        security_json(Some(&R::scope("posts:write")), true),
        json!([{"bearerAuth": ["posts:write"]}, {"oauth2": ["posts:write"]}])
    );
}

#[test]
fn any_is_alternative_requirements() {
    let requirement = R::any([R::scope("a"), R::scope("b")]);
    assert_eq!(
        security_json(Some(&requirement), true),
        json!([{"bearerAuth": ["a"]}, {"bearerAuth": ["b"]}, {"oauth2": ["a"]}, {"oauth2": ["b"]}])
    );
}

#[test]
fn all_is_one_requirement_with_several_scopes() {
    let requirement = R::all([R::scope("b"), R::scope("a"), R::role("editor")]);
    assert_eq!(
        security_json(Some(&requirement), false),
        json!([{"bearerAuth": ["a", "b"]}])
    );
}

#[test]
fn all_of_any_multiplies_out() {
    let requirement = R::all([R::any([R::scope("a"), R::scope("b")]), R::scope("c")]);
    assert_eq!(
        security_json(Some(&requirement), false),
        json!([{"bearerAuth": ["a", "c"]}, {"bearerAuth": ["b", "c"]}])
    );
}

#[test]
fn any_of_role_or_scope_keeps_both_alternatives() {
    let requirement = R::any([R::role("admin"), R::scope("x"), R::role("root")]);
    assert_eq!(
        security_json(Some(&requirement), false),
        json!([{"bearerAuth": []}, {"bearerAuth": ["x"]}])
    );
}

#[test]
fn too_many_alternatives_fall_back_to_no_scopes() {
    let any = |n: &str| R::any((0..5).map(|i| R::scope(format!("{n}{i}"))));
    let requirement = R::all([any("a"), any("b")]);
    assert_eq!(
        security_json(Some(&requirement), false),
        json!([{"bearerAuth": []}])
    );
}

fn error_ref() -> Value {
    json!({"application/json": {"schema": {"$ref": "#/components/schemas/AuthError"}}})
}

fn challenge() -> Value {
    json!({"WWW-Authenticate": {
        "description": "The RFC 6750 challenge: `Bearer realm=\"…\"`, with `error`, `error_description` (and `scope` for a 403).",
        "schema": {"type": "string"}
    }})
}

#[test]
fn refusals_without_quota() {
    let responses: serde_json::Map<String, Value> = refusals(false)
        .into_iter()
        .map(|(status, response)| (status.to_owned(), to_json(&response)))
        .collect();
    assert_eq!(
        Value::Object(responses),
        json!({
            "400": {"description": "Malformed request (`invalid_request`): two tokens, or a bad `Authorization` header.", "headers": challenge(), "content": error_ref()},
            "401": {"description": "No token (`missing_token`), or a token refused (`invalid_token`: signature, expiry, audience, revoked, …).", "headers": challenge(), "content": error_ref()},
            "403": {"description": "The token does not meet the requirement (`insufficient_scope`).", "headers": challenge(), "content": error_ref()},
            "503": {"description": "A key source or store could not answer; retry after `Retry-After` seconds.",
                    "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer", "minimum": 0}}},
                    "content": error_ref()}
        })
    );
}

#[test]
fn refusals_with_quota_add_429_with_rate_limit_headers() {
    let responses = refusals(true);
    let statuses: Vec<&str> = responses.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, ["400", "401", "403", "429", "503"]);
    let integer = json!({"type": "integer", "minimum": 0});
    assert_eq!(
        to_json(&responses[3].1),
        json!({
            "description": "The caller's quota is spent (`rate_limited`).",
            "headers": {
                "Retry-After": {"description": "Seconds to wait.", "schema": integer},
                "RateLimit-Limit": {"description": "Requests allowed per window.", "schema": integer},
                "RateLimit-Remaining": {"description": "Requests left in the window.", "schema": integer},
                "RateLimit-Reset": {"description": "Seconds until the window resets.", "schema": integer}
            },
            "content": error_ref()
        })
    );
}

#[test]
fn auth_error_code_is_an_enum_of_the_stable_codes() {
    let schema = to_json(&auth_error_schema());
    assert_eq!(schema["required"], json!(["detail", "code"]));
    let codes: Vec<&str> = schema["properties"]["code"]["enum"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for code in [
        "missing_token",
        "token_expired",
        "invalid_signature",
        "token_revoked",
        "invalid_request",
        "insufficient_scope",
        "rate_limited",
        "keys_unavailable",
        "temporarily_unavailable",
        "quota_unavailable",
    ] {
        assert!(codes.contains(&code), "{code}");
    }
    let mut unique = codes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), codes.len());
}

static ADMIN: LazyLock<R> = LazyLock::new(|| R::role("admin"));
fn admin() -> Option<&'static R> {
    Some(&ADMIN)
}
fn anyone() -> Option<&'static R> {
    None
}

fn doc() -> OpenApi {
    mapping::typed(json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/admin": {"get": {"operationId": "admin_page", "description": "The admin page.",
                "responses": {"200": {"description": "ok"}, "403": {"description": "mine"}}}},
            "/me": {"get": {"operationId": "me", "responses": {"200": {"description": "ok"}}}},
            "/open": {"get": {"operationId": "open", "responses": {"200": {"description": "ok"}}}}
        }
    }))
}

#[test]
fn apply_matches_by_route_then_by_operation_id() {
    let handlers = [
        GuardedHandler::new("admin_page", "app::admin", admin)
            .with_route("/admin", &["get"])
            .with_quota("30/min"),
        GuardedHandler::new("me", "app::me", anyone),
    ];
    let mut doc = doc();
    let applied = Secure::new()
        .mark_unguarded_public()
        .apply_with(&mut doc, &handlers);
    assert_eq!(applied.secured(), ["GET /admin", "GET /me"]);
    assert!(applied.ambiguous().is_empty());
    let json = to_json(&doc);
    let admin = &json["paths"]["/admin"]["get"];
    assert_eq!(admin["security"], json!([{"bearerAuth": []}]));
    assert_eq!(
        admin["description"],
        "The admin page.\n\n**Requires** a valid bearer token and `role = \"admin\"`; quota 30/min per caller (`#[require_auth]`)."
    );
    // The handler's own 403 keeps its description and gets the refusal's body and headers;
    // the quota brings a 429.
    assert_eq!(
        admin["responses"]["403"],
        json!({"description": "mine", "headers": challenge(), "content": error_ref()})
    );
    let statuses: Vec<&String> = admin["responses"]
        .as_object()
        .map(|r| r.keys().collect())
        .unwrap_or_default();
    assert_eq!(statuses, ["200", "400", "401", "403", "429", "503"]);
    assert_eq!(
        json["paths"]["/me"]["get"]["description"],
        "**Requires** a valid bearer token (`#[require_auth]`)."
    );
    assert_eq!(json["paths"]["/open"]["get"]["security"], json!([]));
    assert_eq!(
        json["components"]["securitySchemes"]["bearerAuth"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": "An access token (JWT) in `Authorization: Bearer …`. The scopes listed are the ones the operation needs in the token's `scope` claim."})
    );
    assert!(
        json["components"]["securitySchemes"]
            .get("oauth2")
            .is_none()
    );
}

#[test]
fn same_name_without_route_is_ambiguous_unless_narrowed() {
    let handlers = [
        GuardedHandler::new("me", "one::routes", anyone),
        GuardedHandler::new("me", "two::routes", admin),
    ];
    let mut doc = doc();
    let applied = Secure::new().apply_with(&mut doc, &handlers);
    assert_eq!(applied.ambiguous(), ["GET /me"]);
    assert!(
        to_json(&doc)["paths"]["/me"]["get"]
            .get("security")
            .is_none()
    );

    let mut doc = self::doc();
    let applied = Secure::new()
        .in_module("two")
        .apply_with(&mut doc, &handlers);
    assert_eq!(applied.secured(), ["GET /me"]);
}

#[test]
fn password_flow_lists_the_scopes_with_their_operations() {
    static WRITE: LazyLock<R> = LazyLock::new(|| R::scope("posts:write"));
    fn write() -> Option<&'static R> {
        Some(&WRITE)
    }
    let handlers = [GuardedHandler::new("me", "app", write)];
    let mut doc = doc();
    Secure::new()
        .with_token_routes()
        .with_client_credentials()
        .with_jwks("/.well-known/jwks.json")
        .apply_with(&mut doc, &handlers);
    let json = to_json(&doc);
    assert_eq!(
        json["components"]["securitySchemes"]["oauth2"]["flows"],
        json!({"password": {
            "tokenUrl": "/token",
            "refreshUrl": "/token/refresh",
            "scopes": {"posts:write": "Needed by `me`"}
        }})
    );
    for path in [
        "/token",
        "/token/refresh",
        "/token/revoke",
        "/logout",
        "/logout-all",
        "/.well-known/jwks.json",
    ] {
        assert!(json["paths"].get(path).is_some(), "{path}");
    }
    assert_eq!(
        json["paths"]["/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
            ["schema"]["properties"]["grant_type"]["enum"],
        json!(["password", "refresh_token", "client_credentials"])
    );
    assert!(json["components"]["schemas"].get("TokenResponse").is_some());
    assert!(json["components"]["schemas"].get("TokenError").is_some());
}

#[test]
fn a_status_documented_with_another_body_gets_both() {
    let mut doc: OpenApi = mapping::typed(json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/me": {"get": {"operationId": "me", "responses": {
            "503": {"description": "db down", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        }}}}
    }));
    let handlers = [GuardedHandler::new("me", "app", anyone)];
    Secure::new().apply_with(&mut doc, &handlers);
    let response = &to_json(&doc)["paths"]["/me"]["get"]["responses"]["503"];
    assert_eq!(response["description"], "db down");
    assert_eq!(
        response["content"]["application/json"]["schema"],
        json!({"anyOf": [{"$ref": "#/components/schemas/Problem"}, {"$ref": "#/components/schemas/AuthError"}]})
    );
    assert!(response["headers"].get("Retry-After").is_some());
}
