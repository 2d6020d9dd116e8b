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
    Families, Family, MemoryStore, NewUser, RedisStore, RefreshRecord, Revocation, RevocationQuery,
    Revoke, Revoked, Rotate, Rotation, SessionStore, SqlStore, StoreError, ThrottleStore,
    UserStore,
};
use authz_core::lifecycle::{LifecycleError, Throttling, TokenService};
use authz_core::lifecycle::{RevocationOptions, TokenServiceBuilder};
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

/// A PostgreSQL URL whose connections work in a schema of their own (made now), so that the
/// tests never touch the tables of whoever owns the database.
async fn postgres_url() -> Option<String> {
    let url = service_url("AUTHZ_TEST_POSTGRES_URL")?;
    let schema = unique("authz_test").replace('-', "_");
    let admin = SqlStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin.pool())
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
}

async fn postgres() -> Option<Arc<SqlStore>> {
    let url = postgres_url().await?;
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
    // The lifecycle gives the store comparison keys (see the lifecycle suite for what they
    // are); here, the lowercase name.
    let new = |username: &str, email: Option<&str>| NewUser {
        username: username.to_owned(),
        login_key: username.to_lowercase(),
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

    // Lookup by the name's key, by the email's, by id.
    assert_eq!(
        store
            .user_by_login(&name.to_lowercase())
            .await
            .unwrap()
            .unwrap()
            .id,
        alice.id
    );
    assert_eq!(
        store
            .user_by_login(&email.to_lowercase())
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
                        login_key: name.clone(),
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

fn rotate<'a>(presented: &'a str, next: &'a str, now: u64) -> Rotate<'a> {
    Rotate::new(presented, next, now)
        .with_idle_ttl(100)
        .with_reuse_grace(2)
        .with_session_until(now + 400)
}

async fn refresh_suite(store: Arc<dyn SessionStore>) {
    let t = now();
    let subject = unique("sub");
    let (fam, first) = family(&subject, t);
    store.start_family(&fam, &first).await.unwrap();

    // Rotate: first → second.
    let second = unique("hash");
    assert_eq!(
        store
            .rotate(&rotate(&first.hash, &second, t + 1))
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
            .rotate(&rotate(&first.hash, &third, t + 2))
            .await
            .unwrap(),
        Rotation::Raced
    );
    // Second still works.
    assert!(matches!(
        store.rotate(&rotate(&second, &third, t + 2)).await.unwrap(),
        Rotation::Rotated { .. }
    ));
    // First again after the grace: reuse, the family is revoked, and its session revocation
    // is written with it...
    let fourth = unique("hash");
    let Rotation::Reused {
        family: reused,
        revoked,
    } = store
        .rotate(&rotate(&first.hash, &fourth, t + 10))
        .await
        .unwrap()
    else {
        panic!("expected a reuse");
    };
    assert_eq!(reused, fam);
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].revoked, Revoked::Session { id: fam.id.clone() });
    assert_eq!(revoked[0].until, t + 410);
    assert!(revoked[0].seq > 0);
    let by_sid = RevocationQuery {
        subject: &subject,
        token_id: None,
        session_id: Some(&fam.id),
        issued_at: Some(t),
    };
    assert!(store.is_revoked(by_sid, t + 10).await.unwrap());
    // ...so the live token (third) is refused too, and the rejected next hash was not stored.
    assert_eq!(
        store
            .rotate(&rotate(&third, &unique("hash"), t + 11))
            .await
            .unwrap(),
        Rotation::Revoked
    );
    assert_eq!(
        store
            .rotate(&rotate(&fourth, &unique("hash"), t + 11))
            .await
            .unwrap(),
        Rotation::Unknown
    );
    assert_eq!(
        store
            .rotate(&rotate("no-such-hash", &unique("hash"), t))
            .await
            .unwrap(),
        Rotation::Unknown
    );

    // Idle expiry, and the next token's expiry capped at the family's.
    let (fam, first) = family(&subject, t);
    store.start_family(&fam, &first).await.unwrap();
    assert_eq!(
        store
            .rotate(&rotate(&first.hash, &unique("hash"), t + 100))
            .await
            .unwrap(),
        Rotation::Expired
    );
    let (fam, first) = family(&subject, t);
    store.start_family(&fam, &first).await.unwrap();
    let next = unique("hash");
    assert!(matches!(
        store
            .rotate(&rotate(&first.hash, &next, t + 99).with_idle_ttl(5_000))
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    assert_eq!(
        store
            .rotate(&rotate(&next, &unique("hash"), t + 1_000).with_idle_ttl(5_000))
            .await
            .unwrap(),
        Rotation::Expired,
        "absolute expiry wins over idle"
    );

    // Revocation by token, by family, by subject: each family revoked gets its session
    // revocation in the same call.
    let subject = unique("sub");
    let (fam_a, first_a) = family(&subject, t);
    let (fam_b, first_b) = family(&subject, t);
    let (fam_c, first_c) = family(&subject, t);
    for (f, r) in [(&fam_a, &first_a), (&fam_b, &first_b), (&fam_c, &first_c)] {
        store.start_family(f, r).await.unwrap();
    }
    let revoke = |families| Revoke::new(families, t).with_session_until(t + 400);
    let outcome = store
        .revoke(&revoke(Families::OfToken(&first_a.hash)))
        .await
        .unwrap();
    assert_eq!(outcome.families, vec![fam_a.clone()]);
    assert_eq!(
        outcome
            .revocations
            .iter()
            .map(|r| r.revoked.clone())
            .collect::<Vec<_>>(),
        vec![Revoked::Session {
            id: fam_a.id.clone()
        }]
    );
    let again = store
        .revoke(&revoke(Families::OfToken(&first_a.hash)))
        .await
        .unwrap();
    assert!(again.families.is_empty() && again.revocations.is_empty());
    assert_eq!(
        store
            .revoke(&revoke(Families::Id(&fam_b.id)))
            .await
            .unwrap()
            .families,
        vec![fam_b.clone()]
    );
    let by_subject = store
        .revoke(&revoke(Families::OfSubject(&subject)))
        .await
        .unwrap();
    assert_eq!(
        by_subject.families,
        vec![fam_c.clone()],
        "only the live family is left"
    );
    assert_eq!(
        store
            .rotate(&rotate(&first_c.hash, &unique("hash"), t + 1))
            .await
            .unwrap(),
        Rotation::Revoked
    );
    for fam in [&fam_a, &fam_b, &fam_c] {
        let q = RevocationQuery {
            subject: &subject,
            token_id: None,
            session_id: Some(&fam.id),
            issued_at: Some(t),
        };
        assert!(store.is_revoked(q, t + 1).await.unwrap(), "{}", fam.id);
    }
}

async fn refresh_race_suite(store: Arc<dyn SessionStore>) {
    let t = now();
    let (fam, first) = family(&unique("sub"), t);
    store.start_family(&fam, &first).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let store = store.clone();
        let presented = first.hash.clone();
        tasks.push(tokio::spawn(async move {
            let next = unique("hash");
            store
                .rotate(&rotate(&presented, &next, t + 1).with_reuse_grace(5))
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

/// Revokes `revocations` in one call (no family).
async fn write(store: &dyn SessionStore, t: u64, revocations: Vec<Revocation>) -> Vec<Revocation> {
    let mut request = Revoke::new(Families::None, t);
    for revocation in revocations {
        request = request.also(revocation);
    }
    store.revoke(&request).await.unwrap().revocations
}

async fn revocation_suite(store: Arc<dyn SessionStore>) {
    let t = now();
    let subject = unique("sub");
    let jti = unique("jti");
    let sid = unique("sid");
    let by_jti = RevocationQuery {
        subject: "nobody",
        token_id: Some(&jti),
        session_id: None,
        issued_at: Some(t),
    };
    assert!(!store.is_revoked(by_jti, t).await.unwrap());
    let token = |id: &str, until| Revocation::new(Revoked::Token { id: id.to_owned() }, until);
    write(&*store, t, vec![token(&jti, t + 60)]).await;
    assert!(store.is_revoked(by_jti, t).await.unwrap());
    let no_jti = RevocationQuery {
        token_id: None,
        ..by_jti
    };
    assert!(!store.is_revoked(no_jti, t).await.unwrap());

    let by_sid = RevocationQuery {
        subject: &subject,
        token_id: Some("other"),
        session_id: Some(&sid),
        issued_at: Some(t),
    };
    assert!(!store.is_revoked(by_sid, t).await.unwrap());
    let session = Revocation::new(Revoked::Session { id: sid.clone() }, t + 60);
    write(&*store, t, vec![session]).await;
    assert!(store.is_revoked(by_sid, t).await.unwrap());

    // Subject mark: tokens issued at or before it are revoked, later ones are not.
    let other_subject = unique("sub");
    let at = |iat| RevocationQuery {
        subject: &other_subject,
        token_id: None,
        session_id: None,
        issued_at: iat,
    };
    let mark = |mark, until| {
        Revocation::new(
            Revoked::Subject {
                id: other_subject.clone(),
                mark,
            },
            until,
        )
    };
    assert!(!store.is_revoked(at(Some(t - 10)), t).await.unwrap());
    write(&*store, t, vec![mark(t - 5, t + 60)]).await;
    assert!(store.is_revoked(at(Some(t - 10)), t).await.unwrap());
    assert!(store.is_revoked(at(Some(t - 5)), t).await.unwrap());
    assert!(!store.is_revoked(at(Some(t - 4)), t).await.unwrap());
    assert!(
        store.is_revoked(at(None), t).await.unwrap(),
        "no iat: refused"
    );
    // An earlier mark never moves it back, a shorter `until` never shortens it.
    let merged = write(&*store, t, vec![mark(t - 100, t + 10)]).await;
    assert_eq!(
        merged[0].revoked,
        Revoked::Subject {
            id: other_subject.clone(),
            mark: t - 5
        }
    );
    assert_eq!(merged[0].until, t + 60);
    assert!(store.is_revoked(at(Some(t - 5)), t + 30).await.unwrap());

    // Entries end at `until` (on the caller's clock: no sleeping).
    let short = unique("jti");
    write(&*store, t, vec![token(&short, t + 2)]).await;
    let q = RevocationQuery {
        subject: "x",
        token_id: Some(&short),
        session_id: None,
        issued_at: Some(t),
    };
    assert!(store.is_revoked(q, t + 1).await.unwrap());
    assert!(!store.is_revoked(q, t + 2).await.unwrap(), "expired entry");
}

/// The log a mirror catches up with: every write under the next sequence number, in order,
/// live entries only, merged rows moved to their latest sequence.
async fn revocation_log_suite(store: Arc<dyn SessionStore>) {
    let t = now();
    let start = store.revocations_since(u64::MAX, t).await.unwrap().seq;
    let token = |id: &str, until| Revocation::new(Revoked::Token { id: id.to_owned() }, until);
    let (a, b, c) = (unique("jti"), unique("jti"), unique("jti"));
    let first = write(&*store, t, vec![token(&a, t + 60), token(&b, t + 60)]).await;
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].seq, first[1].seq, "one write, one sequence number");
    assert!(first[0].seq > start);
    let second = write(&*store, t, vec![token(&c, t + 1)]).await;
    assert_eq!(second[0].seq, first[0].seq + 1);

    let log = store.revocations_since(start, t).await.unwrap();
    assert_eq!(log.seq, second[0].seq);
    let ours: Vec<_> = log
        .entries
        .iter()
        .filter(|r| {
            [&a, &b, &c]
                .iter()
                .any(|id| r.revoked == Revoked::Token { id: (*id).clone() })
        })
        .collect();
    assert_eq!(ours.len(), 3);
    assert!(
        log.entries.windows(2).all(|w| w[0].seq <= w[1].seq),
        "in order"
    );

    // Only what came after, and only what is live.
    let later = store.revocations_since(first[0].seq, t + 1).await.unwrap();
    assert!(
        !later
            .entries
            .iter()
            .any(|r| r.revoked == Revoked::Token { id: c.clone() }),
        "expired at t + 1"
    );
    assert!(
        !later
            .entries
            .iter()
            .any(|r| r.revoked == Revoked::Token { id: a.clone() }),
        "written before"
    );
    // Revoking `a` again moves it to a new sequence number (a mirror that has seen the first
    // write sees the merge), keeping the later `until`.
    let again = write(&*store, t, vec![token(&a, t + 30)]).await;
    assert_eq!(again[0].until, t + 60);
    let log = store.revocations_since(second[0].seq, t).await.unwrap();
    assert!(
        log.entries
            .iter()
            .any(|r| r.revoked == Revoked::Token { id: a.clone() } && r.seq == again[0].seq)
    );

    // Purging forgets what expired.
    let purged = store.purge_expired(t + 61).await.unwrap();
    assert!(purged.rows >= 3, "{purged:?}");
    let by_a = RevocationQuery {
        subject: "x",
        token_id: Some(&a),
        session_id: None,
        issued_at: Some(t),
    };
    assert!(!store.is_revoked(by_a, t + 61).await.unwrap());
    assert!(
        store
            .revocations_since(start, t + 61)
            .await
            .unwrap()
            .entries
            .iter()
            .all(|r| r.until > t + 61)
    );
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
                login_key: name.clone(),
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

fn builder_on(
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    throttle: Arc<dyn ThrottleStore>,
    clock: &FixedClock,
) -> TokenServiceBuilder {
    TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_issuer("https://auth.test")
        .with_audience("api")
        .with_passwords(fast_passwords())
        .with_user_store(users)
        .with_session_store(sessions)
        .with_throttle_store(throttle)
        .with_throttling(Throttling::default())
        .with_clock(clock.clone())
}

fn service_on(
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    throttle: Arc<dyn ThrottleStore>,
) -> (TokenService, FixedClock) {
    let clock = FixedClock::at(SystemTime::now());
    let service = builder_on(users, sessions, throttle, &clock)
        .build()
        .unwrap();
    (service, clock)
}

async fn full_suite<S>(store: Arc<S>)
where
    S: UserStore + SessionStore + ThrottleStore,
{
    users_suite(store.clone()).await;
    concurrent_registration_suite(store.clone()).await;
    refresh_suite(store.clone()).await;
    refresh_race_suite(store.clone()).await;
    revocation_suite(store.clone()).await;
    revocation_log_suite(store.clone()).await;
    throttle_suite(store.clone()).await;
    let (service, clock) = service_on(store.clone(), store.clone(), store.clone());
    lifecycle_suite(service, clock).await;
    let (service, clock) = service_on(store.clone(), store.clone(), store.clone());
    throttling_suite(service, clock).await;
    let (service, _) = service_on(store.clone(), store.clone(), store.clone());
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
    throttle_suite(redis.clone()).await;
    // The lifecycle with users and sessions in SQLite, throttling in Redis: the
    // several-instances setup of the examples.
    let sql = sqlite().await;
    let (service, clock) = service_on(sql.clone(), sql.clone(), redis.clone());
    lifecycle_suite(service, clock).await;
    let (service, clock) = service_on(sql.clone(), sql, redis);
    throttling_suite(service, clock).await;
}

async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Two instances on one durable store: a revocation made on one is refused by the other —
/// through the fan-out within milliseconds, through polling within the poll interval — and
/// by a third started later, from the durable store alone.
async fn instances_suite(
    sessions: [Arc<dyn SessionStore>; 3],
    users: Arc<dyn UserStore>,
    fanout: Option<Arc<RedisStore>>,
    poll: Duration,
) {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let clock = FixedClock::at(SystemTime::now());
    let build = |sessions: Arc<dyn SessionStore>| {
        let mut builder = TokenService::builder(key.clone())
            .with_passwords(fast_passwords())
            .with_user_store(users.clone())
            .with_session_store(sessions)
            .with_clock(clock.clone())
            .with_revocation_options(RevocationOptions::default().with_poll_interval(poll));
        if let Some(fanout) = &fanout {
            builder = builder.with_fanout(fanout.clone());
        }
        builder.build().unwrap()
    };
    let [s1, s2, s3] = sessions;
    let one = build(s1);
    let two = build(s2);
    assert!(one.load_revocations().await && two.load_revocations().await);
    assert!(two.is_revocation_mirror_synced());
    let name = unique("erin");
    one.register(&name, None, "correct horse 1", &[])
        .await
        .unwrap();
    let pair = two.login(&name, "correct horse 1", None).await.unwrap();
    let principal = one.verifier().verify(&pair.access_token).unwrap();
    assert!(!two.is_revoked(&principal).await.unwrap());
    let started = std::time::Instant::now();
    one.logout(&principal).await.unwrap();
    assert!(
        one.is_revoked(&principal).await.unwrap(),
        "its own instance at once"
    );
    assert!(
        eventually(async || two.is_revoked(&principal).await.unwrap()).await,
        "logout on one, honoured by two"
    );
    let took = started.elapsed();
    let bound = if fanout.is_some() {
        Duration::from_millis(500)
    } else {
        poll + Duration::from_millis(500)
    };
    assert!(took <= bound, "propagation took {took:?}, bound {bound:?}");
    assert!(two.refresh(&pair.refresh_token).await.is_err());
    // An instance started afterwards knows it from the durable store.
    let three = build(s3);
    assert!(three.is_revoked(&principal).await.unwrap(), "direct check");
    assert!(three.load_revocations().await);
    assert!(three.is_revoked(&principal).await.unwrap(), "mirror");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_share_revocations_through_sqlite() {
    let path = std::env::temp_dir().join(format!("{}.db", unique("authz-shared")));
    let open = async || Arc::new(SqlStore::open_sqlite(&path).await.unwrap());
    let (a, b, c) = (open().await, open().await, open().await);
    instances_suite([a.clone(), b, c], a, None, Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(all(authz_postgres, authz_redis)),
    ignore = "needs PostgreSQL and Redis: set AUTHZ_TEST_POSTGRES_URL and AUTHZ_TEST_REDIS_URL (./scripts/services prints them)"
)]
async fn instances_share_revocations_through_postgres_and_redis() {
    let (Some(url), Some(redis)) = (postgres_url().await, redis().await) else {
        return;
    };
    let open = async || -> Arc<SqlStore> { Arc::new(SqlStore::connect(&url).await.unwrap()) };
    let (a, b, c) = (open().await, open().await, open().await);
    // A slow poll: what arrives in milliseconds came through the fan-out.
    instances_suite(
        [a.clone(), b.clone(), c.clone()],
        a.clone(),
        Some(redis),
        Duration::from_secs(30),
    )
    .await;
    // Without Redis, polling alone.
    instances_suite([a.clone(), b, c], a, None, Duration::from_millis(200)).await;
}

/// The store is asked only while the mirror is not loaded or stale; a store that cannot
/// answer then gives an error ("unavailable"), never "not revoked".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_store_is_unavailable_never_not_revoked() {
    let path = std::env::temp_dir().join(format!("{}.db", unique("authz-gone")));
    let store = Arc::new(SqlStore::open_sqlite(&path).await.unwrap());
    let clock = FixedClock::at(SystemTime::now());
    let service = builder_on(store.clone(), store.clone(), store.clone(), &clock)
        .with_revocation_options(
            RevocationOptions::default()
                .with_poll_interval(Duration::from_millis(50))
                .with_max_staleness(Duration::from_millis(300)),
        )
        .with_store_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let name = unique("fay");
    service
        .register(&name, None, "correct horse 1", &[])
        .await
        .unwrap();
    let pair = service.login(&name, "correct horse 1", None).await.unwrap();
    let principal = service.verifier().verify(&pair.access_token).unwrap();
    assert!(service.load_revocations().await);
    assert!(!service.is_revoked(&principal).await.unwrap());
    // The database goes away: the synced mirror answers on its own until it is stale...
    store.close().await;
    assert!(!service.is_revoked(&principal).await.unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    // ...then the answer is "unavailable", fast.
    let started = std::time::Instant::now();
    let error = service.is_revoked(&principal).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // Writes fail as unavailable too, and change nothing.
    let error = service.logout(&principal).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
}
