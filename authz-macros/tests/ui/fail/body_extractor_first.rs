use authz_axum::{Auth, require_auth};
use axum::Json;

#[require_auth(role = "user")]
async fn handler(Json(body): Json<serde_json::Value>, Auth(user): Auth) -> String {
    format!("{} sent {body}", user.subject())
}

fn main() {}
