//! [`ThrottleStore`] on SQL: failure counters per key.

use async_trait::async_trait;
use sqlx::Row as _;

use super::*;

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn failures(&self, key: &str, window: u64, now: u64) -> StoreResult<Option<Failures>> {
        let row = sqlx::query(
            "SELECT failures, last_failure FROM authz_throttle WHERE key = $1 AND last_failure > $2",
        )
        .bind(key)
        .bind(int(now.saturating_sub(window)))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|row| {
            Ok(Failures {
                count: u32::try_from(row.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                last: uint(row.try_get("last_failure")?),
            })
        })
        .transpose()
        .map_err(backend)
    }

    async fn record_failure(&self, key: &str, window: u64, now: u64) -> StoreResult<Failures> {
        let row = sqlx::query(
            "INSERT INTO authz_throttle (key, failures, last_failure) VALUES ($1, 1, $2)
             ON CONFLICT (key) DO UPDATE SET
                 failures = CASE WHEN authz_throttle.last_failure > $3
                                 THEN authz_throttle.failures + 1 ELSE 1 END,
                 last_failure = $2
             RETURNING failures, last_failure",
        )
        .bind(key)
        .bind(int(now))
        .bind(int(now.saturating_sub(window)))
        .fetch_one(&self.writer)
        .await
        .map_err(backend)?;
        Ok(Failures {
            count: u32::try_from(row.try_get::<i64, _>("failures").map_err(backend)?)
                .unwrap_or(u32::MAX),
            last: uint(row.try_get("last_failure").map_err(backend)?),
        })
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM authz_throttle WHERE key = $1")
            .bind(key)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn purge_expired(&self, before: u64) -> StoreResult<Purged> {
        let result = sqlx::query("DELETE FROM authz_throttle WHERE last_failure <= $1")
            .bind(int(before))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(Purged {
            rows: result.rows_affected(),
        })
    }
}
