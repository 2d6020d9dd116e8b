//! State that outlives a request: users, sessions (refresh-token families and revocations)
//! and login throttling.
//!
//! One trait per kind of state, each with backends that pass the same test suite:
//!
//! | trait | [`MemoryStore`] | `SqlStore` (`sqlite` / `postgres` features) | `RedisStore` (`redis` feature) |
//! | --- | --- | --- | --- |
//! | [`UserStore`] | yes | yes | — |
//! | [`SessionStore`] (families + revocations, durable) | yes (one process) | yes | — |
//! | [`ThrottleStore`] | yes | yes | yes |
//! | [`Fanout`] (tells other instances about revocations) | — | — | yes |
//!
//! **Revocations are durable.** The store that holds refresh families holds every revocation
//! too — an access token by `jti`, a session by `sid`, a subject's "issued before" mark — and
//! writes each in the same transaction as the family change it belongs to, so no failure can
//! leave a revoked family whose access tokens still pass. Each write transaction takes the next
//! number of one monotonic sequence; an instance's mirror (see
//! [`TokenService`](super::TokenService)) loads the live revocations at start and then catches
//! up with [`SessionStore::revocations_since`], so nothing is lost when a message is. Redis,
//! when configured, only tells the other instances sooner ([`Fanout`]); it never holds the only
//! copy.
//!
//! **Every call can fail** with a [`StoreError`]; the lifecycle bounds each call by a timeout
//! and answers "unavailable" (503), never "refused", when the store cannot answer.
//!
//! **Times are Unix seconds passed in by the caller**, from the
//! [`TokenService`](super::TokenService)'s clock: no store reads the system clock, so an app
//! (or a test) on a fixed clock sees the same expiries everywhere.
//!
//! Every operation whose correctness depends on concurrency is one atomic store call:
//! [`SessionStore::rotate`] marks the presented token used and stores the next one in one step,
//! so two concurrent refreshes with one token give one new token, and presenting a used token
//! revokes its family and its access tokens in one transaction.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub(crate) mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

pub use crate::error::{StoreError, StoreResult};
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::SqlStore;

/// A user to create. `password_hash` is a PHC string (see [`super::password`]).
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The login name, as the user wrote it.
    pub username: String,
    /// Its comparison key (NFKC, case-folded; see the lifecycle's identity rules): unique, so
    /// that `Alice` and `ａｌｉｃｅ` cannot be two accounts.
    pub login_key: String,
    /// Unique email, if any, as its comparison key (case-folded).
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
            .field("login_key", &self.login_key)
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
    /// Creates a user. Login keys and emails are unique: a duplicate, even from a concurrent
    /// call, gives [`StoreError::Conflict`] and stores nothing.
    async fn create_user(&self, user: NewUser, now: u64) -> StoreResult<User>;
    /// The user whose login key, or else email, is `key` (a comparison key: the lifecycle
    /// normalizes what was typed before asking).
    async fn user_by_login(&self, key: &str) -> StoreResult<Option<User>>;
    /// The user with this id.
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// Replaces a user's password hash (after a re-hash on login, or a password change).
    async fn set_password_hash(&self, id: i64, hash: &str) -> StoreResult<()>;
    /// Replaces a user's roles.
    async fn set_roles(&self, id: i64, roles: &[String]) -> StoreResult<()>;
    /// The legacy hash schemes among the stored password hashes: the first 7 characters of
    /// each distinct bcrypt hash prefix (`$2b$12$`), so that password checks can cost the same
    /// for every account ([`Passwords::calibrate`](super::password::Passwords::calibrate)).
    /// Stores without legacy hashes may answer nothing.
    async fn password_schemes(&self) -> StoreResult<Vec<String>> {
        Ok(Vec::new())
    }
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

/// A refresh: what [`SessionStore::rotate`] is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rotate<'a> {
    /// SHA-256 (hex) of the presented refresh token.
    pub presented: &'a str,
    /// SHA-256 (hex) of the next refresh token, stored in the family when the presented one
    /// is live.
    pub next_hash: &'a str,
    /// The next token's idle lifetime, seconds (capped at the family's absolute expiry).
    pub idle_ttl: u64,
    /// How recently the presented token may have been used for a second presentation to be
    /// a concurrent duplicate ([`Rotation::Raced`]) rather than a reuse.
    pub reuse_grace: u64,
    /// On a reuse: until when the family's session revocation is kept (the last moment an
    /// access token of the family could still verify).
    pub session_until: u64,
    /// Now, Unix seconds.
    pub now: u64,
}

impl<'a> Rotate<'a> {
    /// A rotation request (the lifecycle makes these; stores read them).
    pub fn new(presented: &'a str, next_hash: &'a str, now: u64) -> Self {
        Self {
            presented,
            next_hash,
            idle_ttl: 24 * 3600,
            reuse_grace: 0,
            session_until: now,
            now,
        }
    }

    /// The next token's idle lifetime.
    #[must_use]
    pub fn with_idle_ttl(mut self, seconds: u64) -> Self {
        self.idle_ttl = seconds;
        self
    }

