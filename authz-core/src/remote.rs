//! Keys fetched from a JWKS URL and kept fresh: [`RemoteKeySet`].
//!
//! What peers get wrong, and what this does instead:
//!
//! - **Reads never wait.** Verification reads the current [`SharedKeySet`]; refreshes run in
//!   a background task (by TTL) or in the one request that met an unknown `kid`.
//! - **A rotated key is picked up at once.** A token with an unknown `kid` triggers one
//!   refresh (single-flight: concurrent callers share it), at most once per cooldown
//!   (default 10 s), so a flood of foreign `kid`s makes at most one fetch per cooldown.
//! - **A failed fetch keeps the last good set** (stale-if-error) and retries with back-off.
//! - **Cold start** (nothing fetched yet): verification fails with
//!   [`ErrorKind::KeysUnavailable`](crate::ErrorKind::KeysUnavailable), answered 503 with
//!   `Retry-After` by the AuthLayer — never accepted, never a 500.
//! - **Bounded**: a timeout (default 5 s) and a size cap (default 256 KiB) per fetch; the TTL
//!   follows `Cache-Control: max-age`, clamped to 1 min..1 day (default 5 min without one).
//! - **Only the configured URL** is ever fetched; `jku`/`x5u` in tokens are ignored.
//!
//! The HTTP client is a [`JwksFetcher`]: authz-axum provides one on reqwest (feature
//! `jwks-fetch`), and apps can bring theirs (private CA, proxy, a service mesh).
//!
//! ```
//! use std::sync::Arc;
//! use authz_core::remote::{FetchedJwks, JwksFetcher, RemoteKeySet};
//! use authz_core::{Algorithm, Issuer, KeySet, SigningKey, Verifier};
//!
//! /// A fetcher that serves a fixed document (a test double; real ones speak HTTP).
//! struct Fixed(String);
//! #[async_trait::async_trait]
//! impl JwksFetcher for Fixed {
//!     async fn fetch(&self, _url: &str) -> Result<FetchedJwks, String> {
//!         Ok(FetchedJwks { body: self.0.clone().into_bytes(), cache_control: None })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SigningKey::generate(Algorithm::ES256)?.with_kid("k1");
//! let jwks = KeySet::single(key.verifying_key()).to_jwks_string();
//! let remote = RemoteKeySet::new("https://issuer.example.com/.well-known/jwks.json", Arc::new(Fixed(jwks)));
//! remote.refresh().await?;
//! let verifier = Verifier::builder(remote.clone()).build()?;
//! assert!(verifier.verify(&Issuer::new(key).issue_for("alice")?).is_ok());
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::KeySet;
use crate::clock::lock;
use crate::key::SharedKeySet;

/// A fetched JWKS document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedJwks {
    /// The body (a JSON Web Key Set).
    pub body: Vec<u8>,
    /// The `Cache-Control` header, if any.
    pub cache_control: Option<String>,
}

/// Fetches a JWKS over HTTP. Implementations must not follow redirects to other hosts
/// without the app's consent, should enforce their own timeout and size cap (the
/// [`RemoteKeySet`] enforces its own too), and return non-2xx statuses as errors.
#[async_trait]
pub trait JwksFetcher: Send + Sync + 'static {
    /// GETs `url`. The error is a message for logs (never a key).
    async fn fetch(&self, url: &str) -> Result<FetchedJwks, String>;
}

/// Why a refresh failed. The last good key set stays in use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshError {
    /// The fetcher failed (connection, status, …).
    Fetch(String),
    /// No answer within the timeout.
    Timeout,
    /// The body is over the size cap.
    TooLarge,
    /// The body is not a JWKS with at least one usable key.
    Invalid(String),
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fetch(message) => write!(f, "JWKS fetch failed: {message}"),
            Self::Timeout => f.write_str("JWKS fetch timed out"),
            Self::TooLarge => f.write_str("JWKS document is over the size cap"),
            Self::Invalid(message) => write!(f, "JWKS document is invalid: {message}"),
        }
    }
}

impl std::error::Error for RefreshError {}

/// Tuning of a [`RemoteKeySet`]. Every field documents its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteOptions {
    /// TTL when the response has no `Cache-Control: max-age`. Default 5 min.
    pub default_ttl: Duration,
    /// Shortest TTL, whatever the server says (`no-cache`, `max-age=0`). Default 1 min.
    pub min_ttl: Duration,
    /// Longest TTL. Default 1 day.
    pub max_ttl: Duration,
    /// Least time between two refreshes caused by unknown `kid`s. Default 10 s.
    pub cooldown: Duration,
    /// Per-fetch timeout. Default 5 s.
    pub timeout: Duration,
    /// Largest accepted body. Default 256 KiB.
    pub max_bytes: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            cooldown: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            max_bytes: 256 * 1024,
        }
    }
}

