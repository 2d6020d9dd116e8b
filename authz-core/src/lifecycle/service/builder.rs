//! [`TokenServiceBuilder`]: every setting of a [`TokenService`], checked when built.

use super::*;

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
}
