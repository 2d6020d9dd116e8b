use authz_axum::require_auth;

#[require_auth(roles = ["admin", "editor"])]
async fn handler() {}

fn main() {}
