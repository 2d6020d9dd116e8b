//! All four stores in SQLite or PostgreSQL, through sqlx's `Any` driver: one set of queries
//! (`$1` placeholders work on both), two schemas.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row as _};

use super::{
    Failures, Family, NewUser, RefreshRecord, RefreshStore, RevocationQuery, RevocationStore,
    Rotation, StoreError, StoreResult, ThrottleStore, User, UserStore, join_list, split_list,
};

/// Which SQL dialect a pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// Users, refresh families, revocations and throttle counters in SQLite (feature `sqlite`,
/// embedded: a file, no server) or PostgreSQL (feature `postgres`: several instances share
/// it). Tables are created at connect time (`authz_*`), under a lock on PostgreSQL so that
/// instances starting together do not race.
///
/// ```no_run
/// use std::sync::Arc;
/// use authz_core::lifecycle::store::SqlStore;
///
/// # async fn run() -> Result<(), authz_core::lifecycle::store::StoreError> {
/// let embedded = SqlStore::open_sqlite("app.db").await?;
/// let shared = SqlStore::connect("postgres://app@db.internal/app").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    /// Where writes go: on SQLite, a pool of one connection, so that writers queue in
    /// process (fairly, without SQLite's sleeping busy handler); on PostgreSQL, `pool`.
    writer: AnyPool,
    dialect: Dialect,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.dialect)
            .finish_non_exhaustive()
    }
}

fn backend(error: sqlx::Error) -> StoreError {
    // sqlx errors name the failing operation and database message; they carry no bound
    // values (no hash or password).
    StoreError::Backend(error.to_string())
}

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

const SQLITE_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS authz_users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE,
        email TEXT UNIQUE,
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL DEFAULT '',
        scopes TEXT NOT NULL DEFAULT '',
        created_at BIGINT NOT NULL)",
    "PRAGMA journal_mode = WAL",
];

const POSTGRES_SCHEMA: &[&str] = &[
    "SELECT pg_advisory_xact_lock(7408813325105463361)",
    "CREATE TABLE IF NOT EXISTS authz_users (
        id BIGSERIAL PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        email TEXT UNIQUE,
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL DEFAULT '',
        scopes TEXT NOT NULL DEFAULT '',
        created_at BIGINT NOT NULL)",
];

const COMMON_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS authz_refresh_families (
        id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS authz_refresh_families_subject ON authz_refresh_families (subject)",
    "CREATE TABLE IF NOT EXISTS authz_refresh_tokens (
        hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL,
        issued_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS authz_refresh_tokens_family ON authz_refresh_tokens (family_id)",
    "CREATE TABLE IF NOT EXISTS authz_revocations (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        until BIGINT NOT NULL,
        PRIMARY KEY (kind, id))",
    "CREATE TABLE IF NOT EXISTS authz_subject_marks (
        subject TEXT PRIMARY KEY,
        mark BIGINT NOT NULL,
        until BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS authz_throttle (
        key TEXT PRIMARY KEY,
        failures BIGINT NOT NULL,
        last_failure BIGINT NOT NULL)",
];

