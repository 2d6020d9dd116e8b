//! Password hashing: argon2id for new hashes, bcrypt (`$2b$`, as passlib writes them) accepted
//! and upgraded on the next successful login.
//!
//! - New hashes are argon2id with the `argon2` crate's defaults, which are OWASP's
//!   recommendation (19 MiB, 2 passes, 1 lane), in the PHC string format.
//! - [`Passwords::verify`] with no stored hash (an unknown user) checks the password against a
//!   dummy argon2id hash made at start, so that an unknown user costs the same time as a wrong
//!   password and gets the same answer.
//! - A successful check of a bcrypt hash, or of an argon2 hash with other parameters, returns the
//!   new argon2id hash to store ([`Verified::Valid`]`{ rehash: Some(..) }`).
//! - Passwords longer than [`MAX_PASSWORD_BYTES`] are refused before any hashing.
//!
//! **The policy for new passwords** (NIST SP 800-63B §5.1.1.2, OWASP authentication cheat
//! sheet): at least [`MIN_PASSWORD_CHARS`] characters after trimming, at most
//! [`MAX_PASSWORD_BYTES`] bytes, no NUL or other control characters, and not one of the 5 111
//! most common passwords of that length (compared without case; list and licence in
//! `src/lifecycle/data/`). Everything else is allowed: spaces, any script, no composition
//! rules.
//!
//! Hashing takes tens of milliseconds of CPU: call these from a blocking thread
//! (`tokio::task::spawn_blocking`), as [`TokenService`](crate::lifecycle::TokenService) does.
//!
//! # Example
//!
//! ```
//! use authz_core::lifecycle::password::{Passwords, Verified};
//!
//! let passwords = Passwords::new();
//! let hash = passwords.hash("correct horse battery staple")?;
//! assert!(hash.starts_with("$argon2id$"));
//! assert!(passwords.verify("correct horse battery staple", Some(&hash)).is_valid());
//! assert_eq!(passwords.verify("wrong", Some(&hash)), Verified::Invalid);
//! // Unknown user: same cost, same answer.
//! assert_eq!(passwords.verify("anything", None), Verified::Invalid);
//! # Ok::<(), authz_core::lifecycle::password::PasswordError>(())
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::backend;

/// The longest password accepted, in bytes. Longer ones are refused without hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The shortest password [`Passwords::hash`] accepts for a new account, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why a password could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_CHARS`] characters once trimmed.
    TooShort,
    /// Longer than [`MAX_PASSWORD_BYTES`].
    TooLong,
    /// Holds NUL or another control character.
    ControlCharacter,
    /// One of the most common passwords.
    TooCommon,
    /// The system's random source or the hasher failed.
    Hashing,
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort => write!(
                f,
                "the password must be at least {MIN_PASSWORD_CHARS} characters"
            ),
            Self::TooLong => write!(f, "the password must be at most {MAX_PASSWORD_BYTES} bytes"),
            Self::ControlCharacter => {
                f.write_str("the password must not contain control characters")
            }
            Self::TooCommon => f.write_str("this password is too common; choose another"),
            Self::Hashing => f.write_str("the password could not be hashed"),
        }
    }
}

impl std::error::Error for PasswordError {}

/// The outcome of [`Passwords::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Verified {
    /// The password matches. `rehash` is a new argon2id hash to store when the stored one
    /// is bcrypt or uses weaker parameters.
    Valid {
        /// The hash to store in place of the old one, if it should be upgraded.
        rehash: Option<String>,
    },
    /// Wrong password, unknown user, unreadable stored hash or over-long password.
    Invalid,
}

impl Verified {
    /// `true` for [`Verified::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }
}

/// Hashes and verifies passwords. Cheap to clone; see the [module docs](self).
#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    dummy: String,
    memory: Arc<BlockPool>,
    /// The highest bcrypt cost among the stored hashes, with a dummy bcrypt hash of that
    /// cost: while legacy hashes remain, every check spends one argon2 and one bcrypt check,
    /// real or dummy, so that no login reveals which scheme (or whether any account) is
    /// behind a name.
    legacy: Arc<std::sync::RwLock<Option<(u32, String)>>>,
}

/// argon2's working memory (19 MiB per check with OWASP's parameters), kept between checks
/// instead of allocated for each.
///
/// Measured reason (`bench/login-storm.sh`: 16 concurrent logins for 30 s on the posts example,
/// 2 cores, two checks at a time): with a fresh allocation per check the server's RSS rose from
/// 29 MiB to a 658 MiB peak and stayed at 622 MiB after the storm — glibc keeps freed 19 MiB
/// chunks in its per-thread arenas. With the pool it holds one buffer per concurrent check.
struct BlockPool {
    free: Mutex<Vec<Vec<Block>>>,
    /// Buffers kept at most: one per core (the lifecycle runs no more checks at once).
    keep: usize,
}

