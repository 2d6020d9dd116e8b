use authz_axum::require_auth;

#[require_auth(role = "admin", role = "editor")]
async fn handler() {}

fn main() {}
