//! Usage metering and quotas per subject, in memory: [`UsageMeter`] counts requests by
//! subject, route template, method and status class in minute buckets (rolled up per hour and
//! day); [`QuotaLimiter`] enforces a token bucket (burst + refill) and a period cap (per day or
//! month) per subject, role or anonymous client address.
//!
//! Both are exact under concurrency (each caller's state behind one mutex, callers spread over
//! up to 16 shards so that different callers seldom wait for each other; no count is lost, no
//! quota overspent) and bounded: old buckets are dropped as time passes, and at most
//! `max_subjects` callers are tracked (per shard, the least recently seen are forgotten
//! first).
//!
//! ```
//! use authz_core::usage::{Granularity, Quota, QuotaDecision, QuotaLimiter, UsageMeter};
//!
//! let meter = UsageMeter::new();
//! meter.record("alice", "/posts/{id}", "GET", 200, 1_700_000_000);
//! meter.record("alice", "/posts/{id}", "GET", 404, 1_700_000_001);
//! let rows = meter.usage(Some("alice"), Granularity::Day, 0, u64::MAX);
//! assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 2);
//!
//! let limiter = QuotaLimiter::new();
//! let quota = Quota::rate(2, 1.0); // burst 2, then 1 request per second
//! assert!(matches!(limiter.check("alice", &quota, 100.0), QuotaDecision::Allowed { remaining: 1, .. }));
//! assert!(matches!(limiter.check("alice", &quota, 100.0), QuotaDecision::Allowed { remaining: 0, .. }));
//! assert!(matches!(limiter.check("alice", &quota, 100.0), QuotaDecision::Limited { retry_after: 1, .. }));
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::lock;

/// State split by key over several mutexes, so that requests of different callers on
/// different worker threads seldom wait for each other (one mutex for everything serialized
/// every request; `bench/usage-contention.sh` measures both). Small limits (tests, tiny
/// deployments) keep one shard, so that bounds and eviction stay exact.
#[derive(Debug)]
struct Shards<T> {
    shards: Box<[Mutex<T>]>,
}

impl<T: Default> Shards<T> {
    /// Shards for at most `max_entries` entries: one per 4 096 entries, at most 16.
    fn for_entries(max_entries: usize) -> Self {
        let count = (max_entries / 4096).clamp(1, 16);
        Self {
            shards: (0..count).map(|_| Mutex::new(T::default())).collect(),
        }
    }

    fn len(&self) -> usize {
        self.shards.len()
    }

    /// The shard that holds `key`.
    fn of(&self, key: &str) -> &Mutex<T> {
        use std::hash::BuildHasher as _;
        let index = if self.shards.len() == 1 {
            0
        } else {
            let hash = foldhash::fast::FixedState::with_seed(0x5eed).hash_one(key);
            (hash % self.shards.len() as u64) as usize
        };
        &self.shards[index]
    }

    fn iter(&self) -> impl Iterator<Item = &Mutex<T>> {
        self.shards.iter()
    }
}
use serde::Serialize;

/// Bucket size of a usage row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// 60 s buckets, kept 2 hours.
    Minute,
    /// 1 h buckets, kept 3 days.
    Hour,
    /// 1 day buckets (UTC), kept 400 days.
    Day,
}

impl Granularity {
    /// Bucket length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3600,
            Self::Day => 86_400,
        }
    }

    fn retention(self) -> u64 {
        match self {
            Self::Minute => 2 * 3600,
            Self::Hour => 3 * 86_400,
            Self::Day => 400 * 86_400,
        }
    }
}

/// One counter: requests by `subject` to `route` with `method`, answered with a status in
/// `status_class` (`2xx`…), in the bucket starting at `start` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// The caller: a token's `sub`, or `anon:<address>`.
    pub subject: String,
    /// The route template (`/posts/{id}`), not the raw path.
    pub route: String,
    /// The method.
    pub method: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub status_class: String,
    /// The bucket size.
    pub granularity: Granularity,
    /// Start of the bucket, Unix seconds.
    pub start: u64,
    /// Requests counted.
    pub count: u64,
}

/// Route, method and status class, as interned ids: counting allocates nothing once a
/// subject and a route have been seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Series {
    route: u32,
    method: u32,
    class: u8,
}

/// Strings seen so far, by id.
#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", |n| n)
    }
}