impl SqlStore {
    /// Connects to `url` (`sqlite:…` or `postgres://…`/`postgresql://…`) and creates the
    /// tables if they are missing. A SQLite file is created if missing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the URL names a database this build has no feature for,
    /// the connection fails, or the tables cannot be created.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let dialect = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            return Err(StoreError::Backend(
                "the database URL must start with sqlite: or postgres://".into(),
            ));
        };
        if url.contains(":memory:") || url.contains("mode=memory") {
            // The read pool and the writer would each get their own empty database.
            return Err(StoreError::Backend(
                "in-memory SQLite is not supported; use a file, or MemoryStore".into(),
            ));
        }
        let enabled = match dialect {
            Dialect::Sqlite => cfg!(feature = "sqlite"),
            Dialect::Postgres => cfg!(feature = "postgres"),
        };
        if !enabled {
            return Err(StoreError::Backend(format!(
                "authz-core was built without the `{}` feature",
                match dialect {
                    Dialect::Sqlite => "sqlite",
                    Dialect::Postgres => "postgres",
                }
            )));
        }
        sqlx::any::install_default_drivers();
        let mut url = url.to_owned();
        if dialect == Dialect::Sqlite && !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await
            .map_err(backend)?;
        let writer = match dialect {
            Dialect::Sqlite => AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect(&url)
                .await
                .map_err(backend)?,
            Dialect::Postgres => pool.clone(),
        };
        let store = Self {
            pool,
            writer,
            dialect,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Opens (or creates) a SQLite file.
    ///
    /// # Errors
    ///
    /// As [`SqlStore::connect`].
    pub async fn open_sqlite(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::connect(&format!("sqlite://{}", path.as_ref().display())).await
    }

    /// The pool, for the app's own tables.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// `true` on PostgreSQL, `false` on SQLite.
    pub fn is_postgres(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so that a transaction never has to upgrade a stale read snapshot; concurrent writers
    /// wait for it (busy timeout 5 s) instead of failing.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        match self.dialect {
            Dialect::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.writer.begin().await,
        }
        .map_err(backend)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let specific = match self.dialect {
            Dialect::Sqlite => SQLITE_SCHEMA,
            Dialect::Postgres => POSTGRES_SCHEMA,
        };
        let mut tx = self.begin_write().await?;
        for statement in specific.iter().chain(COMMON_SCHEMA) {
            if statement.starts_with("PRAGMA") {
                continue;
            }
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        if self.dialect == Dialect::Sqlite {
            // Outside the transaction: WAL lets readers go on while one writer writes.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&self.writer)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }
}

fn user_of(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        roles: split_list(&row.try_get::<String, _>("roles")?),
        scopes: split_list(&row.try_get::<String, _>("scopes")?),
        created_at: uint(row.try_get("created_at")?),
    })
}

fn family_of(row: &AnyRow) -> Result<Family, sqlx::Error> {
    Ok(Family {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        created_at: uint(row.try_get("created_at")?),
        expires_at: uint(row.try_get("expires_at")?),
    })
}