/// A JWKS URL, its fetcher, and the [`SharedKeySet`] it keeps fresh. Cheap to clone. See the
/// [module docs](self).
#[derive(Clone)]
pub struct RemoteKeySet {
    inner: Arc<Remote>,
}

struct Remote {
    url: String,
    fetcher: Arc<dyn JwksFetcher>,
    keys: SharedKeySet,
    options: RemoteOptions,
    /// Serializes refreshes (single flight).
    lock: tokio::sync::Mutex<()>,
    /// Refreshes finished (success or not): waiters compare it to share one outcome.
    finished: AtomicU64,
    last_ok: AtomicBool,
    /// Monotonic milliseconds of the last refresh an unknown `kid` caused (0: never).
    last_forced_ms: AtomicU64,
    /// Monotonic milliseconds when the TTL (or the retry back-off) runs out.
    next_refresh_ms: AtomicU64,
    failures: AtomicU64,
    fetches: AtomicU64,
    last_body: Mutex<Vec<u8>>,
    last_error: Mutex<Option<RefreshError>>,
}

impl fmt::Debug for RemoteKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeySet")
            .field("url", &self.inner.url)
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

/// Milliseconds on a monotonic clock (a wall clock stepping back must not stall refreshes).
fn now_ms() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    // Offset by one so that 0 means "never".
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
}

/// The `max-age` of a `Cache-Control` value (`no-cache`/`no-store` → 0), if it has one.
pub fn cache_max_age(cache_control: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "no-cache" | "no-store" => return Some(Duration::ZERO),
            "max-age" => {
                max_age = value
                    .trim()
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
            _ => {}
        }
    }
    max_age
}

impl RemoteKeySet {
    /// Keys from `url`, fetched by `fetcher`, with [`RemoteOptions::default`]. Nothing is
    /// fetched until [`refresh`](Self::refresh) or [`spawn_refresh`](Self::spawn_refresh).
    pub fn new(url: impl Into<String>, fetcher: Arc<dyn JwksFetcher>) -> Self {
        Self::with_options(url, fetcher, RemoteOptions::default())
    }

