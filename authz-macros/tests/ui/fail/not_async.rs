use authz_axum::require_auth;

#[require_auth(role = "admin")]
fn handler() -> &'static str {
    "not async"
}

fn main() {}
