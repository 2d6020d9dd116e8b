//! [`SessionStore`] on SQL: refresh families, their rotation, and the durable revocation log.

use async_trait::async_trait;
use sqlx::Row as _;

use super::*;

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
