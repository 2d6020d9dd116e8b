//! The revocation check of the request path: each instance keeps a mirror of the durable
//! store's revocations, loaded at start and kept current by the fan-out and by polling, and
//! answers in three ways — revoked, not revoked, or unavailable.
//!
//! - **Loaded and fresh** (the last catch-up with the durable store is at most
//!   [`RevocationOptions::max_staleness`] old): the mirror answers, with no round trip.
//! - **Not loaded yet, or stale** (the durable store has not answered for a while): the
//!   durable store is asked directly, within the store timeout; if it cannot answer, the
//!   answer is "unavailable" (503), never "revoked" and never "not revoked".
//!
//! A synced mirror holds every revocation that could be written: revocations are written to the
//! durable store first, so while it is down nobody can add one; and it answers on its own for
//! `max_staleness`, which bounds what an instance cut off from the durable store (but not from
//! the others) could miss.
//!
//! Propagation to other instances: the fan-out (Redis pub/sub) brings a revocation within
//! milliseconds; without one, the next poll does, within
//! [`RevocationOptions::poll_interval`] (1 s); while a configured fan-out is down, within
//! [`RevocationOptions::fallback_poll_interval`] (100 ms).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use super::store::memory::RevocationSet;
use super::store::{Fanout, FanoutEvent, Revocation, RevocationQuery, SessionStore, StoreError};
use crate::clock::{Clock, unix_secs};

/// How an instance keeps its revocation mirror current. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationOptions {
    /// How often the mirror asks the durable store for revocations it has not seen.
    ///
    /// Defaults to 1 second.
    pub poll_interval: Duration,
    /// How often it asks while a configured fan-out is down (Redis unreachable): the bound on
    /// propagation then.
    ///
    /// Defaults to 100 milliseconds.
    pub fallback_poll_interval: Duration,
    /// How long after its last successful catch-up the mirror still answers on its own
    /// (while the durable store is down); after that, checks ask the store, and answer
    /// "unavailable" if it cannot answer.
    ///
    /// Defaults to 30 seconds.
    pub max_staleness: Duration,
}

impl Default for RevocationOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            fallback_poll_interval: Duration::from_millis(100),
            max_staleness: Duration::from_secs(30),
        }
    }
}

impl RevocationOptions {
    /// How often the mirror polls the durable store.
    #[must_use]
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every.max(Duration::from_millis(10));
        self
    }

    /// How often the mirror polls the durable store while the fan-out is down.
    #[must_use]
    pub fn with_fallback_poll_interval(mut self, every: Duration) -> Self {
        self.fallback_poll_interval = every.max(Duration::from_millis(10));
        self
    }

    /// How long the mirror answers on its own without hearing from the durable store.
    #[must_use]
    pub fn with_max_staleness(mut self, staleness: Duration) -> Self {
        self.max_staleness = staleness;
        self
    }
}

/// The revocations of one [`TokenService`](super::TokenService): the durable store, the
/// mirror and the fan-out.
pub(crate) struct Revocations {
    store: Arc<dyn SessionStore>,
    fanout: Option<Arc<dyn Fanout>>,
    mirror: Option<Arc<Mirror>>,
    timeout: Duration,
    options: RevocationOptions,
    clock: Arc<dyn Clock>,
}

/// An instance's copy of the live revocations.
struct Mirror {
    set: RwLock<RevocationSet>,
    /// Every revocation with a sequence number up to this one is in `set`.
    applied: AtomicU64,
    /// Milliseconds since `epoch` of the last successful catch-up; 0 before the first.
    synced: AtomicU64,
    epoch: Instant,
    started: AtomicBool,
    wake: tokio::sync::Notify,
}

impl Mirror {
    fn new() -> Self {
        Self {
            set: RwLock::new(RevocationSet::default()),
            applied: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            epoch: Instant::now(),
            started: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
        }
    }

    fn apply(&self, revocations: &[Revocation]) {
        if revocations.is_empty() {
            return;
        }
        let mut set = self.set.write().unwrap_or_else(|e| e.into_inner());
        for revocation in revocations {
            set.apply(revocation);
        }
    }

    /// Applies revocations another instance published; false when they are not contiguous
    /// with what is applied (something was missed: catch up with the durable store now).
    fn apply_published(&self, revocations: &[Revocation]) -> bool {
        self.apply(revocations);
        let applied = self.applied.load(Ordering::Acquire);
        let seqs = revocations.iter().map(|r| r.seq);
        let (low, high) = (seqs.clone().min().unwrap_or(0), seqs.max().unwrap_or(0));
        if low == high && high == applied + 1 {
            self.applied.store(high, Ordering::Release);
            true
        } else {
            high <= applied
        }
    }

    fn mark_synced(&self) {
        let millis = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.synced.store(millis.max(1), Ordering::Release);
    }

    /// Whether it may answer on its own: loaded, and caught up within `max_staleness`.
    fn is_fresh(&self, max_staleness: Duration) -> bool {
        let synced = self.synced.load(Ordering::Acquire);
        if synced == 0 {
            return false;
        }
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        now.saturating_sub(synced) <= u64::try_from(max_staleness.as_millis()).unwrap_or(u64::MAX)
    }
}

