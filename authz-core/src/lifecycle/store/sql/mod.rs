//! Users, sessions (families and revocations) and throttle counters in SQLite or PostgreSQL,
//! through sqlx's `Any` driver: one set of queries (`$1` placeholders work on both), a
//! versioned schema.

mod sessions;
mod throttle;
mod users;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row as _};

use super::{
    Failures, Families, Family, NewUser, Purged, RefreshRecord, Revocation, RevocationLog,
    RevocationQuery, Revoke, RevokeOutcome, Revoked, Rotate, Rotation, SessionStore, StoreError,
    StoreResult, ThrottleStore, User, UserStore, join_list, split_list,
};

/// Which SQL dialect a pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// How [`SqlStore`] connects.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqlOptions {
    /// The longest wait for a pooled connection; a database that does not answer within it
    /// fails the call (and the request path answers 503) instead of hanging.
    ///
    /// Defaults to 1 second.
    pub acquire_timeout: Duration,
    /// The most connections the read pool opens.
    ///
    /// Defaults to 16.
    pub max_connections: u32,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            acquire_timeout: Duration::from_secs(1),
            max_connections: 16,
        }
    }
}

impl SqlOptions {
    /// The longest wait for a pooled connection.
    #[must_use]
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The most connections the read pool opens.
    #[must_use]
    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }
}

/// Users, sessions (refresh families and every revocation) and throttle counters in SQLite
/// (feature `sqlite`, embedded: a file, no server) or PostgreSQL (feature `postgres`: several
/// instances share it).
///
/// The schema is versioned (table `authz_schema`): [`SqlStore::connect`] brings a database of
/// any earlier version up to date, in one transaction, under a lock on PostgreSQL so that
/// instances starting together do not race. A database made before versioning (tables
/// created with `IF NOT EXISTS`) counts as version 1.
///
/// | version | change |
/// | --- | --- |
/// | 1 | users, refresh families and tokens, revocations by `jti`/`sid`, subject marks, throttle counters |
/// | 2 | revocations carry the sequence number of their write (one counter, taken by each revoking transaction, so commits are in sequence order) and subject marks; revoked families get their session revocation |
/// | 3 | usernames get a unique comparison key (NFKC + case folding: `Alice` and `ａｌｉｃｅ` are one account); an existing name whose key another, older account already has, or that holds hidden characters, keeps its account but logs in by email only (logged at migration) |
///
/// ```no_run
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
    match error {
        sqlx::Error::PoolTimedOut => StoreError::Timeout {
            after: Duration::ZERO,
        },
        other => StoreError::backend(other),
    }
}

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The schema's current version.
pub(crate) const SCHEMA_VERSION: i64 = 3;

/// Version 1, as first shipped (kept word for word: a fresh database goes through every
/// version, so the upgrade path is the path every database takes).
const V1_SQLITE: &[&str] = &["CREATE TABLE IF NOT EXISTS authz_users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE,
        email TEXT UNIQUE,
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL DEFAULT '',
        scopes TEXT NOT NULL DEFAULT '',
        created_at BIGINT NOT NULL)"];

const V1_POSTGRES: &[&str] = &["CREATE TABLE IF NOT EXISTS authz_users (
        id BIGSERIAL PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        email TEXT UNIQUE,
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL DEFAULT '',
        scopes TEXT NOT NULL DEFAULT '',
        created_at BIGINT NOT NULL)"];

