//! Issue 18, item 5: a login's time must not tell whether the name has an account, nor which
//! password scheme its hash uses. Before, a user with a legacy bcrypt hash took 723 ms
//! (median of 200) against 72 ms for an unknown name.
//!
//! A statistical test with a generous margin: the medians of interleaved samples of each
//! population must agree within 25 %, while the gap it guards against is about 3× here (an
//! argon2 check of ~9 ms against argon2 + bcrypt; 5.4× with bcrypt at cost 9). It is the only test of this binary, so it
//! runs alone, on a current-thread runtime (hashing happens on one blocking thread at a time).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authz_core::lifecycle::password::Passwords;
use authz_core::lifecycle::store::{NewUser, SqlStore, UserStore};
use authz_core::lifecycle::{LifecycleError, TokenService};
use authz_core::{Algorithm, SigningKey};

const SAMPLES: usize = 60;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test(flavor = "current_thread")]
async fn logins_cost_the_same_for_unknown_names_and_every_hash_scheme() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let path = std::env::temp_dir().join(format!("authz-timing-{nanos}.db"));
    let store = Arc::new(SqlStore::open_sqlite(&path).await.unwrap());
    // Cheap but real parameters: argon2id at 8 MiB, bcrypt at cost 8 (about twice the argon2 check).
    let passwords = Passwords::with_params(argon2::Params::new(8 * 1024, 1, 1, None).unwrap());
    let hash = passwords.hash("correct horse 1").unwrap();
    let make = |name: &str, hash: String| NewUser {
        username: name.to_owned(),
        login_key: name.to_owned(),
        email: None,
        password_hash: hash,
        roles: vec![],
        scopes: vec![],
    };
    let now = nanos as u64 / 1_000_000_000;
    store.create_user(make("modern", hash), now).await.unwrap();
    let legacy = bcrypt::hash("secret-password", 8).unwrap();
    store
        .create_user(make("legacy", legacy), now)
        .await
        .unwrap();
    let service = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_passwords(passwords)
        .with_store(store)
        .build()
        .unwrap();

    // Warm up (the first login calibrates against the stored schemes).
    for name in ["modern", "legacy", "nobody"] {
        let _ = service.login(name, "wrong password", None).await;
    }
    let mut times: [Vec<Duration>; 3] = Default::default();
    for i in 0..SAMPLES {
        // Interleaved, so that drift in the machine's speed hits every population alike.
        for (population, name) in ["modern", "legacy", "nobody"].into_iter().enumerate() {
            // A different wrong password each time; unknown names differ each time too.
            let login = if name == "nobody" {
                format!("nobody{i}")
            } else {
                name.to_owned()
            };
            let started = Instant::now();
            let error = service
                .login(&login, &format!("wrong password {i}"), None)
                .await
                .unwrap_err();
            times[population].push(started.elapsed());
            assert_eq!(error, LifecycleError::InvalidCredentials);
        }
    }
    let [modern, legacy, nobody] = times.map(median);
    eprintln!(
        "medians over {SAMPLES}: argon2 user {modern:?}, bcrypt user {legacy:?}, unknown {nobody:?}"
    );
    for (what, time) in [("a bcrypt user", legacy), ("an unknown name", nobody)] {
        let ratio = time.as_secs_f64() / modern.as_secs_f64();
        assert!(
            (0.8..=1.25).contains(&ratio),
            "{what} takes {ratio:.2}× an argon2 user's time ({time:?} against {modern:?})"
        );
    }
}
