//! Users, sessions (families and revocations) and throttle counters in SQLite or PostgreSQL,
//! through sqlx's `Any` driver: one set of queries (`$1` placeholders work on both), a
//! versioned schema.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
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

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, user: NewUser, now: u64) -> StoreResult<User> {
        let email = user.email.map(|email| email.to_lowercase());
        let row = sqlx::query(&format!(
            "INSERT INTO authz_users
                 (username, email, password_hash, roles, scopes, created_at, login_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
        ))
        .bind(&user.username)
        .bind(email)
        .bind(&user.password_hash)
        .bind(join_list(&user.roles))
        .bind(join_list(&user.scopes))
        .bind(int(now))
        .bind(&user.login_key)
        .fetch_one(&self.writer)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => backend(error),
        })?;
        user_of(&row).map_err(backend)
    }

    async fn user_by_login(&self, key: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM authz_users WHERE login_key = $1
             UNION ALL
             SELECT {USER_COLUMNS} FROM authz_users
             WHERE email = $1 AND (login_key IS NULL OR login_key <> $1)
             LIMIT 1"
        ))
        .bind(key)
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

    async fn password_schemes(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT substr(password_hash, 1, 7) AS scheme FROM authz_users
             WHERE password_hash LIKE '$2%'",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("scheme"))
            .collect::<Result<_, _>>()
            .map_err(backend)
    }
}

/// Writes `revocations` in `tx` under the next sequence number (taking the counter's row lock
/// until the transaction ends, so that transactions commit in sequence order); returns them as
/// stored (merged with what was there).
async fn write_revocations(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    revocations: &[Revocation],
) -> StoreResult<Vec<Revocation>> {
    if revocations.is_empty() {
        return Ok(Vec::new());
    }
    let row =
        sqlx::query("UPDATE authz_revocation_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq")
            .fetch_one(&mut **tx)
            .await
            .map_err(backend)?;
    let seq: i64 = row.try_get("seq").map_err(backend)?;
    let mut written = Vec::with_capacity(revocations.len());
    for revocation in revocations {
        let (kind, id, mark) = match &revocation.revoked {
            Revoked::Token { id } => ("jti", id, None),
            Revoked::Session { id } => ("sid", id, None),
            Revoked::Subject { id, mark } => ("sub", id, Some(int(*mark))),
        };
        let row = sqlx::query(
            "INSERT INTO authz_revocations (kind, id, until, mark, seq) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (kind, id) DO UPDATE SET
                 until = CASE WHEN excluded.until > authz_revocations.until
                              THEN excluded.until ELSE authz_revocations.until END,
                 mark = CASE WHEN excluded.mark > authz_revocations.mark
                             THEN excluded.mark ELSE authz_revocations.mark END,
                 seq = excluded.seq
             RETURNING kind, id, until, mark, seq",
        )
        .bind(kind)
        .bind(id)
        .bind(int(revocation.until))
        .bind(mark)
        .bind(seq)
        .fetch_one(&mut **tx)
        .await
        .map_err(backend)?;
        if let Some(revocation) = revocation_of(&row).map_err(backend)? {
            written.push(revocation);
        }
    }
    Ok(written)
}

#[async_trait]
impl SessionStore for SqlStore {
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

