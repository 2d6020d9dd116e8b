//! [`TokenService`]: issues, renews and revokes tokens on the stores.

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

/// One login attempt: what [`TokenService::login_with`] checks.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct LoginAttempt<'a> {
    /// The username or email, as typed.
    pub login: &'a str,
    /// The password.
    pub password: &'a str,
    /// The caller's address (behind trusted proxies, the client's), for throttling.
    pub client: Option<IpAddr>,
    /// The device token a previous successful login gave this client, if it has one.
    pub device: Option<&'a str>,
}

impl<'a> LoginAttempt<'a> {
    /// An attempt with a login and a password.
    pub fn new(login: &'a str, password: &'a str) -> Self {
        Self {
            login,
            password,
            client: None,
            device: None,
        }
    }

    /// From this client address.
    #[must_use]
    pub fn from_client(mut self, client: Option<IpAddr>) -> Self {
        self.client = client;
        self
    }

    /// With this device token.
    #[must_use]
    pub fn with_device(mut self, device: Option<&'a str>) -> Self {
        self.device = device;
        self
    }
}

impl fmt::Debug for LoginAttempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("client", &self.client)
            .field("device", &self.device.is_some())
            .finish_non_exhaustive()
    }
}

/// A successful login: the token pair, and the device token for the client to keep.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginSuccess {
    /// The access and refresh tokens.
    pub pair: TokenPair,
    /// Proof that this client logged in to the account (`HttpOnly` cookie material).
    pub device: String,
}

impl fmt::Debug for LoginSuccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginSuccess").finish_non_exhaustive()
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

/// Builds a [`TokenService`]; from [`TokenService::builder`].
#[must_use]
pub struct TokenServiceBuilder {
    key: SigningSource,
    issuer: Option<String>,
    audience: Option<String>,
    passwords: Option<Passwords>,
    users: Option<Arc<dyn UserStore>>,
    sessions: Option<Arc<dyn SessionStore>>,
    throttle: Option<Arc<dyn ThrottleStore>>,
    fanout: Option<Arc<dyn Fanout>>,
    access_ttl: Duration,
    refresh_idle: Duration,
    refresh_absolute: Duration,
    reuse_grace: Duration,
    throttling: Throttling,
    store_timeout: Duration,
    revocation_options: RevocationOptions,
    hashing_permits: usize,
    hashing_wait: Duration,
    secret: Option<zeroize::Zeroizing<Vec<u8>>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for TokenServiceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenServiceBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenServiceBuilder {
    /// `iss` of access tokens, checked by [`TokenService::verifier`].
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// `aud` of access tokens, checked by [`TokenService::verifier`].
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Access-token lifetime.
    ///
    /// Defaults to 5 minutes.
    pub fn with_access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Refresh-token idle expiry: a refresh token not used within it dies.
    ///
    /// Defaults to 1 day.
    pub fn with_refresh_idle_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_idle = ttl;
        self
    }

