use authz_axum::require_auth;

async fn check(_: &str) -> bool {
    true
}

#[require_auth(policy = check)]
async fn handler() {}

fn main() {}
