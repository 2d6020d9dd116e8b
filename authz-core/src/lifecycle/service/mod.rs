//! [`TokenService`]: issues, renews and revokes tokens on the stores.

mod accounts;
mod builder;
mod login;

pub use builder::TokenServiceBuilder;
pub use login::{LoginAttempt, LoginSuccess};

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::error::LifecycleError;
use super::password::{MAX_PASSWORD_BYTES, PasswordError, Passwords, Verified};
use super::revocation::{RevocationOptions, Revocations, bounded};
use super::store::{
    Families, Family, Fanout, MemoryStore, NewUser, RefreshRecord, Revocation, RevocationQuery,
    Revoke, Revoked, Rotate, Rotation, SessionStore, StoreResult, ThrottleStore, User, UserStore,
};
use super::throttle::{ThrottleKeys, Throttling};
use crate::clock::{Clock, SystemClock, unix_secs};
use crate::error::ConfigError;
use crate::key::SigningSource;
use crate::{ClaimPath, Issuer, Principal, Verifier, backend};

/// The `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "rt.";
const REFRESH_TOKEN_LEN: usize = 3 + 43;

/// The default bound of every store call on the request path.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(1);

/// The default longest wait for a password check when as many run as the machine has cores.
pub const DEFAULT_HASHING_WAIT: Duration = Duration::from_secs(2);

/// An access token and the refresh token that renews it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// The JWT to send as `Authorization: Bearer`.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The opaque, single-use refresh token.
    pub refresh_token: String,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Issues, renews and revokes tokens. Cheap to clone. See the [module docs](super).
