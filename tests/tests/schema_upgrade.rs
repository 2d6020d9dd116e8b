//! A database made by the first, unversioned schema is brought up to date by
//! `SqlStore::connect`, and everything in it keeps working: users log in (a legacy bcrypt
//! hash included), a live session refreshes, logged-out and reused sessions stay revoked,
//! throttle counters count on.
//!
//! The fixtures in `tests/data/` were made by that schema's own code through its public API:
//! `tests/examples/schema_v1_fixture.rs` at commit db76158, with
//! `tests/data/schema-v1.generator.diff` applied (it also writes the tokens the test presents,
//! `schema-v1.*.tokens.json`). The SQLite file is used as it is; the PostgreSQL dump
//! (`pg_dump --inserts`) is loaded into a schema of the test's own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use authz_core::lifecycle::password::Passwords;
use authz_core::lifecycle::store::{SessionStore, SqlStore, ThrottleStore, UserStore};
use authz_core::lifecycle::{Throttling, TokenService};
use authz_core::{Algorithm, FixedClock, SigningKey};
use serde_json::Value;

/// When the fixtures were made (their code's fixed clock).
const MADE_AT: u64 = 1_764_000_000;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

fn tokens(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data(name)).unwrap()).unwrap()
}

async fn upgraded_database_keeps_working(store: Arc<SqlStore>, tokens: &Value) {
    assert_eq!(store.schema_version().await.unwrap(), 3);
    let clock = FixedClock::at_unix(MADE_AT + 20);
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
    let verify = |name: &str| {
        service
            .verifier()
            .verify(tokens[name].as_str().unwrap())
            .unwrap()
    };
    // Revocations made before the upgrade hold: by jti and session (logout), by session
    // (reuse detected), and through the mirror as well as the store.
    for mirror in [false, true] {
        if mirror {
            assert!(service.load_revocations().await);
        }
        assert!(
            service
                .is_revoked(&verify("logged_out_access"))
                .await
                .unwrap()
        );
        assert!(
            service
                .is_revoked(&verify("reused_family_access"))
                .await
                .unwrap()
        );
        assert!(!service.is_revoked(&verify("live_access")).await.unwrap());
    }
    // The live session refreshes; its old token is then used up.
    let live = tokens["live_refresh"].as_str().unwrap();
    let next = service.refresh(live).await.unwrap();
    assert!(
        !service
            .is_revoked(&service.verifier().verify(&next.access_token).unwrap())
            .await
            .unwrap()
    );
    clock.advance(Duration::from_secs(10));
    assert!(
        service.refresh(live).await.is_err(),
        "reuse detected after the upgrade"
    );
    assert!(
        service
            .is_revoked(&service.verifier().verify(&next.access_token).unwrap())
            .await
            .unwrap()
    );
    // Users log in: argon2id, and the legacy bcrypt hash (then upgraded).
    service
        .login("alice@example.com", "correct horse battery", None)
        .await
        .unwrap();
    service.login("bob", "secret-password", None).await.unwrap();
    let bob = store.user_by_login("bob").await.unwrap().unwrap();
    assert!(bob.password_hash.starts_with("$argon2id$"));
    // Throttle counters carried over: three failures of alice from 192.0.2.7.
    let failures = store
        .failures("c:192.0.2.7", 900, MADE_AT + 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failures.count, 3);
    // The subject mark of the logout-all (bob, subject "2") is a revocation now.
    let log = store.revocations_since(0, MADE_AT + 20).await.unwrap();
    assert!(
        log.entries.iter().any(|r| matches!(
            &r.revoked,
            authz_core::lifecycle::store::Revoked::Subject { id, .. } if id == "2"
        )),
        "{log:?}"
    );
    // Connecting again changes nothing.
    assert_eq!(store.schema_version().await.unwrap(), 3);
}

#[tokio::test]
async fn sqlite_made_by_the_first_schema_is_upgraded() {
    let path = std::env::temp_dir().join(format!(
        "authz-upgrade-{}-{}.db",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::copy(data("schema-v1.sqlite"), &path).unwrap();
    let store = Arc::new(SqlStore::open_sqlite(&path).await.unwrap());
    upgraded_database_keeps_working(store, &tokens("schema-v1.sqlite.tokens.json")).await;
    let again = SqlStore::open_sqlite(&path).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), 3);
}

#[tokio::test]
#[cfg_attr(
    not(authz_postgres),
    ignore = "needs PostgreSQL: set AUTHZ_TEST_POSTGRES_URL (./scripts/services prints it)"
)]
async fn postgres_made_by_the_first_schema_is_upgraded() {
    let url = std::env::var("AUTHZ_TEST_POSTGRES_URL")
        .expect("AUTHZ_TEST_POSTGRES_URL was set when the tests were built");
    let schema = format!(
        "authz_upgrade_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let dump = std::fs::read_to_string(data("schema-v1.postgres.sql"))
        .unwrap()
        .replace("authz_fixture_v1", &schema);
    // The dump's statements, without psql's meta-commands and comments.
    let script: String = dump
        .lines()
        .filter(|line| !line.starts_with('\\') && !line.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let admin = SqlStore::connect(&url).await.unwrap();
    let mut connection = admin.pool().acquire().await.unwrap();
    for statement in script.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        sqlx::query(statement)
            .execute(&mut *connection)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    drop(connection);
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    let store = Arc::new(SqlStore::connect(&scoped).await.unwrap());
    upgraded_database_keeps_working(store.clone(), &tokens("schema-v1.postgres.tokens.json")).await;
    store.close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(admin.pool())
        .await
        .unwrap();
}

/// Version 3's keys, on names and emails that collide once normalized (an older database
/// could hold `alice` and `ALICE`, `alice@example.com` and its fullwidth twin): the upgrade
/// goes through, the older account keeps the name and the email, the younger keeps its
/// row and is logged.
#[tokio::test]
async fn colliding_names_and_emails_are_upgraded() {
    let path = std::env::temp_dir().join(format!(
        "authz-upgrade-collide-{}-{}.db",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::copy(data("schema-v1.sqlite"), &path).unwrap();
    {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut raw = sqlx::AnyConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let hash: String =
            sqlx::query_scalar("SELECT password_hash FROM authz_users WHERE username = 'alice'")
                .fetch_one(&mut raw)
                .await
                .unwrap();
        for (name, email) in [
            ("ALICE", "\u{ff41}lice@example.com"),
            ("\u{ff41}lice", "third@example.com"),
        ] {
            sqlx::query(
                "INSERT INTO authz_users (username, email, password_hash, roles, scopes, created_at) \
                 VALUES ($1, $2, $3, '', '', $4)",
            )
            .bind(name)
            .bind(email)
            .bind(&hash)
            .bind(i64::try_from(MADE_AT).unwrap())
            .execute(&mut raw)
            .await
            .unwrap();
        }
        raw.close().await.unwrap();
    }
    let store = Arc::new(SqlStore::open_sqlite(&path).await.unwrap());
    assert_eq!(store.schema_version().await.unwrap(), 3);
    let alice = store.user_by_login("alice").await.unwrap().unwrap();
    assert_eq!(alice.username, "alice");
    let by_email = store
        .user_by_login("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_email.id, alice.id);
    // The younger look-alike with its own email logs in by that email.
    let third = store
        .user_by_login("third@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.username, "\u{ff41}lice");
}