const USER_COLUMNS: &str = "id, username, email, password_hash, roles, scopes, created_at";
const FAMILY_COLUMNS: &str = "id, subject, created_at, expires_at";

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, user: NewUser, now: u64) -> StoreResult<User> {
        let email = user.email.map(|email| email.to_lowercase());
        let row = sqlx::query(&format!(
            "INSERT INTO authz_users (username, email, password_hash, roles, scopes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {USER_COLUMNS}"
        ))
        .bind(&user.username)
        .bind(email)
        .bind(&user.password_hash)
        .bind(join_list(&user.roles))
        .bind(join_list(&user.scopes))
        .bind(int(now))
        .fetch_one(&self.writer)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => backend(error),
        })?;
        user_of(&row).map_err(backend)
    }

    async fn user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM authz_users WHERE username = $1
             UNION ALL
             SELECT {USER_COLUMNS} FROM authz_users WHERE email = $2 AND username <> $1
             LIMIT 1"
        ))
        .bind(login)
        .bind(login.to_lowercase())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(user_of).transpose().map_err(backend)
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM authz_users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(user_of).transpose().map_err(backend)
    }

    async fn set_password_hash(&self, id: i64, hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE authz_users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn set_roles(&self, id: i64, roles: &[String]) -> StoreResult<()> {
        sqlx::query("UPDATE authz_users SET roles = $1 WHERE id = $2")
            .bind(join_list(roles))
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl RefreshStore for SqlStore {
    async fn start_family(&self, family: &Family, first: &RefreshRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO authz_refresh_families (id, subject, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&family.id)
        .bind(&family.subject)
        .bind(int(family.created_at))
        .bind(int(family.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO authz_refresh_tokens (hash, family_id, issued_at, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&first.hash)
        .bind(&first.family)
        .bind(int(first.issued_at))
        .bind(int(first.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn rotate(
        &self,
        presented: &str,
        next_hash: &str,
        idle_ttl: u64,
        reuse_grace: u64,
        now: u64,
    ) -> StoreResult<Rotation> {
        if self.dialect == Dialect::Postgres {
            // One statement, one round trip: claim the token, read its family, store the
            // next token. A concurrent caller blocks on the claimed row, then finds it used
            // and changes nothing; the diagnosis below tells it why.
            let row = sqlx::query(&format!(
                "WITH claimed AS (
                     UPDATE authz_refresh_tokens SET used_at = $1
                     WHERE hash = $2 AND used_at IS NULL AND expires_at > $1
                       AND EXISTS (SELECT 1 FROM authz_refresh_families f
                                   WHERE f.id = authz_refresh_tokens.family_id
                                     AND f.revoked_at IS NULL AND f.expires_at > $1)
                     RETURNING family_id),
                 family AS (
                     SELECT f.* FROM authz_refresh_families f JOIN claimed c ON f.id = c.family_id),
                 next AS (
                     INSERT INTO authz_refresh_tokens (hash, family_id, issued_at, expires_at)
                     SELECT $3, id, $1, LEAST($1 + $4, expires_at) FROM family
                     RETURNING family_id)
                 SELECT {FAMILY_COLUMNS} FROM family"
            ))
            .bind(int(now))
            .bind(presented)
            .bind(next_hash)
            .bind(int(idle_ttl))
            .fetch_optional(&self.writer)
            .await
            .map_err(backend)?;
            if let Some(row) = row {
                return Ok(Rotation::Rotated {
                    family: family_of(&row).map_err(backend)?,
                });
            }
        }
        // SQLite: unknown tokens (garbage, guesses) never take the one write lock.
        if self.dialect == Dialect::Sqlite {
            let known = sqlx::query("SELECT 1 AS known FROM authz_refresh_tokens WHERE hash = $1")
                .bind(presented)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            if known.is_none() {
                return Ok(Rotation::Unknown);
            }
        }
        let mut tx = self.begin_write().await?;
        // SQLite claims here, in the transaction (PostgreSQL tried its one-statement claim
        // above; a second attempt could only fail the same way).
        if self.dialect == Dialect::Sqlite {
            // The claim: one UPDATE that only an unused, unexpired token of a live, unexpired
            // family passes. Concurrent callers serialize on the row; the losers see `used_at`
            // set and update nothing.
            let claimed = sqlx::query(
                "UPDATE authz_refresh_tokens SET used_at = $1
                 WHERE hash = $2 AND used_at IS NULL AND expires_at > $1
                   AND EXISTS (SELECT 1 FROM authz_refresh_families f
                               WHERE f.id = authz_refresh_tokens.family_id
                                 AND f.revoked_at IS NULL AND f.expires_at > $1)
                 RETURNING family_id",
            )
            .bind(int(now))
            .bind(presented)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some(row) = claimed {
                let family_id: String = row.try_get("family_id").map_err(backend)?;
                let family = sqlx::query(&format!(
                    "SELECT {FAMILY_COLUMNS} FROM authz_refresh_families WHERE id = $1"
                ))
                .bind(&family_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
                let family = family_of(&family).map_err(backend)?;
                sqlx::query(
                    "INSERT INTO authz_refresh_tokens (hash, family_id, issued_at, expires_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(next_hash)
                .bind(&family.id)
                .bind(int(now))
                .bind(int(now.saturating_add(idle_ttl).min(family.expires_at)))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                tx.commit().await.map_err(backend)?;
                return Ok(Rotation::Rotated { family });
            }
        }
        // Not claimed: find out why.
        let row = sqlx::query(
            "SELECT t.used_at, t.expires_at AS token_expires_at, f.revoked_at,
                    f.id, f.subject, f.created_at, f.expires_at
             FROM authz_refresh_tokens t JOIN authz_refresh_families f ON f.id = t.family_id
             WHERE t.hash = $1",
        )
        .bind(presented)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(Rotation::Unknown);
        };
        let used_at: Option<i64> = row.try_get("used_at").map_err(backend)?;
        let revoked_at: Option<i64> = row.try_get("revoked_at").map_err(backend)?;
        let family = family_of(&row).map_err(backend)?;
        if revoked_at.is_some() {
            return Ok(Rotation::Revoked);
        }
        if let Some(used_at) = used_at {
            if uint(used_at).saturating_add(reuse_grace) > now {
                return Ok(Rotation::Raced);
            }
            sqlx::query(
                "UPDATE authz_refresh_families SET revoked_at = $1
                 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(int(now))
            .bind(&family.id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            return Ok(Rotation::Reused { family });
        }
        Ok(Rotation::Expired)
    }

    async fn revoke_by_token(&self, token_hash: &str, now: u64) -> StoreResult<Option<Family>> {
        let row = sqlx::query(&format!(
            "UPDATE authz_refresh_families SET revoked_at = $1
             WHERE revoked_at IS NULL
               AND id = (SELECT family_id FROM authz_refresh_tokens WHERE hash = $2)
             RETURNING {FAMILY_COLUMNS}"
        ))
        .bind(int(now))
        .bind(token_hash)
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?;
        row.as_ref().map(family_of).transpose().map_err(backend)
    }

    async fn revoke_family(&self, family_id: &str, now: u64) -> StoreResult<Option<Family>> {
        let row = sqlx::query(&format!(
            "UPDATE authz_refresh_families SET revoked_at = $1
             WHERE id = $2 AND revoked_at IS NULL
             RETURNING {FAMILY_COLUMNS}"
        ))
        .bind(int(now))
        .bind(family_id)
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?;
        row.as_ref().map(family_of).transpose().map_err(backend)
    }

    async fn revoke_subject(&self, subject: &str, now: u64) -> StoreResult<Vec<Family>> {
        let rows = sqlx::query(&format!(
            "UPDATE authz_refresh_families SET revoked_at = $1
             WHERE subject = $2 AND revoked_at IS NULL AND expires_at > $1
             RETURNING {FAMILY_COLUMNS}"
        ))
        .bind(int(now))
        .bind(subject)
        .fetch_all(&self.writer)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(family_of)
            .collect::<Result<_, _>>()
            .map_err(backend)
    }
}

impl SqlStore {
    async fn revoke_kind(&self, kind: &str, id: &str, until: u64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO authz_revocations (kind, id, until) VALUES ($1, $2, $3)
             ON CONFLICT (kind, id) DO UPDATE SET until = CASE
                 WHEN excluded.until > authz_revocations.until THEN excluded.until
                 ELSE authz_revocations.until END",
        )
        .bind(kind)
        .bind(id)
        .bind(int(until))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// Deletes revocations, marks and throttle counters that no longer matter. Run it now and
    /// then (the examples do, hourly); nothing depends on it for correctness.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    pub async fn purge_expired(&self, now: u64) -> StoreResult<()> {
        for statement in [
            "DELETE FROM authz_revocations WHERE until <= $1",
            "DELETE FROM authz_subject_marks WHERE until <= $1",
            "DELETE FROM authz_refresh_tokens WHERE family_id IN
                 (SELECT id FROM authz_refresh_families WHERE expires_at <= $1)",
            "DELETE FROM authz_refresh_families WHERE expires_at <= $1",
        ] {
            sqlx::query(statement)
                .bind(int(now))
                .execute(&self.writer)
                .await
                .map_err(backend)?;
        }
        sqlx::query("DELETE FROM authz_throttle WHERE last_failure <= $1")
            .bind(int(now.saturating_sub(24 * 3600)))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl RevocationStore for SqlStore {
    async fn revoke_token(&self, token_id: &str, until: u64) -> StoreResult<()> {
        self.revoke_kind("jti", token_id, until).await
    }

    async fn revoke_session(&self, session_id: &str, until: u64) -> StoreResult<()> {
        self.revoke_kind("sid", session_id, until).await
    }

    async fn revoke_subject_before(&self, subject: &str, mark: u64, until: u64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO authz_subject_marks (subject, mark, until) VALUES ($1, $2, $3)
             ON CONFLICT (subject) DO UPDATE SET
                 mark = CASE WHEN excluded.mark > authz_subject_marks.mark
                             THEN excluded.mark ELSE authz_subject_marks.mark END,
                 until = CASE WHEN excluded.until > authz_subject_marks.until
                              THEN excluded.until ELSE authz_subject_marks.until END",
        )
        .bind(subject)
        .bind(int(mark))
        .bind(int(until))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn is_revoked(&self, query: RevocationQuery<'_>, now: u64) -> StoreResult<bool> {
        // One round trip: a revoked jti or sid, or a subject mark at or after iat.
        let row = sqlx::query(
            "SELECT 1 AS hit FROM authz_revocations
               WHERE until > $1 AND ((kind = 'jti' AND id = $2) OR (kind = 'sid' AND id = $3))
             UNION ALL
             SELECT 1 AS hit FROM authz_subject_marks
               WHERE subject = $4 AND until > $1 AND mark >= $5
             LIMIT 1",
        )
        .bind(int(now))
        .bind(query.token_id.unwrap_or(""))
        .bind(query.session_id.unwrap_or(""))
        .bind(query.subject)
        .bind(query.issued_at.map_or(i64::MIN, int))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.is_some())
    }
}

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
}
