//! Revocations and throttle counters in Redis, shared by every instance of an app.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands as _, Script};

use futures_util::StreamExt as _;

use super::{
    Failures, MemoryStore, RevocationQuery, RevocationStore, StoreError, StoreResult, ThrottleStore,
};

/// Revocations ([`RevocationStore`]) and login throttling ([`ThrottleStore`]) in Redis
/// (feature `redis`), so that a logout on one instance is honoured by all, and a password
/// guesser cannot spread attempts across them.
///
/// Entries expire with Redis TTLs at the moment they stop mattering (`EXAT until`), so Redis
/// holds only live revocations. Writes that must not lose a concurrent update (a later
/// subject mark, a failure count) are Lua scripts, atomic in Redis.
///
/// The request-path check ([`RevocationStore::is_revoked`]) is one `MGET` of three keys with
/// [`RedisStore::connect`]. With [`RedisStore::connect_mirrored`] it is a lookup in a local
/// copy instead: every revocation is also published (in the same Lua script) on a channel
/// that each instance subscribes to, and an instance loads the live entries when it
/// (re)subscribes. While the subscription is down, checks go to Redis again, so a revocation
/// is never missed for lack of a message.
///
/// ```no_run
/// use std::sync::Arc;
/// use authz_core::lifecycle::TokenService;
/// use authz_core::lifecycle::store::RedisStore;
/// # async fn run(key: authz_core::SigningKey) -> Result<(), Box<dyn std::error::Error>> {
/// let redis = Arc::new(RedisStore::connect("redis://127.0.0.1:6379", "myapp:").await?);
/// let service = TokenService::builder(key)
///     .with_revocation_store(redis.clone())
///     .with_throttle_store(redis)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    mirror: Option<Arc<Mirror>>,
}

/// The local copy of the live revocations, fed by the channel.
#[derive(Debug, Default)]
struct Mirror {
    entries: MemoryStore,
    /// True while subscribed and loaded; checks fall back to Redis otherwise.
    synced: AtomicBool,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

static MARK: LazyLock<Script> = LazyLock::new(|| Script::new(MARK_SCRIPT));
static FLAG: LazyLock<Script> = LazyLock::new(|| Script::new(FLAG_SCRIPT));
static FAILURE: LazyLock<Script> = LazyLock::new(|| Script::new(FAILURE_SCRIPT));

fn backend(error: redis::RedisError) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// Keeps the later of two marks and the later expiry, then tells the mirrors
/// (`KEYS[2]` is the channel, `ARGV[3]` the message).
const MARK_SCRIPT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local mark = tonumber(ARGV[1])
if mark > current then
  local expiry = tonumber(ARGV[2])
  local previous = tonumber(redis.call('EXPIRETIME', KEYS[1]))
  if previous > expiry then expiry = previous end
  redis.call('SET', KEYS[1], ARGV[1], 'EXAT', expiry)
else
  redis.call('EXPIREAT', KEYS[1], ARGV[2], 'GT')
end
redis.call('PUBLISH', KEYS[2], ARGV[3])
return 1
";

/// Sets a flag until `ARGV[1]`, keeping a later expiry if there is one, then tells the
/// mirrors.
const FLAG_SCRIPT: &str = r"
if not redis.call('SET', KEYS[1], '1', 'EXAT', ARGV[1], 'NX') then
  redis.call('EXPIREAT', KEYS[1], ARGV[1], 'GT')
end
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
";

/// Counts one failure; starts again from 1 when the last one is older than the window.
const FAILURE_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if last + window <= now then count = 0 end
count = count + 1
redis.call('HSET', KEYS[1], 'count', count, 'last', now)
redis.call('EXPIRE', KEYS[1], window)
return count
";

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); every key starts with `prefix` (so that
    /// several apps can share one Redis). The connection reconnects by itself.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the URL is invalid or Redis cannot be reached.
    pub async fn connect(url: &str, prefix: &str) -> StoreResult<Self> {
        let client = redis::Client::open(url).map_err(backend)?;
        let connection = ConnectionManager::new(client).await.map_err(backend)?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            mirror: None,
        })
    }

    /// As [`RedisStore::connect`], and keeps a local copy of the live revocations so that
    /// the request-path check needs no round trip (see the type's docs). Waits up to 5 s for
    /// the first load; checks go to Redis until it is done.
    ///
    /// # Errors
    ///
    /// As [`RedisStore::connect`].
    pub async fn connect_mirrored(url: &str, prefix: &str) -> StoreResult<Self> {
        let mut store = Self::connect(url, prefix).await?;
        let mirror = Arc::new(Mirror::default());
        let client = redis::Client::open(url).map_err(backend)?;
        tokio::spawn(follow(
            client,
            store.connection.clone(),
            prefix.to_owned(),
            Arc::downgrade(&mirror),
        ));
        for _ in 0..100 {
            if mirror.synced.load(Ordering::Acquire) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        store.mirror = Some(mirror);
        Ok(store)
    }

    /// Whether checks are answered locally right now (mirrored and subscribed).
    pub fn is_mirror_synced(&self) -> bool {
        self.mirror
            .as_ref()
            .is_some_and(|mirror| mirror.synced.load(Ordering::Acquire))
    }

    fn channel(&self) -> String {
        format!("{}revocations", self.prefix)
    }

    fn key(&self, kind: &str, id: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + id.len() + 1);
        key.push_str(&self.prefix);
        key.push_str(kind);
        key.push(':');
        key.push_str(id);
        key
    }

    async fn flag(&self, kind: &str, id: &str, until: u64) -> StoreResult<()> {
        let mut connection = self.connection.clone();
        let message = format!("{kind} {until} {id}");
        FLAG.key(self.key(kind, id))
            .key(self.channel())
            .arg(until)
            .arg(&message)
            .invoke_async::<i64>(&mut connection)
            .await
            .map_err(backend)?;
        self.apply_locally(&message).await;
        Ok(())
    }

    /// Read-your-writes: this instance's own revocations are in its copy at once, not when
    /// the channel brings them back.
    async fn apply_locally(&self, message: &str) {
        if let Some(mirror) = &self.mirror {
            apply(&mirror.entries, message).await;
        }
    }
}