impl BlockPool {
    fn new() -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            keep: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }

    /// Runs `f` with at least `blocks` blocks of memory.
    fn with<T>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let taken = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut buffer = match taken {
            Some(buffer) if buffer.len() >= blocks => buffer,
            _ => vec![Block::default(); blocks],
        };
        let result = f(&mut buffer[..blocks]);
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if free.len() < self.keep {
            free.push(buffer);
        }
        result
    }
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords")
            .field("params", self.argon.params())
            .finish_non_exhaustive()
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

impl Passwords {
    /// argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1).
    pub fn new() -> Self {
        Self::with_params(Params::default())
    }

    /// argon2id with other parameters (tests use small ones to run fast). Hashes made with
    /// different parameters are re-hashed on the next successful login.
    pub fn with_params(params: Params) -> Self {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut this = Self {
            argon,
            dummy: String::new(),
            memory: Arc::new(BlockPool::new()),
            legacy: Arc::default(),
        };
        // If the random source fails, the dummy hash is still a valid hash; only its cost
        // matters, and no password of a real user is ever checked against it.
        let dummy_password = backend::random_b64url(24).unwrap_or_default();
        this.dummy = this
            .hash_unchecked(&dummy_password)
            .unwrap_or_else(|_| String::from("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        this
    }

    /// Hashes a new password with argon2id, after the password policy: at least
    /// [`MIN_PASSWORD_CHARS`] characters once trimmed, at most [`MAX_PASSWORD_BYTES`] bytes, no
    /// control character, not one of the most common passwords (see
    /// [`lifecycle`](super)'s identity rules).
    ///
    /// # Errors
    ///
    /// [`PasswordError::TooShort`], [`PasswordError::TooLong`],
    /// [`PasswordError::ControlCharacter`], [`PasswordError::TooCommon`];
    /// [`PasswordError::Hashing`] if the random source fails.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        check_password(password)?;
        self.hash_unchecked(password)
    }

    fn hash_unchecked(&self, password: &str) -> Result<String, PasswordError> {
        let mut salt = [0u8; 16];
        backend::random_bytes(&mut salt).map_err(|_| PasswordError::Hashing)?;
        let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::Hashing)?;
        self.hash_with(&self.argon, password.as_bytes(), salt.as_salt())
            .map(|hash| hash.to_string())
            .map_err(|_| PasswordError::Hashing)
    }

