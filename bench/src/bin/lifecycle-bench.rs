//! Token lifecycle benchmark: logins per second (argon2id, OWASP parameters), and refresh,
//! revoke and revocation-check operations per second with p50/p99, on each store backend.
//!
//! ```text
//! lifecycle-bench login [--logins 40]
//! lifecycle-bench store --backend memory|sqlite|postgres|redis [--ops 2000] [--concurrency 16]
//! ```
//!
//! `postgres` reads `AUTHZ_TEST_POSTGRES_URL`, `redis` reads `AUTHZ_TEST_REDIS_URL` (Redis
//! holds revocations; users and refresh families stay in SQLite, as in the examples). Prints
//! one markdown table row per measurement. See `bench/lifecycle.sh`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authz_axum::core::lifecycle::password::Passwords;
use authz_axum::core::lifecycle::store::{MemoryStore, RedisStore, SqlStore, User};
use authz_axum::core::lifecycle::{TokenPair, TokenService};
use authz_axum::{Algorithm, SigningKey};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn row(backend: &str, op: &str, n: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "| {backend} | {op} | {n} | {:.0} | {:.2} | {:.2} |",
        n as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
}

/// Runs `op` over `inputs` with `concurrency` tasks; returns the wall time and each latency.
async fn run<I, F, Fut>(inputs: Vec<I>, concurrency: usize, op: F) -> (Duration, Vec<Duration>)
where
    I: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = bool> + Send,
{
    let queue = Arc::new(std::sync::Mutex::new(inputs));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let queue = queue.clone();
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let next = queue.lock().map(|mut q| q.pop()).ok().flatten();
                let Some(input) = next else { break };
                let t = Instant::now();
                assert!(op(input).await, "operation failed");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    (started.elapsed(), all)
}

fn key() -> Result<SigningKey, String> {
    SigningKey::generate(Algorithm::ES256).map_err(|e| e.to_string())
}

async fn login(args: &[String]) -> Result<(), String> {
    let n: usize = arg(args, "--logins").map_or(Ok(40), |v| v.parse().map_err(|_| "--logins"))?;
    let service = TokenService::builder(key()?)
        .build()
        .map_err(|e| e.to_string())?;
    service
        .register("bench", None, "correct horse battery", &["user"])
        .await
        .map_err(|e| e.to_string())?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        service
            .login("bench", "correct horse battery", None)
            .await
            .map_err(|e| e.to_string())?;
        latencies.push(t.elapsed());
    }
    row(
        "memory",
        "login (argon2id m=19MiB t=2 p=1), 1 at a time",
        n,
        started.elapsed(),
        latencies,
    );
    // The same with the password hash alone, to show that argon2 is the cost.
    let passwords = Passwords::new();
    let hash = passwords
        .hash("correct horse battery")
        .map_err(|e| e.to_string())?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        assert!(
            passwords
                .verify("correct horse battery", Some(&hash))
                .is_valid()
        );
        latencies.push(t.elapsed());
    }
    row(
        "—",
        "argon2id verify alone",
        n,
        started.elapsed(),
        latencies,
    );
    Ok(())
}