#[async_trait]
impl RevocationStore for RedisStore {
    async fn revoke_token(&self, token_id: &str, until: u64) -> StoreResult<()> {
        self.flag("jti", token_id, until).await
    }

    async fn revoke_session(&self, session_id: &str, until: u64) -> StoreResult<()> {
        self.flag("sid", session_id, until).await
    }

    async fn revoke_subject_before(&self, subject: &str, mark: u64, until: u64) -> StoreResult<()> {
        let mut connection = self.connection.clone();
        let message = format!("sub {until} {mark} {subject}");
        MARK.key(self.key("sub", subject))
            .key(self.channel())
            .arg(mark)
            .arg(until)
            .arg(&message)
            .invoke_async::<i64>(&mut connection)
            .await
            .map_err(backend)?;
        self.apply_locally(&message).await;
        Ok(())
    }

    async fn is_revoked(&self, query: RevocationQuery<'_>, now: u64) -> StoreResult<bool> {
        if let Some(mirror) = &self.mirror
            && mirror.synced.load(Ordering::Acquire)
        {
            return mirror.entries.is_revoked(query, now).await;
        }
        // Expired entries are gone (TTL), so presence is enough.
        let keys = [
            self.key("jti", query.token_id.unwrap_or("")),
            self.key("sid", query.session_id.unwrap_or("")),
            self.key("sub", query.subject),
        ];
        let mut connection = self.connection.clone();
        let values: Vec<Option<String>> = connection.mget(&keys).await.map_err(backend)?;
        let [jti, sid, mark] = values.as_slice() else {
            return Err(StoreError::Backend("MGET returned a short reply".into()));
        };
        if (query.token_id.is_some() && jti.is_some())
            || (query.session_id.is_some() && sid.is_some())
        {
            return Ok(true);
        }
        Ok(match mark.as_deref().map(str::parse::<u64>) {
            Some(Ok(mark)) => query.issued_at.is_none_or(|iat| iat <= mark),
            Some(Err(_)) => true,
            None => false,
        })
    }
}

#[async_trait]
impl ThrottleStore for RedisStore {
    async fn failures(&self, key: &str, window: u64, now: u64) -> StoreResult<Option<Failures>> {
        let mut connection = self.connection.clone();
        let (count, last): (Option<u32>, Option<u64>) = redis::cmd("HMGET")
            .arg(self.key("thr", key))
            .arg("count")
            .arg("last")
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(match (count, last) {
            (Some(count), Some(last)) if last.saturating_add(window) > now => {
                Some(Failures { count, last })
            }
            _ => None,
        })
    }

