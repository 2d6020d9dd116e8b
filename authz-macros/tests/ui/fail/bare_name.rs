use authz_axum::require_auth;

#[require_auth("admin")]
async fn handler() {}

fn main() {}
