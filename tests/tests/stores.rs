//! One suite, every backend: the memory store, SQLite (a temporary file), PostgreSQL
//! (`AUTHZ_TEST_POSTGRES_URL`) and Redis (`AUTHZ_TEST_REDIS_URL`, revocations and throttling).
//! The suite drives both the store traits directly and the `TokenService` on top of them.
//!
//! Without the URLs the PostgreSQL and Redis tests are reported as ignored, with the reason
//! (the build script sets the cfgs, see `tests/build/probe.rs`); with
//! `AUTHZ_REQUIRE_SERVICES=1` (as `.ci/run` sets) a missing URL fails the build.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authz_core::lifecycle::password::Passwords;
use authz_core::lifecycle::store::{
    Family, MemoryStore, NewUser, RedisStore, RefreshRecord, RefreshStore, RevocationQuery,
    RevocationStore, Rotation, SqlStore, StoreError, ThrottleStore, UserStore,
};
use authz_core::lifecycle::{LifecycleError, Throttling, TokenService};
use authz_core::{Algorithm, FixedClock, SigningKey};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A name no other test (or earlier run against the same database) has used.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The URL of a service the test needs. The test runs only when the build saw the variable;
/// if it is gone at run time, that is a failure, not a skip.
fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => panic!("{var} was set when the tests were built, and is not now"),
    }
}

async fn sqlite() -> Arc<SqlStore> {
    let path = std::env::temp_dir().join(format!("{}.db", unique("authz-test")));
    Arc::new(SqlStore::open_sqlite(&path).await.unwrap())
}

async fn postgres() -> Option<Arc<SqlStore>> {
    let url = service_url("AUTHZ_TEST_POSTGRES_URL")?;
    Some(Arc::new(SqlStore::connect(&url).await.unwrap()))
}

async fn redis() -> Option<Arc<RedisStore>> {
    let url = service_url("AUTHZ_TEST_REDIS_URL")?;
    Some(Arc::new(
        RedisStore::connect(&url, &format!("{}:", unique("authz-test")))
            .await
            .unwrap(),
    ))
}

fn fast_passwords() -> Passwords {
    Passwords::with_params(argon2::Params::new(1024, 1, 1, None).unwrap())
}

// ---------------------------------------------------------------- store-level suite

async fn users_suite(store: Arc<dyn UserStore>) {
    let name = unique("alice");
    let email = format!("{name}@Example.com");
    let new = |username: &str, email: Option<&str>| NewUser {
        username: username.to_owned(),
        email: email.map(str::to_owned),
        password_hash: "$argon2id$hash".into(),
        roles: vec!["admin".into(), "user".into()],
        scopes: vec!["posts:write".into()],
    };
    let alice = store
        .create_user(new(&name, Some(&email)), 1_000)
        .await
        .unwrap();
    assert_eq!(alice.username, name);
    assert_eq!(
        alice.email,
        Some(email.to_lowercase()),
        "emails are lowercased"
    );
    assert_eq!(alice.roles, ["admin", "user"]);
    assert_eq!(alice.scopes, ["posts:write"]);
    assert_eq!(alice.created_at, 1_000);

    // Duplicate username, duplicate email: conflict, nothing stored.
    assert_eq!(
        store.create_user(new(&name, None), 1_001).await,
        Err(StoreError::Conflict)
    );
    let other = unique("bob");
    assert_eq!(
        store
            .create_user(new(&other, Some(&email.to_uppercase())), 1_001)
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.user_by_login(&other).await.unwrap(), None);

    // Lookup by username, by email (any case), by id.
    assert_eq!(
        store.user_by_login(&name).await.unwrap().unwrap().id,
        alice.id
    );
    assert_eq!(
        store
            .user_by_login(&email.to_uppercase())
            .await
            .unwrap()
            .unwrap()
            .id,
        alice.id
    );
    assert_eq!(store.user_by_id(alice.id).await.unwrap().unwrap(), alice);
    assert_eq!(store.user_by_id(i64::MAX).await.unwrap(), None);

    store
        .set_password_hash(alice.id, "$argon2id$new")
        .await
        .unwrap();
    store.set_roles(alice.id, &["user".into()]).await.unwrap();
    let alice = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(alice.password_hash, "$argon2id$new");
    assert_eq!(alice.roles, ["user"]);
}

