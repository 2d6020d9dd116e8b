//! Throttle counters, the revocation fan-out, client-assertion replays and quotas in Redis,
//! shared by every instance of an app.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, Script};

use super::{
    Ack, Failures, Fanout, FanoutEvent, Purged, Revocation, StoreError, StoreResult, ThrottleStore,
};

/// Login throttling ([`ThrottleStore`]) and the revocation fan-out ([`Fanout`]) in Redis
/// (feature `redis`), so that a password guesser cannot spread attempts across instances and
/// a logout on one reaches the others within milliseconds. With the `assertion` and `usage`
/// features it also keeps client-assertion replays and quota buckets.
///
/// Redis holds no revocation: those live in the durable [`SessionStore`](super::SessionStore)
/// (SQLite or PostgreSQL). A Redis restart, a lost message or a frozen Redis costs at most
/// one poll of the durable store, never a revocation.
///
/// Every command has a response timeout and every connection attempt a connect timeout
/// (both [`RedisOptions::timeout`], default 1 s), so that a dead or frozen Redis fails calls in
/// about that time instead of hanging them. Keys start with the prefix; the fan-out channel
/// names the logical database and the prefix (`authz:{db}:{prefix}revocations`), since Redis
/// channels are shared by every database of a server.
///
/// ```no_run
/// use std::sync::Arc;
/// use authz_core::lifecycle::TokenService;
/// use authz_core::lifecycle::store::{RedisStore, SqlStore};
/// # async fn run(key: authz_core::SigningKey) -> Result<(), Box<dyn std::error::Error>> {
/// let sql = Arc::new(SqlStore::connect("postgres://app@db.internal/app").await?);
/// let redis = Arc::new(RedisStore::connect("redis://127.0.0.1:6379", "myapp:").await?);
/// let service = TokenService::builder(key)
///     .with_store(sql)
///     .with_throttle_store(redis.clone())
///     .with_fanout(redis)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    client: redis::Client,
    prefix: String,
    channel: String,
    timeout: Duration,
    ack_wait: Duration,
}

/// How [`RedisStore`] connects.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The connect timeout of each connection attempt and the response timeout of each
    /// command.
    ///
    /// Defaults to 1 second.
    pub timeout: Duration,
    /// How long [`Fanout::publish`] waits, at most, until every subscribed instance has
    /// applied the revocations (each acknowledges once its mirror refuses them). A logout
    /// answers after that, so a client that logs out and then tries its old token on another
    /// instance is refused there too. An instance that does not answer in time (frozen,
    /// overloaded) is not waited for longer: it catches up at its next poll of the durable
    /// store. Zero publishes without waiting.
    ///
    /// Defaults to 250 ms.
    pub ack_wait: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            ack_wait: Duration::from_millis(250),
        }
    }
}

impl RedisOptions {
    /// The connect and response timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a publish waits for the other instances to apply it ([`Self::ack_wait`]).
    #[must_use]
    pub fn with_ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

static FAILURE: LazyLock<Script> = LazyLock::new(|| Script::new(FAILURE_SCRIPT));

fn backend(error: redis::RedisError) -> StoreError {
    if error.is_timeout() {
        StoreError::Timeout {
            after: Duration::ZERO,
        }
    } else {
        StoreError::backend(error)
    }
}

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
    /// Connects to `url` (`redis://host:port/db`) with the default [`RedisOptions`]; every key
    /// starts with `prefix` (so that several apps can share one Redis). The connection
    /// reconnects by itself.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the URL is invalid or Redis cannot be reached.
    pub async fn connect(url: &str, prefix: &str) -> StoreResult<Self> {
        Self::connect_with(url, prefix, RedisOptions::default()).await
    }