#[derive(Clone)]
pub struct TokenService {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: Issuer,
    verifier: Verifier,
    passwords: Passwords,
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    throttle: Arc<dyn ThrottleStore>,
    revocations: Revocations,
    access_ttl: Duration,
    refresh_idle: Duration,
    refresh_absolute: Duration,
    reuse_grace: Duration,
    throttling: Throttling,
    store_timeout: Duration,
    clock: Arc<dyn Clock>,
    /// Bounds concurrent password hashing to the machine's cores (CPU, and argon2's 19 MiB
    /// each): a flood of logins waits up to `hashing_wait`, then gets "busy" (503).
    hashing: Arc<tokio::sync::Semaphore>,
    hashing_wait: Duration,
    /// Keys throttle counters and device tokens (HMAC-SHA256).
    secret: zeroize::Zeroizing<Vec<u8>>,
    /// Password checks calibrated to the stored schemes (once, before the first login).
    calibrated: tokio::sync::OnceCell<()>,
    issuer_name: Option<String>,
    audience_name: Option<String>,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("issuer", &self.inner.issuer)
            .field("access_ttl", &self.inner.access_ttl)
            .field("refresh_idle", &self.inner.refresh_idle)
            .field("refresh_absolute", &self.inner.refresh_absolute)
            .field("store_timeout", &self.inner.store_timeout)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// The verifier for this service's access tokens (`typ`, `iss`, `aud`, `iat`, `jti`
    /// checked). Give it to the AuthLayer.
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.inner.access_ttl
    }

    /// How long a refresh token stays usable without being used (each refresh starts the
    /// time again; the session's absolute lifetime still ends it). What a refresh cookie's
    /// `Max-Age` is.
    pub fn refresh_idle_ttl(&self) -> Duration {
        self.inner.refresh_idle
    }

    /// The user store.
    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.inner.users
    }

    /// The store timeout.
    pub fn store_timeout(&self) -> Duration {
        self.inner.store_timeout
    }

    fn now(&self) -> u64 {
        unix_secs(&*self.inner.clock)
    }

    /// A store call, bounded by the store timeout.
    async fn store<T>(
        &self,
        call: impl Future<Output = StoreResult<T>>,
    ) -> Result<T, LifecycleError> {
        bounded(self.inner.store_timeout, call)
            .await
            .map_err(LifecycleError::from)
    }

    /// Loads the revocation mirror before serving, so that the first requests need no round
    /// trip to the session store (they are answered correctly either way). Returns whether
    /// the mirror is synced; `true` at once for an in-process store.
    pub async fn load_revocations(&self) -> bool {
        self.inner.revocations.load().await
    }

    /// Whether the revocation mirror answers checks on its own right now (loaded, and caught
    /// up with the durable store recently).
    pub fn is_revocation_mirror_synced(&self) -> bool {
        self.inner.revocations.is_mirror_synced()
    }

    /// How long a session revocation must be kept: once its family is revoked, no new access
    /// token carries its `sid`, so the last one expires within the access lifetime (plus the
    /// largest leeway a verifier may allow).
    fn session_revoked_until(&self, now: u64) -> u64 {
        now.saturating_add(self.inner.access_ttl.as_secs())
            .saturating_add(60)
    }

    /// A password check (or hash) on a blocking thread, once one of the permits is free
    /// (within the hashing wait; "busy" otherwise).
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LifecycleError> {
        let permit = tokio::time::timeout(
            self.inner.hashing_wait,
            self.inner.hashing.clone().acquire_owned(),
        )
        .await
        .map_err(|_| LifecycleError::Busy)?
        .map_err(|_| LifecycleError::Busy)?;
        let result = tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|_| LifecycleError::Password(PasswordError::Hashing))?;
        Ok(result)
    }

    /// Whether `principal` is an access token this service issued (its issuer, audience and
    /// keys): the logout routes act only on those, not on tokens of another issuer the same
    /// AuthLayer happens to trust.
    pub fn issued(&self, principal: &Principal) -> bool {
        static AUD: LazyLock<ClaimPath> = LazyLock::new(|| ClaimPath::new("aud"));
        let issuer_ok = match &self.inner.issuer_name {
            Some(iss) => principal.issuer() == Some(iss.as_str()),
            None => true,
        };
        let audience_ok = match &self.inner.audience_name {
            Some(aud) => match principal.claim(&AUD) {
                Some(serde_json::Value::String(a)) => a == *aud,
                Some(serde_json::Value::Array(all)) => all.iter().any(|a| a == aud.as_str()),
                _ => false,
            },
            None => true,
        };
        let key_ok = self.inner.verifier.keys().is_some_and(|keys| {
            keys.keys().iter().any(|key| {
                key.algorithm() == principal.algorithm() && key.kid() == principal.key_id()
            })
        });
        issuer_ok && audience_ok && key_ok
    }

    /// Starts a session for a user the app has authenticated some other way (a social login,
    /// a magic link): a new refresh family and its first pair.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Store`], [`LifecycleError::Signing`].
    pub async fn start_session(&self, user: &User, now: u64) -> Result<TokenPair, LifecycleError> {
        let family = Family {
            id: random_id(16)?,
            subject: user.id.to_string(),
            created_at: now,
            expires_at: now.saturating_add(self.inner.refresh_absolute.as_secs()),
        };
        let refresh_token = new_refresh_token()?;
        let record = RefreshRecord {
            hash: hash_token(&refresh_token),
            family: family.id.clone(),
            issued_at: now,
            expires_at: now
                .saturating_add(self.inner.refresh_idle.as_secs())
                .min(family.expires_at),
        };
        self.store(self.inner.sessions.start_family(&family, &record))
            .await?;
        let access_token = self.access_token(user, &family.id)?;
        Ok(TokenPair {
            access_token,
            expires_in: self.inner.access_ttl.as_secs(),
            refresh_token,
        })
    }

    fn access_token(&self, user: &User, session_id: &str) -> Result<String, LifecycleError> {
        let mut claims = json!({
            "sub": user.id.to_string(),
            "preferred_username": user.username,
            "sid": session_id,
            "roles": user.roles,
        });
        if !user.scopes.is_empty()
            && let Some(map) = claims.as_object_mut()
        {
            map.insert("scope".into(), user.scopes.join(" ").into());
        }
        self.inner
            .issuer
            .issue(&claims)
            .map_err(|_| LifecycleError::Signing)
    }

    /// An access token for a client acting on its own behalf (the OAuth 2.0
    /// client-credentials grant, RFC 6749 §4.4, once the client has authenticated — with a
    /// client assertion, say): `sub` and `client_id` are the client, `scope` the scopes
    /// granted. No refresh token (§4.4.3) and no session: it is revoked by `jti`
    /// ([`revoke`](Self::revoke)) and expires with the access-token lifetime.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::InvalidInput`] for an empty client id; [`LifecycleError::Signing`].
    pub fn client_token(
        &self,
        client_id: &str,
        scopes: &[String],
    ) -> Result<TokenPair, LifecycleError> {
        if client_id.is_empty() || client_id.len() > 256 {
            return Err(LifecycleError::InvalidInput(
                "the client id is empty or too long".into(),
            ));
        }
        let mut claims = json!({"sub": client_id, "client_id": client_id});
        if !scopes.is_empty()
            && let Some(map) = claims.as_object_mut()
        {
            map.insert("scope".into(), scopes.join(" ").into());
        }
        let access_token = self
            .inner
            .issuer
            .issue(&claims)
            .map_err(|_| LifecycleError::Signing)?;
        Ok(TokenPair {
            access_token,
            expires_in: self.inner.access_ttl.as_secs(),
            refresh_token: String::new(),
        })
    }

    /// Exchanges a refresh token for a new pair, retiring it. Presenting a retired token
    /// revokes its whole family (refresh tokens and access tokens alike, in one transaction).
    ///
    /// # Errors
    ///
    /// [`LifecycleError::InvalidRefreshToken`] (unknown, malformed, expired, revoked, or the
    /// user is gone); [`LifecycleError::RefreshTokenReused`]; [`LifecycleError::Store`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, LifecycleError> {
        if !looks_like_refresh_token(refresh_token) {
            return Err(LifecycleError::InvalidRefreshToken);
        }
        let now = self.now();
        let next = new_refresh_token()?;
        let (presented, next_hash) = (hash_token(refresh_token), hash_token(&next));
        let request = Rotate::new(&presented, &next_hash, now)
            .with_idle_ttl(self.inner.refresh_idle.as_secs())
            .with_reuse_grace(self.inner.reuse_grace.as_secs())
            .with_session_until(self.session_revoked_until(now));
        let rotation = self.store(self.inner.sessions.rotate(&request)).await?;
        let family = match rotation {
            Rotation::Rotated { family } => family,
            Rotation::Reused { revoked, .. } => {
                self.inner.revocations.written(&revoked).await;
                return Err(LifecycleError::RefreshTokenReused);
            }
            _ => return Err(LifecycleError::InvalidRefreshToken),
        };
        let user = match family.subject.parse::<i64>() {
            Ok(id) => self.store(self.inner.users.user_by_id(id)).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            self.revoke_durably(Revoke::new(Families::Id(&family.id), now))
                .await?;
            return Err(LifecycleError::InvalidRefreshToken);
        };
        Ok(TokenPair {
            access_token: self.access_token(&user, &family.id)?,
            expires_in: self.inner.access_ttl.as_secs(),
            refresh_token: next,
        })
    }

    /// One durable revocation: the families and revocations of `request`, in one store
    /// transaction; then applied here and told to the other instances.
    async fn revoke_durably(&self, request: Revoke<'_>) -> Result<Vec<Family>, LifecycleError> {
        let until = self.session_revoked_until(request.now);
        let request = request.with_session_until(until);
        let outcome = self.store(self.inner.sessions.revoke(&request)).await?;
        self.inner.revocations.written(&outcome.revocations).await;
        Ok(outcome.families)
    }

    /// The revocation of one access token by `jti`, until it expires.
    fn token_revocation(principal: &Principal) -> Option<Revocation> {
        let (jti, exp) = (principal.token_id()?, principal.expires_at()?);
        Some(Revocation::new(
            Revoked::Token { id: jti.to_owned() },
            exp.ceil() as u64 + 60,
        ))
    }

    /// RFC 7009 revocation: a refresh token revokes its family (and the family's access
    /// tokens); an access token of this service is revoked by `jti` until it expires. Unknown
    /// or invalid tokens are ignored, as §2.2 asks.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Store`] only: then nothing changed, and retrying is safe.
    pub async fn revoke(&self, token: &str) -> Result<(), LifecycleError> {
        let now = self.now();
        if looks_like_refresh_token(token) {
            let hash = hash_token(token);
            self.revoke_durably(Revoke::new(Families::OfToken(&hash), now))
                .await?;
            return Ok(());
        }
        let Ok(principal) = self.inner.verifier.verify(token) else {
            return Ok(());
        };
        if let Some(revocation) = Self::token_revocation(&principal) {
            self.revoke_durably(Revoke::new(Families::None, now).also(revocation))
                .await?;
        }
        Ok(())
    }

    /// Logout: the access token (by `jti`) and its refresh family (by `sid`, with every
    /// access token of the family) stop working — in one store transaction.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Store`]: then nothing changed, and retrying is safe. `Ok` means the
    /// logout is durable.
    pub async fn logout(&self, principal: &Principal) -> Result<(), LifecycleError> {
        let now = self.now();
        let sid = session_id(principal);
        let families = sid.as_deref().map_or(Families::None, Families::Id);
        let mut request = Revoke::new(families, now);
        if let Some(revocation) = Self::token_revocation(principal) {
            request = request.also(revocation);
        }
        if let Some(sid) = &sid {
            // Even when the family was revoked before (or is not ours to find), its access
            // tokens must stop: the session revocation is written either way.
            request = request.also(Revocation::new(
                Revoked::Session { id: sid.clone() },
                self.session_revoked_until(now),
            ));
        }
        self.revoke_durably(request).await?;
        Ok(())
    }

    /// Logout everywhere: every refresh family of `subject` is revoked, and every access
    /// token issued to it until now stops working — in one store transaction.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Store`]: then nothing changed, and retrying is safe.
    pub async fn logout_all(&self, subject: &str) -> Result<(), LifecycleError> {
        let now = self.now();
        // Tokens issued in the same second as the mark but after it are new logins, with
        // new families: the mark refuses `iat < now`, the sessions cover the rest.
        let until = now
            .saturating_add(self.inner.access_ttl.as_secs())
            .saturating_add(120);
        let mark = Revocation::new(
            Revoked::Subject {
                id: subject.to_owned(),
                mark: now.saturating_sub(1),
            },
            until,
        );
        self.revoke_durably(Revoke::new(Families::OfSubject(subject), now).also(mark))
            .await?;
        Ok(())
    }

    /// Whether a verified access token has been revoked (by `jti`, by its session, or by a
    /// logout-all of its subject). The AuthLayer's revocation hook calls this.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Store`] when neither the mirror nor the session store can answer
    /// (the request path answers 503: neither "revoked" nor "not revoked").
    pub async fn is_revoked(&self, principal: &Principal) -> Result<bool, LifecycleError> {
        let sid = session_id(principal);
        let query = RevocationQuery {
            subject: principal.subject(),
            token_id: principal.token_id(),
            session_id: sid.as_deref(),
            issued_at: principal.issued_at().map(|iat| iat.floor() as u64),
        };
        Ok(self.inner.revocations.check(query).await?)
    }

    /// Deletes what no longer matters: expired revocations, families and their refresh
    /// tokens, used refresh tokens past their expiry, throttle counters older than the
    /// throttling window. Returns the number of rows deleted.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Store`].
    pub async fn purge_expired(&self) -> Result<u64, LifecycleError> {
        let now = self.now();
        let sessions = self.store(self.inner.sessions.purge_expired(now)).await?;
        let window = self.inner.throttling.window.as_secs();
        let throttle = self
            .store(
                self.inner
                    .throttle
                    .purge_expired(now.saturating_sub(window)),
            )
            .await?;
        Ok(sessions.rows + throttle.rows)
    }

    /// Runs [`purge_expired`](Self::purge_expired) every `every`, in the background, until
    /// the service is dropped (one call at start; the examples do). Failures are logged and
    /// retried at the next round.
    pub fn spawn_housekeeping(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let service: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = every.max(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = service.upgrade() else {
                    return;
                };
                let service = TokenService { inner };
                match service.purge_expired().await {
                    Ok(rows) => {
                        tracing::debug!(target: "authz_core::store", rows, "purged expired rows");
                    }
                    Err(error) => {
                        tracing::warn!(target: "authz_core::store", %error, "purge failed; retrying at the next round");
                    }
                }
            }
        })
    }
}

/// A password on its way to a blocking thread, wiped when dropped.
struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

fn random_id(bytes: usize) -> Result<String, LifecycleError> {
    backend::random_b64url(bytes).map_err(|_| LifecycleError::Signing)
}

fn new_refresh_token() -> Result<String, LifecycleError> {
    Ok(format!("{REFRESH_TOKEN_PREFIX}{}", random_id(32)?))
}

/// Whether `token` has the shape of our refresh tokens (prefix, length, base64url).
pub fn looks_like_refresh_token(token: &str) -> bool {
    token.len() == REFRESH_TOKEN_LEN
        && token.starts_with(REFRESH_TOKEN_PREFIX)
        && token[REFRESH_TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// SHA-256 of a refresh token, lowercase hex: what the stores keep.
pub(crate) fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The `sid` claim of an access token: its refresh family.
fn session_id(principal: &Principal) -> Option<String> {
    static SID: LazyLock<ClaimPath> = LazyLock::new(|| ClaimPath::new("sid"));
    match principal.claim(&SID)? {
        serde_json::Value::String(sid) => Some(sid),
        _ => None,
    }
}