    /// Refresh-family absolute expiry: no refresh after it, counted from login.
    ///
    /// Defaults to 14 days.
    pub fn with_refresh_absolute_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_absolute = ttl;
        self
    }

    /// How recently a refresh token may have been used for a second presentation to count
    /// as a concurrent duplicate (two tabs refreshing at once: refused, family kept) rather
    /// than a reuse (family revoked). `Duration::ZERO` for strict.
    ///
    /// Defaults to 2 seconds.
    pub fn with_refresh_reuse_grace(mut self, grace: Duration) -> Self {
        self.reuse_grace = grace;
        self
    }

    /// The password hasher.
    ///
    /// Defaults to [`Passwords::new`] (argon2id, OWASP parameters).
    pub fn with_passwords(mut self, passwords: Passwords) -> Self {
        self.passwords = Some(passwords);
        self
    }

    /// The user store.
    ///
    /// Defaults to a [`MemoryStore`].
    pub fn with_user_store(mut self, store: Arc<dyn UserStore>) -> Self {
        self.users = Some(store);
        self
    }

    /// The session store: refresh families and every revocation, durably (an `SqlStore`
    /// for an app whose revocations must survive restarts).
    ///
    /// Defaults to a [`MemoryStore`]: sessions and revocations die with the process.
    pub fn with_session_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.sessions = Some(store);
        self
    }

    /// The throttling store (Redis, for several instances).
    ///
    /// Defaults to a [`MemoryStore`].
    pub fn with_throttle_store(mut self, store: Arc<dyn ThrottleStore>) -> Self {
        self.throttle = Some(store);
        self
    }

    /// One value for the user, session and throttle stores (a [`MemoryStore`] or an
    /// `SqlStore`).
    pub fn with_store<S>(self, store: Arc<S>) -> Self
    where
        S: UserStore + SessionStore + ThrottleStore,
    {
        self.with_user_store(store.clone())
            .with_session_store(store.clone())
            .with_throttle_store(store)
    }

    /// Tells the other instances about revocations as they happen (Redis pub/sub, with the
    /// `redis` feature), so that they refuse a revoked token within milliseconds instead of
    /// at their next poll.
    ///
    /// Defaults to none.
    pub fn with_fanout(mut self, fanout: Arc<dyn Fanout>) -> Self {
        self.fanout = Some(fanout);
        self
    }

    /// The throttling rules.
    ///
    /// Defaults to [`Throttling::default`].
    pub fn with_throttling(mut self, throttling: Throttling) -> Self {
        self.throttling = throttling;
        self
    }

    /// The bound of every store call (and of each wait for the revocation fan-out): past
    /// it the call fails as unavailable (503), nothing changed.
    ///
    /// Defaults to [`DEFAULT_STORE_TIMEOUT`] (1 s).
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How the revocation mirror polls the durable store and how long it answers on its own.
    ///
    /// Defaults to [`RevocationOptions::default`] (1 s, 30 s).
    pub fn with_revocation_options(mut self, options: RevocationOptions) -> Self {
        self.revocation_options = options;
        self
    }

    /// How many password checks run at once, and how long a login waits for its turn
    /// before it gets "busy" (503).
    ///
    /// Defaults to the number of cores and [`DEFAULT_HASHING_WAIT`] (2 s).
    pub fn with_hashing_limits(mut self, permits: usize, wait: Duration) -> Self {
        self.hashing_permits = permits.max(1);
        self.hashing_wait = wait;
        self
    }

    /// The secret that keys throttle counters (no row holds a name someone typed) and signs
    /// device tokens: at least 32 bytes, the same on every instance that shares a throttle
    /// store.
    ///
    /// Defaults to a random secret made at build: right for one process; with several
    /// instances, counters of unknown names and device tokens are then per instance.
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) fails for a secret shorter than 32 bytes.
    pub fn with_secret(mut self, secret: &[u8]) -> Self {
        self.secret = Some(zeroize::Zeroizing::new(secret.to_vec()));
        self
    }

    /// The clock for issuing, verifying, expiry and every store that compares times.
    ///
    /// Defaults to [`SystemClock`].
    pub fn with_clock(mut self, clock: impl Clock + Clone) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the service and its access-token verifier.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] if a lifetime is zero, the absolute refresh lifetime is
    /// shorter than the idle one, or the service secret is under 32 bytes;
    /// [`ConfigError::Key`] if the random source fails.
    pub fn build(self) -> Result<TokenService, ConfigError> {
        if self.access_ttl.is_zero() {
            return Err(ConfigError::invalid("access_ttl", "must not be zero"));
        }
        if self.refresh_idle.is_zero() {
            return Err(ConfigError::invalid("refresh_idle_ttl", "must not be zero"));
        }
        if self.refresh_absolute < self.refresh_idle {
            return Err(ConfigError::invalid(
                "refresh_absolute_ttl",
                "must be at least the idle refresh lifetime",
            ));
        }
        let clock = self.clock.clone();
        let (issuer, verifier) = (
            Issuer::new(self.key.clone()),
            Verifier::builder(self.key.verifying()),
        );
        let mut issuer = issuer
            .with_typ(ACCESS_TOKEN_TYP)
            .with_ttl(self.access_ttl)
            .with_clock(clock.clone());
        let mut verifier = verifier
            .with_typ(ACCESS_TOKEN_TYP)
            .with_required_claims(["iat", "jti"])
            .with_clock(clock);
        if let Some(iss) = &self.issuer {
            issuer = issuer.with_issuer(iss.clone());
            verifier = verifier.with_issuer(iss.clone());
        }
        match &self.audience {
            Some(aud) => {
                issuer = issuer.with_audience(aud.clone());
                verifier = verifier.with_audience(aud.clone());
            }
            None => verifier = verifier.insecure_accept_any_audience(),
        }
        let secret = match self.secret {
            Some(secret) if secret.len() < 32 => {
                return Err(ConfigError::invalid("secret", "must be at least 32 bytes"));
            }
            Some(secret) => secret,
            None => {
                let mut secret = zeroize::Zeroizing::new(vec![0u8; 32]);
                backend::random_bytes(&mut secret)?;
                secret
            }
        };
        let memory = Arc::new(MemoryStore::new());
        let sessions: Arc<dyn SessionStore> = self.sessions.unwrap_or_else(|| memory.clone());
        let revocations = Revocations::new(
            sessions.clone(),
            self.fanout,
            self.store_timeout,
            self.revocation_options,
            self.clock.clone(),
        );
        Ok(TokenService {
            inner: Arc::new(Inner {
                issuer,
                verifier: verifier.build()?,
                passwords: self.passwords.unwrap_or_default(),
                users: self.users.unwrap_or_else(|| memory.clone()),
                sessions,
                throttle: self.throttle.unwrap_or(memory),
                revocations,
                access_ttl: self.access_ttl,
                refresh_idle: self.refresh_idle,
                refresh_absolute: self.refresh_absolute,
                reuse_grace: self.reuse_grace,
                throttling: self.throttling,
                store_timeout: self.store_timeout,
                clock: self.clock,
                hashing: Arc::new(tokio::sync::Semaphore::new(self.hashing_permits)),
                hashing_wait: self.hashing_wait,
                secret,
                calibrated: tokio::sync::OnceCell::new(),
                issuer_name: self.issuer,
                audience_name: self.audience,
            }),
        })
    }
}