    /// As [`RedisStore::connect`], with `options`.
    ///
    /// # Errors
    ///
    /// As [`RedisStore::connect`].
    pub async fn connect_with(url: &str, prefix: &str, options: RedisOptions) -> StoreResult<Self> {
        let client = redis::Client::open(url).map_err(backend)?;
        let db = client.get_connection_info().redis_settings().db();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(1)
            .set_max_delay(options.timeout);
        let connection = tokio::time::timeout(
            options.timeout.saturating_mul(3),
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| StoreError::Timeout {
            after: options.timeout.saturating_mul(3),
        })?
        .map_err(backend)?;
        Ok(Self {
            connection,
            client,
            channel: format!("authz:{db}:{prefix}revocations"),
            prefix: prefix.to_owned(),
            timeout: options.timeout,
            ack_wait: options.ack_wait,
        })
    }

    /// The fan-out channel (`authz:{db}:{prefix}revocations`).
    pub fn channel(&self) -> &str {
        &self.channel
    }

    fn key(&self, kind: &str, id: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + id.len() + 1);
        key.push_str(&self.prefix);
        key.push_str(kind);
        key.push(':');
        key.push_str(id);
        key
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

    async fn purge_expired(&self, _before: u64) -> StoreResult<Purged> {
        // Counters expire by themselves (EXPIRE window).
        Ok(Purged::default())
    }
}

#[async_trait]
impl Fanout for RedisStore {
    async fn publish(&self, revocations: &[Revocation]) -> StoreResult<()> {
        if revocations.is_empty() {
            return Ok(());
        }
        let waits = !self.ack_wait.is_zero();
        let id = if waits {
            crate::backend::random_b64url(12).map_err(StoreError::backend)?
        } else {
            String::new()
        };
        let message = serde_json::to_string(&Envelope {
            id: waits.then_some(id.as_str()),
            revocations: revocations.into(),
        })
        .map_err(|error| StoreError::message(format!("cannot encode revocations: {error}")))?;
        let mut connection = self.connection.clone();
        let receivers = connection
            .publish::<_, _, i64>(&self.channel, message)
            .await
            .map_err(backend)?;
        if waits && receivers > 0 {
            self.await_acks(&id, receivers).await;
        }
        Ok(())
    }

    fn subscribe(&self) -> tokio::sync::mpsc::Receiver<FanoutEvent> {
        let (sender, receiver) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(follow(
            self.client.clone(),
            self.connection.clone(),
            self.channel.clone(),
            self.prefix.clone(),
            self.timeout,
            sender,
        ));
        receiver
    }
}

/// A fan-out message: the revocations, and the id under which subscribers acknowledge them
/// (`{prefix}ack:{id}`, a counter). Subscribers also accept a bare array (no acknowledgement),
/// as earlier versions published.
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    revocations: std::borrow::Cow<'a, [Revocation]>,
}

/// How long an acknowledgement counter lives: well past any publisher's wait.
const ACK_TTL_MS: u64 = 10_000;

