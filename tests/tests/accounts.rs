//! Accounts under attack, at the `TokenService` (issue 18): refused tokens that cost no
//! database query, throttle rows that hold no typed name, housekeeping that purges, look-alike
//! and mixed-script names, the password policy, and Redis channels kept apart by prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use authz_core::lifecycle::password::Passwords;
use authz_core::lifecycle::store::{
    Family, Fanout, FanoutEvent, Purged, RedisStore, RefreshRecord, Revocation, RevocationLog,
    RevocationQuery, Revoke, RevokeOutcome, Revoked, Rotate, Rotation, SessionStore, SqlStore,
    StoreResult,
};
use authz_core::lifecycle::{LifecycleError, LoginAttempt, TokenService};
use authz_core::{Algorithm, FixedClock, SigningKey};

fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}{}x{nanos}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn sqlite() -> Arc<SqlStore> {
    let path = std::env::temp_dir().join(format!("{}.db", unique("authz-accounts")));
    Arc::new(SqlStore::open_sqlite(&path).await.unwrap())
}

fn fast_passwords() -> Passwords {
    Passwords::with_params(argon2::Params::new(1024, 1, 1, None).unwrap())
}

/// A session store that counts the revocation questions put to it.
struct Counting {
    inner: Arc<SqlStore>,
    checks: AtomicUsize,
}

#[async_trait]
impl SessionStore for Counting {
    async fn start_family(&self, family: &Family, first: &RefreshRecord) -> StoreResult<()> {
        self.inner.start_family(family, first).await
    }
    async fn rotate(&self, request: &Rotate<'_>) -> StoreResult<Rotation> {
        self.inner.rotate(request).await
    }
    async fn revoke(&self, request: &Revoke<'_>) -> StoreResult<RevokeOutcome> {
        self.inner.revoke(request).await
    }
    async fn revocations_since(&self, after: u64, now: u64) -> StoreResult<RevocationLog> {
        self.inner.revocations_since(after, now).await
    }
    async fn is_revoked(&self, query: RevocationQuery<'_>, now: u64) -> StoreResult<bool> {
        self.checks.fetch_add(1, Ordering::Relaxed);
        self.inner.is_revoked(query, now).await
    }
    async fn purge_expired(&self, now: u64) -> StoreResult<Purged> {
        self.inner.purge_expired(now).await
    }
}

/// Item 7: 1500 requests with a logged-out token used to cost 1500 database transactions.
/// Revocation checks are answered by the in-memory mirror: none reaches the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_cost_no_database_query() {
    let sql = sqlite().await;
    let counting = Arc::new(Counting {
        inner: sql.clone(),
        checks: AtomicUsize::new(0),
    });
    let service = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_passwords(fast_passwords())
        .with_user_store(sql.clone())
        .with_throttle_store(sql.clone())
        .with_session_store(counting.clone())
        .build()
        .unwrap();
    assert!(service.load_revocations().await);
    let name = unique("ann");
    service
        .register(&name, None, "correct horse 1", &[])
        .await
        .unwrap();
    let pair = service.login(&name, "correct horse 1", None).await.unwrap();
    let principal = service.verifier().verify(&pair.access_token).unwrap();
    service.logout(&principal).await.unwrap();
    let before = counting.checks.load(Ordering::Relaxed);
    for _ in 0..1500 {
        assert!(service.is_revoked(&principal).await.unwrap());
    }
    assert_eq!(counting.checks.load(Ordering::Relaxed) - before, 0);
}

/// Item 9: throttle rows used to hold every login name tried, in plain text (sometimes a
/// password typed into the wrong field); nothing purged them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_rows_hold_no_names_and_are_purged() {
    let sql = sqlite().await;
    let clock = FixedClock::at(SystemTime::now());
    let service = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_passwords(fast_passwords())
        .with_store(sql.clone())
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let name = unique("bea");
    service
        .register(
            &name,
            Some(&format!("{name}@example.com")),
            "correct horse 1",
            &[],
        )
        .await
        .unwrap();
    let client = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let typo = "MySecretPassw0rd!";
    for login in [typo, name.as_str()] {
        let error = service
            .login(login, "wrong guess", client)
            .await
            .unwrap_err();
        assert_eq!(error, LifecycleError::InvalidCredentials);
    }
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM authz_throttle")
        .fetch_all(sql.pool())
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(
            !key.contains(typo) && !key.to_lowercase().contains(&name.to_lowercase()),
            "a throttle row names what was typed: {key}"
        );
    }
    // The username and the email count as one account (one key per account once known).
    let email = format!("{name}@example.com");
    service
        .login(&email, "wrong guess", client)
        .await
        .unwrap_err();
    let after: Vec<String> = sqlx::query_scalar("SELECT key FROM authz_throttle")
        .fetch_all(sql.pool())
        .await
        .unwrap();
    assert_eq!(after.len(), keys.len(), "{keys:?} then {after:?}");

    // A revocation and the counters, purged once they no longer matter.
    let pair = service.login(&name, "correct horse 1", client).await;
    assert!(pair.is_ok());
    let pair = pair.unwrap();
    let principal = service.verifier().verify(&pair.access_token).unwrap();
    service.logout(&principal).await.unwrap();
    assert_eq!(
        service.purge_expired().await.unwrap(),
        0,
        "nothing expired yet"
    );
    clock.advance(Duration::from_secs(40 * 86_400));
    assert!(service.purge_expired().await.unwrap() >= 3);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM authz_throttle")
        .fetch_one(sql.pool())
        .await
        .unwrap();
    let revocations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM authz_revocations")
        .fetch_one(sql.pool())
        .await
        .unwrap();
    assert_eq!((left, revocations), (0, 0));
}