    async fn rotate(&self, request: &Rotate<'_>) -> StoreResult<Rotation> {
        let now = request.now;
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
            .bind(request.presented)
            .bind(request.next_hash)
            .bind(int(request.idle_ttl))
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
                .bind(request.presented)
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
            .bind(request.presented)
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
                .bind(request.next_hash)
                .bind(&family.id)
                .bind(int(now))
                .bind(int(now
                    .saturating_add(request.idle_ttl)
                    .min(family.expires_at)))
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
        .bind(request.presented)
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
            if uint(used_at).saturating_add(request.reuse_grace) > now {
                return Ok(Rotation::Raced);
            }
            // Reuse: the family and its access tokens are revoked together, or not at all.
            let changed = sqlx::query(
                "UPDATE authz_refresh_families SET revoked_at = $1
                 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(int(now))
            .bind(&family.id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if changed.rows_affected() == 0 {
                // A concurrent reuse revoked it first (and wrote its session revocation).
                return Ok(Rotation::Revoked);
            }
            let session = Revocation::new(
                Revoked::Session {
                    id: family.id.clone(),
                },
                request.session_until,
            );
            let revoked = write_revocations(&mut tx, &[session]).await?;
            tx.commit().await.map_err(backend)?;
            return Ok(Rotation::Reused { family, revoked });
        }
        Ok(Rotation::Expired)
    }

    async fn revoke(&self, request: &Revoke<'_>) -> StoreResult<RevokeOutcome> {
        let now = int(request.now);
        let mut tx = self.begin_write().await?;
        let rows = match request.families {
            Families::None => Ok(Vec::new()),
            Families::Id(id) => {
                sqlx::query(&format!(
                    "UPDATE authz_refresh_families SET revoked_at = $1
                     WHERE id = $2 AND revoked_at IS NULL
                     RETURNING {FAMILY_COLUMNS}"
                ))
                .bind(now)
                .bind(id)
                .fetch_all(&mut *tx)
                .await
            }
            Families::OfToken(hash) => {
                sqlx::query(&format!(
                    "UPDATE authz_refresh_families SET revoked_at = $1
                     WHERE revoked_at IS NULL
                       AND id = (SELECT family_id FROM authz_refresh_tokens WHERE hash = $2)
                     RETURNING {FAMILY_COLUMNS}"
                ))
                .bind(now)
                .bind(hash)
                .fetch_all(&mut *tx)
                .await
            }
            Families::OfSubject(subject) => {
                sqlx::query(&format!(
                    "UPDATE authz_refresh_families SET revoked_at = $1
                     WHERE subject = $2 AND revoked_at IS NULL AND expires_at > $1
                     RETURNING {FAMILY_COLUMNS}"
                ))
                .bind(now)
                .bind(subject)
                .fetch_all(&mut *tx)
                .await
            }
        }
        .map_err(backend)?;
        let families = rows
            .iter()
            .map(family_of)
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        let mut revocations: Vec<Revocation> = families
            .iter()
            .map(|family| {
                Revocation::new(
                    Revoked::Session {
                        id: family.id.clone(),
                    },
                    request.session_until,
                )
            })
            .collect();
        revocations.extend(request.also.iter().cloned());
        let revocations = write_revocations(&mut tx, &revocations).await?;
        tx.commit().await.map_err(backend)?;
        Ok(RevokeOutcome {
            families,
            revocations,
        })
    }

    async fn revocations_since(&self, after: u64, now: u64) -> StoreResult<RevocationLog> {
        // The sequence first: every transaction up to it has committed (they commit in
        // sequence order), so the entries read next hold all of them.
        let row = sqlx::query("SELECT seq FROM authz_revocation_seq WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let seq = uint(row.try_get("seq").map_err(backend)?);
        let rows = sqlx::query(
            "SELECT kind, id, until, mark, seq FROM authz_revocations
             WHERE seq > $1 AND until > $2 ORDER BY seq",
        )
        .bind(int(after))
        .bind(int(now))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(revocation) = revocation_of(row).map_err(backend)? {
                entries.push(revocation);
            }
        }
        Ok(RevocationLog { entries, seq })
    }

    async fn is_revoked(&self, query: RevocationQuery<'_>, now: u64) -> StoreResult<bool> {
        // One round trip: a revoked jti or sid, or a subject mark at or after iat.
        let row = sqlx::query(
            "SELECT 1 AS hit FROM authz_revocations
             WHERE until > $1
               AND ((kind = 'jti' AND id = $2) OR (kind = 'sid' AND id = $3)
                    OR (kind = 'sub' AND id = $4 AND mark >= $5))
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

    async fn purge_expired(&self, now: u64) -> StoreResult<Purged> {
        let mut rows = 0;
        for statement in [
            "DELETE FROM authz_revocations WHERE until <= $1",
            "DELETE FROM authz_refresh_tokens WHERE family_id IN
                 (SELECT id FROM authz_refresh_families WHERE expires_at <= $1)",
            "DELETE FROM authz_refresh_families WHERE expires_at <= $1",
            // A used token past its own expiry can no longer be refreshed with; presenting it
            // again is refused as unknown.
            "DELETE FROM authz_refresh_tokens WHERE used_at IS NOT NULL AND expires_at <= $1",
        ] {
            rows += sqlx::query(statement)
                .bind(int(now))
                .execute(&self.writer)
                .await
                .map_err(backend)?
                .rows_affected();
        }
        Ok(Purged { rows })
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
