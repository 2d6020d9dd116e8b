//! [`LifecycleError`]: why a lifecycle operation failed.

use std::fmt;

use super::password::PasswordError;
use super::store::StoreError;

/// Why a lifecycle operation failed. The `Display` text is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleError {
    /// Unknown user or wrong password (deliberately the same answer).
    InvalidCredentials,
    /// Too many failed logins for this account or client: try again after `retry_after`.
    Throttled {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The refresh token is unknown, expired or revoked.
    InvalidRefreshToken,
    /// The refresh token was used before: its family is now revoked.
    RefreshTokenReused,
    /// The username or email is taken.
    Conflict,
    /// A field of the request is invalid; says which and why.
    InvalidInput(String),
    /// The new password is too short or too long.
    Password(PasswordError),
    /// A store could not answer (down, or not within the store timeout): nothing changed;
    /// try again later (503 with `Retry-After`, never a refusal).
    Store(StoreError),
    /// Too many password checks are waiting (a login storm): try again later (503).
    Busy,
    /// Signing the access token failed.
    Signing,
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCredentials => f.write_str("Invalid credentials"),
            Self::Throttled { retry_after } => write!(
                f,
                "Too many failed logins; try again in {retry_after} seconds"
            ),
            Self::InvalidRefreshToken => f.write_str("The refresh token is invalid or expired"),
            Self::RefreshTokenReused => {
                f.write_str("The refresh token was already used; its session has been revoked")
            }
            Self::Conflict => f.write_str("A user with this username or email already exists"),
            Self::InvalidInput(message) => f.write_str(message),
            Self::Password(error) => fmt::Display::fmt(error, f),
            Self::Store(_) => f.write_str("The token store is unavailable; try again"),
            Self::Busy => f.write_str("Too many logins at once; try again"),
            Self::Signing => f.write_str("The token could not be signed"),
        }
    }
}

impl std::error::Error for LifecycleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(error) => Some(error),
            Self::Password(error) => Some(error),
            _ => None,
        }
    }
}

impl LifecycleError {
    /// Whether the failure is temporary (a store down or slow, a login storm): the answer is
    /// 503 with [`retry_after`](Self::retry_after), and nothing changed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_unavailable(),
            Self::Busy | Self::Signing => true,
            _ => false,
        }
    }

    /// Seconds a client should wait before trying again, when the error says so.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after } => Some(*retry_after),
            Self::Busy => Some(1),
            _ if self.is_unavailable() => Some(2),
            _ => None,
        }
    }

    /// A stable snake_case code for response bodies and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::Throttled { .. } => "too_many_attempts",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::Conflict => "conflict",
            Self::InvalidInput(_) => "invalid_input",
            Self::Password(_) => "invalid_password",
            Self::Store(_) => "store_unavailable",
            Self::Busy => "busy",
            Self::Signing => "signing_failed",
        }
    }
}

impl From<StoreError> for LifecycleError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => Self::Conflict,
            other => Self::Store(other),
        }
    }
}
