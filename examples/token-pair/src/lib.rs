//! Seed 002 in Rust: djangorestframework-simplejwt's routes and answers, on authz.
//!
//! | simplejwt | here |
//! | --- | --- |
//! | `TokenObtainPairView` at `api/token/` | `POST /api/token/` → `{"refresh","access"}` |
//! | `TokenRefreshView` at `api/token/refresh/` (`ROTATE_REFRESH_TOKENS`, `BLACKLIST_AFTER_ROTATION`) | `POST /api/token/refresh/` → `{"access","refresh"}` |
//! | `TokenVerifyView` at `api/token/verify/` | `POST /api/token/verify/` → `{}` |
//! | `TokenBlacklistView` at `api/token/blacklist/` | `POST /api/token/blacklist/` → `{}` |
//! | a view with `permission_classes = [IsAuthenticated]` | `GET /hello/` under `#[require_auth]` |
//!
//! Bodies are JSON or forms, as DRF's parsers take them. Errors are DRF's shapes:
//! `{"detail": …}` (401 for bad credentials, with simplejwt's messages and
//! `"code": "token_not_valid"` for bad tokens) and `{"field": ["This field is required."]}`
//! (400).

use std::sync::Arc;

use authz_axum::core::lifecycle::{LifecycleError, TokenService};
use authz_axum::token::{device_cookie, parse_body, password_login};
use authz_axum::{Auth, AuthLayer, SigningKey, require_auth};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CACHE_CONTROL, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// Configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `AUTHZ_ADDR`, default `127.0.0.1:8000`.
    pub addr: String,
    /// `AUTHZ_DEMO_USER`, default `demo`.
    pub demo_user: String,
    /// `AUTHZ_DEMO_PASSWORD`, default `demo-password-123`.
    pub demo_password: String,
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            addr: var("AUTHZ_ADDR", "127.0.0.1:8000"),
            demo_user: var("AUTHZ_DEMO_USER", "demo"),
            demo_password: var("AUTHZ_DEMO_PASSWORD", "demo-password-123"),
        }
    }
}

/// Builds the app: a fresh Ed25519 key, every store in memory, and the demo user.
///
/// # Errors
///
/// If the demo user cannot be created (a password under 8 characters).
pub async fn app(config: &Config) -> Result<Router, String> {
    let key = SigningKey::generate(authz_axum::Algorithm::EdDSA)
        .map_err(|e| e.to_string())?
        .with_kid("token-pair-1");
    let tokens = TokenService::builder(key)
        .with_audience("token-pair")
        .build()
        .map_err(|e| e.to_string())?;
    tokens
        .register(&config.demo_user, None, &config.demo_password, &["user"])
        .await
        .map_err(|e| format!("cannot create the demo user: {e}"))?;
    Ok(routes(tokens))
}

/// The routes over a token service.
///
/// The token routes need no access token and sit outside the AuthLayer: a client that still
/// sends its expired or revoked access token can always get a new pair.
pub fn routes(tokens: TokenService) -> Router {
    let layer = AuthLayer::new(tokens.verifier().clone()).with_revocation(tokens.clone());
    let tokens = Arc::new(tokens);
    let guarded = Router::new()
        .route("/hello/", get(hello))
        .with_state(tokens.clone())
        .layer(layer);
    Router::new()
        .route("/api/token/", post(obtain_pair))
        .route("/api/token/refresh/", post(refresh))
        .route("/api/token/verify/", post(verify))
        .route("/api/token/blacklist/", post(blacklist))
        .layer(DefaultBodyLimit::max(8 * 1024))
        .with_state(tokens)
        .merge(guarded)
}

type Tokens = State<Arc<TokenService>>;

/// A DRF-shaped error.
#[derive(Debug)]
pub struct DrfError(StatusCode, Value, Option<u64>);

/// A `{"detail", "code"}` body in that order (`json!` objects serialize sorted).
#[derive(serde::Serialize)]
struct Problem<'a> {
    detail: &'a str,
    code: &'a str,
}

