//! Seed 004's "how much does a specific user query an API": `GET /usage` (admin) and
//! `GET /usage/me`. With `REDIS_URL` the counts are every instance's, from Redis; otherwise
//! this instance's, from the `UsageLayer`'s counters.

use authz_axum::usage::Granularity;
use authz_axum::{Auth, require_auth};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::ApiError;
use crate::AppState;
use crate::openapi::{Problem, UsageAll, UsageMe};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/usage", get(all))
        .route("/usage/me", get(me))
}

fn today() -> (u64, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let start = now - now % 86_400;
    (start, start + 86_400)
}

/// Requests per caller today (UTC): users by subject id and username, anonymous callers by
/// address (`anon:…`, no username).
#[require_auth(role = "admin")]
#[utoipa::path(get, path = "/usage", tag = "usage", responses(
    (status = 200, description = "Today's requests per caller", body = UsageAll),
    (status = 503, description = "Redis or the database could not answer", body = Problem),
))]
async fn all(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (from, to) = today();
    let totals = match &state.redis {
        Some(redis) => redis
            .usage_totals(from)
            .await
            .map_err(ApiError::unavailable)?,
        None => state.meter.totals(from, to),
    };
    let mut users = Vec::with_capacity(totals.len());
    for (subject, requests) in totals {
        let username = match subject.parse::<i64>() {
            Ok(id) => state
                .tokens
                .users()
                .user_by_id(id)
                .await
                .map_err(ApiError::unavailable)?
                .map(|user| user.username),
            Err(_) => None,
        };
        users.push(json!({"subject": subject, "username": username, "requests": requests}));
    }
    Ok(Json(json!({"from": from, "to": to, "users": users})))
}

/// The caller's requests today, by route, method and status class.
#[require_auth]
#[utoipa::path(get, path = "/usage/me", tag = "usage", responses(
    (status = 200, description = "The caller's requests today", body = UsageMe),
    (status = 503, description = "Redis could not answer", body = Problem),
))]
async fn me(State(state): State<AppState>, Auth(user): Auth) -> Result<Json<Value>, ApiError> {
    let (from, to) = today();
    let rows = match &state.redis {
        Some(redis) => redis
            .usage_of(user.subject(), from)
            .await
            .map_err(ApiError::unavailable)?,
        None => state
            .meter
            .usage(Some(user.subject()), Granularity::Day, from, to),
    };
    let total: u64 = rows.iter().map(|r| r.count).sum();
    Ok(Json(
        json!({"subject": user.subject(), "from": from, "to": to, "requests": total, "by_route": rows}),
    ))
}
