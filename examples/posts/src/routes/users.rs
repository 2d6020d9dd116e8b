//! The seed's `routers/user.py`: `POST /users` (and `/users/register`, seed 004's path), which
//! need no token, and `GET /users/{id}`, which does (an account's email is shown only to its
//! owner and to admins).

use authz_axum::core::lifecycle::LifecycleError;
use authz_axum::core::lifecycle::store::User;
use authz_axum::{Auth, require_auth};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, IdPath, JsonBody};
use crate::AppState;
use crate::openapi::Problem;

/// The seed's `UserCreate`: a username or an email (or both), and a password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UserIn {
    /// A login name (or give `email`): 1 to 64 characters, no invisible ones.
    #[schema(min_length = 1, max_length = 64)]
    username: Option<String>,
    /// An email, which also logs in.
    #[schema(min_length = 1, max_length = 254)]
    email: Option<String>,
    /// At least 8 characters (not a common password), at most 1024 bytes.
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
}

/// The seed's `UserOut`: never the password or its hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserOut {
    id: i64,
    username: String,
    email: Option<String>,
    created_at: u64,
}

impl From<User> for UserOut {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            created_at: user.created_at,
        }
    }
}

/// The routes that need no token (mounted outside the AuthLayer).
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/users", post(create))
        .route("/users/register", post(create))
}

/// The routes that need one.
pub fn routes() -> Router<AppState> {
    Router::new().route("/users/{id}", get(show))
}

/// Registration: self-registered accounts get the `user` role, never more — whatever name
/// they take (roles are granted to accounts by an operator, never to names).
#[utoipa::path(post, path = "/users", tag = "users", request_body = UserIn, responses(
    (status = 201, description = "Registered", body = UserOut),
    (status = 400, description = "A body of the wrong shape, or a name or password the policy refuses (`invalid_body`)", body = Problem),
    (status = 409, description = "The username or email is taken (`conflict`)", body = Problem),
    (status = 413, description = "The body is over the limit (`invalid_body`)", body = Problem),
    (status = 415, description = "Not `application/json` (`invalid_body`)", body = Problem),
    (status = 429, description = "Too many registrations from this address (`too_many_attempts`)", body = Problem,
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
    (status = 503, description = "The database could not answer", body = Problem),
))]
async fn create(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    JsonBody(user): JsonBody<UserIn>,
) -> Result<(StatusCode, Json<UserOut>), ApiError> {
    let username = match (&user.username, &user.email) {
        (Some(name), _) => name.trim().to_owned(),
        (None, Some(email)) => email.trim().to_lowercase(),
        (None, None) => return Err(ApiError::invalid("username or email is required")),
    };
    let client = authz_axum::client::client_address(&parts.extensions);
    let created = state
        .tokens
        .register_from(
            client,
            &username,
            user.email.as_deref(),
            &user.password,
            &["user"],
        )
        .await
        .map_err(|error| match error {
            LifecycleError::Conflict => {
                ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            LifecycleError::InvalidInput(_) | LifecycleError::Password(_) => {
                ApiError::invalid(error.to_string())
            }
            LifecycleError::Throttled { retry_after } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!(
                    "Too many registrations from this address; try again in {retry_after} seconds"
                ),
            )
            .with_retry_after(retry_after),
            other => ApiError::from(other),
        })?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// A user's profile, for a logged-in caller; the email only for the account's owner and for
/// admins.
#[require_auth]
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path, description = "The user's id")), responses(
    (status = 200, description = "The profile", body = UserOut),
    (status = 400, description = "An id that is not a 64-bit integer (`invalid_path`)", body = Problem),
    (status = 404, description = "No such user (`not_found`)", body = Problem),
    (status = 503, description = "The database could not answer", body = Problem),
))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
) -> Result<Json<UserOut>, ApiError> {
    let user = tokio::time::timeout(
        state.tokens.store_timeout(),
        state.tokens.users().user_by_id(id),
    )
    .await
    .map_err(|_| ApiError::unavailable("the user store did not answer in time"))?;
    match user {
        Ok(Some(user)) => {
            let mut out = UserOut::from(user);
            if caller.subject() != id.to_string() && !caller.has_role("admin") {
                out.email = None;
            }
            Ok(Json(out))
        }
        Ok(None) => Err(ApiError::not_found("user", id)),
        Err(error) => Err(ApiError::unavailable(error)),
    }
}

/// At start: creates the admin account of `AUTHZ_ADMIN_USER` / `AUTHZ_ADMIN_PASSWORD` (or
/// resets its password and makes sure it is an admin), then gives the `admin` role to the
/// accounts `AUTHZ_ADMINS` names **that exist now**, by username only — never to a name
/// registered later, never through an email nobody verified.
///
/// # Errors
///
/// Store errors, or a password the policy refuses.
pub async fn bootstrap_admins(
    state: &AppState,
    account: Option<&(String, String)>,
) -> Result<(), LifecycleError> {
    let tokens = &state.tokens;
    if let Some((name, password)) = account {
        match tokens.find_username(name).await? {
            Some(user) => {
                tokens.set_password(user.id, password).await?;
                make_admin(state, &user).await?;
            }
            None => {
                tokens
                    .register(name, None, password, &["user", "admin"])
                    .await?;
            }
        }
        tracing::info!(target: "posts", "admin account {name:?} is ready");
    }
    for name in state.admins.iter() {
        match tokens.find_username(name).await? {
            Some(user) => make_admin(state, &user).await?,
            None => tracing::warn!(
                target: "posts",
                "AUTHZ_ADMINS names {name:?}, which has no account: nobody gets admin by it"
            ),
        }
    }
    Ok(())
}

async fn make_admin(state: &AppState, user: &User) -> Result<(), LifecycleError> {
    if user.roles.iter().any(|role| role == "admin") {
        return Ok(());
    }
    let mut roles = user.roles.clone();
    roles.push("admin".into());
    state
        .tokens
        .users()
        .set_roles(user.id, &roles)
        .await
        .map_err(LifecycleError::Store)
}