impl TokenService {
    /// A builder for a service that signs access tokens with `key` and verifies them with its
    /// public half: a [`SigningKey`](crate::SigningKey), or a [`KeyRing`](crate::key::KeyRing), which signs with
    /// its current key and verifies with every key it publishes (rotate keys without a
    /// restart). Every store defaults to one [`MemoryStore`].
    pub fn builder(key: impl Into<SigningSource>) -> TokenServiceBuilder {
        TokenServiceBuilder {
            key: key.into(),
            issuer: None,
            audience: None,
            passwords: None,
            users: None,
            sessions: None,
            throttle: None,
            fanout: None,
            access_ttl: crate::issue::DEFAULT_TTL,
            refresh_idle: Duration::from_secs(24 * 3600),
            refresh_absolute: Duration::from_secs(14 * 24 * 3600),
            reuse_grace: Duration::from_secs(2),
            throttling: Throttling::default(),
            store_timeout: DEFAULT_STORE_TIMEOUT,
            revocation_options: RevocationOptions::default(),
            hashing_permits: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hashing_wait: DEFAULT_HASHING_WAIT,
            secret: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// A builder for a service that signs with the current key of `ring`.
    #[deprecated(
        since = "0.2.0",
        note = "use `TokenService::builder(ring)`: it takes any `SigningSource`"
    )]
    #[doc(hidden)]
    pub fn builder_with_ring(ring: crate::key::KeyRing) -> TokenServiceBuilder {
        Self::builder(ring)
    }

    /// The verifier for this service's access tokens (`typ`, `iss`, `aud`, `iat`, `jti`
    /// checked). Give it to the AuthLayer.
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.inner.access_ttl
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

    /// Creates a user with an argon2id hash of `password` (hashed on a blocking thread); as
    /// [`register_from`](Self::register_from) without a client address (no registration
    /// throttle).
    ///
    /// # Errors
    ///
    /// As [`register_from`](Self::register_from).
    pub async fn register(
        &self,
        username: &str,
        email: Option<&str>,
        password: &str,
        roles: &[&str],
    ) -> Result<User, LifecycleError> {
        self.register_from(None, username, email, password, roles)
            .await
    }