    /// The same with other options.
    pub fn with_options(
        url: impl Into<String>,
        fetcher: Arc<dyn JwksFetcher>,
        options: RemoteOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Remote {
                url: url.into(),
                fetcher,
                keys: SharedKeySet::empty(),
                options,
                lock: tokio::sync::Mutex::new(()),
                finished: AtomicU64::new(0),
                last_ok: AtomicBool::new(false),
                last_forced_ms: AtomicU64::new(0),
                next_refresh_ms: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                fetches: AtomicU64::new(0),
                last_body: Mutex::new(Vec::new()),
                last_error: Mutex::new(None),
            }),
        }
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The keys this source keeps fresh. Give the source itself to
    /// [`Verifier::builder`](crate::Verifier::builder), so that an unknown `kid` can ask it
    /// for a refresh.
    pub fn keys(&self) -> &SharedKeySet {
        &self.inner.keys
    }

    /// How many fetches were started (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// The last refresh error, if the last refresh failed.
    pub fn last_error(&self) -> Option<RefreshError> {
        lock(&self.inner.last_error).clone()
    }

    /// Seconds a client should wait before retrying while no key is available (for
    /// `Retry-After`).
    pub fn retry_after(&self) -> u64 {
        let wait = self
            .inner
            .next_refresh_ms
            .load(Ordering::Relaxed)
            .saturating_sub(now_ms());
        (wait / 1000).clamp(1, 60)
    }

    /// Fetches now. Single-flight: a caller that finds a refresh running waits for it and
    /// shares its outcome instead of fetching again. On failure the last good set stays.
    ///
    /// Returns whether the key set changed.
    ///
    /// # Errors
    ///
    /// Why the fetch failed.
    pub async fn refresh(&self) -> Result<bool, RefreshError> {
        let seen = self.inner.finished.load(Ordering::Acquire);
        let _guard = self.inner.lock.lock().await;
        if self.inner.finished.load(Ordering::Acquire) != seen {
            // Someone refreshed while we waited: theirs is as fresh as ours would be.
            return self.shared_outcome();
        }
        self.refresh_locked().await
    }

    fn shared_outcome(&self) -> Result<bool, RefreshError> {
        match self.last_error() {
            Some(error) if !self.inner.last_ok.load(Ordering::Acquire) => Err(error),
            _ => Ok(false),
        }
    }

    /// One fetch; the caller holds `lock`.
    async fn refresh_locked(&self) -> Result<bool, RefreshError> {
        let outcome = self.fetch_and_apply().await;
        let now = now_ms();
        match &outcome {
            Ok((_, ttl)) => {
                self.inner.failures.store(0, Ordering::Relaxed);
                self.inner.next_refresh_ms.store(
                    now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
                    Ordering::Relaxed,
                );
                *lock(&self.inner.last_error) = None;
            }
            Err(error) => {
                // Stale-if-error: keep the keys, retry after 1 s, 2 s, 4 s … (≤ 64 s).
                let failures = self.inner.failures.fetch_add(1, Ordering::Relaxed).min(6);
                self.inner
                    .next_refresh_ms
                    .store(now + 1000 * (1 << failures), Ordering::Relaxed);
                *lock(&self.inner.last_error) = Some(error.clone());
            }
        }
        self.inner.last_ok.store(outcome.is_ok(), Ordering::Release);
        self.inner.finished.fetch_add(1, Ordering::Release);
        outcome.map(|(changed, _)| changed)
    }

    async fn fetch_and_apply(&self) -> Result<(bool, Duration), RefreshError> {
        let options = &self.inner.options;
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched =
            tokio::time::timeout(options.timeout, self.inner.fetcher.fetch(&self.inner.url))
                .await
                .map_err(|_| RefreshError::Timeout)?
                .map_err(RefreshError::Fetch)?;
        if fetched.body.len() > options.max_bytes {
            return Err(RefreshError::TooLarge);
        }
        let ttl = fetched
            .cache_control
            .as_deref()
            .and_then(cache_max_age)
            .unwrap_or(options.default_ttl)
            .max(options.min_ttl)
            .min(options.max_ttl.max(options.min_ttl));
        let mut last_body = lock(&self.inner.last_body);
        if *last_body == fetched.body && self.inner.keys.current().is_some() {
            // Same document: keep the same key objects (the token cache stays warm).
            return Ok((false, ttl));
        }
        let text = std::str::from_utf8(&fetched.body)
            .map_err(|_| RefreshError::Invalid("not UTF-8".into()))?;
        let keys = KeySet::from_jwks(text).map_err(|e| RefreshError::Invalid(e.to_string()))?;
        self.inner.keys.replace(keys);
        *last_body = fetched.body;
        Ok((true, ttl))
    }

    /// For a token whose `kid` is not in the set (or while no set is loaded): refreshes once,
    /// unless a refresh for this reason ran less than the cooldown ago. Returns whether a
    /// refresh ran and succeeded (the caller then verifies again).
    pub async fn refresh_for_unknown_kid(&self) -> bool {
        let seen = self.inner.finished.load(Ordering::Acquire);
        // Every caller queues on the one lock: a refresh in flight is joined, never doubled.
        let _guard = self.inner.lock.lock().await;
        if self.inner.finished.load(Ordering::Acquire) != seen {
            return self.inner.last_ok.load(Ordering::Acquire);
        }
        let now = now_ms();
        let cooldown = u64::try_from(self.inner.options.cooldown.as_millis()).unwrap_or(u64::MAX);
        let last = self.inner.last_forced_ms.load(Ordering::Acquire);
        if last != 0 && now.saturating_sub(last) < cooldown {
            return false;
        }
        self.inner.last_forced_ms.store(now, Ordering::Release);
        self.refresh_locked().await.is_ok()
    }

    /// Starts the background task that refreshes when the TTL runs out (and retries with
    /// back-off after a failure). It fetches at once if nothing is loaded, and ends when every
    /// clone of this `RemoteKeySet` is dropped. Needs a tokio runtime.
    pub fn spawn_refresh(&self) {
        let weak: Weak<Remote> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let wait = {
                    let Some(inner) = weak.upgrade() else { return };
                    inner
                        .next_refresh_ms
                        .load(Ordering::Relaxed)
                        .saturating_sub(now_ms())
                };
                tokio::time::sleep(Duration::from_millis(wait)).await;
                let Some(inner) = weak.upgrade() else { return };
                let remote = RemoteKeySet { inner };
                if let Err(error) = remote.refresh().await {
                    tracing::warn!(target: "authz_core::remote", url = %remote.url(), %error, "JWKS refresh failed; keeping the last good keys");
                }
            }
        });
    }
}