async fn concurrent_registration_suite(store: Arc<dyn UserStore>) {
    let name = unique("race");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_user(
                    NewUser {
                        username: name,
                        email: None,
                        password_hash: "h".into(),
                        roles: vec![],
                        scopes: vec![],
                    },
                    now(),
                )
                .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::Conflict) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1, "exactly one registration of one name wins");
}

fn family(subject: &str, now: u64) -> (Family, RefreshRecord) {
    let family = Family {
        id: unique("fam"),
        subject: subject.to_owned(),
        created_at: now,
        expires_at: now + 1_000,
    };
    let first = RefreshRecord {
        hash: unique("hash"),
        family: family.id.clone(),
        issued_at: now,
        expires_at: now + 100,
    };
    (family, first)
}

async fn refresh_suite(store: Arc<dyn RefreshStore>) {
    let t = now();
    let subject = unique("sub");
    let (fam, first) = family(&subject, t);
    store.start_family(&fam, &first).await.unwrap();

    // Rotate: first → second.
    let second = unique("hash");
    assert_eq!(
        store
            .rotate(&first.hash, &second, 100, 2, t + 1)
            .await
            .unwrap(),
        Rotation::Rotated {
            family: fam.clone()
        }
    );
    // First again within the grace: a concurrent duplicate, the family lives.
    let third = unique("hash");
    assert_eq!(
        store
            .rotate(&first.hash, &third, 100, 2, t + 2)
            .await
            .unwrap(),
        Rotation::Raced
    );
    // Second still works.
    assert!(matches!(
        store.rotate(&second, &third, 100, 2, t + 2).await.unwrap(),
        Rotation::Rotated { .. }
    ));
    // First again after the grace: reuse, the family is revoked...
    let fourth = unique("hash");
    assert_eq!(
        store
            .rotate(&first.hash, &fourth, 100, 2, t + 10)
            .await
            .unwrap(),
        Rotation::Reused {
            family: fam.clone()
        }
    );
    // ...so the live token (third) is refused too, and the rejected next hash was not stored.
    assert_eq!(
        store
            .rotate(&third, &unique("hash"), 100, 2, t + 11)
            .await
            .unwrap(),
        Rotation::Revoked
    );
    assert_eq!(
        store
            .rotate(&fourth, &unique("hash"), 100, 2, t + 11)
            .await
            .unwrap(),
        Rotation::Unknown
    );
    assert_eq!(
        store
            .rotate("no-such-hash", &unique("hash"), 100, 2, t)
            .await
            .unwrap(),
        Rotation::Unknown
    );

    // Idle expiry, and the next token's expiry capped at the family's.
    let (fam, first) = family(&subject, t);
    store.start_family(&fam, &first).await.unwrap();
    assert_eq!(
        store
            .rotate(&first.hash, &unique("hash"), 100, 2, t + 100)
            .await
            .unwrap(),
        Rotation::Expired
    );
    let (fam, first) = family(&subject, t);
    store.start_family(&fam, &first).await.unwrap();
    let next = unique("hash");
    assert!(matches!(
        store
            .rotate(&first.hash, &next, 5_000, 2, t + 99)
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    assert_eq!(
        store
            .rotate(&next, &unique("hash"), 5_000, 2, t + 1_000)
            .await
            .unwrap(),
        Rotation::Expired,
        "absolute expiry wins over idle"
    );

    // Revocation by token, by family, by subject.
    let subject = unique("sub");
    let (fam_a, first_a) = family(&subject, t);
    let (fam_b, first_b) = family(&subject, t);
    let (fam_c, first_c) = family(&subject, t);
    for (f, r) in [(&fam_a, &first_a), (&fam_b, &first_b), (&fam_c, &first_c)] {
        store.start_family(f, r).await.unwrap();
    }
    assert_eq!(
        store.revoke_by_token(&first_a.hash, t).await.unwrap(),
        Some(fam_a.clone())
    );
    assert_eq!(store.revoke_by_token(&first_a.hash, t).await.unwrap(), None);
    assert_eq!(
        store.revoke_family(&fam_b.id, t).await.unwrap(),
        Some(fam_b.clone())
    );
    let mut by_subject = store.revoke_subject(&subject, t).await.unwrap();
    by_subject.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        by_subject,
        vec![fam_c.clone()],
        "only the live family is left"
    );
    assert_eq!(
        store
            .rotate(&first_c.hash, &unique("hash"), 100, 2, t + 1)
            .await
            .unwrap(),
        Rotation::Revoked
    );
}

async fn refresh_race_suite(store: Arc<dyn RefreshStore>) {
    let t = now();
    let (fam, first) = family(&unique("sub"), t);
    store.start_family(&fam, &first).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let store = store.clone();
        let presented = first.hash.clone();
        tasks.push(tokio::spawn(async move {
            store
                .rotate(&presented, &unique("hash"), 100, 5, t + 1)
                .await
                .unwrap()
        }));
    }
    let mut rotated = 0;
    for task in tasks {
        match task.await.unwrap() {
            Rotation::Rotated { .. } => rotated += 1,
            Rotation::Raced => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rotated, 1, "exactly one concurrent refresh wins");
}

async fn revocation_suite(store: Arc<dyn RevocationStore>) {
    let t = now();
    let subject = unique("sub");
    let jti = unique("jti");
    let sid = unique("sid");
    let query = |jti: Option<&'static str>, iat| RevocationQuery {
        subject: "nobody",
        token_id: jti,
        session_id: None,
        issued_at: iat,
    };
    let leaked: &'static str = Box::leak(jti.clone().into_boxed_str());
    assert!(
        !store
            .is_revoked(query(Some(leaked), Some(t)), t)
            .await
            .unwrap()
    );
    store.revoke_token(&jti, t + 60).await.unwrap();
    assert!(
        store
            .is_revoked(query(Some(leaked), Some(t)), t)
            .await
            .unwrap()
    );
    assert!(!store.is_revoked(query(None, Some(t)), t).await.unwrap());

    let by_sid = RevocationQuery {
        subject: &subject,
        token_id: Some("other"),
        session_id: Some(&sid),
        issued_at: Some(t),
    };
    assert!(!store.is_revoked(by_sid, t).await.unwrap());
    store.revoke_session(&sid, t + 60).await.unwrap();
    assert!(store.is_revoked(by_sid, t).await.unwrap());

    // Subject mark: tokens issued at or before it are revoked, later ones are not.
    let other_subject = unique("sub");
    let at = |iat| RevocationQuery {
        subject: &other_subject,
        token_id: None,
        session_id: None,
        issued_at: iat,
    };
    assert!(!store.is_revoked(at(Some(t - 10)), t).await.unwrap());
    store
        .revoke_subject_before(&other_subject, t - 5, t + 60)
        .await
        .unwrap();
    assert!(store.is_revoked(at(Some(t - 10)), t).await.unwrap());
    assert!(store.is_revoked(at(Some(t - 5)), t).await.unwrap());
    assert!(!store.is_revoked(at(Some(t - 4)), t).await.unwrap());
    assert!(
        store.is_revoked(at(None), t).await.unwrap(),
        "no iat: refused"
    );
    // An earlier mark never moves it back.
    store
        .revoke_subject_before(&other_subject, t - 100, t + 60)
        .await
        .unwrap();
    assert!(store.is_revoked(at(Some(t - 5)), t).await.unwrap());

    // Entries end at `until`.
    let short = unique("jti");
    store.revoke_token(&short, t + 2).await.unwrap();
    let q = RevocationQuery {
        subject: "x",
        token_id: Some(&short),
        session_id: None,
        issued_at: Some(t),
    };
    assert!(store.is_revoked(q, t).await.unwrap());
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert!(!store.is_revoked(q, now()).await.unwrap(), "expired entry");
}