    /// Creates a user with an argon2id hash of `password`, for a caller at `client`.
    ///
    /// - `username`: 1 to [`MAX_USERNAME_CHARS`](super::MAX_USERNAME_CHARS) characters, no
    ///   control, whitespace, default-ignorable or bidirectional-control character; unique by
    ///   its comparison key (`Alice` and `ａｌｉｃｅ` are one name). `email`, if given: at most
    ///   254 bytes with an `@`, unique the same way.
    /// - `password`: the password policy ([`Passwords::hash`]).
    /// - Cheap checks first: the input, the registration throttle (per client address), then
    ///   whether the name or email is taken — a taken name answers 409 without hashing, so
    ///   registrations of a taken name cost the server nothing.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::InvalidInput`], [`LifecycleError::Password`],
    /// [`LifecycleError::Throttled`], [`LifecycleError::Conflict`] (even under concurrent
    /// registration of one name: one wins), [`LifecycleError::Store`],
    /// [`LifecycleError::Busy`].
    pub async fn register_from(
        &self,
        client: Option<IpAddr>,
        username: &str,
        email: Option<&str>,
        password: &str,
        roles: &[&str],
    ) -> Result<User, LifecycleError> {
        let login_key = validate_username(username)?;
        let email = email.map(validate_email).transpose()?;
        // Logins look up usernames before emails: a username that looks like an address must
        // be the account's own email, or it could shadow another user's email login.
        if username.contains('@') && email.as_deref() != Some(login_key.as_str()) {
            return Err(LifecycleError::InvalidInput(
                "a username with @ must be the account's own email".into(),
            ));
        }
        super::password::check_password(password).map_err(LifecycleError::Password)?;
        let now = self.now();
        if let Some(client) = client {
            let rules = &self.inner.throttling;
            let key = format!("r:{}", super::throttle::address_group(client));
            let window = rules.registration_window.as_secs();
            let failures = self
                .store(self.inner.throttle.record_failure(&key, window, now))
                .await?;
            let wait = rules.registration.retry_after(
                failures.count.saturating_sub(1),
                failures.last,
                now,
            );
            if wait > 0 {
                return Err(LifecycleError::Throttled { retry_after: wait });
            }
        }
        for key in std::iter::once(&login_key).chain(email.as_ref()) {
            if self
                .store(self.inner.users.user_by_login(key))
                .await?
                .is_some()
            {
                return Err(LifecycleError::Conflict);
            }
        }
        let hash = self.hash_password(password).await?;
        let user = NewUser {
            username: username.to_owned(),
            login_key,
            email,
            password_hash: hash,
            roles: roles.iter().map(|&role| role.to_owned()).collect(),
            scopes: Vec::new(),
        };
        self.store(self.inner.users.create_user(user, now)).await
    }

    /// Sets a user's password (an operator's reset, a password change), after the password
    /// policy.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Password`], [`LifecycleError::Store`], [`LifecycleError::Busy`].
    pub async fn set_password(&self, user_id: i64, password: &str) -> Result<(), LifecycleError> {
        let hash = self.hash_password(password).await?;
        self.store(self.inner.users.set_password_hash(user_id, &hash))
            .await
    }

    /// The argon2id hash of `password`, after the policy, on a blocking thread.
    async fn hash_password(&self, password: &str) -> Result<String, LifecycleError> {
        let passwords = self.inner.passwords.clone();
        let password = Secret(password.to_owned());
        self.hashing(move || passwords.hash(&password.0))
            .await?
            .map_err(LifecycleError::Password)
    }

    /// The user whose **username** is `name`, compared by key (`Alice` finds `alice`), never by
    /// email: what an operator's list of admins names.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Store`].
    pub async fn find_username(&self, name: &str) -> Result<Option<User>, LifecycleError> {
        let Some(key) = super::identity::lookup_key(name) else {
            return Ok(None);
        };
        let user = self.store(self.inner.users.user_by_login(&key)).await?;
        Ok(user.filter(|user| super::identity::lookup_key(&user.username).as_ref() == Some(&key)))
    }