#[derive(Debug, Default)]
struct Meter {
    subjects: HashMap<String, SubjectUsage>,
    strings: Interner,
    /// Pending counts of evicted subjects, and failed flushes put back.
    queued: Vec<UsageDelta>,
}

/// Maps keyed by our own ids and times (no caller-chosen bytes): a fast unkeyed hash.
type IdMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

#[derive(Debug, Default)]
struct SubjectUsage {
    /// Live minute buckets: (series, minute start) → count. The hot path touches only these.
    minutes: IdMap<(Series, u64), u64>,
    /// Hour and day buckets, fed by minute buckets as they expire (so never counted twice).
    folded: IdMap<(Series, Granularity, u64), u64>,
    /// Counts not yet exported (only with [`UsageMeter::exporting`]).
    pending: IdMap<(Series, u64), u64>,
    last_seen: u64,
}

impl SubjectUsage {
    /// Moves minute buckets past their retention into hour and day buckets, and drops hour and
    /// day buckets past theirs.
    fn fold(&mut self, now: u64) {
        let retention = Granularity::Minute.retention();
        let folded = &mut self.folded;
        self.minutes.retain(|&(series, start), &mut count| {
            if start + retention > now {
                return true;
            }
            for granularity in [Granularity::Hour, Granularity::Day] {
                let bucket = start - start % granularity.seconds();
                *folded.entry((series, granularity, bucket)).or_insert(0) += count;
            }
            false
        });
        self.folded
            .retain(|&(_, g, start), _| start + g.retention() > now);
    }

    /// Every bucket of `granularity`: folded ones plus live minutes rolled up.
    fn buckets(&self, granularity: Granularity) -> IdMap<(Series, u64), u64> {
        let mut out: IdMap<(Series, u64), u64> = IdMap::default();
        if granularity == Granularity::Minute {
            out.extend(self.minutes.iter().map(|(k, v)| (*k, *v)));
            return out;
        }
        for (&(series, g, start), &count) in &self.folded {
            if g == granularity {
                *out.entry((series, start)).or_insert(0) += count;
            }
        }
        for (&(series, start), &count) in &self.minutes {
            let bucket = start - start % granularity.seconds();
            *out.entry((series, bucket)).or_insert(0) += count;
        }
        out
    }
}

/// Request counters per subject. See the [module docs](self).
#[derive(Debug)]
pub struct UsageMeter {
    state: Shards<Meter>,
    /// Per shard.
    max_subjects: usize,
    exporting: bool,
}

impl Default for UsageMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl UsageMeter {
    /// A meter tracking at most 100 000 subjects.
    pub fn new() -> Self {
        Self::with_max_subjects(100_000)
    }

    /// A meter tracking at most `max` subjects (the least recently seen are dropped first).
    pub fn with_max_subjects(max: usize) -> Self {
        let state = Shards::for_entries(max.max(1));
        let max_subjects = max.max(1).div_ceil(state.len());
        Self {
            state,
            max_subjects,
            exporting: false,
        }
    }

    /// Also keeps the counts since the last [`take_pending`](Self::take_pending), for a
    /// background task to send to a shared store (Redis) in batches.
    #[must_use]
    pub fn exporting(mut self) -> Self {
        self.exporting = true;
        self
    }

    /// The counts recorded since the last call, cleared (empty unless
    /// [`exporting`](Self::exporting)).
    pub fn take_pending(&self) -> Vec<UsageDelta> {
        let mut out = Vec::new();
        for shard in self.state.iter() {
            let mut state = lock(shard);
            let Meter {
                subjects,
                strings,
                queued,
            } = &mut *state;
            out.append(queued);
            for (subject, usage) in subjects.iter_mut() {
                for ((series, minute), count) in usage.pending.drain() {
                    out.push(delta(strings, subject, series, minute, count));
                }
            }
        }
        out
    }

    /// Puts back a batch that could not be exported (a failed flush), to go with the next.
    /// At most 100 000 deltas wait; beyond that the oldest are dropped.
    pub fn requeue(&self, batch: Vec<UsageDelta>) {
        let Some(first) = self.state.iter().next() else {
            return;
        };
        let mut state = lock(first);
        state.queued.extend(batch);
        let excess = state.queued.len().saturating_sub(100_000);
        state.queued.drain(..excess);
    }

    /// Counts one request.
    pub fn record(&self, subject: &str, route: &str, method: &str, status: u16, now: u64) {
        self.record_n(subject, route, method, status, now, 1);
    }