async fn throttle_suite(store: Arc<dyn ThrottleStore>) {
    let t = now();
    let key = unique("key");
    assert_eq!(store.failures(&key, 60, t).await.unwrap(), None);
    for expected in 1..=3 {
        let failures = store.record_failure(&key, 60, t).await.unwrap();
        assert_eq!(failures.count, expected);
    }
    let failures = store.failures(&key, 60, t + 1).await.unwrap().unwrap();
    assert_eq!((failures.count, failures.last), (3, t));
    // Outside the window the count starts again.
    assert_eq!(store.failures(&key, 60, t + 60).await.unwrap(), None);
    assert_eq!(
        store.record_failure(&key, 60, t + 61).await.unwrap().count,
        1
    );
    store.clear(&key).await.unwrap();
    assert_eq!(store.failures(&key, 60, t + 61).await.unwrap(), None);

    // 200 concurrent failures are all counted.
    let key = unique("key");
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let store = store.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            store.record_failure(&key, 60, t).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        store.failures(&key, 60, t).await.unwrap().unwrap().count,
        200
    );
}

// ---------------------------------------------------------------- TokenService suite

async fn lifecycle_suite(service: TokenService, clock: FixedClock) {
    let name = unique("carol");
    let user = service
        .register(
            &name,
            Some(&format!("{name}@example.com")),
            "correct horse 1",
            &["user"],
        )
        .await
        .unwrap();
    assert!(user.password_hash.starts_with("$argon2id$"));
    assert!(matches!(
        service.register(&name, None, "correct horse 2", &[]).await,
        Err(LifecycleError::Conflict)
    ));
    assert!(matches!(
        service.register(&unique("d"), None, "short", &[]).await,
        Err(LifecycleError::Password(_))
    ));

    // Login by username and by email; wrong password and unknown user look the same.
    let pair = service.login(&name, "correct horse 1", None).await.unwrap();
    service
        .login(&format!("{name}@EXAMPLE.com"), "correct horse 1", None)
        .await
        .unwrap();
    let wrong = service
        .login(&name, "correct horse 2", None)
        .await
        .unwrap_err();
    let unknown = service
        .login(&unique("nobody"), "correct horse 1", None)
        .await
        .unwrap_err();
    assert_eq!(wrong, LifecycleError::InvalidCredentials);
    assert_eq!(wrong.to_string(), unknown.to_string());

    // The access token: typ at+jwt, sub, roles, sid; verified by the service's verifier.
    let principal = service.verifier().verify(&pair.access_token).unwrap();
    assert_eq!(principal.subject(), user.id.to_string());
    assert!(principal.has_role("user"));
    assert_eq!(pair.expires_in, 300);
    assert!(!service.is_revoked(&principal).await.unwrap());

    // Access and refresh tokens never stand in for each other.
    assert!(service.verifier().verify(&pair.refresh_token).is_err());
    assert_eq!(
        service.refresh(&pair.access_token).await.unwrap_err(),
        LifecycleError::InvalidRefreshToken
    );

    // Rotation, then reuse detection revokes the family, access tokens included.
    clock.advance(Duration::from_secs(10));
    let second = service.refresh(&pair.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, pair.refresh_token);
    let second_principal = service.verifier().verify(&second.access_token).unwrap();
    assert!(!service.is_revoked(&second_principal).await.unwrap());
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        service.refresh(&pair.refresh_token).await.unwrap_err(),
        LifecycleError::RefreshTokenReused
    );
    assert_eq!(
        service.refresh(&second.refresh_token).await.unwrap_err(),
        LifecycleError::InvalidRefreshToken
    );
    assert!(service.is_revoked(&second_principal).await.unwrap());
    assert!(service.is_revoked(&principal).await.unwrap());

    // RFC 7009 revoke with a refresh token: the family ends.
    let pair = service.login(&name, "correct horse 1", None).await.unwrap();
    service.revoke(&pair.refresh_token).await.unwrap();
    assert!(service.refresh(&pair.refresh_token).await.is_err());
    let p = service.verifier().verify(&pair.access_token).unwrap();
    assert!(service.is_revoked(&p).await.unwrap());
    // ...with an access token: that token ends, its family goes on.
    let pair = service.login(&name, "correct horse 1", None).await.unwrap();
    service.revoke(&pair.access_token).await.unwrap();
    let p = service.verifier().verify(&pair.access_token).unwrap();
    assert!(service.is_revoked(&p).await.unwrap());
    service.refresh(&pair.refresh_token).await.unwrap();
    // Garbage is ignored.
    service.revoke("not a token").await.unwrap();

    // Logout: the token and its family.
    let pair = service.login(&name, "correct horse 1", None).await.unwrap();
    let p = service.verifier().verify(&pair.access_token).unwrap();
    service.logout(&p).await.unwrap();
    assert!(service.is_revoked(&p).await.unwrap());
    assert!(service.refresh(&pair.refresh_token).await.is_err());

    // Logout-all: every session of the subject, and tokens issued before.
    let a = service.login(&name, "correct horse 1", None).await.unwrap();
    let b = service.login(&name, "correct horse 1", None).await.unwrap();
    clock.advance(Duration::from_secs(1));
    service.logout_all(&user.id.to_string()).await.unwrap();
    for pair in [&a, &b] {
        let p = service.verifier().verify(&pair.access_token).unwrap();
        assert!(service.is_revoked(&p).await.unwrap());
        assert!(service.refresh(&pair.refresh_token).await.is_err());
    }
    // A login right after logout-all works.
    let fresh = service.login(&name, "correct horse 1", None).await.unwrap();
    let p = service.verifier().verify(&fresh.access_token).unwrap();
    assert!(!service.is_revoked(&p).await.unwrap());
    let renewed = service.refresh(&fresh.refresh_token).await.unwrap();
    let p = service.verifier().verify(&renewed.access_token).unwrap();
    assert!(!service.is_revoked(&p).await.unwrap());
}