/// Item 9: names that look alike are one account or refused; passwords follow a policy.
#[tokio::test]
async fn look_alike_names_and_the_password_policy() {
    let sql = sqlite().await;
    let service = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_passwords(fast_passwords())
        .with_store(sql)
        .build()
        .unwrap();
    let base = unique("zoe");
    service
        .register(&base, None, "correct horse 1", &[])
        .await
        .unwrap();
    let upper = base.to_uppercase();
    let fullwidth: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap()
            } else {
                c
            }
        })
        .collect();
    for same in [upper.as_str(), fullwidth.as_str()] {
        assert_eq!(
            service
                .register(same, None, "correct horse 1", &[])
                .await
                .unwrap_err(),
            LifecycleError::Conflict,
            "{same}"
        );
        // ...and it logs in to the one account.
        service.login(same, "correct horse 1", None).await.unwrap();
    }
    for hidden in [
        format!("{base}\u{200D}"),
        format!("{base}\u{AD}"),
        format!("\u{202E}{base}"),
        format!("{base}\u{0}"),
        format!("\u{430}{base}"),
    ] {
        assert!(
            matches!(
                service
                    .register(&hidden, None, "correct horse 1", &[])
                    .await,
                Err(LifecycleError::InvalidInput(_))
            ),
            "{hidden:?}"
        );
    }
    for weak in [
        "        ",
        "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}",
        "password1",
        "Qwerty123",
    ] {
        assert!(
            matches!(
                service.register(&unique("yan"), None, weak, &[]).await,
                Err(LifecycleError::Password(_))
            ),
            "{weak:?}"
        );
    }
    // Any script, spaces inside, no composition rules.
    service
        .register(&unique("yan"), None, "пароль на русском", &[])
        .await
        .unwrap();
}

/// Item 3 at the service: the device token a login hands out waives the account-wide rule
/// for that client only.
#[tokio::test]
async fn a_device_token_waives_the_account_rule() {
    let sql = sqlite().await;
    let clock = FixedClock::at(SystemTime::now());
    let service = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_passwords(fast_passwords())
        .with_store(sql)
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let name = unique("ida");
    service
        .register(&name, None, "correct horse 1", &[])
        .await
        .unwrap();
    let home = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let device = service
        .login_with(&LoginAttempt::new(&name, "correct horse 1").from_client(home))
        .await
        .unwrap()
        .device;
    for i in 0..100u32 {
        let [_, b, c, d] = (0x0A00_0000 + i).to_be_bytes();
        let attacker = Some(IpAddr::V4(Ipv4Addr::new(10, b, c, d)));
        assert_eq!(
            service.login(&name, "guess", attacker).await.unwrap_err(),
            LifecycleError::InvalidCredentials
        );
    }
    let elsewhere = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)));
    assert!(matches!(
        service.login(&name, "correct horse 1", elsewhere).await,
        Err(LifecycleError::Throttled { .. })
    ));
    let attempt = LoginAttempt::new(&name, "correct horse 1")
        .from_client(elsewhere)
        .with_device(Some(&device));
    service.login_with(&attempt).await.unwrap();
    // A device token handed out by another service (another secret) is worth nothing.
    let other = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_passwords(fast_passwords())
        .with_store(sqlite().await)
        .build()
        .unwrap();
    other
        .register(&name, None, "correct horse 1", &[])
        .await
        .unwrap();
    let foreign = other
        .login_with(&LoginAttempt::new(&name, "correct horse 1"))
        .await
        .unwrap()
        .device;
    for i in 0..100u32 {
        let [_, b, c, d] = (0x0B00_0000 + i).to_be_bytes();
        let attacker = Some(IpAddr::V4(Ipv4Addr::new(11, b, c, d)));
        let _ = service.login(&name, "guess", attacker).await;
    }
    let attempt = LoginAttempt::new(&name, "correct horse 1")
        .from_client(elsewhere)
        .with_device(Some(&foreign));
    assert!(matches!(
        service.login_with(&attempt).await,
        Err(LifecycleError::Throttled { .. })
    ));
}