    /// Counts `n` requests (a batch).
    pub fn record_n(
        &self,
        subject: &str,
        route: &str,
        method: &str,
        status: u16,
        now: u64,
        n: u64,
    ) {
        let class = u8::try_from((status / 100).clamp(1, 5)).unwrap_or(5);
        let mut state = lock(self.state.of(subject));
        let Meter {
            subjects,
            strings,
            queued,
        } = &mut *state;
        let series = Series {
            route: strings.id(route),
            method: strings.id(method),
            class,
        };
        if !subjects.contains_key(subject) && subjects.len() >= self.max_subjects {
            // Full: forget the least recently seen tenth in one pass, so that a stream of new
            // callers (e.g. anonymous addresses) costs one scan per tenth, not one per caller.
            let mut seen: Vec<u64> = subjects.values().map(|u| u.last_seen).collect();
            let cut = seen.len() / 10;
            let (_, &mut threshold, _) = seen.select_nth_unstable(cut);
            let strings = &*strings;
            subjects.retain(|name, usage| {
                if usage.last_seen > threshold {
                    return true;
                }
                // Counts not exported yet leave with their subject's buckets, not into the void.
                for (&(series, minute), &count) in &usage.pending {
                    queued.push(delta(strings, name, series, minute, count));
                }
                false
            });
        }
        let usage = match subjects.get_mut(subject) {
            Some(usage) => usage,
            None => subjects.entry(subject.to_owned()).or_default(),
        };
        if usage.last_seen / 60 != now / 60 {
            // Once a minute per subject: fold old minutes into hours and days.
            usage.fold(now);
        }
        usage.last_seen = now;
        *usage.minutes.entry((series, now - now % 60)).or_insert(0) += n;
        if self.exporting {
            *usage.pending.entry((series, now - now % 60)).or_insert(0) += n;
        }
    }

    /// The rows of `subject` (all subjects with `None`) at `granularity` whose bucket starts
    /// in `from..to`, sorted by subject, start, route, method, class.
    pub fn usage(
        &self,
        subject: Option<&str>,
        granularity: Granularity,
        from: u64,
        to: u64,
    ) -> Vec<UsageRow> {
        let mut rows: Vec<UsageRow> = Vec::new();
        for shard in self.state.iter() {
            let state = lock(shard);
            state.rows(subject, granularity, from, to, &mut rows);
        }
        rows.sort_by(|a, b| {
            (&a.subject, a.start, &a.route, &a.method, &a.status_class).cmp(&(
                &b.subject,
                b.start,
                &b.route,
                &b.method,
                &b.status_class,
            ))
        });
        rows
    }
}

impl Meter {
    /// Appends this shard's rows (see [`UsageMeter::usage`]).
    fn rows(
        &self,
        subject: Option<&str>,
        granularity: Granularity,
        from: u64,
        to: u64,
        rows: &mut Vec<UsageRow>,
    ) {
        let strings = &self.strings;
        for (name, usage) in &self.subjects {
            if subject.is_some_and(|s| s != name.as_str()) {
                continue;
            }
            for ((series, start), count) in usage.buckets(granularity) {
                if !(from..to).contains(&start) {
                    continue;
                }
                rows.push(UsageRow {
                    subject: name.clone(),
                    route: strings.name(series.route).to_owned(),
                    method: strings.name(series.method).to_owned(),
                    status_class: format!("{}xx", series.class),
                    granularity,
                    start,
                    count,
                });
            }
        }
    }
}

impl UsageMeter {
    /// Requests per caller whose bucket starts in `from..to` (day buckets). OAuth clients'
    /// rows (`client:<id>`, counted beside their users) are left out.
    pub fn totals(&self, from: u64, to: u64) -> Vec<(String, u64)> {
        let mut totals: HashMap<String, u64> = HashMap::new();
        for row in self.usage(None, Granularity::Day, from, to) {
            if row.subject.starts_with("client:") {
                continue;
            }
            *totals.entry(row.subject).or_insert(0) += row.count;
        }
        let mut totals: Vec<_> = totals.into_iter().collect();
        totals.sort();
        totals
    }
}

fn delta(strings: &Interner, subject: &str, series: Series, minute: u64, count: u64) -> UsageDelta {
    UsageDelta {
        subject: subject.to_owned(),
        route: strings.name(series.route).to_owned(),
        method: strings.name(series.method).to_owned(),
        status_class: series.class,
        minute,
        count,
    }
}