async fn throttling_suite(service: TokenService, clock: FixedClock) {
    let name = unique("dave");
    service
        .register(&name, None, "correct horse 1", &[])
        .await
        .unwrap();
    // Addresses no earlier run used: the PostgreSQL and Redis counters outlive a test run.
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .to_be_bytes();
    let attacker = Some(IpAddr::V4(Ipv4Addr::new(10, n[1], n[2], n[3])));
    let owner = Some(IpAddr::V4(Ipv4Addr::new(11, n[1], n[2], n[3])));
    for _ in 0..5 {
        assert_eq!(
            service.login(&name, "guess", attacker).await.unwrap_err(),
            LifecycleError::InvalidCredentials
        );
    }
    // Sixth attempt from the attacker's address: back-off, even with the right password.
    assert_eq!(
        service
            .login(&name, "correct horse 1", attacker)
            .await
            .unwrap_err(),
        LifecycleError::Throttled { retry_after: 1 }
    );
    // The owner, elsewhere, is not locked out.
    service
        .login(&name, "correct horse 1", owner)
        .await
        .unwrap();
    // The delay doubles with each further failure, and passes with time.
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        service.login(&name, "guess", attacker).await.unwrap_err(),
        LifecycleError::InvalidCredentials
    );
    assert_eq!(
        service.login(&name, "guess", attacker).await.unwrap_err(),
        LifecycleError::Throttled { retry_after: 2 }
    );
    clock.advance(Duration::from_secs(2));
    service
        .login(&name, "correct horse 1", attacker)
        .await
        .unwrap();
}