impl RedisStore {
    /// Waits until `receivers` subscribers have acknowledged message `id`, or
    /// [`RedisOptions::ack_wait`] has passed (then logs which, and returns: the durable store
    /// has the revocation, and the slow instance's next poll brings it).
    async fn await_acks(&self, id: &str, receivers: i64) {
        let key = self.key("ack", id);
        let deadline = tokio::time::Instant::now() + self.ack_wait;
        let mut pause = Duration::from_micros(500);
        loop {
            let mut connection = self.connection.clone();
            let acked = match connection.get::<_, Option<i64>>(&key).await {
                Ok(count) => count.unwrap_or(0),
                Err(error) => {
                    tracing::warn!(
                        target: "authz_core::store",
                        %error,
                        "could not read the acknowledgements of a revocation"
                    );
                    return;
                }
            };
            if acked >= receivers {
                return;
            }
            if tokio::time::Instant::now() + pause > deadline {
                tracing::warn!(
                    target: "authz_core::store",
                    acked,
                    receivers,
                    "not every instance acknowledged a revocation in time; the others catch up at their next poll"
                );
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }
}

/// The subscription's task: subscribe, say so, forward each message; on any failure wait and
/// start again. Ends when the receiver is dropped.
async fn follow(
    client: redis::Client,
    connection: ConnectionManager,
    channel: String,
    prefix: String,
    timeout: Duration,
    sender: tokio::sync::mpsc::Sender<FanoutEvent>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = tokio::time::timeout(timeout.saturating_mul(2), async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        if let Ok(Ok(pubsub)) = subscribed {
            backoff = Duration::from_millis(100);
            if sender.send(FanoutEvent::Resubscribed).await.is_err() {
                return;
            }
            let mut messages = pubsub.into_on_message();
            // A quiet subscription can die without a reset (NAT, a frozen server): check that
            // the server answers every 2 s, and resubscribe when it does not.
            let mut ping = tokio::time::timeout(timeout, client.get_multiplexed_async_connection())
                .await
                .ok()
                .and_then(Result::ok);
            loop {
                match tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
                    Ok(Some(message)) => {
                        let Ok(payload) = message.get_payload::<String>() else {
                            continue;
                        };
                        let event = match serde_json::from_str::<Envelope<'_>>(&payload) {
                            Ok(Envelope {
                                id: Some(id),
                                revocations,
                            }) => {
                                let (ack, applied) = Ack::new();
                                tokio::spawn(acknowledge(
                                    connection.clone(),
                                    format!("{prefix}ack:{id}"),
                                    applied,
                                ));
                                FanoutEvent::RevokedAck(revocations.into_owned(), ack)
                            }
                            Ok(Envelope { revocations, .. }) => {
                                FanoutEvent::Revoked(revocations.into_owned())
                            }
                            Err(_) => match serde_json::from_str::<Vec<Revocation>>(&payload) {
                                Ok(revocations) => FanoutEvent::Revoked(revocations),
                                Err(_) => continue,
                            },
                        };
                        if sender.send(event).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        if sender.is_closed() {
                            return;
                        }
                        let alive = match ping.as_mut() {
                            Some(connection) => tokio::time::timeout(
                                timeout,
                                redis::cmd("PING").query_async::<String>(connection),
                            )
                            .await
                            .is_ok_and(|reply| reply.is_ok()),
                            None => false,
                        };
                        if !alive {
                            break;
                        }
                    }
                }
            }
        }
        if sender.send(FanoutEvent::Lost).await.is_err() {
            return;
        }
        tracing::warn!(
            target: "authz_core::store",
            "revocation fan-out lost Redis; mirrors poll the durable store until it is back"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// Counts one acknowledgement of a fan-out message once the mirror has applied it.
async fn acknowledge(
    mut connection: ConnectionManager,
    key: String,
    applied: tokio::sync::oneshot::Receiver<()>,
) {
    if applied.await.is_err() {
        return;
    }
    let counted = redis::pipe()
        .atomic()
        .incr(&key, 1)
        .ignore()
        .pexpire(&key, ACK_TTL_MS as i64)
        .ignore()
        .query_async::<()>(&mut connection)
        .await;
    if let Err(error) = counted {
        tracing::debug!(target: "authz_core::store", %error, "could not acknowledge a revocation");
    }
}

#[cfg(feature = "assertion")]
#[async_trait]
impl crate::assertion::ReplayStore for RedisStore {
    async fn first_use(&self, jti: &str, until: u64, now: u64) -> StoreResult<bool> {
        let mut connection = self.connection.clone();
        // A lifetime relative to the caller's clock, not an instant on Redis's: a `jti` is
        // remembered for as long as its token can verify on the caller's clock.
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key("jti-used", jti))
            .arg("1")
            .arg("EX")
            .arg(until.saturating_sub(now).max(1))
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
-- The caller's clock (the app's injected Clock), as every store uses.
local now = tonumber(ARGV[1])
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
            return Err(StoreError::message("unexpected quota reply"));
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
