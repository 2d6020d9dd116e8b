use authz_axum::{Principal, require_auth};
use axum::http::request::Parts;

async fn check(_: &Principal, _: &mut Parts) -> bool {
    true
}

#[require_auth(any(role = "admin", policy = check))]
async fn handler() {}

fn main() {}
