use authz_axum::require_auth;

#[require_auth(policy = crate)]
async fn bare_crate() {}

#[require_auth(policy = checks::generic<u8>)]
async fn generics_without_turbofish() {}

fn main() {}