    /// argon2's `hash_password`, in pooled memory (the same PHC string, byte for byte).
    fn hash_with<'a>(
        &self,
        argon: &Argon2<'_>,
        password: &[u8],
        salt: Salt<'a>,
    ) -> argon2::password_hash::Result<PasswordHash<'a>> {
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
        let params = argon.params();
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = self.memory.with(params.block_count(), |blocks| {
            Output::init_with(output_len, |out| {
                Ok(argon.hash_password_into_with_memory(password, salt_bytes, out, blocks)?)
            })
        })?;
        Ok(PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(params)?,
            salt: Some(salt),
            hash: Some(output),
        })
    }

    /// Learns which legacy hashes are stored (their first 7 characters, as
    /// [`UserStore::password_schemes`](super::store::UserStore::password_schemes) lists them,
    /// `$2b$12$` for passlib's bcrypt): from then on every check costs one argon2 and one
    /// bcrypt check of the highest cost present, whatever is behind the name, until no
    /// legacy hash remains. [`TokenService`](super::TokenService) calls it before its first
    /// login.
    pub fn calibrate(&self, schemes: &[String]) {
        let cost = schemes
            .iter()
            .filter(|scheme| is_bcrypt(scheme))
            .filter_map(|scheme| scheme.get(4..6)?.parse::<u32>().ok())
            .filter(|cost| (4..=31).contains(cost))
            .max();
        self.raise_legacy_cost(cost);
    }

    /// Raises the dummy bcrypt cost to `cost` (never lowers it while running).
    fn raise_legacy_cost(&self, cost: Option<u32>) {
        let Some(cost) = cost else { return };
        let current = self
            .legacy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|(c, _)| *c);
        if current.is_some_and(|current| current >= cost) {
            return;
        }
        let secret = backend::random_b64url(24).unwrap_or_default();
        if let Ok(hash) = bcrypt::hash(secret, cost) {
            *self
                .legacy
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((cost, hash));
        }
    }

    /// A bcrypt check of the legacy cost, against a dummy hash (nothing when none is stored).
    fn spend_legacy(&self, password: &str) {
        let dummy = self
            .legacy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|(_, hash)| hash.clone());
        if let Some(dummy) = dummy {
            let _ = bcrypt::verify(password, &dummy);
        }
    }

    /// Checks `password` against `stored` (argon2 PHC string, or bcrypt `$2a$`/`$2b$`/`$2y$`).
    /// `None` (unknown user) checks against a dummy hash and returns
    /// [`Verified::Invalid`], at the cost of a real check.
    ///
    /// # Security
    ///
    /// Every call costs the same whatever `stored` is — an argon2 hash, a bcrypt hash, nothing
    /// or garbage: one argon2 check, plus, once [`calibrate`](Self::calibrate) has seen bcrypt
    /// hashes among the stored ones, one bcrypt check of the highest cost present (real or
    /// dummy). Otherwise the time of a login would tell an attacker which names have accounts
    /// (OWASP authentication cheat sheet, "authentication responses").
    pub fn verify(&self, password: &str, stored: Option<&str>) -> Verified {
        if password.len() > MAX_PASSWORD_BYTES {
            return Verified::Invalid;
        }
        let Some(stored) = stored else {
            let _ = self.verify_argon(password, &self.dummy);
            self.spend_legacy(password);
            return Verified::Invalid;
        };
        if is_bcrypt(stored) {
            // A legacy hash of a cost not calibrated for (imported since): calibrate now.
            self.raise_legacy_cost(stored.get(4..6).and_then(|c| c.parse().ok()));
            let _ = self.verify_argon(password, &self.dummy);
            return match bcrypt::verify(password, stored) {
                Ok(true) => Verified::Valid {
                    rehash: self.hash_unchecked(password).ok(),
                },
                _ => Verified::Invalid,
            };
        }
        if stored.starts_with("$argon2") {
            let verified = self.verify_argon(password, stored);
            self.spend_legacy(password);
            return match verified {
                Some(true) => Verified::Valid {
                    rehash: self
                        .needs_rehash(stored)
                        .then(|| self.hash_unchecked(password).ok())
                        .flatten(),
                },
                _ => Verified::Invalid,
            };
        }
        // An unreadable hash: spend the same time, refuse.
        let _ = self.verify_argon(password, &self.dummy);
        self.spend_legacy(password);
        Verified::Invalid
    }

    /// argon2's `verify_password` (any argon2 variant, version and parameters of the stored
    /// hash), in pooled memory; the comparison is `Output`'s, in constant time.
    fn verify_argon(&self, password: &str, stored: &str) -> Option<bool> {
        let parsed = PasswordHash::new(stored).ok()?;
        let (salt, expected) = (parsed.salt?, parsed.hash?);
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed
            .version
            .map_or(Some(Version::default()), |v| Version::try_from(v).ok())?;
        let mut params = Params::try_from(&parsed).ok()?;
        if params.output_len() != Some(expected.len()) {
            params = Params::new(
                params.m_cost(),
                params.t_cost(),
                params.p_cost(),
                Some(expected.len()),
            )
            .ok()?;
        }
        let argon = Argon2::new(algorithm, version, params);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes).ok()?;
        let computed = self
            .memory
            .with(argon.params().block_count(), |blocks| {
                Output::init_with(expected.len(), |out| {
                    Ok(argon.hash_password_into_with_memory(
                        password.as_bytes(),
                        salt_bytes,
                        out,
                        blocks,
                    )?)
                })
            })
            .ok()?;
        Some(computed == expected)
    }

    fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return true;
        };
        if parsed.algorithm != Algorithm::Argon2id.ident() || parsed.version != Some(0x13) {
            return true;
        }
        match Params::try_from(&parsed) {
            Ok(params) => {
                let current = self.argon.params();
                params.m_cost() != current.m_cost()
                    || params.t_cost() != current.t_cost()
                    || params.p_cost() != current.p_cost()
            }
            Err(_) => true,
        }
    }
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$", "$2x$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
}

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("data/common-passwords.txt")
        .lines()
        .filter(|line| !line.is_empty())
        .collect()
});

