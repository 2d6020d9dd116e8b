use authz_axum::require_auth;

#[require_auth(roles(some = ["a", "b"]))]
async fn handler() {}

fn main() {}