async fn bcrypt_migration_suite(service: TokenService, users: Arc<dyn UserStore>) {
    // A user carried over from the FastAPI seed, with passlib's bcrypt hash of
    // "secret-password".
    let name = unique("legacy");
    let user = users
        .create_user(
            NewUser {
                username: name.clone(),
                email: None,
                password_hash: "$2b$12$KI2Cisx9l6GerAkKGZ3BjOWiTarDr42wPD68xVIkvVKKMuzRA.EMi"
                    .into(),
                roles: vec![],
                scopes: vec![],
            },
            now(),
        )
        .await
        .unwrap();
    assert!(service.login(&name, "wrong-password", None).await.is_err());
    let stored = users.user_by_id(user.id).await.unwrap().unwrap();
    assert!(
        stored.password_hash.starts_with("$2b$"),
        "no upgrade on failure"
    );
    service.login(&name, "secret-password", None).await.unwrap();
    let stored = users.user_by_id(user.id).await.unwrap().unwrap();
    assert!(
        stored.password_hash.starts_with("$argon2id$"),
        "upgraded on login"
    );
    service.login(&name, "secret-password", None).await.unwrap();
}

fn service_on(
    users: Arc<dyn UserStore>,
    refresh: Arc<dyn RefreshStore>,
    revocations: Arc<dyn RevocationStore>,
    throttle: Arc<dyn ThrottleStore>,
) -> (TokenService, FixedClock) {
    let clock = FixedClock::at(SystemTime::now());
    let service = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_issuer("https://auth.test")
        .with_audience("api")
        .with_passwords(fast_passwords())
        .with_user_store(users)
        .with_refresh_store(refresh)
        .with_revocation_store(revocations)
        .with_throttle_store(throttle)
        .with_throttling(Throttling::default())
        .with_clock(clock.clone())
        .build()
        .unwrap();
    (service, clock)
}