/// Counts to export: `count` requests in the minute starting at `minute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    /// The caller.
    pub subject: String,
    /// The route template.
    pub route: String,
    /// The method.
    pub method: String,
    /// 2 for `2xx`, … 5 for `5xx`.
    pub status_class: u8,
    /// Start of the minute, Unix seconds.
    pub minute: u64,
    /// Requests.
    pub count: u64,
}

/// Quotas kept somewhere shared (Redis): one quota for several instances, spent atomically.
#[async_trait::async_trait]
pub trait QuotaStore: Send + Sync + 'static {
    /// Takes one request from `key`'s quota at `now` (Unix seconds).
    async fn take(
        &self,
        key: &str,
        quota: &Quota,
        now: f64,
    ) -> crate::error::StoreResult<QuotaDecision>;
}

#[async_trait::async_trait]
impl QuotaStore for QuotaLimiter {
    async fn take(
        &self,
        key: &str,
        quota: &Quota,
        now: f64,
    ) -> crate::error::StoreResult<QuotaDecision> {
        Ok(self.check(key, quota, now))
    }
}

/// A period for a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A UTC day.
    Day,
    /// 30 days from the first request of the period.
    Month,
}

impl Period {
    /// Its length in seconds (a month is 30 days).
    pub fn seconds(self) -> u64 {
        match self {
            Self::Day => 86_400,
            Self::Month => 30 * 86_400,
        }
    }
}

/// A quota: a token bucket (burst, then `refill_per_sec`), and optionally a cap per period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Requests allowed at once.
    pub burst: u32,
    /// Tokens added per second.
    pub refill_per_sec: f64,
    /// At most this many requests per period.
    pub cap: Option<(Period, u64)>,
}

impl Quota {
    /// A token bucket without a period cap.
    pub fn rate(burst: u32, refill_per_sec: f64) -> Self {
        Self {
            burst: burst.max(1),
            refill_per_sec: refill_per_sec.max(0.0),
            cap: None,
        }
    }

    /// Adds a cap per period.
    #[must_use]
    pub fn with_cap(mut self, period: Period, cap: u64) -> Self {
        self.cap = Some((period, cap));
        self
    }
}

/// The outcome of [`QuotaLimiter::check`], with what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaDecision {
    /// Go on.
    Allowed {
        /// `RateLimit-Limit`.
        limit: u64,
        /// `RateLimit-Remaining`.
        remaining: u64,
        /// `RateLimit-Reset`: seconds until the bucket is full again.
        reset: u64,
    },
    /// Refuse with 429.
    Limited {
        /// `RateLimit-Limit`.
        limit: u64,
        /// Seconds until a request would pass (`Retry-After`).
        retry_after: u64,
        /// `RateLimit-Reset`.
        reset: u64,
        /// Whether the period cap (not the rate) refused it.
        cap: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: f64,
    period_start: u64,
    period_used: u64,
    /// The bucket's own burst (callers have different quotas).
    burst: f64,
    /// Its quota's cap period, if it has one (then `period_used` must outlive eviction).
    cap_period: Option<Period>,
}

impl Bucket {
    /// How much is lost if this bucket is forgotten: the requests spent of a running period
    /// cap. Forgetting an uncapped bucket gives its caller at most one burst back.
    fn cap_spent(&self, now: f64) -> u64 {
        match self.cap_period {
            Some(period) if (now as u64) < self.period_start.saturating_add(period.seconds()) => {
                self.period_used
            }
            _ => 0,
        }
    }
}

/// Makes room in a full limiter, in one pass each: full buckets first (they carry no state),
/// then, if it is still full, the half that loses least — uncapped buckets before capped ones,
/// the least recently used first among uncapped ones, the least spent among capped ones.
///
/// So flooding the limiter with new keys cannot reset a caller's period cap: to push out a
/// bucket that has spent `n` of its cap, more than half the limiter must hold buckets that
/// have spent more than `n` each — more requests than the cap it would reset.
fn evict(buckets: &mut HashMap<String, Bucket>, max_keys: usize, now: f64) {
    buckets.retain(|_, b| b.tokens < b.burst || b.cap_spent(now) > 0);
    if buckets.len() < max_keys {
        return;
    }
    let rank = |b: &Bucket| (b.cap_spent(now), b.updated);
    let mut ranks: Vec<(u64, f64)> = buckets.values().map(rank).collect();
    let half = ranks.len() / 2;
    let order = |a: &(u64, f64), b: &(u64, f64)| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1));
    let (_, &mut threshold, _) = ranks.select_nth_unstable_by(half, order);
    buckets.retain(|_, b| order(&rank(b), &threshold).is_gt());
}