impl Revocations {
    pub(crate) fn new(
        store: Arc<dyn SessionStore>,
        fanout: Option<Arc<dyn Fanout>>,
        timeout: Duration,
        options: RevocationOptions,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mirror = (!store.is_in_process()).then(|| Arc::new(Mirror::new()));
        Self {
            store,
            fanout,
            mirror,
            timeout,
            options,
            clock,
        }
    }

    fn now(&self) -> u64 {
        unix_secs(&*self.clock)
    }

    /// Whether the mirror is loaded and fresh (checks need no round trip).
    pub(crate) fn is_mirror_synced(&self) -> bool {
        self.mirror
            .as_ref()
            .is_some_and(|mirror| mirror.is_fresh(self.options.max_staleness))
    }

    /// Revoked (`true`), not revoked (`false`), or unavailable (`Err`).
    pub(crate) async fn check(&self, query: RevocationQuery<'_>) -> Result<bool, StoreError> {
        let now = self.now();
        if let Some(mirror) = &self.mirror {
            self.start(mirror);
            if mirror.is_fresh(self.options.max_staleness) {
                let set = mirror.set.read().unwrap_or_else(|e| e.into_inner());
                return Ok(set.covers(&query, now));
            }
        }
        bounded(self.timeout, self.store.is_revoked(query, now)).await
    }

    /// After a committed write: the revocations count here at once, and the other
    /// instances are told (best effort: their next poll brings them anyway).
    pub(crate) async fn written(&self, revocations: &[Revocation]) {
        if revocations.is_empty() {
            return;
        }
        if let Some(mirror) = &self.mirror {
            mirror.apply(revocations);
        }
        if let Some(fanout) = &self.fanout
            && let Err(error) = bounded(self.timeout, fanout.publish(revocations)).await
        {
            tracing::warn!(
                target: "authz_core::store",
                %error,
                "could not tell the other instances about a revocation; they will see it at their next poll"
            );
        }
    }

    /// Starts the mirror's task, once, on the current tokio runtime.
    fn start(&self, mirror: &Arc<Mirror>) {
        if mirror.started.load(Ordering::Acquire)
            || mirror
                .started
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            mirror.started.store(false, Ordering::Release);
            return;
        };
        let events = self.fanout.as_ref().map(|fanout| fanout.subscribe());
        runtime.spawn(follow(
            Arc::downgrade(mirror),
            self.store.clone(),
            events,
            self.timeout,
            self.options,
            self.clock.clone(),
        ));
    }

    /// Loads the mirror now (at start, so that the first requests need no round trip);
    /// returns whether it is synced.
    pub(crate) async fn load(&self) -> bool {
        let Some(mirror) = &self.mirror else {
            return true;
        };
        self.start(mirror);
        for _ in 0..100 {
            if mirror.is_fresh(self.options.max_staleness) {
                return true;
            }
            mirror.wake.notify_one();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// Runs `call` within `timeout`.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(StoreError::Timeout { after: timeout }))
}

/// The mirror's task: catch up with the durable store, then wait for the next poll, a
/// fan-out message or a wake-up; ends when the service is dropped.
async fn follow(
    mirror: Weak<Mirror>,
    store: Arc<dyn SessionStore>,
    mut events: Option<tokio::sync::mpsc::Receiver<FanoutEvent>>,
    timeout: Duration,
    options: RevocationOptions,
    clock: Arc<dyn Clock>,
) {
    let mut failing = false;
    let mut catch_ups: u64 = 0;
    // With a fan-out, polling is the backstop; while it is down, polling is the only path.
    let mut fanout_up = false;
    loop {
        let Some(current) = mirror.upgrade() else {
            return;
        };
        let now = unix_secs(&*clock);
        let after = current.applied.load(Ordering::Acquire);
        match bounded(timeout, store.revocations_since(after, now)).await {
            Ok(log) => {
                current.apply(&log.entries);
                current.applied.fetch_max(log.seq, Ordering::AcqRel);
                current.mark_synced();
                catch_ups += 1;
                if catch_ups.is_multiple_of(64) {
                    current
                        .set
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .prune(now);
                }
                if failing {
                    tracing::info!(target: "authz_core::store", "revocation mirror caught up again");
                    failing = false;
                }
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(
                        target: "authz_core::store",
                        %error,
                        "revocation mirror cannot reach the durable store; it answers on its own until it is stale"
                    );
                    failing = true;
                }
            }
        }
        // Wait for a reason to catch up again (holding the mirror at most one poll interval
        // after the service is dropped).
        let wake = current.wake.notified();
        tokio::pin!(wake);
        loop {
            let poll = if events.is_some() && !fanout_up {
                options.fallback_poll_interval
            } else {
                options.poll_interval
            };
            let event = async {
                match events.as_mut() {
                    Some(receiver) => receiver.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = tokio::time::sleep(poll) => break,
                () = &mut wake => break,
                event = event => match event {
                    Some(FanoutEvent::Revoked(revocations)) => {
                        if !current.apply_published(&revocations) {
                            break;
                        }
                    }
                    Some(FanoutEvent::RevokedAck(revocations, ack)) => {
                        let contiguous = current.apply_published(&revocations);
                        ack.done();
                        if !contiguous {
                            break;
                        }
                    }
                    Some(FanoutEvent::Resubscribed) => {
                        fanout_up = true;
                        break;
                    }
                    Some(FanoutEvent::Lost) => {
                        fanout_up = false;
                        break;
                    }
                    None => events = None,
                },
            }
        }
    }
}