async fn full_suite<S>(store: Arc<S>)
where
    S: UserStore + RefreshStore + RevocationStore + ThrottleStore,
{
    users_suite(store.clone()).await;
    concurrent_registration_suite(store.clone()).await;
    refresh_suite(store.clone()).await;
    refresh_race_suite(store.clone()).await;
    revocation_suite(store.clone()).await;
    throttle_suite(store.clone()).await;
    let (service, clock) = service_on(store.clone(), store.clone(), store.clone(), store.clone());
    lifecycle_suite(service, clock).await;
    let (service, clock) = service_on(store.clone(), store.clone(), store.clone(), store.clone());
    throttling_suite(service, clock).await;
    let (service, _) = service_on(store.clone(), store.clone(), store.clone(), store.clone());
    bcrypt_migration_suite(service, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend() {
    full_suite(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_backend() {
    full_suite(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(authz_postgres),
    ignore = "needs PostgreSQL: set AUTHZ_TEST_POSTGRES_URL (./scripts/services prints it)"
)]
async fn postgres_backend() {
    if let Some(store) = postgres().await {
        full_suite(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(authz_redis),
    ignore = "needs Redis: set AUTHZ_TEST_REDIS_URL (./scripts/services prints it)"
)]
async fn redis_backend() {
    let Some(redis) = redis().await else {
        return;
    };
    revocation_suite(redis.clone()).await;
    throttle_suite(redis.clone()).await;
    let url = std::env::var("AUTHZ_TEST_REDIS_URL").unwrap();
    let mirrored = Arc::new(
        RedisStore::connect_mirrored(&url, &format!("{}:", unique("authz-test")))
            .await
            .unwrap(),
    );
    assert!(mirrored.is_mirror_synced());
    revocation_suite(mirrored).await;
    // The lifecycle with users and families in SQLite, revocations and throttling in Redis:
    // the several-instances setup of the examples. Redis keys expire by its own clock, so
    // this suite runs on the real clock for revocations (FixedClock starts at now).
    let sql = sqlite().await;
    let (service, clock) = service_on(sql.clone(), sql.clone(), redis.clone(), redis.clone());
    lifecycle_suite(service, clock).await;
    let (service, clock) = service_on(sql.clone(), sql, redis.clone(), redis);
    throttling_suite(service, clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(all(authz_postgres, authz_redis)),
    ignore = "needs PostgreSQL and Redis: set AUTHZ_TEST_POSTGRES_URL and AUTHZ_TEST_REDIS_URL (./scripts/services prints them)"
)]
async fn two_instances_share_postgres_and_redis() {
    let (Some(pg), Some(redis)) = (postgres().await, redis().await) else {
        return;
    };
    // Two services, as two processes would be: same database, same Redis, same key.
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let build = |pg: Arc<SqlStore>, redis: Arc<RedisStore>| {
        TokenService::builder(key.clone())
            .with_passwords(fast_passwords())
            .with_user_store(pg.clone())
            .with_refresh_store(pg)
            .with_revocation_store(redis.clone())
            .with_throttle_store(redis)
            .build()
            .unwrap()
    };
    let one = build(pg.clone(), redis.clone());
    let two = build(
        Arc::new(
            SqlStore::connect(&std::env::var("AUTHZ_TEST_POSTGRES_URL").unwrap())
                .await
                .unwrap(),
        ),
        redis,
    );
    let name = unique("erin");
    one.register(&name, None, "correct horse 1", &[])
        .await
        .unwrap();
    let pair = two.login(&name, "correct horse 1", None).await.unwrap();
    let principal = one.verifier().verify(&pair.access_token).unwrap();
    assert!(!two.is_revoked(&principal).await.unwrap());
    one.logout(&principal).await.unwrap();
    assert!(
        two.is_revoked(&principal).await.unwrap(),
        "logout on one, honoured by two"
    );
    assert!(two.refresh(&pair.refresh_token).await.is_err());
}

async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(authz_redis),
    ignore = "needs Redis: set AUTHZ_TEST_REDIS_URL (./scripts/services prints it)"
)]
async fn redis_mirrors_follow_each_other() {
    let Some(url) = service_url("AUTHZ_TEST_REDIS_URL") else {
        return;
    };
    let prefix = format!("{}:", unique("authz-mirror"));
    let a = RedisStore::connect_mirrored(&url, &prefix).await.unwrap();
    let t = now();
    a.revoke_token("before-b", t + 60).await.unwrap();
    a.revoke_subject_before("carol", t - 10, t + 60)
        .await
        .unwrap();

    // B starts later and loads what is live.
    let b = RedisStore::connect_mirrored(&url, &prefix).await.unwrap();
    assert!(b.is_mirror_synced());
    let q = |jti: &'static str| RevocationQuery {
        subject: "dave",
        token_id: Some(jti),
        session_id: None,
        issued_at: Some(t),
    };
    assert!(b.is_revoked(q("before-b"), t).await.unwrap());
    let carol = RevocationQuery {
        subject: "carol",
        token_id: None,
        session_id: None,
        issued_at: Some(t - 20),
    };
    assert!(b.is_revoked(carol, t).await.unwrap());

    // What A revokes next reaches B through the channel.
    a.revoke_session("sid-1", t + 60).await.unwrap();
    let by_sid = RevocationQuery {
        subject: "dave",
        token_id: None,
        session_id: Some("sid-1"),
        issued_at: Some(t),
    };
    assert!(eventually(async || b.is_revoked(by_sid, now()).await.unwrap()).await);
    assert!(!b.is_revoked(q("never"), t).await.unwrap());

    // Kill the subscriptions: B checks Redis directly until it has resubscribed and
    // reloaded, so a revocation made meanwhile is never missed.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut raw)
        .await
        .unwrap();
    a.revoke_token("during-outage", t + 60).await.unwrap();
    assert!(eventually(async || b.is_revoked(q("during-outage"), now()).await.unwrap()).await);
    assert!(
        eventually(async || b.is_mirror_synced()).await,
        "resubscribed"
    );
    assert!(b.is_revoked(q("during-outage"), now()).await.unwrap());
    assert!(b.is_revoked(q("before-b"), now()).await.unwrap());
}
