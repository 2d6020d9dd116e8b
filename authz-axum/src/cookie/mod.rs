//! Tokens in cookies, for browser apps: the cookies the token routes set ([`TokenCookies`],
//! with [`TokenRoutes::with_cookies`](crate::token::TokenRoutes::with_cookies)), and the
//! cross-site request forgery check ([`Csrf`]) that the [`AuthLayer`](crate::AuthLayer) runs
//! whenever it took the token from a cookie.
//!
//! A page's script never has to hold the token: the access token travels in an `HttpOnly`
//! cookie, and the page reads only the CSRF cookie, whose value it sends back in the
//! `x-csrf-token` header of every unsafe request. Turning on a cookie source
//! ([`AuthLayer::with_cookie`](crate::AuthLayer::with_cookie)) turns the check on; only
//! [`Csrf::insecure_disabled`] turns it off.
//!
//! | request | checked |
//! | --- | --- |
//! | token in `Authorization: Bearer` (a cookie, if any, is then ignored) | no CSRF check: browsers never attach that header by themselves |
//! | token from the cookie, `GET` / `HEAD` / `OPTIONS` / `TRACE` | no CSRF check: safe methods must not change anything |
//! | token from the cookie, any other method | `Sec-Fetch-Site`, `Origin` (or `Referer`), then the signed double-submit token; 403 `csrf_failed` otherwise |
//!
//! # Example
//!
//! ```
//! use authz_axum::cookie::Csrf;
//! use authz_axum::{Algorithm, Auth, AuthLayer, Issuer, KeySet, SigningKey, Verifier};
//! use axum::{Router, body::Body, routing::post};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SigningKey::generate(Algorithm::ES256)?;
//! let verifier = Verifier::builder(KeySet::single(key.verifying_key())).build()?;
//! let csrf = Csrf::new(b"a CSRF key of at least 32 bytes....")?;
//! async fn save(Auth(user): Auth) -> String {
//!     format!("saved for {}", user.subject())
//! }
//! let app = Router::new()
//!     .route("/posts", post(save))
//!     .layer(AuthLayer::new(verifier).with_cookie("__Host-access").with_csrf(csrf.clone()));
//!
//! let token = Issuer::new(key).issue(&serde_json::json!({"sub": "alice", "sid": "s1"}))?;
//! let csrf_token = csrf.token_for_session("s1");
//! let cookies = format!("__Host-access={token}; __Host-csrf={csrf_token}");
//!
//! // A form another site submits carries the cookies, but not the header.
//! let forged = Request::post("/posts")
//!     .header("cookie", &cookies)
//!     .header("origin", "https://evil.example")
//!     .body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(forged).await?.status(), StatusCode::FORBIDDEN);
//!
//! // The app's own page sends the CSRF cookie's value back in the header.
//! let own = Request::post("/posts")
//!     .header("host", "app.example")
//!     .header("origin", "https://app.example")
//!     .header("cookie", &cookies)
//!     .header("x-csrf-token", &csrf_token)
//!     .body(Body::empty())?;
//! assert_eq!(app.oneshot(own).await?.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

mod csrf;
mod tokens;

#[cfg(feature = "ws")]
pub(crate) use csrf::cookie_value;
pub use csrf::{
    Csrf, CsrfConfigError, DEFAULT_CSRF_COOKIE, DEFAULT_CSRF_HEADER, MIN_CSRF_KEY_BYTES,
};
#[cfg(feature = "token-routes")]
pub(crate) use tokens::Issued;
pub use tokens::{
    DEFAULT_ACCESS_COOKIE, DEFAULT_REFRESH_COOKIE, DEFAULT_REFRESH_PATH, TokenCookies,
};
