use authz_axum::require_auth;

#[require_auth(role = admin)]
async fn handler() {}

fn main() {}