const V1_COMMON: &[&str] = &[
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

/// Version 2: sequenced revocations, subject marks among them, and the session revocation
/// of every family revoked before (version 1 could keep those in Redis only).
const V2: &[&str] = &[
    "CREATE TABLE authz_revocation_seq (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL)",
    "INSERT INTO authz_revocation_seq (id, seq) VALUES (1, 1)",
    "ALTER TABLE authz_revocations ADD COLUMN mark BIGINT",
    "ALTER TABLE authz_revocations ADD COLUMN seq BIGINT NOT NULL DEFAULT 1",
    "INSERT INTO authz_revocations (kind, id, until, mark, seq)
        SELECT 'sub', subject, until, mark, 1 FROM authz_subject_marks WHERE true
        ON CONFLICT (kind, id) DO NOTHING",
    "DROP TABLE authz_subject_marks",
    "INSERT INTO authz_revocations (kind, id, until, seq)
        SELECT 'sid', id, expires_at, 1 FROM authz_refresh_families
        WHERE revoked_at IS NOT NULL
        ON CONFLICT (kind, id) DO NOTHING",
    "CREATE INDEX authz_revocations_seq ON authz_revocations (seq)",
    "CREATE INDEX authz_refresh_families_expires ON authz_refresh_families (expires_at)",
];

/// Version 3: usernames get a comparison key (NFKC, case-folded), unique; emails are stored as
/// theirs. The keys of existing users are computed in Rust, in the migration's transaction.
const V3: &[&str] = &["ALTER TABLE authz_users ADD COLUMN login_key TEXT"];
const V3_INDEX: &str = "CREATE UNIQUE INDEX authz_users_login_key ON authz_users (login_key)";

const FAMILY_COLUMNS: &str = "id, subject, created_at, expires_at";
const USER_COLUMNS: &str = "id, username, email, password_hash, roles, scopes, created_at";

impl SqlStore {
    /// Connects to `url` (`sqlite:…` or `postgres://…`/`postgresql://…`) with the default
    /// [`SqlOptions`], and brings the schema up to date. A SQLite file is created if missing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the URL names a database this build has no feature for,
    /// the connection fails, or the schema cannot be brought up to date (a database of a
    /// *later* version than this build knows included).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, SqlOptions::default()).await
    }

    /// As [`SqlStore::connect`], with `options`.
    ///
    /// # Errors
    ///
    /// As [`SqlStore::connect`].
    pub async fn connect_with(url: &str, options: SqlOptions) -> StoreResult<Self> {
        let dialect = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            return Err(StoreError::message(
                "the database URL must start with sqlite: or postgres://",
            ));
        };
        if url.contains(":memory:") || url.contains("mode=memory") {
            // The read pool and the writer would each get their own empty database.
            return Err(StoreError::message(
                "in-memory SQLite is not supported; use a file, or MemoryStore",
            ));
        }
        let enabled = match dialect {
            Dialect::Sqlite => cfg!(feature = "sqlite"),
            Dialect::Postgres => cfg!(feature = "postgres"),
        };
        if !enabled {
            return Err(StoreError::message(format!(
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
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect(&url)
            .await
            .map_err(backend)?;
        let writer = match dialect {
            Dialect::Sqlite => AnyPoolOptions::new()
                .max_connections(1)
                // Writers queue for the one connection: give them longer than readers.
                .acquire_timeout(options.acquire_timeout.max(Duration::from_secs(5)))
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

    /// Closes the connections (at shutdown): every later call fails.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// `true` on PostgreSQL, `false` on SQLite.
    pub fn is_postgres(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    /// The schema version of the database (after [`SqlStore::connect`], the latest).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    pub async fn schema_version(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT version FROM authz_schema")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        row.try_get("version").map_err(backend)
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

    /// Brings the schema to [`SCHEMA_VERSION`], one version after the other, in one
    /// transaction.
    async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let exec = async |tx: &mut sqlx::Transaction<'static, sqlx::Any>, sql: &str| {
            sqlx::query(sql)
                .execute(&mut **tx)
                .await
                .map(drop)
                .map_err(backend)
        };
        if self.dialect == Dialect::Postgres {
            exec(&mut tx, "SELECT pg_advisory_xact_lock(7408813325105463361)").await?;
        }
        let version = self.current_version(&mut tx).await?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::message(format!(
                "the database's schema is version {version}, newer than this build knows \
                 ({SCHEMA_VERSION}): upgrade the app"
            )));
        }
        if version < 1 {
            let specific = match self.dialect {
                Dialect::Sqlite => V1_SQLITE,
                Dialect::Postgres => V1_POSTGRES,
            };
            for sql in specific.iter().chain(V1_COMMON) {
                exec(&mut tx, sql).await?;
            }
        }
        if version < 2 {
            for sql in V2 {
                exec(&mut tx, sql).await?;
            }
        }
        if version < 3 {
            for sql in V3 {
                exec(&mut tx, sql).await?;
            }
            Self::backfill_login_keys(&mut tx).await?;
            exec(&mut tx, V3_INDEX).await?;
        }
        if version < SCHEMA_VERSION {
            exec(
                &mut tx,
                "CREATE TABLE IF NOT EXISTS authz_schema (version BIGINT NOT NULL)",
            )
            .await?;
            exec(&mut tx, "DELETE FROM authz_schema").await?;
            sqlx::query("INSERT INTO authz_schema (version) VALUES ($1)")
                .bind(SCHEMA_VERSION)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if version > 0 {
                tracing::info!(
                    target: "authz_core::store",
                    from = version,
                    to = SCHEMA_VERSION,
                    "database schema upgraded"
                );
            }
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

    /// Computes the login key of every user (version 3), oldest first: a key already taken,
    /// or a name that is not a valid login name any more, is left empty (that account logs
    /// in by email), with a warning. Emails get their comparison key too; one whose key an
    /// older account's email already has keeps its stored spelling (emails were stored in
    /// lower case, so such pairs differ in more than case), with a warning.
    async fn backfill_login_keys(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> StoreResult<()> {
        use crate::lifecycle::identity::{MAX_USERNAME_CHARS, login_key};
        let rows = sqlx::query("SELECT id, username, email FROM authz_users ORDER BY id")
            .fetch_all(&mut **tx)
            .await
            .map_err(backend)?;
        let mut names = std::collections::HashSet::new();
        let mut emails = std::collections::HashSet::new();
        let mut updates = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id").map_err(backend)?;
            let username: String = row.try_get("username").map_err(backend)?;
            let email: Option<String> = row.try_get("email").map_err(backend)?;
            let key = login_key(&username, MAX_USERNAME_CHARS)
                .ok()
                .filter(|key| names.insert(key.clone()));
            if key.is_none() {
                tracing::warn!(
                    target: "authz_core::store",
                    user = id,
                    "username collides with an older account's (or holds hidden characters) \
                     after normalization: this account logs in by email only"
                );
            }
            let email = email.map(|stored| match login_key(&stored, 254) {
                Ok(key) if emails.insert(key.clone()) => key,
                _ => {
                    tracing::warn!(
                        target: "authz_core::store",
                        user = id,
                        "email collides with an older account's (or holds hidden characters) \
                         after normalization: kept as stored"
                    );
                    emails.insert(stored.clone());
                    stored
                }
            });
            updates.push((id, key, email));
        }
        // Emails first cleared, then set: a unique index is checked row by row, and one
        // account's new email may be another's old one.
        sqlx::query("UPDATE authz_users SET email = NULL")
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        for (id, key, email) in updates {
            sqlx::query("UPDATE authz_users SET login_key = $1, email = $2 WHERE id = $3")
                .bind(key)
                .bind(email)
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// 0 for an empty database, 1 for tables made before versioning, else the recorded one.
    async fn current_version(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> StoreResult<i64> {
        let exists = |table: &str| match self.dialect {
            Dialect::Sqlite => format!(
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            ),
            Dialect::Postgres => format!(
                "SELECT COUNT(*) AS n FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = '{table}'"
            ),
        };
        let count = async |tx: &mut sqlx::Transaction<'static, sqlx::Any>, sql: String| {
            let row = sqlx::query(&sql)
                .fetch_one(&mut **tx)
                .await
                .map_err(backend)?;
            row.try_get::<i64, _>("n").map_err(backend)
        };
        if count(tx, exists("authz_schema")).await? > 0 {
            let row = sqlx::query("SELECT MAX(version) AS version FROM authz_schema")
                .fetch_one(&mut **tx)
                .await
                .map_err(backend)?;
            return Ok(row
                .try_get::<Option<i64>, _>("version")
                .map_err(backend)?
                .unwrap_or(0));
        }
        Ok(i64::from(count(tx, exists("authz_users")).await? > 0))
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

fn revocation_of(row: &AnyRow) -> Result<Option<Revocation>, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let id: String = row.try_get("id")?;
    let revoked = match kind.as_str() {
        "jti" => Revoked::Token { id },
        "sid" => Revoked::Session { id },
        "sub" => Revoked::Subject {
            id,
            mark: uint(row.try_get::<Option<i64>, _>("mark")?.unwrap_or(i64::MAX)),
        },
        _ => return Ok(None),
    };
    Ok(Some(Revocation {
        revoked,
        until: uint(row.try_get("until")?),
        seq: uint(row.try_get("seq")?),
    }))
}
