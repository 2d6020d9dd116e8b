use authz_axum::require_auth;

#[require_auth(role = "admin")]
struct Handler;

fn main() {}
