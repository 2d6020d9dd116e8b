use authz_axum::require_auth;

#[require_auth(rol = "admin")]
async fn handler() {}

fn main() {}