    /// The user whose username or email is `login`, compared by key (as a login does).
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Store`].
    pub async fn find_user(&self, login: &str) -> Result<Option<User>, LifecycleError> {
        let Some(key) = super::identity::lookup_key(login) else {
            return Ok(None);
        };
        self.store(self.inner.users.user_by_login(&key)).await
    }

    /// Checks a username (or email) and password and returns a new token pair; as
    /// [`login_with`](Self::login_with) without a device token.
    ///
    /// # Errors
    ///
    /// As [`login_with`](Self::login_with).
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<TokenPair, LifecycleError> {
        let attempt = LoginAttempt {
            login,
            password,
            client,
            device: None,
        };
        Ok(self.login_with(&attempt).await?.pair)
    }

    /// Checks a username (or email) and password and returns a new token pair, and a device
    /// token for the client to keep (a browser, as an `HttpOnly` cookie) and present at its
    /// next logins: with it, that client is not held by the account-wide throttling rule, so
    /// that strangers failing logins cannot lock the account's owner out (see [`Throttling`]).
    ///
    /// Every attempt costs the same whether the name has an account, which password scheme
    /// its hash uses, or whether the password is right ([`Passwords::verify`]).
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Throttled`] when a throttling rule says wait (checked before the
    /// password); [`LifecycleError::InvalidCredentials`] for an unknown user or a wrong
    /// password, at the same cost; [`LifecycleError::Store`], [`LifecycleError::Busy`],
    /// [`LifecycleError::Signing`].
    pub async fn login_with(
        &self,
        attempt: &LoginAttempt<'_>,
    ) -> Result<LoginSuccess, LifecycleError> {
        let LoginAttempt {
            login,
            password,
            client,
            device,
        } = *attempt;
        if login.is_empty() || login.len() > 254 || password.len() > MAX_PASSWORD_BYTES {
            return Err(LifecycleError::InvalidCredentials);
        }
        let now = self.now();
        self.calibrate().await?;
        // The address alone first: a throttled address costs no lookup.
        let address_only = ThrottleKeys {
            account_and_client: None,
            client: client.map(|ip| format!("c:{}", super::throttle::address_group(ip))),
            account: None,
            device: None,
        };
        self.check_throttle(&address_only, now).await?;
        let key = super::identity::lookup_key(login);
        let user = match &key {
            Some(key) => self.store(self.inner.users.user_by_login(key)).await?,
            None => None,
        };
        let account = match &user {
            Some(user) => format!("u:{}", user.id),
            None => format!(
                "n:{}",
                self.keyed_hash("name", key.as_deref().unwrap_or(login))
            ),
        };
        let device_id = device.and_then(|token| self.device_id(token, user.as_ref()?.id));
        let keys = ThrottleKeys::new(&account, client, device_id.as_deref());
        self.check_throttle(&keys, now).await?;

        let passwords = self.inner.passwords.clone();
        let stored = user.as_ref().map(|user| user.password_hash.clone());
        let password = Secret(password.to_owned());
        let verified = self
            .hashing(move || passwords.verify(&password.0, stored.as_deref()))
            .await?;
        let (user, rehash) = match (user, verified) {
            (Some(user), Verified::Valid { rehash }) => (user, rehash),
            _ => {
                self.record_failure(&keys, now).await?;
                return Err(LifecycleError::InvalidCredentials);
            }
        };
        // The owner is in: the account's counters start again (from anywhere).
        let all = ThrottleKeys::new(&account, client, None);
        for key in [&all.account_and_client, &all.account, &keys.device]
            .into_iter()
            .flatten()
        {
            self.store(self.inner.throttle.clear(key)).await?;
        }
        if let Some(hash) = rehash {
            self.store(self.inner.users.set_password_hash(user.id, &hash))
                .await?;
        }
        let pair = self.start_session(&user, now).await?;
        Ok(LoginSuccess {
            pair,
            device: self.device_token(user.id)?,
        })
    }

    /// Learns the stored password schemes before the first check (once).
    async fn calibrate(&self) -> Result<(), LifecycleError> {
        self.inner
            .calibrated
            .get_or_try_init(|| async {
                let schemes = self.store(self.inner.users.password_schemes()).await?;
                self.inner.passwords.calibrate(&schemes);
                Ok::<(), LifecycleError>(())
            })
            .await?;
        Ok(())
    }

    /// HMAC-SHA256 of `value` under the service secret, in the context `purpose`, hex (128
    /// bits): what throttle keys use instead of names.
    fn keyed_hash(&self, purpose: &str, value: &str) -> String {
        let mac = self.mac(purpose, value.as_bytes());
        mac[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(&self, purpose: &str, value: &[u8]) -> [u8; 32] {
        use hmac::Mac as _;
        let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(&self.inner.secret) else {
            // HMAC takes keys of every length: this cannot happen.
            return [0; 32];
        };
        mac.update(b"authz-");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    /// A device token for `user_id`: `<nonce>.<mac>`, both base64url.
    fn device_token(&self, user_id: i64) -> Result<String, LifecycleError> {
        let nonce = random_id(16)?;
        let mac = self.mac("device", format!("{user_id}.{nonce}").as_bytes());
        Ok(format!(
            "{nonce}.{}",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, mac)
        ))
    }

    /// The device id of `token` when it is a valid device token for `user_id`.
    fn device_id(&self, token: &str, user_id: i64) -> Option<String> {
        let (nonce, mac) = token.split_once('.')?;
        if nonce.len() > 64 || mac.len() > 64 {
            return None;
        }
        let given =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, mac).ok()?;
        let expected = self.mac("device", format!("{user_id}.{nonce}").as_bytes());
        let same: bool = subtle::ConstantTimeEq::ct_eq(&given[..], &expected[..]).into();
        same.then(|| nonce.to_owned())
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

    async fn check_throttle(&self, keys: &ThrottleKeys, now: u64) -> Result<(), LifecycleError> {
        let window = self.inner.throttling.window.as_secs();
        let mut wait = 0;
        for (key, rule) in keys.with_rules(&self.inner.throttling) {
            if let Some(failures) = self
                .store(self.inner.throttle.failures(key, window, now))
                .await?
            {
                wait = wait.max(rule.retry_after(failures.count, failures.last, now));
            }
        }
        if wait > 0 {
            return Err(LifecycleError::Throttled { retry_after: wait });
        }
        Ok(())
    }

    async fn record_failure(&self, keys: &ThrottleKeys, now: u64) -> Result<(), LifecycleError> {
        let window = self.inner.throttling.window.as_secs();
        for (key, _) in keys.with_rules(&self.inner.throttling) {
            self.store(self.inner.throttle.record_failure(key, window, now))
                .await?;
        }
        Ok(())
    }
}

/// A password on its way to a blocking thread, wiped when dropped.
struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// The login key of a new username, or why it is refused.
fn validate_username(username: &str) -> Result<String, LifecycleError> {
    use super::identity::{MAX_USERNAME_CHARS, NameError, login_key, single_script};
    match login_key(username, MAX_USERNAME_CHARS) {
        Ok(_) if !single_script(username) => Err(LifecycleError::InvalidInput(
            "username must be written in one script (not Latin mixed with Cyrillic, say)".into(),
        )),
        Ok(key) => Ok(key),
        Err(NameError::Length) => Err(LifecycleError::InvalidInput(format!(
            "username must be 1 to {MAX_USERNAME_CHARS} characters"
        ))),
        Err(NameError::Hidden) => Err(LifecycleError::InvalidInput(
            "username must not contain whitespace, control, invisible or direction-changing \
             characters"
                .into(),
        )),
    }
}

/// The comparison key of a new email, or why it is refused.
fn validate_email(email: &str) -> Result<String, LifecycleError> {
    let shaped = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    match super::identity::login_key(email, 254) {
        Ok(key) if shaped => Ok(key),
        _ => Err(LifecycleError::InvalidInput(
            "email must be an address like name@example.com".into(),
        )),
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
