//! State that outlives a request: users, refresh-token families, revocations and login
//! throttling.
//!
//! One trait per kind of state, each with several backends that pass the same test suite:
//!
//! | trait | [`MemoryStore`] | `SqlStore` (`sqlite` / `postgres` features) | `RedisStore` (`redis` feature) |
//! | --- | --- | --- | --- |
//! | [`UserStore`] | yes | yes | — |
//! | [`RefreshStore`] | yes | yes | — |
//! | [`RevocationStore`] | yes | yes | yes |
//! | [`ThrottleStore`] | yes | yes | yes |
//!
//! The memory store is for tests and single-process apps; SQLite is the embedded default of
//! the examples; PostgreSQL and Redis let several instances share one state.
//!
//! Every operation whose correctness depends on concurrency is one atomic store call:
//! [`RefreshStore::rotate`] marks the presented token used and issues the next one in a single
//! step, so two concurrent refreshes with one token give one new token, and presenting a used
//! token revokes its family. Times are Unix seconds, passed in by the caller (the
//! [`TokenService`](crate::lifecycle::TokenService)'s clock).

use std::fmt;

use async_trait::async_trait;

mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::SqlStore;

pub use crate::error::{StoreError, StoreResult};

/// A user to create. `password_hash` is a PHC string (see [`super::password`]).
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Unique login name.
    pub username: String,
    /// Unique email, if any (stored lowercased).
    pub email: Option<String>,
    /// The password hash, never the password.
    pub password_hash: String,
    /// Roles, put in the `roles` claim of access tokens.
    pub roles: Vec<String>,
    /// Scopes, put in the `scope` claim of access tokens.
    pub scopes: Vec<String>,
}

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The store's id; access tokens carry it as `sub`.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// Unique email, if any.
    pub email: Option<String>,
    /// The password hash.
    pub password_hash: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Creation time, Unix seconds.
    pub created_at: u64,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("roles", &self.roles)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("roles", &self.roles)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Users and their password hashes.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Creates a user. Usernames and emails are unique: a duplicate, even from a concurrent
    /// call, gives [`StoreError::Conflict`] and stores nothing.
    async fn create_user(&self, user: NewUser, now: u64) -> StoreResult<User>;
    /// The user whose username, or else email (case-insensitive), is `login`.
    async fn user_by_login(&self, login: &str) -> StoreResult<Option<User>>;
    /// The user with this id.
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// Replaces a user's password hash (after a re-hash on login, or a password change).
    async fn set_password_hash(&self, id: i64, hash: &str) -> StoreResult<()>;
    /// Replaces a user's roles.
    async fn set_roles(&self, id: i64, roles: &[String]) -> StoreResult<()>;
}

/// A refresh-token family: every refresh token issued from one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// Random id; access tokens of the family carry it as `sid`.
    pub id: String,
    /// The user's subject.
    pub subject: String,
    /// When the login happened.
    pub created_at: u64,
    /// The absolute expiry: no refresh after it, whatever the idle expiry says.
    pub expires_at: u64,
}

/// One refresh token, as stored: its SHA-256, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// SHA-256 of the token, lowercase hex.
    pub hash: String,
    /// The family id.
    pub family: String,
    /// When it was issued.
    pub issued_at: u64,
    /// The idle expiry (never after the family's absolute expiry).
    pub expires_at: u64,
}

/// The outcome of [`RefreshStore::rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// The presented token was live: it is now used and `next` was stored in its family.
    Rotated {
        /// The family, for the new access token's `sid`.
        family: Family,
    },
    /// The presented token had been used already: the whole family is now revoked.
    Reused {
        /// The revoked family.
        family: Family,
    },
    /// The presented token was used less than the reuse grace ago: a concurrent duplicate
    /// (two tabs refreshing at once), refused without revoking the family.
    Raced,
    /// The token or its family expired. Nothing changed.
    Expired,
    /// The family was revoked before (logout, reuse). Nothing changed.
    Revoked,
    /// No such token. Nothing changed.
    Unknown,
}

