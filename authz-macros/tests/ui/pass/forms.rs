use authz_axum::{Auth, Principal, require_auth};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::routing::get;

async fn owns(principal: &Principal, parts: &mut Parts) -> bool {
    parts.uri.path().ends_with(principal.subject())
}

#[require_auth]
async fn bare(Auth(user): Auth) -> String {
    user.subject().to_owned()
}

#[require_auth(role = "admin", scope = "posts:write", permission = "posts:delete")]
pub async fn keys() {}

#[require_auth(roles(any = ["a", "b"]), scopes(all = ["x", "y"]), permissions(any = ["p"]))]
pub(crate) async fn lists() {}

#[require_auth(claim(tenant = "acme"), claim("org.id" = 42), claim(active = true))]
async fn claims() {}

#[require_auth(any(role = "admin", all(role = "editor", not(role = "banned"))), policy = owns)]
async fn nested(Path(id): Path<u32>, State(name): State<&'static str>) -> String {
    format!("{name} {id}")
}

#[require_auth(role = "user", quota = "30/min")]
async fn limited() -> &'static str {
    "limited"
}

#[require_auth(role = "admin")]
async fn generic<T: Default + std::fmt::Debug + Send + 'static>() -> String {
    format!("{:?}", T::default())
}

fn main() {
    let _: Router = Router::new()
        .route("/bare", get(bare))
        .route("/keys", get(keys))
        .route("/lists", get(lists))
        .route("/claims", get(claims))
        .route("/nested/{id}", get(nested))
        .route("/generic", get(generic::<u8>))
        .route("/limited", get(limited))
        .with_state("app");
}