    async fn record_failure(&self, key: &str, window: u64, now: u64) -> StoreResult<Failures> {
        let mut connection = self.connection.clone();
        let count: u32 = FAILURE
            .key(self.key("thr", key))
            .arg(now)
            .arg(window.max(1))
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(Failures { count, last: now })
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        let mut connection = self.connection.clone();
        connection
            .del::<_, i64>(self.key("thr", key))
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Applies one channel message (`jti UNTIL ID`, `sid UNTIL ID`, `sub UNTIL MARK SUBJECT`) to
/// the local copy. Ids may contain spaces: they come last.
async fn apply(entries: &MemoryStore, message: &str) {
    let mut parts = message.splitn(3, ' ');
    let (Some(kind), Some(until), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(until) = until.parse::<u64>() else {
        return;
    };
    let _ = match kind {
        "jti" => entries.revoke_token(rest, until).await,
        "sid" => entries.revoke_session(rest, until).await,
        "sub" => match rest.split_once(' ') {
            Some((mark, subject)) => match mark.parse::<u64>() {
                Ok(mark) => entries.revoke_subject_before(subject, mark, until).await,
                Err(_) => Ok(()),
            },
            None => Ok(()),
        },
        _ => Ok(()),
    };
}

/// Escapes `*?[]\\` so that a prefix matches itself in a SCAN pattern.
fn glob_escape(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Loads every live entry under `prefix` into `entries` (after subscribing, so that nothing
/// published meanwhile is lost: applying an entry twice changes nothing).
async fn load(
    connection: &mut ConnectionManager,
    prefix: &str,
    entries: &MemoryStore,
) -> redis::RedisResult<()> {
    for kind in ["jti", "sid", "sub"] {
        let pattern = format!("{}{kind}:*", glob_escape(prefix));
        // SCAN walks the whole keyspace; large pages keep the round trips few.
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(connection)
                .await?;
            keys.extend(page);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for key in keys {
            let (value, until): (Option<String>, i64) = redis::pipe()
                .get(&key)
                .cmd("EXPIRETIME")
                .arg(&key)
                .query_async(connection)
                .await?;
            let (Some(value), Ok(until)) = (value, u64::try_from(until)) else {
                continue; // gone, or no expiry (not ours)
            };
            let Some(id) = key.get(prefix.len() + kind.len() + 1..) else {
                continue;
            };
            let message = match kind {
                "sub" => format!("sub {until} {value} {id}"),
                _ => format!("{kind} {until} {id}"),
            };
            apply(entries, &message).await;
        }
    }
    Ok(())
}

/// The mirror's background task: subscribe, load, apply messages; on any failure mark the
/// mirror unsynced (checks go to Redis), wait, and start again. Ends when the store is
/// dropped.
async fn follow(
    client: redis::Client,
    mut connection: ConnectionManager,
    prefix: String,
    mirror: Weak<Mirror>,
) {
    let channel = format!("{prefix}revocations");
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(current) = mirror.upgrade() else {
            return;
        };
        current.synced.store(false, Ordering::Release);
        drop(current);
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        if let Ok(pubsub) = subscribed {
            let loaded = match mirror.upgrade() {
                Some(current) => load(&mut connection, &prefix, &current.entries).await,
                None => return,
            };
            if loaded.is_ok() {
                backoff = Duration::from_millis(100);
                if let Some(current) = mirror.upgrade() {
                    current.synced.store(true, Ordering::Release);
                }
                let mut messages = pubsub.into_on_message();
                // A quiet subscription can die without a reset (NAT, load balancer): publish a
                // heartbeat every 5 s and resubscribe when nothing at all arrives for 15 s.
                let mut last_heard = tokio::time::Instant::now();
                loop {
                    match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
                        Ok(Some(message)) => {
                            last_heard = tokio::time::Instant::now();
                            let Some(current) = mirror.upgrade() else {
                                return;
                            };
                            if let Ok(payload) = message.get_payload::<String>() {
                                apply(&current.entries, &payload).await;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            if mirror.strong_count() == 0 {
                                return;
                            }
                            if last_heard.elapsed() > Duration::from_secs(15) {
                                break;
                            }
                            let _: Result<i64, _> = redis::cmd("PUBLISH")
                                .arg(&channel)
                                .arg("ping")
                                .query_async(&mut connection)
                                .await;
                        }
                    }
                }
            }
        }
        tracing::warn!(target: "authz_core::lifecycle::store", "revocation mirror lost Redis; checking Redis directly until it is back");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(feature = "assertion")]
#[async_trait]
impl crate::assertion::ReplayStore for RedisStore {
    async fn first_use(&self, jti: &str, until: u64) -> StoreResult<bool> {
        let mut connection = self.connection.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key("jti-used", jti))
            .arg("1")
            .arg("EXAT")
            .arg(until)
            .arg("NX")
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(set.is_some())
    }
}

#[cfg(feature = "usage")]
/// Token bucket + period cap, atomically. KEYS[1]: the bucket hash. ARGV: now (s, float),
/// burst, refill per s, cap (-1: none), period seconds, period kind (0 day, 1 month), TTL.
/// Returns {allowed, limit, remaining, reset, retry_after, cap_hit}.
const QUOTA_SCRIPT: &str = r"
-- Redis's clock, not the caller's: instances with skewed clocks must not mint tokens.
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local burst = tonumber(ARGV[2])
local refill = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local period = tonumber(ARGV[5])
local kind = tonumber(ARGV[6])
local second = math.floor(now)
local day = second - second % 86400
local b = redis.call('HMGET', KEYS[1], 'tokens', 'updated', 'pstart', 'pused')
local tokens = tonumber(b[1]) or burst
local updated = tonumber(b[2]) or now
local pstart = tonumber(b[3])
if pstart == nil then
  if kind == 0 then pstart = day else pstart = second end
end
local pused = tonumber(b[4]) or 0
local elapsed = now - updated
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * refill)
local function wait(missing)
  if refill <= 0 then return 86400 end
  return math.ceil(missing / refill)
end
local function save()
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now),
             'pstart', pstart, 'pused', pused)
  redis.call('EXPIRE', KEYS[1], ARGV[7])
end
if cap >= 0 then
  if (kind == 0 and day ~= pstart) or second >= pstart + period then
    if kind == 0 then pstart = day else pstart = second end
    pused = 0
  end
  if pused >= cap then
    save()
    local reset = pstart + period - second
    if reset < 1 then reset = 1 end
    return {0, cap, 0, reset, reset, 1}
  end
end
if tokens < 1 then
  save()
  local retry = wait(1 - tokens)
  if retry < 1 then retry = 1 end
  local reset = wait(burst - tokens)
  if reset < 1 then reset = 1 end
  return {0, burst, 0, reset, retry, 0}
end
tokens = tokens - 1
pused = pused + 1
save()
return {1, burst, math.floor(tokens), wait(burst - tokens), 0, 0}
";

#[cfg(feature = "usage")]
static QUOTA: LazyLock<Script> = LazyLock::new(|| Script::new(QUOTA_SCRIPT));

#[cfg(feature = "usage")]
#[async_trait]
impl crate::usage::QuotaStore for RedisStore {
    async fn take(
        &self,
        key: &str,
        quota: &crate::usage::Quota,
        now: f64,
    ) -> StoreResult<crate::usage::QuotaDecision> {
        use crate::usage::{Period, QuotaDecision};
        let (cap, period, kind) = match quota.cap {
            Some((period, cap)) => (
                i64::try_from(cap).unwrap_or(i64::MAX),
                period.seconds(),
                u8::from(period == Period::Month),
            ),
            None => (-1, 86_400, 0),
        };
        let refill_span = if quota.refill_per_sec > 0.0 {
            (f64::from(quota.burst) / quota.refill_per_sec).ceil() as u64
        } else {
            86_400
        };
        let ttl = match quota.cap {
            Some(_) => period.max(refill_span),
            None => refill_span,
        }
        .saturating_add(60);
        let mut connection = self.connection.clone();
        let reply: Vec<i64> = QUOTA
            .key(self.key("quota", key))
            .arg(format!("{now:.3}"))
            .arg(quota.burst)
            .arg(quota.refill_per_sec)
            .arg(cap)
            .arg(period)
            .arg(kind)
            .arg(ttl)
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        let [allowed, limit, remaining, reset, retry_after, cap_hit] = reply[..] else {
            return Err(StoreError::Backend("unexpected quota reply".into()));
        };
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(if allowed == 1 {
            QuotaDecision::Allowed {
                limit: n(limit),
                remaining: n(remaining),
                reset: n(reset),
            }
        } else {
            QuotaDecision::Limited {
                limit: n(limit),
                retry_after: n(retry_after).max(1),
                reset: n(reset),
                cap: cap_hit == 1,
            }
        })
    }
}

#[cfg(feature = "usage")]
/// Shared usage counters: hour buckets per caller (`{prefix}use:{day}:{subject}`, fields
/// `route \t method \t class \t hour`) and day totals per caller (`{prefix}tot:{day}`), kept
/// 400 days. Fed in batches by [`RedisStore::flush_usage`].
impl RedisStore {
    /// Adds a batch of counts (from [`UsageMeter::take_pending`](crate::usage::UsageMeter::take_pending))
    /// in one pipeline.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`]; the batch is then lost for Redis (it stays in the local
    /// meter).
    pub async fn flush_usage(&self, batch: &[crate::usage::UsageDelta]) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        const KEEP: i64 = 400 * 86_400;
        let mut pipe = redis::pipe();
        // MULTI/EXEC: a batch lands whole or not at all (then it is put back and retried).
        pipe.atomic();
        for delta in batch {
            let day = delta.minute - delta.minute % 86_400;
            let hour = delta.minute - delta.minute % 3600;
            let usage_key = self.key("use", &format!("{day}:{}", delta.subject));
            let field = format!(
                "{}\t{}\t{}\t{hour}",
                delta.route, delta.method, delta.status_class
            );
            let count = i64::try_from(delta.count).unwrap_or(i64::MAX);
            pipe.hincr(&usage_key, field, count).ignore();
            pipe.expire(&usage_key, KEEP).ignore();
            let totals_key = self.key("tot", &day.to_string());
            pipe.hincr(&totals_key, &delta.subject, count).ignore();
            pipe.expire(&totals_key, KEEP).ignore();
        }
        let mut connection = self.connection.clone();
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(backend)
    }