    /// The reuse grace.
    #[must_use]
    pub fn with_reuse_grace(mut self, seconds: u64) -> Self {
        self.reuse_grace = seconds;
        self
    }

    /// Until when a reuse's session revocation is kept.
    #[must_use]
    pub fn with_session_until(mut self, until: u64) -> Self {
        self.session_until = until;
        self
    }
}

/// The outcome of [`SessionStore::rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// The presented token was live: it is now used and the next one was stored in its family.
    Rotated {
        /// The family, for the new access token's `sid`.
        family: Family,
    },
    /// The presented token had been used already: the whole family is now revoked, and so
    /// are its access tokens (a session revocation, in the same transaction).
    Reused {
        /// The revoked family.
        family: Family,
        /// The revocations written with it (to apply locally and tell other instances).
        revoked: Vec<Revocation>,
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

/// What one revocation covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Revoked {
    /// One access token, by `jti`.
    Token {
        /// The `jti`.
        id: String,
    },
    /// Every access token of a session, by `sid` (the refresh family).
    Session {
        /// The `sid`.
        id: String,
    },
    /// Every access token of a subject issued at or before `mark` (logout-all).
    Subject {
        /// The `sub`.
        id: String,
        /// Tokens with `iat <= mark` (or no `iat`) are refused.
        mark: u64,
    },
}

/// One revocation as the durable store keeps it: what it covers, until when it matters, and
/// the sequence number of the transaction that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// What it covers.
    #[serde(flatten)]
    pub revoked: Revoked,
    /// The last moment a token it covers could still verify, Unix seconds; it can be
    /// forgotten after.
    pub until: u64,
    /// The sequence number of the write (0 until the store assigned one).
    pub seq: u64,
}

impl Revocation {
    /// A revocation of `revoked` until `until`, not yet written.
    pub fn new(revoked: Revoked, until: u64) -> Self {
        Self {
            revoked,
            until,
            seq: 0,
        }
    }

    /// Whether it refuses the token described by `query` at `now`.
    pub fn covers(&self, query: &RevocationQuery<'_>, now: u64) -> bool {
        if self.until <= now {
            return false;
        }
        match &self.revoked {
            Revoked::Token { id } => query.token_id == Some(id.as_str()),
            Revoked::Session { id } => query.session_id == Some(id.as_str()),
            Revoked::Subject { id, mark } => {
                query.subject == id && query.issued_at.is_none_or(|iat| iat <= *mark)
            }
        }
    }
}

/// What [`SessionStore::revoke`] is asked to revoke, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revoke<'a> {
    /// Refresh families to revoke; each one live is returned, and gets a session revocation
    /// until `session_until`.
    pub families: Families<'a>,
    /// Further revocations to write (an access token's `jti`, a subject mark).
    pub also: Vec<Revocation>,
    /// Until when the session revocations of revoked families are kept.
    pub session_until: u64,
    /// Now, Unix seconds.
    pub now: u64,
}

impl<'a> Revoke<'a> {
    /// A revocation of `families` at `now` (the lifecycle makes these; stores read them).
    pub fn new(families: Families<'a>, now: u64) -> Self {
        Self {
            families,
            also: Vec::new(),
            session_until: now,
            now,
        }
    }

    /// Also writes `revocation`.
    #[must_use]
    pub fn also(mut self, revocation: Revocation) -> Self {
        self.also.push(revocation);
        self
    }

    /// Until when the session revocations of revoked families are kept.
    #[must_use]
    pub fn with_session_until(mut self, until: u64) -> Self {
        self.session_until = until;
        self
    }
}

/// Which refresh families a [`Revoke`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Families<'a> {
    /// None.
    None,
    /// The family with this id.
    Id(&'a str),
    /// The family of the refresh token with this SHA-256 (hex).
    OfToken(&'a str),
    /// Every live family of this subject.
    OfSubject(&'a str),
}

/// What [`SessionStore::revoke`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevokeOutcome {
    /// The families that were live and are now revoked.
    pub families: Vec<Family>,
    /// Every revocation written (with its sequence number).
    pub revocations: Vec<Revocation>,
}

/// The revocations written after a sequence number: what a mirror catches up with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationLog {
    /// The revocations written after the sequence asked about that are still live, oldest
    /// first.
    pub entries: Vec<Revocation>,
    /// The store's sequence when it answered: every revocation up to it is in `entries` or
    /// was asked about before (or has expired).
    pub seq: u64,
}

/// What the request path asks about one access token.
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

/// What [`SessionStore::purge_expired`] and [`ThrottleStore::purge_expired`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Purged {
    /// Rows (or keys) deleted.
    pub rows: u64,
}