/// Refresh-token families with single-use tokens.
#[async_trait]
pub trait RefreshStore: Send + Sync + 'static {
    /// Stores a new family and its first token.
    async fn start_family(&self, family: &Family, first: &RefreshRecord) -> StoreResult<()>;
    /// Atomically: if `presented` is live (unused, unexpired, family live and unexpired),
    /// marks it used and stores `next` in its family (`next.family` and `next.expires_at` are
    /// set by the store: same family, expiry capped at the family's); if it was used before,
    /// revokes its family, unless it was used less than `reuse_grace` seconds ago
    /// ([`Rotation::Raced`]). Two concurrent calls with one token: exactly one `Rotated`.
    async fn rotate(
        &self,
        presented: &str,
        next_hash: &str,
        idle_ttl: u64,
        reuse_grace: u64,
        now: u64,
    ) -> StoreResult<Rotation>;
    /// Revokes the family that `token_hash` belongs to; returns it, if any was live.
    async fn revoke_by_token(&self, token_hash: &str, now: u64) -> StoreResult<Option<Family>>;
    /// Revokes one family by id; returns it, if it was live.
    async fn revoke_family(&self, family_id: &str, now: u64) -> StoreResult<Option<Family>>;
    /// Revokes every live family of a subject (logout-all); returns them.
    async fn revoke_subject(&self, subject: &str, now: u64) -> StoreResult<Vec<Family>>;
}

/// What the request path asks [`RevocationStore::is_revoked`] about one access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationQuery<'a> {
    /// `sub`.
    pub subject: &'a str,
    /// `jti`, if the token has one.
    pub token_id: Option<&'a str>,
    /// `sid` (the refresh family), if the token has one.
    pub session_id: Option<&'a str>,
    /// `iat`, if the token has one. A token without `iat` is revoked by any subject mark.
    pub issued_at: Option<u64>,
}

/// Revoked access tokens (by `jti`), sessions (by `sid`) and per-subject "issued before" marks.
/// Entries are kept until `until`, the last moment a token they cover could still verify.
#[async_trait]
pub trait RevocationStore: Send + Sync + 'static {
    /// Revokes one access token by `jti`, until its `exp`.
    async fn revoke_token(&self, token_id: &str, until: u64) -> StoreResult<()>;
    /// Revokes every access token carrying `sid = session_id`, until `until`.
    async fn revoke_session(&self, session_id: &str, until: u64) -> StoreResult<()>;
    /// Refuses the subject's tokens issued at or before `mark`, until `until` (later marks win).
    async fn revoke_subject_before(&self, subject: &str, mark: u64, until: u64) -> StoreResult<()>;
    /// Whether a verified token is revoked, by any of the three.
    async fn is_revoked(&self, query: RevocationQuery<'_>, now: u64) -> StoreResult<bool>;
}

/// Failed logins counted under one key (an account, a client address, or both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// Failures within the window.
    pub count: u32,
    /// Time of the last one.
    pub last: u64,
}

/// Counters of failed logins, for throttling.
#[async_trait]
pub trait ThrottleStore: Send + Sync + 'static {
    /// The failures counted under `key`, if the last one is within `window` seconds.
    async fn failures(&self, key: &str, window: u64, now: u64) -> StoreResult<Option<Failures>>;
    /// Atomically counts one more failure (starting again from 1 when the last one is older
    /// than `window`) and returns the new count.
    async fn record_failure(&self, key: &str, window: u64, now: u64) -> StoreResult<Failures>;
    /// Forgets the failures under `key` (after a successful login).
    async fn clear(&self, key: &str) -> StoreResult<()>;
}

/// Space-separated list, as stored in SQL.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    expect(dead_code, reason = "used by the SQL backend")
)]
pub(crate) fn join_list(items: &[String]) -> String {
    items.join(" ")
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    expect(dead_code, reason = "used by the SQL backend")
)]
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split_ascii_whitespace().map(str::to_owned).collect()
}