/// The password policy for a new password: see the module docs.
pub(crate) fn check_password(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().any(char::is_control) {
        return Err(PasswordError::ControlCharacter);
    }
    let trimmed = password.trim();
    if trimmed.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if COMMON.contains(trimmed.to_lowercase().as_str()) {
        return Err(PasswordError::TooCommon);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_policy() {
        assert_eq!(check_password("        "), Err(PasswordError::TooShort));
        assert_eq!(check_password("  short  "), Err(PasswordError::TooShort));
        assert_eq!(
            check_password("\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}"),
            Err(PasswordError::ControlCharacter)
        );
        assert_eq!(
            check_password("correct\nhorse battery"),
            Err(PasswordError::ControlCharacter)
        );
        assert_eq!(check_password("password1"), Err(PasswordError::TooCommon));
        assert_eq!(check_password("PASSWORD1"), Err(PasswordError::TooCommon));
        assert_eq!(check_password(" 12345678 "), Err(PasswordError::TooCommon));
        assert!(check_password("correct horse battery").is_ok());
        assert!(check_password("пароль-на-русском").is_ok());
        assert_eq!(
            check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordError::TooLong)
        );
        assert!(COMMON.len() > 5_000);
    }

    fn fast() -> Passwords {
        Passwords::with_params(Params::new(1024, 1, 1, None).unwrap())
    }

    #[test]
    fn argon2id_round_trip_and_no_rehash() {
        let p = fast();
        let hash = p.hash("password-1234").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            p.verify("password-1234", Some(&hash)),
            Verified::Valid { rehash: None }
        );
        assert_eq!(p.verify("password-1235", Some(&hash)), Verified::Invalid);
    }

    #[test]
    fn other_params_are_rehashed() {
        let old = Passwords::with_params(Params::new(512, 1, 1, None).unwrap());
        let hash = old.hash("password-1234").unwrap();
        let Verified::Valid { rehash: Some(new) } = fast().verify("password-1234", Some(&hash))
        else {
            panic!("expected a rehash");
        };
        assert!(new.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
    }

    #[test]
    fn pooled_memory_gives_the_argon2_crates_own_hashes() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let p = fast();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let ours = p
            .hash_with(&p.argon, b"a password", salt.as_salt())
            .unwrap()
            .to_string();
        let theirs = p
            .argon
            .hash_password(b"a password", &salt)
            .unwrap()
            .to_string();
        assert_eq!(ours, theirs, "byte for byte");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(p.argon.verify_password(b"a password", &parsed).is_ok());
        // Every variant and version the crate makes, and other output lengths, verify here.
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            for version in [Version::V0x10, Version::V0x13] {
                for len in [16, 32, 64] {
                    let params = Params::new(1024, 2, 1, Some(len)).unwrap();
                    let other = Argon2::new(algorithm, version, params);
                    let hash = other
                        .hash_password(b"a password", &salt)
                        .unwrap()
                        .to_string();
                    assert_eq!(p.verify_argon("a password", &hash), Some(true), "{hash}");
                    assert_eq!(p.verify_argon("a passworD", &hash), Some(false), "{hash}");
                }
            }
        }
    }

    #[test]
    fn passlib_bcrypt_verifies_and_upgrades() {
        // Made by passlib 1.7.4 (the FastAPI seed's
        // `CryptContext(schemes=["bcrypt"], deprecated="auto").hash("secret-password")`).
        let hash = "$2b$12$KI2Cisx9l6GerAkKGZ3BjOWiTarDr42wPD68xVIkvVKKMuzRA.EMi";
        let p = fast();
        let Verified::Valid { rehash: Some(new) } = p.verify("secret-password", Some(hash)) else {
            panic!("expected a rehash");
        };
        assert!(new.starts_with("$argon2id$"));
        assert_eq!(p.verify("secret-passwore", Some(hash)), Verified::Invalid);
    }

    #[test]
    fn lengths_are_bounded() {
        let p = fast();
        assert_eq!(p.hash("short"), Err(PasswordError::TooShort));
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(p.hash(&long), Err(PasswordError::TooLong));
        let hash = p.hash("password-1234").unwrap();
        assert_eq!(p.verify(&long, Some(&hash)), Verified::Invalid);
    }

    #[test]
    fn unknown_user_and_garbage_hash_are_invalid() {
        let p = fast();
        assert_eq!(p.verify("password-1234", None), Verified::Invalid);
        assert_eq!(p.verify("password-1234", Some("")), Verified::Invalid);
        assert_eq!(
            p.verify("password-1234", Some("$argon2id$garbage")),
            Verified::Invalid
        );
        assert_eq!(p.verify("password-1234", Some("$2b$xx")), Verified::Invalid);
    }
}
