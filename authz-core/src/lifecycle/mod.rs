//! The token lifecycle: register, log in, access + refresh pairs, rotation with reuse
//! detection, revocation, logout and logout-all, login throttling.
//!
//! [`TokenService`] ties an [`Issuer`], a [`Verifier`] for its own access tokens,
//! [`Passwords`] and the four [stores](store) together:
//!
//! - **Login** ([`TokenService::login`]): throttling first, then the user by username or email,
//!   then the password on a blocking thread (an unknown user costs a dummy hash and gets the
//!   same answer as a wrong password). A bcrypt hash is upgraded to argon2id on success.
//! - **Access tokens**: `typ: at+jwt`, `iss aud sub exp iat jti`, `sid` (the login's refresh
//!   family), `preferred_username`, `roles` and `scope` from the user record. 5 minutes by
//!   default.
//! - **Refresh tokens**: opaque (`rt.` + 256 random bits), stored as SHA-256, in a family with
//!   an idle expiry (default 1 day) and an absolute one (default 14 days). Single use:
//!   [`TokenService::refresh`] returns a new pair and retires the old token, in one atomic store
//!   call; presenting a retired token revokes the whole family and its access tokens.
//! - **Revocation**: [`TokenService::revoke`] (RFC 7009: a refresh token revokes its family, an
//!   access token its `jti`), [`TokenService::logout`] (the token and its family),
//!   [`TokenService::logout_all`] (every family of the subject, and every access token issued
//!   until now). [`TokenService::is_revoked`] is the check for the request path.
//! - An access token is never accepted as a refresh token (they are not opaque `rt.` strings),
//!   nor a refresh token as an access token (it is not a JWT).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use authz_core::lifecycle::{LifecycleError, TokenService};
//! use authz_core::{Algorithm, SigningKey};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = TokenService::builder(SigningKey::generate(Algorithm::EdDSA)?)
//!     .with_issuer("https://auth.example.com")
//!     .with_audience("api")
//!     .with_refresh_reuse_grace(Duration::ZERO) // strict: any second use is a reuse
//!     .build()?; // every store in memory
//! service.register("alice", None, "correct horse battery", &["admin"]).await?;
//!
//! let pair = service.login("alice", "correct horse battery", None).await?;
//! let alice = service.verifier().verify(&pair.access_token)?;
//! assert!(alice.has_role("admin"));
//!
//! let next = service.refresh(&pair.refresh_token).await?;
//! // The first refresh token is used up; presenting it again revokes the family.
//! let reused = service.refresh(&pair.refresh_token).await;
//! assert!(matches!(reused, Err(LifecycleError::RefreshTokenReused)));
//! assert!(service.refresh(&next.refresh_token).await.is_err());
//! let principal = service.verifier().verify(&next.access_token)?;
//! assert!(service.is_revoked(&principal).await?);
//! # Ok(()) }
//! ```

mod error;
mod identity;
pub mod password;
mod revocation;
mod service;
pub mod store;
mod throttle;

pub use error::LifecycleError;
pub use identity::MAX_USERNAME_CHARS;
pub use revocation::RevocationOptions;
pub use service::{
    ACCESS_TOKEN_TYP, DEFAULT_HASHING_WAIT, DEFAULT_STORE_TIMEOUT, LoginAttempt, LoginSuccess,
    REFRESH_TOKEN_PREFIX, TokenPair, TokenService, TokenServiceBuilder, looks_like_refresh_token,
};
pub use throttle::{ThrottleRule, Throttling};
