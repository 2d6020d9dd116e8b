//! Writes the schema-upgrade fixtures: a SQLite file and a PostgreSQL dump of the stores as
//! the first schema (unversioned, `CREATE TABLE IF NOT EXISTS`) left them, with data in every
//! table, made by that schema's own code through its public API. Kept only at the commit that
//! made the fixtures (`tests/data/schema-v1.*`); the upgrade test names the commit.
//!
//! `cargo run -p authz-tests --example schema_v1_fixture -- tests/data` (PostgreSQL from
//! `AUTHZ_TEST_POSTGRES_URL`, dumped with `pg_dump`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use authz_core::lifecycle::password::Passwords;
use authz_core::lifecycle::store::{SqlStore, UserStore};
use authz_core::lifecycle::{Throttling, TokenService};
use authz_core::{Algorithm, FixedClock, SigningKey};

const NOW: u64 = 1_764_000_000; // 2025-11-24

async fn fill(store: Arc<SqlStore>) {
    let clock = FixedClock::at_unix(NOW);
    let key =
        SigningKey::from_secret(Algorithm::HS256, b"fixture secret, 32 bytes or more!").unwrap();
    let service = TokenService::builder(key)
        .with_issuer("fixture")
        .with_audience("fixture")
        .with_store(store.clone())
        .with_passwords(Passwords::new())
        .with_throttling(Throttling::default())
        .with_clock(clock.clone())
        .build()
        .unwrap();
    service
        .register(
            "alice",
            Some("alice@example.com"),
            "correct horse battery",
            &["user", "admin"],
        )
        .await
        .unwrap();
    let bob = service
        .register("bob", None, "another long password", &["user"])
        .await
        .unwrap();
    // A legacy passlib bcrypt hash of "secret-password" (the one authz-core's password tests
    // use, made by passlib 1.7.4).
    let legacy = "$2b$12$KI2Cisx9l6GerAkKGZ3BjOWiTarDr42wPD68xVIkvVKKMuzRA.EMi";
    store.set_password_hash(bob.id, legacy).await.unwrap();
    // A session that refreshed once (one used token, one live), one logged out, one reused.
    let pair = service
        .login("alice", "correct horse battery", None)
        .await
        .unwrap();
    let _next = service.refresh(&pair.refresh_token).await.unwrap();
    let out = service
        .login("alice", "correct horse battery", None)
        .await
        .unwrap();
    let principal = service.verifier().verify(&out.access_token).unwrap();
    service.logout(&principal).await.unwrap();
    let stolen = service
        .login("alice", "correct horse battery", None)
        .await
        .unwrap();
    service.refresh(&stolen.refresh_token).await.unwrap();
    clock.advance(std::time::Duration::from_secs(10));
    assert!(
        service.refresh(&stolen.refresh_token).await.is_err(),
        "reuse"
    );
    service.logout_all("2").await.unwrap();
    // Throttle rows.
    for _ in 0..3 {
        let _ = service
            .login(
                "alice",
                "wrong password!",
                Some("192.0.2.7".parse().unwrap()),
            )
            .await;
    }
}

#[tokio::main]
async fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("output folder"));
    let sqlite = dir.join("schema-v1.sqlite");
    let _ = std::fs::remove_file(&sqlite);
    let store = Arc::new(SqlStore::open_sqlite(&sqlite).await.unwrap());
    fill(store.clone()).await;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .unwrap();
    drop(store);
    println!("wrote {}", sqlite.display());

    let url = std::env::var("AUTHZ_TEST_POSTGRES_URL").expect("AUTHZ_TEST_POSTGRES_URL");
    let schema = "authz_fixture_v1";
    let admin = SqlStore::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(admin.pool())
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin.pool())
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    let store = Arc::new(SqlStore::connect(&scoped).await.unwrap());
    fill(store).await;
    let dump = std::process::Command::new("pg_dump")
        .args([
            "--no-owner",
            "--no-privileges",
            "--inserts",
            "--schema",
            schema,
            &url,
        ])
        .output()
        .expect("pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    std::fs::write(dir.join("schema-v1.postgres.sql"), dump.stdout).unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(admin.pool())
        .await
        .unwrap();
    println!("wrote {}", dir.join("schema-v1.postgres.sql").display());
}