    /// Requests per caller on the UTC day starting at `day`, across every instance.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    pub async fn usage_totals(&self, day: u64) -> StoreResult<Vec<(String, u64)>> {
        let mut connection = self.connection.clone();
        let mut totals: Vec<(String, u64)> = connection
            .hgetall(self.key("tot", &day.to_string()))
            .await
            .map_err(backend)?;
        totals.sort();
        Ok(totals)
    }

    /// One caller's hour buckets on the UTC day starting at `day`, across every instance.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    pub async fn usage_of(
        &self,
        subject: &str,
        day: u64,
    ) -> StoreResult<Vec<crate::usage::UsageRow>> {
        let mut connection = self.connection.clone();
        let fields: Vec<(String, u64)> = connection
            .hgetall(self.key("use", &format!("{day}:{subject}")))
            .await
            .map_err(backend)?;
        let mut rows: Vec<crate::usage::UsageRow> = fields
            .into_iter()
            .filter_map(|(field, count)| {
                let mut parts = field.split('\t');
                let (route, method, class, hour) =
                    (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                Some(crate::usage::UsageRow {
                    subject: subject.to_owned(),
                    route: route.to_owned(),
                    method: method.to_owned(),
                    status_class: format!("{class}xx"),
                    granularity: crate::usage::Granularity::Hour,
                    start: hour.parse().ok()?,
                    count,
                })
            })
            .collect();
        rows.sort_by(|a, b| (a.start, &a.route, &a.method).cmp(&(b.start, &b.route, &b.method)));
        Ok(rows)
    }

    /// Sends the meter's pending counts to Redis every `every`, in the background, until
    /// the meter is dropped. A failed flush is logged and its batch put back to go with the
    /// next one (at most 100 000 deltas wait).
    pub fn spawn_usage_flush(&self, meter: &Arc<crate::usage::UsageMeter>, every: Duration) {
        let meter = Arc::downgrade(meter);
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(meter) = meter.upgrade() else { return };
                let batch = meter.take_pending();
                if let Err(error) = store.flush_usage(&batch).await {
                    tracing::warn!(target: "authz_core::lifecycle::store", %error, deltas = batch.len(), "usage flush to Redis failed; retrying with the next batch");
                    meter.requeue(batch);
                }
                drop(meter);
            }
        });
    }
}