impl IntoResponse for DrfError {
    fn into_response(self) -> Response {
        let problem = match (self.1.get("detail"), self.1.get("code")) {
            (Some(Value::String(detail)), Some(Value::String(code)))
                if self.1.as_object().is_some_and(|o| o.len() == 2) =>
            {
                Some(Problem { detail, code })
            }
            _ => None,
        };
        let mut response = match problem {
            Some(problem) => (self.0, Json(problem)).into_response(),
            None => (self.0, Json(&self.1)).into_response(),
        };
        if let Some(seconds) = self.2 {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

fn not_valid() -> DrfError {
    DrfError(
        StatusCode::UNAUTHORIZED,
        json!({"detail": "Token is invalid or expired", "code": "token_not_valid"}),
        None,
    )
}

fn lifecycle(error: LifecycleError) -> DrfError {
    match error {
        LifecycleError::InvalidCredentials => DrfError(
            StatusCode::UNAUTHORIZED,
            json!({"detail": "No active account found with the given credentials"}),
            None,
        ),
        LifecycleError::Throttled { retry_after } => DrfError(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"detail": format!("Request was throttled. Expected available in {retry_after} seconds.")}),
            Some(retry_after),
        ),
        LifecycleError::InvalidRefreshToken | LifecycleError::RefreshTokenReused => not_valid(),
        other => DrfError(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"detail": other.to_string()}),
            None,
        ),
    }
}

#[derive(Deserialize)]
struct Fields {
    username: Option<String>,
    password: Option<String>,
    refresh: Option<String>,
    token: Option<String>,
}

/// Parses a JSON or form body; DRF's 400/413/415 otherwise.
fn fields(parts: &Parts, body: Result<Bytes, BytesRejection>) -> Result<Fields, DrfError> {
    let body = body.map_err(|rejection| {
        DrfError(
            rejection.status(),
            json!({"detail": rejection.body_text()}),
            None,
        )
    })?;
    parse_body(&parts.headers, &body)
        .map_err(|error| DrfError(error.status(), json!({"detail": error.description()}), None))
}

/// DRF's "This field is required." for every missing field.
fn require<const N: usize>(
    fields: [(&'static str, Option<String>); N],
) -> Result<[String; N], DrfError> {
    let missing: serde_json::Map<String, Value> = fields
        .iter()
        .filter(|(_, value)| value.as_deref().is_none_or(str::is_empty))
        .map(|(name, _)| ((*name).to_owned(), json!(["This field is required."])))
        .collect();
    if !missing.is_empty() {
        return Err(DrfError(
            StatusCode::BAD_REQUEST,
            Value::Object(missing),
            None,
        ));
    }
    Ok(fields.map(|(_, value)| value.unwrap_or_default()))
}

fn no_store(value: Value) -> Response {
    let mut response = Json(value).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn obtain_pair(
    State(tokens): Tokens,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, DrfError> {
    let f = fields(&parts, body)?;
    let [username, password] = require([("username", f.username), ("password", f.password)])?;
    // With the client's address and device cookie, and a new device cookie in the answer:
    // strangers failing logins cannot lock the owner out of a client they have used.
    let success = password_login(&tokens, &parts, &username, &password)
        .await
        .map_err(lifecycle)?;
    let pair = success.pair;
    let mut response =
        no_store(json!({"refresh": pair.refresh_token, "access": pair.access_token}));
    if let Some(cookie) = device_cookie(&success.device) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}

async fn refresh(
    State(tokens): Tokens,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, DrfError> {
    let [refresh] = require([("refresh", fields(&parts, body)?.refresh)])?;
    let pair = tokens.refresh(&refresh).await.map_err(lifecycle)?;
    Ok(no_store(
        json!({"access": pair.access_token, "refresh": pair.refresh_token}),
    ))
}

async fn verify(
    State(tokens): Tokens,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, DrfError> {
    let [token] = require([("token", fields(&parts, body)?.token)])?;
    let principal = tokens.verifier().verify(&token).map_err(|_| not_valid())?;
    match tokens.is_revoked(&principal).await {
        Ok(false) => Ok(Json(json!({}))),
        Ok(true) => Err(not_valid()),
        Err(error) => Err(lifecycle(error)),
    }
}

async fn blacklist(
    State(tokens): Tokens,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, DrfError> {
    let [refresh] = require([("refresh", fields(&parts, body)?.refresh)])?;
    if !authz_axum::core::lifecycle::looks_like_refresh_token(&refresh) {
        return Err(not_valid());
    }
    tokens.revoke(&refresh).await.map_err(lifecycle)?;
    Ok(Json(json!({})))
}

#[require_auth]
async fn hello(Auth(user): Auth) -> Json<Value> {
    let name = user
        .claim(&authz_axum::ClaimPath::new("preferred_username"))
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| user.subject().to_owned());
    Json(json!({"message": "Hello, World!", "user": name}))
}
