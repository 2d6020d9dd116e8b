//! Seed 004's "how much does a specific user query an API": `GET /usage` (admin) and
//! `GET /usage/me`, from the `UsageLayer`'s counters.

use authz_axum::usage::Granularity;
use authz_axum::{Auth, require_auth};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;

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

/// Requests per user today (UTC), anonymous callers by address.
#[require_auth(role = "admin")]
async fn all(State(state): State<AppState>) -> Json<Value> {
    let (from, to) = today();
    let users: Vec<Value> = state
        .meter
        .totals(from, to)
        .into_iter()
        .map(|(subject, requests)| json!({"subject": subject, "requests": requests}))
        .collect();
    Json(json!({"from": from, "to": to, "users": users}))
}

/// The caller's requests today, by route, method and status class.
#[require_auth]
async fn me(State(state): State<AppState>, Auth(user): Auth) -> Json<Value> {
    let (from, to) = today();
    let rows = state
        .meter
        .usage(Some(user.subject()), Granularity::Day, from, to);
    let total: u64 = rows.iter().map(|r| r.count).sum();
    Json(
        json!({"subject": user.subject(), "from": from, "to": to, "requests": total, "by_route": rows}),
    )
}