/// Enforces [`Quota`]s by key (a subject or `anon:<address>`). See the [module docs](self).
#[derive(Debug)]
pub struct QuotaLimiter {
    buckets: Shards<HashMap<String, Bucket>>,
    /// Per shard.
    max_keys: usize,
}

impl Default for QuotaLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl QuotaLimiter {
    /// A limiter tracking at most 100 000 keys.
    pub fn new() -> Self {
        Self::with_max_keys(100_000)
    }

    /// A limiter tracking at most `max` keys: when full, the half least worth keeping goes
    /// (buckets whose period cap is spent are kept first, then the most recently used).
    /// From 8 192 keys on, keys are spread over several shards, each with its own lock.
    pub fn with_max_keys(max: usize) -> Self {
        let buckets = Shards::for_entries(max.max(1));
        let max_keys = max.max(1).div_ceil(buckets.len());
        Self { buckets, max_keys }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.iter().map(|shard| lock(shard).len()).sum()
    }

    /// Takes one request from `key`'s quota at time `now` (Unix seconds, fractional).
    pub fn check(&self, key: &str, quota: &Quota, now: f64) -> QuotaDecision {
        let burst = f64::from(quota.burst);
        let mut buckets = lock(self.buckets.of(key));
        if !buckets.contains_key(key) && buckets.len() >= self.max_keys {
            evict(&mut buckets, self.max_keys, now);
        }
        let bucket = match buckets.get_mut(key) {
            Some(bucket) => bucket,
            None => buckets.entry(key.to_owned()).or_insert(Bucket {
                tokens: burst,
                updated: now,
                period_start: now as u64,
                period_used: 0,
                burst,
                cap_period: None,
            }),
        };
        bucket.burst = burst;
        bucket.cap_period = quota.cap.map(|(period, _)| period);
        let elapsed = (now - bucket.updated).max(0.0);
        bucket.tokens = (bucket.tokens + elapsed * quota.refill_per_sec).min(burst);
        bucket.updated = now;
        let refill_time = |missing: f64| -> u64 {
            if quota.refill_per_sec > 0.0 {
                (missing / quota.refill_per_sec).ceil() as u64
            } else {
                // A burst-only quota never refills: say "a day", as the Redis store does.
                86_400
            }
        };
        if let Some((period, cap)) = quota.cap {
            let start = match period {
                Period::Day => (now as u64) - (now as u64) % 86_400,
                Period::Month => bucket.period_start,
            };
            if (now as u64) >= bucket.period_start.saturating_add(period.seconds())
                || (period == Period::Day && start != bucket.period_start)
            {
                bucket.period_start = if period == Period::Day {
                    start
                } else {
                    now as u64
                };
                bucket.period_used = 0;
            }
            if bucket.period_used >= cap {
                let reset = bucket
                    .period_start
                    .saturating_add(period.seconds())
                    .saturating_sub(now as u64)
                    .max(1);
                return QuotaDecision::Limited {
                    limit: cap,
                    retry_after: reset,
                    reset,
                    cap: true,
                };
            }
        }
        if bucket.tokens < 1.0 {
            let retry_after = refill_time(1.0 - bucket.tokens).max(1);
            return QuotaDecision::Limited {
                limit: u64::from(quota.burst),
                retry_after,
                reset: refill_time(burst - bucket.tokens).max(1),
                cap: false,
            };
        }
        bucket.tokens -= 1.0;
        bucket.period_used += 1;
        let cap_left = quota
            .cap
            .map_or(u64::MAX, |(_, cap)| cap.saturating_sub(bucket.period_used));
        QuotaDecision::Allowed {
            limit: u64::from(quota.burst),
            remaining: (bucket.tokens.floor() as u64).min(cap_left),
            reset: refill_time(burst - bucket.tokens),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_roll_up_and_expire() {
        let meter = UsageMeter::new();
        let t = 1_700_000_000 - 1_700_000_000 % 86_400; // a day start
        meter.record("a", "/x", "GET", 200, t);
        meter.record("a", "/x", "GET", 204, t + 61);
        meter.record("a", "/x", "POST", 500, t + 3601);
        meter.record("b", "/y/{id}", "GET", 404, t + 5);
        assert_eq!(
            meter
                .usage(Some("a"), Granularity::Minute, 0, u64::MAX)
                .len(),
            3
        );
        let hours = meter.usage(Some("a"), Granularity::Hour, 0, u64::MAX);
        assert_eq!(hours.len(), 2);
        assert_eq!((hours[0].count, hours[0].status_class.as_str()), (2, "2xx"));
        assert_eq!(
            meter.totals(0, u64::MAX),
            [("a".into(), 3), ("b".into(), 1)]
        );
        // Three hours later, minute buckets of the first hour are gone; hours and days stay.
        meter.record("a", "/x", "GET", 200, t + 3 * 3600);
        assert_eq!(
            meter
                .usage(Some("a"), Granularity::Minute, 0, u64::MAX)
                .len(),
            1
        );
        assert_eq!(meter.totals(0, u64::MAX)[0], ("a".into(), 4));
    }

    #[test]
    fn bounded_subjects() {
        let meter = UsageMeter::with_max_subjects(2);
        meter.record("a", "/", "GET", 200, 1);
        meter.record("b", "/", "GET", 200, 2);
        meter.record("c", "/", "GET", 200, 3);
        let subjects: Vec<_> = meter
            .totals(0, u64::MAX)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(subjects, ["b", "c"]);
    }

    #[test]
    fn bounded_limiter() {
        let limiter = QuotaLimiter::with_max_keys(10);
        let quota = Quota::rate(5, 0.0);
        for i in 0..1000 {
            let _ = limiter.check(&format!("k{i}"), &quota, f64::from(i));
        }
        assert!(limiter.len() <= 10);
    }

    #[test]
    fn flooding_the_limiter_does_not_reset_a_spent_cap() {
        let limiter = QuotaLimiter::with_max_keys(1000);
        let capped = Quota::rate(1000, 1000.0).with_cap(Period::Day, 50);
        let t = 86_400.0 * 20_000.0;
        for _ in 0..50 {
            assert!(matches!(
                limiter.check("victim", &capped, t),
                QuotaDecision::Allowed { .. }
            ));
        }
        // 100 000 other callers, each spending a little of its own cap and all of its burst.
        let small = Quota::rate(1, 0.0).with_cap(Period::Day, 50);
        for i in 0..100_000 {
            let _ = limiter.check(&format!("flood{i}"), &small, t + 1.0);
        }
        assert!(limiter.len() <= 1000);
        assert!(matches!(
            limiter.check("victim", &capped, t + 2.0),
            QuotaDecision::Limited { cap: true, .. }
        ));
        // Uncapped buckets go first, least recently used first.
        let rate = Quota::rate(2, 0.0);
        for i in 0..2000 {
            let _ = limiter.check(&format!("rate{i}"), &rate, t + 3.0 + f64::from(i));
        }
        assert!(matches!(
            limiter.check("victim", &capped, t + 5000.0),
            QuotaDecision::Limited { cap: true, .. }
        ));
        // The next day the cap starts over.
        assert!(matches!(
            limiter.check("victim", &capped, t + 86_400.0),
            QuotaDecision::Allowed { .. }
        ));
    }

    #[test]
    fn token_bucket_and_cap() {
        let limiter = QuotaLimiter::new();
        let quota = Quota::rate(2, 0.5).with_cap(Period::Day, 3);
        let t = 86_400.0 * 20_000.0;
        assert!(matches!(
            limiter.check("k", &quota, t),
            QuotaDecision::Allowed { remaining: 1, .. }
        ));
        assert!(matches!(
            limiter.check("k", &quota, t),
            QuotaDecision::Allowed { remaining: 0, .. }
        ));
        assert_eq!(
            limiter.check("k", &quota, t),
            QuotaDecision::Limited {
                limit: 2,
                retry_after: 2,
                reset: 4,
                cap: false
            }
        );
        assert!(matches!(
            limiter.check("k", &quota, t + 2.0),
            QuotaDecision::Allowed { .. }
        ));
        // The day's cap (3) is spent, whatever the bucket says.
        assert!(matches!(
            limiter.check("k", &quota, t + 100.0),
            QuotaDecision::Limited {
                cap: true,
                limit: 3,
                ..
            }
        ));
        assert!(matches!(
            limiter.check("k", &quota, t + 86_400.0),
            QuotaDecision::Allowed { .. }
        ));
    }
}
