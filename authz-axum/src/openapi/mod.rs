//! The OpenAPI document straight from `#[require_auth]` (feature `openapi`, utoipa 5).
//!
//! Write each handler's `#[utoipa::path(...)]` as usual, with no `security` and no refusal
//! responses; `#[require_auth]` records what the handler requires ([`crate::guarded`]), and
//! [`Secure`] (a [`utoipa::Modify`]) gives every guarded operation of the document:
//!
//! - its `security`: `bearerAuth` (HTTP bearer, `bearerFormat: JWT`) and, with
//!   [`Secure::with_password_flow`] or [`Secure::with_token_routes`], `oauth2` (the password
//!   flow, so that Swagger UI's "Authorize" logs in for real) with the scopes the requirement
//!   needs: `any(...)` becomes alternative requirements, `all(...)` one requirement with
//!   several scopes;
//! - a line in its description with the requirement as the attribute spells it (roles,
//!   permissions, claims, the policy and the quota have no OpenAPI field):
//!   ``**Requires** a valid bearer token and `role = "admin"` (`#[require_auth]`).``;
//! - its refusal responses, each with the `{detail, code}` body (`AuthError`, `code` an enum
//!   of the stable codes): 400 `invalid_request`, 401 (with `WWW-Authenticate`), 403
//!   `insufficient_scope`, 429 with `Retry-After` and `RateLimit-*` when a quota applies,
//!   503 with `Retry-After`. A status the handler's own `responses(...)` already documents is
//!   left as written.
//!
//! The security schemes go into `components.securitySchemes`, the `AuthError` schema into
//! `components.schemas`. [`Secure::with_token_routes`] also documents the token routes
//! ([`crate::token`]), [`Secure::with_jwks`] the published key set.
//!
//! # Attribute order
//!
//! Put `#[require_auth]` **above** `#[utoipa::path]`: it then reads the path, the methods and
//! an `operation_id` from it, and the operation is found by its route. The other order works
//! too, by operation id (utoipa's default, the function's name): then two guarded handlers of
//! the same name in one document are ambiguous ([`Applied::ambiguous`]; narrow the entries
//! with [`Secure::in_module`]).
//!
//! # Example
//!
//! ```
//! use authz_axum::openapi::Secure;
//! use authz_axum::require_auth;
//! use utoipa::OpenApi;
//!
//! /// Deletes everything.
//! #[require_auth(role = "admin", scope = "posts:write")]
//! #[utoipa::path(delete, path = "/posts", responses((status = 204, description = "Gone")))]
//! async fn purge() -> axum::http::StatusCode { axum::http::StatusCode::NO_CONTENT }
//!
//! #[derive(OpenApi)]
//! #[openapi(paths(purge))]
//! struct Api;
//!
//! let mut doc = Api::openapi();
//! let applied = Secure::new().with_token_routes().apply(&mut doc);
//! assert_eq!(applied.secured(), ["DELETE /posts"]);
//!
//! let json = serde_json::to_value(&doc)?;
//! let operation = &json["paths"]["/posts"]["delete"];
//! assert_eq!(operation["security"], serde_json::json!([
//!     {"bearerAuth": ["posts:write"]},
//!     {"oauth2": ["posts:write"]},
//! ]));
//! assert_eq!(
//!     operation["description"],
//!     "**Requires** a valid bearer token and `all(role = \"admin\", scope = \"posts:write\")` (`#[require_auth]`)."
//! );
//! for status in ["204", "400", "401", "403", "503"] {
//!     assert!(operation["responses"].get(status).is_some(), "{status}");
//! }
//! # Ok::<(), serde_json::Error>(())
//! ```

mod mapping;
mod token;

use std::collections::BTreeMap;

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::openapi::{Components, OpenApi, RefOr, Response};

use crate::guarded::GuardedHandler;

pub use mapping::{
    AUTH_ERROR, BEARER, OAUTH2, auth_error_schema, codes, description, rate_limit_headers,
    rate_limited, refusals, scope_alternatives, security,
};

/// Applies what `#[require_auth]` knows to an OpenAPI document. See the
/// [module docs](crate::openapi) for an example.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Secure {
    password_flow: Option<(String, Option<String>)>,
    token_routes: bool,
    client_credentials: bool,
    jwks: Option<String>,
    rate_limited: bool,
    mark_public: bool,
    module: Option<String>,
}

impl Secure {
    /// Bearer security and refusal responses on every guarded operation; nothing else.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the `oauth2` scheme, a password flow whose `tokenUrl` (and `refreshUrl`) are
    /// these: the app's own login route.
    pub fn with_password_flow(
        mut self,
        token_url: impl Into<String>,
        refresh_url: Option<String>,
    ) -> Self {
        self.password_flow = Some((token_url.into(), refresh_url));
        self
    }

