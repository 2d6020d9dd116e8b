//! [`UserStore`] on SQL: accounts, their roles and scopes, and the password schemes in use.

use async_trait::async_trait;
use sqlx::Row as _;

use super::*;

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