/// Item 9: revocations published under one prefix (or logical database) reach only the
/// instances of that prefix.
#[tokio::test]
#[cfg_attr(
    not(authz_redis),
    ignore = "needs Redis: set AUTHZ_TEST_REDIS_URL (./scripts/services prints it)"
)]
async fn redis_channels_are_kept_apart_by_prefix() {
    let url = std::env::var("AUTHZ_TEST_REDIS_URL")
        .expect("AUTHZ_TEST_REDIS_URL was set when the tests were built, and is not now");
    let prefix = format!("{}:", unique("app"));
    let ours = RedisStore::connect(&url, &prefix).await.unwrap();
    let same = RedisStore::connect(&url, &prefix).await.unwrap();
    let other_prefix = RedisStore::connect(&url, &format!("{}:", unique("other")))
        .await
        .unwrap();
    let sep = if url.ends_with('/') { "" } else { "/" };
    let other_db = RedisStore::connect(&format!("{url}{sep}1"), &prefix)
        .await
        .unwrap();
    assert_ne!(ours.channel(), other_prefix.channel());
    assert_ne!(ours.channel(), other_db.channel());
    let mut events = ours.subscribe();
    assert!(matches!(
        events.recv().await,
        Some(FanoutEvent::Resubscribed)
    ));
    let revocation = |id: &str| {
        let until = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        Revocation::new(Revoked::Token { id: id.to_owned() }, until)
    };
    other_prefix
        .publish(&[revocation("other-prefix")])
        .await
        .unwrap();
    other_db.publish(&[revocation("other-db")]).await.unwrap();
    // The publisher waits until the subscriber has applied (acknowledged) the revocation.
    let publisher = same.clone();
    let published = tokio::spawn(async move {
        let started = std::time::Instant::now();
        publisher.publish(&[revocation("ours")]).await.unwrap();
        started.elapsed()
    });
    let event = tokio::time::timeout(Duration::from_secs(2), events.recv())
        .await
        .expect("our own revocation never arrived");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !published.is_finished(),
        "the publisher answered before the subscriber acknowledged"
    );
    match event {
        Some(FanoutEvent::RevokedAck(revocations, ack)) => {
            assert_eq!(revocations.len(), 1);
            assert_eq!(revocations[0].revoked, Revoked::Token { id: "ours".into() });
            ack.done();
        }
        other => panic!("{other:?}"),
    }
    let waited = published.await.unwrap();
    assert!(
        waited < Duration::from_millis(240),
        "the publisher waited {waited:?} after the acknowledgement"
    );
    // A subscriber that never acknowledges holds the publisher no longer than the ack wait
    // (250 ms by default), and the publish still succeeds (the durable store has it).
    let started = std::time::Instant::now();
    same.publish(&[revocation("unacknowledged")]).await.unwrap();
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(240)..Duration::from_secs(2)).contains(&waited),
        "an unacknowledged publish took {waited:?}"
    );
    drop(events.recv().await);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), events.recv())
            .await
            .is_err(),
        "another prefix's or database's revocation arrived"
    );
}

/// Item 9: NUL in a login name used to reach PostgreSQL, which refuses it: 503 and an ERROR
/// log per request. It is now refused (or answered as a wrong password) before any store.
#[tokio::test]
#[cfg_attr(
    not(authz_postgres),
    ignore = "needs PostgreSQL: set AUTHZ_TEST_POSTGRES_URL (./scripts/services prints it)"
)]
async fn nul_never_reaches_postgresql() {
    let url = std::env::var("AUTHZ_TEST_POSTGRES_URL")
        .expect("AUTHZ_TEST_POSTGRES_URL was set when the tests were built, and is not now");
    // A schema of our own, so that the tests never touch anyone else's tables.
    let schema = unique("authz_nul");
    let admin = SqlStore::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin.pool())
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = Arc::new(
        SqlStore::connect(&format!("{url}{sep}options=-c%20search_path%3D{schema}"))
            .await
            .unwrap(),
    );
    let service = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_passwords(fast_passwords())
        .with_store(store)
        .build()
        .unwrap();
    service
        .register("nina", Some("nina@example.com"), "correct horse 1", &[])
        .await
        .unwrap();
    let client = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    for login in ["ni\u{0}na", "\u{0}", "nina@example.com\u{0}"] {
        assert_eq!(
            service
                .login(login, "correct horse 1", client)
                .await
                .unwrap_err(),
            LifecycleError::InvalidCredentials,
            "{login:?}"
        );
        assert_eq!(service.find_user(login).await.unwrap(), None);
    }
    for (name, email) in [("ni\u{0}na2", None), ("nina3", Some("n\u{0}@example.com"))] {
        assert!(
            matches!(
                service.register(name, email, "correct horse 1", &[]).await,
                Err(LifecycleError::InvalidInput(_))
            ),
            "{name:?} {email:?}"
        );
    }
    service
        .login("nina", "correct horse 1", client)
        .await
        .unwrap();
}
