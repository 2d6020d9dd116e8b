use authz_axum::require_auth;

#[require_auth(role = "")]
async fn handler() {}

fn main() {}