/// Sessions: refresh-token families with single-use tokens, and every revocation, durably.
/// See the [module docs](self).
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new family and its first token.
    async fn start_family(&self, family: &Family, first: &RefreshRecord) -> StoreResult<()>;

    /// Atomically: if the presented token is live (unused, unexpired, family live and
    /// unexpired), marks it used and stores the next one in its family (same family, expiry
    /// capped at the family's); if it was used before, revokes its family and writes the
    /// family's session revocation until `session_until`, in one transaction — unless it was
    /// used less than `reuse_grace` seconds ago ([`Rotation::Raced`]). Two concurrent calls
    /// with one token: exactly one [`Rotation::Rotated`].
    async fn rotate(&self, request: &Rotate<'_>) -> StoreResult<Rotation>;

    /// In one transaction: revokes the named families (each one live gets a session
    /// revocation until `session_until`) and writes the further revocations, all under the
    /// next sequence number. Idempotent: revoking again what is revoked changes nothing
    /// that matters (a revocation keeps the later `until`, a subject the later mark).
    async fn revoke(&self, request: &Revoke<'_>) -> StoreResult<RevokeOutcome>;

    /// The live revocations written after sequence number `after` (0: all of them), and the
    /// current sequence.
    async fn revocations_since(&self, after: u64, now: u64) -> StoreResult<RevocationLog>;

    /// Whether the store covers `query` at `now`, asked of the store itself.
    async fn is_revoked(&self, query: RevocationQuery<'_>, now: u64) -> StoreResult<bool>;

    /// Deletes what no longer matters at `now`: revocations past their `until`, families past
    /// their absolute expiry and their tokens, used refresh tokens whose reuse grace is over
    /// long ago. Nothing depends on it for correctness; run it now and then
    /// ([`TokenService::spawn_housekeeping`](super::TokenService::spawn_housekeeping)).
    async fn purge_expired(&self, now: u64) -> StoreResult<Purged>;

    /// Whether the store lives in this process (a [`MemoryStore`]): then the request path asks
    /// it directly, with no mirror.
    fn is_in_process(&self) -> bool {
        false
    }
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
    /// Deletes counters whose last failure is at or before `before`. Stores whose entries
    /// expire by themselves (Redis) need not do anything.
    async fn purge_expired(&self, before: u64) -> StoreResult<Purged> {
        let _ = before;
        Ok(Purged::default())
    }
}

/// What a [`Fanout`] subscription brings.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FanoutEvent {
    /// Revocations another instance has just committed (one transaction's worth).
    Revoked(Vec<Revocation>),
    /// As [`Revoked`](Self::Revoked), from a publisher that waits (bounded) until every
    /// instance has applied them: the receiver calls [`Ack::done`] once its mirror refuses
    /// them. Dropping the [`Ack`] unanswered tells the publisher nothing.
    RevokedAck(Vec<Revocation>, Ack),
    /// The subscription was (re)established: messages may have been missed since the last
    /// one, so the mirror catches up with the durable store now.
    Resubscribed,
    /// The subscription is lost (Redis down or frozen): until the next
    /// [`Resubscribed`](Self::Resubscribed), the mirror polls the durable store more often.
    Lost,
}

/// The receiver's half of a [`FanoutEvent::RevokedAck`]: say [`done`](Self::done) once the
/// revocations are applied, so that the publisher (a logout on another instance) can answer
/// knowing every live instance refuses the token.
///
/// ```
/// use authz_core::lifecycle::store::Ack;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (ack, applied) = Ack::new();
/// ack.done();
/// assert!(applied.await.is_ok());
/// # }
/// ```
#[derive(Debug)]
pub struct Ack(tokio::sync::oneshot::Sender<()>);

impl Ack {
    /// An acknowledgement and the receiver that learns of it (for [`Fanout`] implementations).
    #[must_use]
    pub fn new() -> (Self, tokio::sync::oneshot::Receiver<()>) {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        (Self(sender), receiver)
    }

    /// Says the revocations are applied.
    pub fn done(self) {
        let _ = self.0.send(());
    }
}

impl PartialEq for Ack {
    /// Acknowledgements carry no data: any two are equal (so that [`FanoutEvent`] stays
    /// comparable).
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Ack {}

/// Tells the other instances of an app about revocations as soon as they are committed, so
/// that their mirrors need not wait for their next poll of the durable store. Best effort by
/// design: a lost message costs at most one poll interval, never a revocation (the durable
/// store has it).
///
/// A logout answers after [`publish`](Self::publish) returns. An implementation that can
/// should return only once every live subscriber has applied the revocations (bounded in
/// time), delivering them as [`FanoutEvent::RevokedAck`]: then a token refused by the instance
/// that took the logout is refused by every other one too, even on a loaded machine where a
/// subscriber's task runs late. `RedisStore` does (see `RedisOptions::ack_wait`).
#[async_trait]
pub trait Fanout: Send + Sync + 'static {
    /// Publishes one transaction's revocations; see the trait's docs on waiting for the
    /// subscribers.
    async fn publish(&self, revocations: &[Revocation]) -> StoreResult<()>;
    /// Starts following what the other instances publish; the receiver gets
    /// [`FanoutEvent::Resubscribed`] first and after every reconnection, and
    /// [`FanoutEvent::Lost`] when the subscription breaks. It ends when the receiver is
    /// dropped.
    fn subscribe(&self) -> tokio::sync::mpsc::Receiver<FanoutEvent>;
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
