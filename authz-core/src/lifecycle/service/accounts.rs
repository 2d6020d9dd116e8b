//! Accounts: registration (uniqueness before hashing, a throttle per address, the password
//! policy), password changes, lookups.

use super::*;

impl TokenService {
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
        crate::lifecycle::password::check_password(password).map_err(LifecycleError::Password)?;
        let now = self.now();
        if let Some(client) = client {
            let rules = &self.inner.throttling;
            let key = format!("r:{}", crate::lifecycle::throttle::address_group(client));
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
        let Some(key) = crate::lifecycle::identity::lookup_key(name) else {
            return Ok(None);
        };
        let user = self.store(self.inner.users.user_by_login(&key)).await?;
        Ok(user.filter(|user| {
            crate::lifecycle::identity::lookup_key(&user.username).as_ref() == Some(&key)
        }))
    }

    /// The user whose username or email is `login`, compared by key (as a login does).
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Store`].
    pub async fn find_user(&self, login: &str) -> Result<Option<User>, LifecycleError> {
        let Some(key) = crate::lifecycle::identity::lookup_key(login) else {
            return Ok(None);
        };
        self.store(self.inner.users.user_by_login(&key)).await
    }
}

/// The login key of a new username, or why it is refused.
fn validate_username(username: &str) -> Result<String, LifecycleError> {
    use crate::lifecycle::identity::{MAX_USERNAME_CHARS, NameError, login_key, single_script};
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
    match crate::lifecycle::identity::login_key(email, 254) {
        Ok(key) if shaped => Ok(key),
        _ => Err(LifecycleError::InvalidInput(
            "email must be an address like name@example.com".into(),
        )),
    }
}
