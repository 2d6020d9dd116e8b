//! Logging in: [`LoginAttempt`], the throttles, device tokens, calibrated password checks.

use super::*;

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

impl TokenService {
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
            client: client.map(|ip| format!("c:{}", crate::lifecycle::throttle::address_group(ip))),
            account: None,
            device: None,
        };
        self.check_throttle(&address_only, now).await?;
        let key = crate::lifecycle::identity::lookup_key(login);
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
