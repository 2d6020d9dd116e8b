//! The seed's `routers/auth.py`: `POST /login` with FastAPI's `OAuth2PasswordRequestForm`
//! (`username` — or the email —, `password`; JSON accepted too), answering
//! `{"access_token", "token_type": "bearer", "expires_in", "refresh_token"}`. The token routes
//! (`/token`, `/token/refresh`, `/token/revoke`, `/logout`, `/logout-all`) come from
//! `authz_axum::token::TokenRoutes`.

use authz_axum::token::{TokenError, TokenResponse, parse_body, password_login};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Router, extract::DefaultBodyLimit};
use serde::Deserialize;

use crate::AppState;

#[derive(Deserialize)]
struct LoginForm {
    username: Option<String>,
    password: Option<String>,
}

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", post(login))
        .layer(DefaultBodyLimit::max(8 * 1024))
}

async fn login(
    State(state): State<AppState>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<TokenResponse, TokenError> {
    let body = body.map_err(|rejection| TokenError::invalid_request(rejection.body_text()))?;
    let form: LoginForm = parse_body(&parts.headers, &body)?;
    let (Some(username), Some(password)) = (form.username, form.password) else {
        return Err(TokenError::invalid_request(
            "the `username` and `password` fields are required",
        ));
    };
    let success = password_login(&state.tokens, &parts, &username, &password).await?;
    Ok(TokenResponse::new(success.pair)
        .with_token_type("bearer")
        .with_device(success.device))
}
