use authz_axum::require_auth;

#[require_auth(any())]
async fn handler() {}

fn main() {}