async fn store(args: &[String]) -> Result<(), String> {
    let backend = arg(args, "--backend").unwrap_or_else(|| "memory".into());
    let ops: usize = arg(args, "--ops").map_or(Ok(2000), |v| v.parse().map_err(|_| "--ops"))?;
    let concurrency: usize =
        arg(args, "--concurrency").map_or(Ok(16), |v| v.parse().map_err(|_| "--concurrency"))?;
    let sqlite_path = std::env::temp_dir().join(format!("authz-bench-{}.db", std::process::id()));
    let builder = TokenService::builder(key()?)
        .with_passwords(Passwords::with_params(
            argon2::Params::new(1024, 1, 1, None).map_err(|e| e.to_string())?,
        ))
        .with_refresh_reuse_grace(Duration::ZERO);
    let service = match backend.as_str() {
        "memory" => builder.with_store(Arc::new(MemoryStore::new())),
        "sqlite" => builder.with_store(Arc::new(
            SqlStore::open_sqlite(&sqlite_path)
                .await
                .map_err(|e| e.to_string())?,
        )),
        "postgres" => {
            let url = std::env::var("AUTHZ_TEST_POSTGRES_URL")
                .map_err(|_| "set AUTHZ_TEST_POSTGRES_URL")?;
            builder.with_store(Arc::new(
                SqlStore::connect(&url).await.map_err(|e| e.to_string())?,
            ))
        }
        "redis" => {
            let url =
                std::env::var("AUTHZ_TEST_REDIS_URL").map_err(|_| "set AUTHZ_TEST_REDIS_URL")?;
            let redis = Arc::new(
                RedisStore::connect(&url, &format!("bench{}:", std::process::id()))
                    .await
                    .map_err(|e| e.to_string())?,
            );
            let sql = Arc::new(
                SqlStore::open_sqlite(&sqlite_path)
                    .await
                    .map_err(|e| e.to_string())?,
            );
            builder
                .with_store(sql)
                .with_throttle_store(redis.clone())
                .with_fanout(redis)
        }
        other => return Err(format!("unknown backend {other}")),
    }
    .build()
    .map_err(|e| e.to_string())?;
    let username = format!("bench-{}-{}", std::process::id(), now());
    let user: User = service
        .register(&username, None, "correct horse battery", &["user"])
        .await
        .map_err(|e| e.to_string())?;

    // Sessions to work on (no password hashing: start_session is what login does after it).
    let mut sessions: Vec<TokenPair> = Vec::with_capacity(2 * ops);
    for _ in 0..2 * ops {
        sessions.push(
            service
                .start_session(&user, now())
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let second_half = sessions.split_off(ops);

    let refresh_inputs: Vec<String> = sessions.iter().map(|p| p.refresh_token.clone()).collect();
    let s = service.clone();
    let (elapsed, latencies) = run(refresh_inputs, concurrency, move |token: String| {
        let s = s.clone();
        async move { s.refresh(&token).await.is_ok() }
    })
    .await;
    let families = if backend == "redis" {
        "sqlite"
    } else {
        &backend
    };
    row(
        &format!("{families} (families)"),
        &format!("refresh (rotate), {concurrency} concurrent"),
        ops,
        elapsed,
        latencies,
    );

    let revoke_inputs: Vec<String> = second_half
        .iter()
        .map(|p| p.refresh_token.clone())
        .collect();
    let s = service.clone();
    let (elapsed, latencies) = run(revoke_inputs, concurrency, move |token: String| {
        let s = s.clone();
        async move { s.revoke(&token).await.is_ok() }
    })
    .await;
    row(
        &backend,
        &format!("revoke refresh token (family + sid), {concurrency} concurrent"),
        ops,
        elapsed,
        latencies,
    );

    let access_inputs: Vec<String> = second_half.iter().map(|p| p.access_token.clone()).collect();
    let s = service.clone();
    let (elapsed, latencies) = run(access_inputs.clone(), concurrency, move |token: String| {
        let s = s.clone();
        async move { s.revoke(&token).await.is_ok() }
    })
    .await;
    row(
        &backend,
        &format!("revoke access token (jti), {concurrency} concurrent"),
        ops,
        elapsed,
        latencies,
    );

    let principals: Vec<_> = sessions
        .iter()
        .filter_map(|p| service.verifier().verify(&p.access_token).ok())
        .collect();
    let s = service.clone();
    let (elapsed, latencies) = run(principals, concurrency, move |principal| {
        let s = s.clone();
        async move { s.is_revoked(&principal).await.is_ok() }
    })
    .await;
    row(
        &backend,
        &format!("is_revoked (request-path check), {concurrency} concurrent"),
        ops,
        elapsed,
        latencies,
    );
    let _ = std::fs::remove_file(&sqlite_path);
    Ok(())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        match args.get(1).map(String::as_str) {
            Some("login") => login(&args).await,
            Some("store") => store(&args).await,
            _ => Err("usage: lifecycle-bench login | store --backend NAME".into()),
        }
    })
}
