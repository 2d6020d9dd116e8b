//! Time, injectable: verifiers and issuers read it through a [`Clock`], so that apps and tests
//! can verify at a fixed instant.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, UNIX_EPOCH};
//! use authz_core::{Algorithm, FixedClock, Issuer, KeySet, SigningKey, Verifier, ErrorKind};
//!
//! let clock = FixedClock::at(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let key = SigningKey::from_secret(Algorithm::HS256, b"an-example-secret-of-32-bytes-or-more")?;
//! let issuer = Issuer::new(key.clone()).with_clock(clock.clone()).with_ttl(Duration::from_secs(60));
//! let token = issuer.issue_for("alice")?;
//!
//! let verifier = Verifier::builder(KeySet::single(key.verifying_key()))
//!     .with_clock(clock.clone())
//!     .with_leeway(Duration::ZERO)
//!     .build()?;
//! assert!(verifier.verify(&token).is_ok());
//! clock.advance(Duration::from_secs(60));
//! assert_eq!(verifier.verify(&token).unwrap_err().kind(), &ErrorKind::Expired);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a clock",
    note = "implement `authz_core::Clock` (`fn now(&self) -> SystemTime`), or use `SystemClock` / `FixedClock`"
)]
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock. The default everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until it is moved; clones share the same time.
#[derive(Debug, Clone)]
pub struct FixedClock(Arc<AtomicU64>);

impl FixedClock {
    /// A clock stopped at `time` (microsecond precision; times before 1970 read as 1970).
    pub fn at(time: SystemTime) -> Self {
        Self(Arc::new(AtomicU64::new(micros_since_epoch(time))))
    }

    /// A clock stopped at `secs` seconds after the Unix epoch.
    pub fn at_unix(secs: u64) -> Self {
        Self::at(UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// Moves the clock to `time`.
    pub fn set(&self, time: SystemTime) {
        self.0.store(micros_since_epoch(time), Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let micros = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.0.load(Ordering::SeqCst))
    }
}

/// A shared clock is a clock: one `Arc<dyn Clock>` can be handed to several builders.
impl Clock for Arc<dyn Clock> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

fn micros_since_epoch(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

/// Seconds since the Unix epoch as a JSON NumericDate, with sub-second precision.
pub(crate) fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Whole seconds since the Unix epoch on `clock`.
pub(crate) fn unix_secs(clock: &dyn Clock) -> u64 {
    unix_seconds(clock.now()).floor() as u64
}

#[cfg(any(feature = "remote", feature = "lifecycle", feature = "usage"))]
/// Locks a mutex, recovering it if a panic poisoned it: the maps behind our mutexes hold
/// counters and caches, never state that a half-done update could make unsafe to read.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