    /// Documents [`TokenRoutes`](crate::token::TokenRoutes)' routes (`/token`,
    /// `/token/refresh`, `/token/revoke`, `/logout`, `/logout-all`) and, unless
    /// [`with_password_flow`](Self::with_password_flow) named another, makes `/token` the
    /// password flow's `tokenUrl` and `/token/refresh` its `refreshUrl`.
    pub fn with_token_routes(mut self) -> Self {
        self.token_routes = true;
        if self.password_flow.is_none() {
            self.password_flow = Some(("/token".to_owned(), Some("/token/refresh".to_owned())));
        }
        self
    }

    /// Also documents the client-credentials grant of `POST /token`
    /// ([`TokenRoutes::with_client_credentials`](crate::token::TokenRoutes::with_client_credentials)).
    pub fn with_client_credentials(mut self) -> Self {
        self.client_credentials = true;
        self
    }

    /// Documents `GET path` answering the published JWK set ([`crate::jwks`]).
    pub fn with_jwks(mut self, path: impl Into<String>) -> Self {
        self.jwks = Some(path.into());
        self
    }

    /// Every operation may answer 429 `rate_limited` (with `Retry-After`, `RateLimit-*`): a
    /// quota of the usage layer ([`crate::usage`]) applies to the whole router.
    pub fn with_rate_limits(mut self) -> Self {
        self.rate_limited = true;
        self
    }

    /// Operations that no `#[require_auth]` guards get `security: []`: the document says
    /// they need no token (rather than saying nothing). Use it when every handler that reads
    /// the caller is guarded.
    pub fn mark_unguarded_public(mut self) -> Self {
        self.mark_public = true;
        self
    }

    /// Only handlers whose module path starts with `prefix` (e.g. the app crate's name):
    /// for a program that links several apps' handlers.
    pub fn in_module(mut self, prefix: impl Into<String>) -> Self {
        self.module = Some(prefix.into());
        self
    }

    /// Applies it to `doc`: security, descriptions and responses of guarded operations, the
    /// schemes, the schema, and the documented routes.
    pub fn apply(&self, doc: &mut OpenApi) -> Applied {
        self.apply_with(doc, crate::guarded::all())
    }

    /// The same with the given entries instead of every registered one (for tests).
    pub fn apply_with<'a>(
        &self,
        doc: &mut OpenApi,
        handlers: impl IntoIterator<Item = &'a GuardedHandler>,
    ) -> Applied {
        let handlers: Vec<&GuardedHandler> = handlers
            .into_iter()
            .filter(|h| {
                self.module
                    .as_deref()
                    .is_none_or(|prefix| h.module().starts_with(prefix))
            })
            .collect();
        if self.token_routes {
            token::add_paths(doc, self.client_credentials);
        }
        if let Some(path) = &self.jwks {
            token::add_jwks(doc, path);
        }
        let oauth2 = self.password_flow.is_some();
        let mut applied = Applied::default();
        let mut scopes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, item) in doc.paths.paths.iter_mut() {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("options", &mut item.options),
                ("head", &mut item.head),
                ("patch", &mut item.patch),
                ("trace", &mut item.trace),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else {
                    continue;
                };
                let route = format!("{} {path}", method.to_uppercase());
                let found = find(&handlers, path, method, operation);
                let handler = match found {
                    Found::One(handler) => handler,
                    Found::Many => {
                        applied.ambiguous.push(route);
                        continue;
                    }
                    Found::None => {
                        if self.rate_limited {
                            add_missing(operation, vec![("429", rate_limited())]);
                        }
                        if self.mark_public && operation.security.is_none() {
                            operation.security = Some(Vec::new());
                        }
                        continue;
                    }
                };
                if operation.security.is_none() {
                    operation.security = Some(security(handler.requirement(), oauth2));
                }
                for alternative in scope_alternatives(handler.requirement()) {
                    for scope in alternative {
                        scopes
                            .entry(scope)
                            .or_default()
                            .push(operation_name(operation, handler));
                    }
                }
                let line = description(handler);
                operation.description = Some(match operation.description.take() {
                    Some(text) if !text.is_empty() => format!("{text}\n\n{line}"),
                    _ => line,
                });
                add_missing(
                    operation,
                    refusals(self.rate_limited || handler.quota().is_some()),
                );
                applied.secured.push(route);
            }
        }
        self.add_components(doc, &scopes);
        applied
    }

    fn add_components(&self, doc: &mut OpenApi, scopes: &BTreeMap<String, Vec<String>>) {
        let components = doc.components.get_or_insert_with(Components::new);
        components
            .schemas
            .insert(AUTH_ERROR.to_owned(), auth_error_schema());
        if self.token_routes {
            token::add_schemas(components);
        }
        components.security_schemes.insert(
            BEARER.to_owned(),
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token (JWT) in `Authorization: Bearer …`. The scopes listed \
                         are the ones the operation needs in the token's `scope` claim.",
                    ))
                    .build(),
            ),
        );
        if let Some((token_url, refresh_url)) = &self.password_flow {
            let scopes = Scopes::from_iter(scopes.iter().map(|(scope, operations)| {
                (
                    scope.clone(),
                    format!("Needed by {}", operations.join(", ")),
                )
            }));
            let flow = match refresh_url {
                Some(refresh) => {
                    Password::with_refresh_url(token_url.clone(), scopes, refresh.clone())
                }
                None => Password::new(token_url.clone(), scopes),
            };
            components.security_schemes.insert(
                OAUTH2.to_owned(),
                SecurityScheme::OAuth2(OAuth2::with_description(
                    [Flow::Password(flow)],
                    "Log in with a username and password (OAuth2 password grant); the access \
                     token it answers is sent as a bearer token.",
                )),
            );
        }
    }
}

