//! Revocations and throttle counters in Redis, shared by every instance of an app.

use std::fmt;
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands as _, Script};

use super::{Failures, RevocationQuery, RevocationStore, StoreError, StoreResult, ThrottleStore};

/// Revocations ([`RevocationStore`]) and login throttling ([`ThrottleStore`]) in Redis
/// (feature `redis`), so that a logout on one instance is honoured by all, and a password
/// guesser cannot spread attempts across them.
///
/// Entries expire with Redis TTLs at the moment they stop mattering (`EXAT until`), so Redis
/// holds only live revocations. Writes that must not lose a concurrent update (a later
/// subject mark, a failure count) are Lua scripts, atomic in Redis. The request-path check is
/// one `MGET` of three keys.
///
/// ```no_run
/// use std::sync::Arc;
/// use authz_core::lifecycle::TokenService;
/// use authz_core::store::RedisStore;
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

/// Keeps the later of two marks and the later expiry.
const MARK_SCRIPT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local mark = tonumber(ARGV[1])
if mark > current then
  redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
else
  redis.call('EXPIREAT', KEYS[1], ARGV[2], 'GT')
end
return 1
";

/// Sets a flag until `ARGV[1]`, keeping a later expiry if there is one.
const FLAG_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], '1', 'EXAT', ARGV[1], 'NX') then
  return 1
end
redis.call('EXPIREAT', KEYS[1], ARGV[1], 'GT')
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
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + id.len() + 1);
        key.push_str(&self.prefix);
        key.push_str(kind);
        key.push(':');
        key.push_str(id);
        key
    }

    async fn flag(&self, key: String, until: u64) -> StoreResult<()> {
        let mut connection = self.connection.clone();
        FLAG.key(key)
            .arg(until)
            .invoke_async::<i64>(&mut connection)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl RevocationStore for RedisStore {
    async fn revoke_token(&self, token_id: &str, until: u64) -> StoreResult<()> {
        self.flag(self.key("jti", token_id), until).await
    }

    async fn revoke_session(&self, session_id: &str, until: u64) -> StoreResult<()> {
        self.flag(self.key("sid", session_id), until).await
    }

    async fn revoke_subject_before(&self, subject: &str, mark: u64, until: u64) -> StoreResult<()> {
        let mut connection = self.connection.clone();
        MARK.key(self.key("sub", subject))
            .arg(mark)
            .arg(until)
            .invoke_async::<i64>(&mut connection)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn is_revoked(&self, query: RevocationQuery<'_>, _now: u64) -> StoreResult<bool> {
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
