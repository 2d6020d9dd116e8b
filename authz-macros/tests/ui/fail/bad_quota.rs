use authz_axum::require_auth;

#[require_auth(role = "user", quota = "30 per minute")]
async fn handler() {}

fn main() {}