impl utoipa::Modify for Secure {
    /// [`Secure::apply`]; an operation it could not decide is logged at WARN (target
    /// `authz_axum::openapi`).
    fn modify(&self, openapi: &mut OpenApi) {
        let applied = self.apply(openapi);
        for route in &applied.ambiguous {
            tracing::warn!(target: "authz_axum::openapi", %route, "several guarded handlers match this operation; left unsecured (see Secure::in_module)");
        }
    }
}

/// What [`Secure::apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    secured: Vec<String>,
    ambiguous: Vec<String>,
}

impl Applied {
    /// The operations secured, as `METHOD /path`, in the document's order.
    pub fn secured(&self) -> &[String] {
        &self.secured
    }

    /// Operations that several guarded handlers could be (same operation id, no route read):
    /// left as they were. Should be empty.
    pub fn ambiguous(&self) -> &[String] {
        &self.ambiguous
    }
}

enum Found<'a> {
    None,
    One(&'a GuardedHandler),
    Many,
}

/// The handler of the operation at `method path`: by route when the entry has one, else by
/// operation id among entries without a route.
fn find<'a>(
    handlers: &[&'a GuardedHandler],
    path: &str,
    method: &str,
    operation: &Operation,
) -> Found<'a> {
    if let Some(handler) = handlers
        .iter()
        .find(|h| h.path() == Some(path) && h.methods().contains(&method))
    {
        return Found::One(handler);
    }
    let Some(id) = operation.operation_id.as_deref() else {
        return Found::None;
    };
    let mut matches = handlers
        .iter()
        .filter(|h| h.path().is_none() && h.operation_id() == id);
    match (matches.next(), matches.next()) {
        (None, _) => Found::None,
        (Some(one), None) => Found::One(one),
        (Some(_), Some(_)) => Found::Many,
    }
}

fn operation_name(operation: &Operation, handler: &GuardedHandler) -> String {
    format!(
        "`{}`",
        operation
            .operation_id
            .as_deref()
            .unwrap_or(handler.operation_id())
    )
}

/// Adds the refusal responses: a status the operation does not document yet as it is; one
/// it documents with another body gets both (`anyOf`) and the refusal's headers, keeping its
/// description.
fn add_missing(operation: &mut Operation, responses: Vec<(&'static str, RefOr<Response>)>) {
    for (status, response) in responses {
        match operation.responses.responses.get_mut(status) {
            None => {
                operation
                    .responses
                    .responses
                    .insert(status.to_owned(), response);
            }
            Some(existing @ RefOr::T(_)) => merge(existing, &response),
            Some(RefOr::Ref(_)) => {}
        }
    }
}

fn merge(existing: &mut RefOr<Response>, ours: &RefOr<Response>) {
    let (Ok(mut have), Ok(ours)) = (serde_json::to_value(&*existing), serde_json::to_value(ours))
    else {
        return;
    };
    let json = "application/json";
    let our_schema = &ours["content"][json]["schema"];
    match have["content"][json].get("schema").cloned() {
        None if have.get("content").is_none() => have["content"] = ours["content"].clone(),
        None => {}
        Some(schema) if &schema == our_schema => {}
        Some(schema)
            if schema["anyOf"]
                .as_array()
                .is_some_and(|all| all.contains(our_schema)) => {}
        Some(schema) => {
            have["content"][json]["schema"] =
                serde_json::json!({"anyOf": [schema, our_schema.clone()]});
        }
    }
    if let Some(headers) = ours["headers"].as_object() {
        for (name, header) in headers {
            if have["headers"].get(name).is_none() {
                have["headers"][name] = header.clone();
            }
        }
    }
    if let Ok(merged) = serde_json::from_value(have) {
        *existing = merged;
    }
}

#[cfg(test)]
mod tests;
