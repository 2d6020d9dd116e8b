//! Quotas: one mechanism for `#[require_auth(quota = …)]` and for the
//! [`UsageLayer`](crate::usage::UsageLayer).
//!
//! A [`Quota`] is a token bucket (a burst and a refill rate) with an optional cap per period;
//! a [`QuotaStore`] spends it: [`QuotaLimiter`] in this process's memory (the default), or a
//! shared store such as the lifecycle's `RedisStore`, so that several instances enforce one
//! quota. Both the handler quotas of `#[require_auth(quota = "30/min")]` and the usage layer's
//! [`Quotas`](crate::usage::Quotas) take their store the same way, and both answer a spent
//! quota with **429** `rate_limited` (`Retry-After`, `RateLimit-Limit/Remaining/Reset`)
//! through the AuthLayer's [`OnRejection`](crate::OnRejection).
//!
//! Handler quotas are kept per handler and per caller (the token's `sub`). Their store is the
//! AuthLayer's: by default this process's memory (one limiter for the whole process, so a
//! router built twice still spends one quota), or the one given to
//! [`AuthLayer::with_quota_store`]:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use authz_axum::quota::{FailMode, QuotaLimiter};
//! use authz_axum::{Algorithm, AuthLayer, KeySet, SigningKey, Verifier, require_auth};
//!
//! #[require_auth(quota = "30/min")]
//! async fn search() -> &'static str {
//!     "results"
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let verifier = Verifier::builder(KeySet::single(SigningKey::generate(Algorithm::ES256)?.verifying_key())).build()?;
//! // Several instances would pass a `RedisStore` here (feature `redis` of authz-core).
//! let store = Arc::new(QuotaLimiter::new());
//! let app: Router = Router::new()
//!     .route("/search", get(search))
//!     .layer(AuthLayer::new(verifier).with_quota_store(store, FailMode::Closed, Duration::from_millis(200)));
//! # Ok(()) }
//! ```
//!
//! [`AuthLayer::with_quota_store`]: crate::AuthLayer::with_quota_store

use std::sync::Arc;
use std::time::Duration;

pub use authz_core::usage::{Period, Quota, QuotaDecision, QuotaLimiter, QuotaStore};

/// What a shared quota store's failure (or a timeout) does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Let the request through, unlimited, while the store is down.
    Open,
    /// Refuse with 503 `quota_unavailable` and `Retry-After: 1` while the store is down.
    Closed,
}

/// The numbers of a spent quota ([`AuthRejection::RateLimited`](crate::AuthRejection::RateLimited)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests the quota allows (its burst, or its cap when the cap is spent).
    pub limit: u64,
    /// Seconds until a request may succeed again.
    pub retry_after: u64,
    /// Seconds until the quota is whole again.
    pub reset: u64,
    /// Whether the period's cap (not the rate) is spent.
    pub cap: bool,
}

impl RateLimit {
    pub(crate) fn new(limit: u64, retry_after: u64, reset: u64, cap: bool) -> Self {
        Self {
            limit,
            retry_after,
            reset,
            cap,
        }
    }
}

/// Why a quota refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Spent: 429.
    Limited(RateLimit),
    /// The store failed or was slow, and the quota fails closed: 503.
    Unavailable,
}

/// Where an AuthLayer's handler quotas are spent.
#[derive(Clone)]
pub(crate) struct QuotaBackend {
    store: Arc<dyn QuotaStore>,
    on_error: FailMode,
    timeout: Duration,
}

impl std::fmt::Debug for QuotaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuotaBackend")
            .field("on_error", &self.on_error)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for QuotaBackend {
    /// This process's memory, one limiter for every layer (a router built twice, or two
    /// layers on one handler, still spend one quota): never fails, never waits.
    fn default() -> Self {
        static MEMORY: std::sync::LazyLock<Arc<QuotaLimiter>> =
            std::sync::LazyLock::new(|| Arc::new(QuotaLimiter::new()));
        Self::new(MEMORY.clone(), FailMode::Closed, Duration::from_secs(1))
    }
}

impl QuotaBackend {
    pub(crate) fn new(store: Arc<dyn QuotaStore>, on_error: FailMode, timeout: Duration) -> Self {
        Self {
            store,
            on_error,
            timeout,
        }
    }

    /// Spends one request of `quota` for `key` at `now` (Unix seconds): `Ok` to go on, or the
    /// rejection (429 when spent; 503 when the store failed or was slow and the quota fails
    /// closed).
    pub(crate) async fn spend(
        &self,
        key: &str,
        quota: &Quota,
        now: f64,
    ) -> Result<Option<(u64, u64, u64)>, Refusal> {
        match tokio::time::timeout(self.timeout, self.store.take(key, quota, now)).await {
            Ok(Ok(QuotaDecision::Allowed {
                limit,
                remaining,
                reset,
            })) => Ok(Some((limit, remaining, reset))),
            Ok(Ok(QuotaDecision::Limited {
                limit,
                retry_after,
                reset,
                cap,
            })) => Err(Refusal::Limited(RateLimit::new(
                limit,
                retry_after,
                reset,
                cap,
            ))),
            _ if self.on_error == FailMode::Open => Ok(None),
            _ => Err(Refusal::Unavailable),
        }
    }
}

/// A handler quota's key in the store: the handler, then the caller.
pub(crate) fn handler_key(handler: &str, subject: &str) -> String {
    let mut key = String::with_capacity(2 + handler.len() + 1 + subject.len());
    key.push_str("h:");
    key.push_str(handler);
    key.push('\0');
    key.push_str(subject);
    key
}

/// `clock`'s time, as Unix seconds.
pub(crate) fn now(clock: &dyn authz_core::Clock) -> f64 {
    clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
