//! The posts table (the seed's `models.Post`), on the same pool as the authz stores, and the
//! signing secret kept in the database.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row as _};

/// A post as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Post {
    /// Its id.
    pub id: i64,
    /// Title, 1 to 200 characters.
    pub title: String,
    /// Body text, at most 10 000 characters.
    pub content: String,
    /// Published or draft.
    pub published: bool,
    /// The author's user id.
    pub owner_id: i64,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// A new or updated post (the seed's `PostCreate`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostIn {
    /// Title: 1 to 200 characters once trimmed, no control characters.
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub title: String,
    /// Body: at most 10 000 characters, no control characters but newlines and tabs.
    #[schema(
        max_length = 10000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub content: String,
    /// Published (default true).
    #[serde(default = "yes")]
    pub published: bool,
}

fn yes() -> bool {
    true
}

impl PostIn {
    /// Checks the lengths.
    ///
    /// # Errors
    ///
    /// A message naming the field.
    pub fn validate(&self) -> Result<(), &'static str> {
        // NUL never reaches the database (PostgreSQL refuses it in text), nor do other
        // control characters but newlines and tabs in the content.
        if self.title.chars().any(char::is_control) {
            return Err("title must not contain control characters");
        }
        if self
            .content
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err("content must not contain control characters other than newlines and tabs");
        }
        let title = self.title.trim().chars().count();
        if title == 0 || title > 200 {
            return Err("title must be 1 to 200 characters");
        }
        if self.content.chars().count() > 10_000 {
            return Err("content must be at most 10000 characters");
        }
        Ok(())
    }
}

/// Who is reading: drafts (`published: false`) are their author's and the admins' only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// An admin reads everything.
    Admin,
    /// A user, by id.
    User(i64),
}

impl Viewer {
    /// Whether this viewer may read `post`.
    pub fn may_read(self, post: &Post) -> bool {
        match self {
            Self::Admin => true,
            Self::User(id) => post.published || post.owner_id == id,
        }
    }
}

/// The posts table.
#[derive(Debug, Clone)]
pub struct Posts {
    pool: AnyPool,
}

fn post_of(row: &AnyRow) -> Result<Post, sqlx::Error> {
    Ok(Post {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        content: row.try_get("content")?,
        published: row.try_get::<i64, _>("published")? != 0,
        owner_id: row.try_get("owner_id")?,
        created_at: row.try_get("created_at")?,
    })
}

const COLUMNS: &str = "id, title, content, published, owner_id, created_at";

/// The longest a query of the request path may take: a database that does not answer in time
/// fails the request (503) instead of hanging it.
pub const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `query` within [`QUERY_TIMEOUT`] (a timeout is reported as the pool's).
async fn bounded<T>(query: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, sqlx::Error> {
    tokio::time::timeout(QUERY_TIMEOUT, query)
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Posts {
    /// Creates the tables if missing.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn new(pool: AnyPool, postgres: bool) -> Result<Self, sqlx::Error> {
        let id = if postgres {
            "BIGSERIAL PRIMARY KEY"
        } else {
            "INTEGER PRIMARY KEY AUTOINCREMENT"
        };
        let mut tx = pool.begin().await?;
        if postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7408813325105463362)")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS posts (
                id {id},
                title TEXT NOT NULL,
                content TEXT NOT NULL,
                published BIGINT NOT NULL,
                owner_id BIGINT NOT NULL,
                created_at BIGINT NOT NULL)"
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS posts_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Self { pool })
    }

    /// A secret shared by every instance on this database (`name`: `hs256_secret` signs the
    /// tokens, `service_secret` keys throttle counters and device tokens): made once (256
    /// random bits), then read.
    ///
    /// # Errors
    ///
    /// Database errors, or a failing random source.
    pub async fn shared_secret(&self, name: &str) -> Result<Vec<u8>, sqlx::Error> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        sqlx::query(
            "INSERT INTO posts_settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(URL_SAFE_NO_PAD.encode(fresh))
        .execute(&self.pool)
        .await?;
        let stored: String = sqlx::query("SELECT value FROM posts_settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?
            .try_get("value")?;
        URL_SAFE_NO_PAD
            .decode(stored)
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))
    }

    /// The posts `viewer` may read, newest first: every published post and the viewer's own
    /// drafts (an admin: everything).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn list(&self, viewer: Viewer) -> Result<Vec<Post>, sqlx::Error> {
        bounded(async {
            let rows = match viewer {
                Viewer::Admin => {
                    sqlx::query(&format!("SELECT {COLUMNS} FROM posts ORDER BY id DESC"))
                        .fetch_all(&self.pool)
                        .await?
                }
                Viewer::User(id) => {
                    sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM posts WHERE published <> 0 OR owner_id = $1 \
                         ORDER BY id DESC"
                    ))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?
                }
            };
            rows.iter().map(post_of).collect()
        })
        .await
    }

    /// One post.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn get(&self, id: i64) -> Result<Option<Post>, sqlx::Error> {
        bounded(async {
            let row = sqlx::query(&format!("SELECT {COLUMNS} FROM posts WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(post_of).transpose()
        })
        .await
    }

    /// Stores a new post by `owner_id`.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn create(&self, owner_id: i64, post: &PostIn) -> Result<Post, sqlx::Error> {
        bounded(async {
            let row = sqlx::query(&format!(
                "INSERT INTO posts (title, content, published, owner_id, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
            ))
            .bind(post.title.trim())
            .bind(&post.content)
            .bind(i64::from(post.published))
            .bind(owner_id)
            .bind(now())
            .fetch_one(&self.pool)
            .await?;
            post_of(&row)
        })
        .await
    }

    /// Replaces a post's fields; `None` if it is gone.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn update(&self, id: i64, post: &PostIn) -> Result<Option<Post>, sqlx::Error> {
        bounded(async {
            let row = sqlx::query(&format!(
                "UPDATE posts SET title = $1, content = $2, published = $3 WHERE id = $4
                 RETURNING {COLUMNS}"
            ))
            .bind(post.title.trim())
            .bind(&post.content)
            .bind(i64::from(post.published))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(post_of).transpose()
        })
        .await
    }

    /// Deletes a post; `false` if it was not there.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn delete(&self, id: i64) -> Result<bool, sqlx::Error> {
        bounded(async {
            let done = sqlx::query("DELETE FROM posts WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }
}
