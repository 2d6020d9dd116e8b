//! Fault injection: the `posts` example on PostgreSQL + Redis of the test's own (private ports,
//! data and socket directories, started and stopped by PID — never the machine's shared
//! services), two and three instances, services killed (SIGKILL) and frozen (SIGSTOP) under
//! requests. What a user relies on:
//!
//! - a logged-out, reused or logged-out-everywhere token is refused on every instance, also
//!   after Redis restarts empty and on an instance started afterwards;
//! - reuse detected while Redis is down revokes the family's access tokens, durably;
//! - while PostgreSQL or Redis is down or frozen, requests get 503 with `Retry-After` within
//!   2 s (or 200 where what they need still answers), never 401 or 500, and a revoked token is
//!   never accepted; once the service is back, requests succeed within 5 s;
//! - no acknowledged write is lost or duplicated across a SIGKILL of the example;
//! - concurrent refreshes with one token have exactly one winner.
//!
//! Slow (it starts real servers): it runs when the build saw `AUTHZ_FAULTS=1` (`.ci/run` sets
//! it), and is reported as ignored otherwise. Needs PostgreSQL's server binaries (`initdb`,
//! `postgres`; run as the `postgres` user when the test runs as root) and `redis-server`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// One scenario at a time: each starts its own servers, and two at once on two cores would
/// turn timing bounds into noise.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{}x{nanos}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Sends `signal` (`KILL`, `STOP`, `CONT`) to `pid` and every process below it.
fn signal_tree(pid: u32, signal: &str) {
    let mut pids = vec![pid];
    let mut i = 0;
    while i < pids.len() {
        pids.extend(children(pids[i]));
        i += 1;
    }
    // Parents first for STOP (nothing restarts a child meanwhile), children first for KILL.
    if signal == "KILL" {
        pids.reverse();
    }
    for pid in pids {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .stderr(Stdio::null())
            .status();
    }
}

fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // The fields after the command name (which may hold spaces) start after ")".
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(pid) {
            found.push(child);
        }
    }
    found
}

fn wait_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The directory of PostgreSQL's server binaries (Debian: /usr/lib/postgresql/<v>/bin).
fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("AUTHZ_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .filter(|dir| dir.join("initdb").exists())
        .expect("PostgreSQL server binaries (apt-get install postgresql, or set AUTHZ_PG_BIN)")
}

/// A PostgreSQL cluster of the test's own.
struct Postgres {
    dir: PathBuf,
    port: u16,
    pid: Option<u32>,
    /// What was started: the postmaster itself, or `runuser` above it (as root).
    launcher: Option<Child>,
}

impl Postgres {
    fn as_owner(program: &Path) -> Command {
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn start() -> Self {
        let dir = std::env::temp_dir().join(unique("authz-faults-pg-"));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            assert!(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let mut pg = Self {
            dir,
            port: free_port(),
            pid: None,
            launcher: None,
        };
        let status = Self::as_owner(&pg_bin().join("initdb"))
            .arg("-D")
            .arg(pg.dir.join("data"))
            .args(["--auth=trust", "-U", "postgres", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        pg.run();
        pg
    }

    /// Starts the server (again) on the same data and port.
    fn run(&mut self) {
        let mut command = Self::as_owner(&pg_bin().join("postgres"));
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(&self.dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=100",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.launcher = Some(command.spawn().unwrap());
        assert!(
            wait_port(self.port, Duration::from_secs(30)),
            "postgres did not start"
        );
        let pidfile = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).unwrap();
        self.pid = pidfile.lines().next().and_then(|l| l.trim().parse().ok());
        assert!(self.pid.is_some());
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn kill(&mut self) {
        if let Some(pid) = self.pid.take() {
            signal_tree(pid, "KILL");
        }
        if let Some(mut launcher) = self.launcher.take() {
            let _ = launcher.kill();
            let _ = launcher.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        // A killed postmaster leaves its pid file and shared memory behind; postgres copes
        // with the pid file, and each backend was killed too.
        std::thread::sleep(Duration::from_millis(200));
    }

    fn freeze(&self) {
        signal_tree(self.pid.unwrap(), "STOP");
    }

    fn thaw(&self) {
        signal_tree(self.pid.unwrap(), "CONT");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            signal_tree(pid, "CONT");
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis of the test's own: nothing on disk, so a restart is empty.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.run();
        redis
    }

    fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        self.child = Some(child);
        assert!(
            wait_port(self.port, Duration::from_secs(10)),
            "redis did not start"
        );
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn freeze(&self) {
        signal_tree(self.child.as_ref().unwrap().id(), "STOP");
    }

    fn thaw(&self) {
        signal_tree(self.child.as_ref().unwrap().id(), "CONT");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            signal_tree(child.id(), "CONT");
        }
        self.kill();
    }
}

/// One `posts` process.
struct Instance {
    child: Option<Child>,
    base: String,
    port: u16,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Instance {
    fn start(env: &[(&str, String)]) -> Self {
        let dir = std::env::temp_dir().join(unique("authz-faults-posts-"));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let mut instance = Self {
            child: None,
            base: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        };
        instance.run();
        instance
    }

    fn run(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_posts"));
        command
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AUTHZ_ADDR", format!("127.0.0.1:{}", self.port))
            .env("RUST_LOG", "warn");
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines
            .next()
            .and_then(Result::ok)
            .is_some_and(|line| line.starts_with("posts listening"));
        assert!(ready, "posts did not start");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The environment of every instance: the shared stores, a known secret, quick reuse
/// detection and quotas that let a test's burst through.
fn instance_env(pg: &Postgres, redis: &Redis) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", pg.url()),
        ("REDIS_URL", redis.url()),
        (
            "AUTHZ_SECRET",
            "a shared secret for the fault tests, 32+ bytes".into(),
        ),
        ("AUTHZ_REFRESH_REUSE_GRACE", "0".into()),
        ("AUTHZ_QUOTA_ANONYMOUS", "100000/100000".into()),
        ("AUTHZ_QUOTA_USER", "100000/100000".into()),
    ]
}

struct Reply {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
}

struct Api {
    http: Client,
}

impl Api {
    fn new() -> Self {
        Self {
            http: Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
        }
    }

    async fn send(
        &self,
        instance: &Instance,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        form: Option<String>,
    ) -> Reply {
        let started = Instant::now();
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", instance.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(form) = form {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap_or("").to_owned());
                let text = response.text().await.unwrap_or_default();
                Reply {
                    status,
                    retry_after,
                    body: serde_json::from_str(&text).unwrap_or(Value::Null),
                    took: started.elapsed(),
                }
            }
            Err(error) => panic!(
                "{method} {path}: no answer after {:?}: {error}",
                started.elapsed()
            ),
        }
    }

    async fn register(&self, instance: &Instance, name: &str) {
        let reply = self
            .send(
                instance,
                "POST",
                "/users",
                None,
                Some(json!({"username": name, "password": "a-good-password"})),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    async fn login(&self, instance: &Instance, name: &str) -> (String, String) {
        let reply = self
            .send(
                instance,
                "POST",
                "/login",
                None,
                None,
                Some(format!("username={name}&password=a-good-password")),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        (
            reply.body["access_token"].as_str().unwrap().to_owned(),
            reply.body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn refresh(&self, instance: &Instance, refresh: &str) -> Reply {
        self.send(
            instance,
            "POST",
            "/token",
            None,
            None,
            Some(format!("grant_type=refresh_token&refresh_token={refresh}")),
        )
        .await
    }

    /// A guarded request that needs only the token (and the posts table).
    async fn posts(&self, instance: &Instance, token: &str) -> Reply {
        self.send(instance, "GET", "/posts", Some(token), None, None)
            .await
    }

    async fn logout(&self, instance: &Instance, token: &str, all: bool) -> Reply {
        let path = if all { "/logout-all" } else { "/logout" };
        self.send(instance, "POST", path, Some(token), None, None)
            .await
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Statistics of a list of durations, for the report.
fn summary(label: &str, mut times: Vec<Duration>) -> String {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    format!(
        "{label}: n={} p50={:?} p99={:?} max={:?}",
        times.len(),
        at(0.5),
        at(0.99),
        times[times.len() - 1]
    )
}

#[test]
#[cfg_attr(
    not(authz_faults),
    ignore = "fault injection (slow, starts PostgreSQL and Redis of its own): AUTHZ_FAULTS=1, as .ci/run sets"
)]
fn revocations_reach_every_instance_and_survive_a_redis_restart() {
    let _serial = serial();
    let (pg, mut redis) = (Postgres::start(), Redis::start());
    let env = instance_env(&pg, &redis);
    let (a, b) = (Instance::start(&env), Instance::start(&env));
    runtime().block_on(async {
        let api = Api::new();
        let name = unique("u");
        api.register(&a, &name).await;
        let mut revoked = Vec::new();
        let mut propagation = Vec::new();
        let mut accepted = 0;
        // Logout on one instance, checked at once on both.
        for _ in 0..100 {
            let (access, _) = api.login(&a, &name).await;
            assert_eq!(api.posts(&b, &access).await.status, StatusCode::OK);
            let started = Instant::now();
            assert_eq!(
                api.logout(&a, &access, false).await.status,
                StatusCode::NO_CONTENT
            );
            for instance in [&a, &b] {
                let reply = api.posts(instance, &access).await;
                if reply.status == StatusCode::OK {
                    accepted += 1;
                } else {
                    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
                    assert_eq!(reply.body["code"], "token_revoked");
                }
            }
            propagation.push(started.elapsed());
            revoked.push(access);
        }
        let after_logout = accepted;
        // Reuse detected on one instance: the family's access tokens, on both.
        for _ in 0..50 {
            let (_, refresh) = api.login(&a, &name).await;
            let next = api.refresh(&b, &refresh).await;
            assert_eq!(next.status, StatusCode::OK);
            let access = next.body["access_token"].as_str().unwrap().to_owned();
            let reuse = api.refresh(&a, &refresh).await;
            assert_eq!(reuse.status, StatusCode::BAD_REQUEST, "{}", reuse.body);
            for instance in [&a, &b] {
                if api.posts(instance, &access).await.status == StatusCode::OK {
                    accepted += 1;
                }
            }
            revoked.push(access);
        }
        let after_reuse = accepted;
        // Logout-all on one instance: every session, on both.
        let (first, _) = api.login(&a, &name).await;
        let (second, _) = api.login(&b, &name).await;
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(
            api.logout(&b, &first, true).await.status,
            StatusCode::NO_CONTENT
        );
        for token in [&first, &second] {
            for instance in [&a, &b] {
                if api.posts(instance, token).await.status == StatusCode::OK {
                    accepted += 1;
                }
            }
        }
        revoked.extend([first, second]);
        assert_eq!(
            accepted,
            0,
            "revoked tokens accepted right after their revocation: {after_logout} after logout, \
             {} after reuse, {} after logout-all",
            after_reuse - after_logout,
            accepted - after_reuse
        );

        // Redis is killed and comes back empty: nothing revoked comes back to life.
        redis.kill();
        tokio::time::sleep(Duration::from_millis(500)).await;
        redis.run();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let c = Instance::start(&env);
        let mut checks = 0;
        for token in &revoked {
            for instance in [&a, &b, &c] {
                let reply = api.posts(instance, token).await;
                assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
                checks += 1;
            }
        }
        eprintln!(
            "revocations: {} revoked tokens, 0 accepted in {} checks right after revocation and {checks} after a Redis restart and on a new instance; {}",
            revoked.len(),
            100 * 2 + 50 * 2 + 4,
            summary("logout → both instances checked", propagation)
        );
    });
}

#[test]
#[cfg_attr(
    not(authz_faults),
    ignore = "fault injection (slow, starts PostgreSQL and Redis of its own): AUTHZ_FAULTS=1, as .ci/run sets"
)]
fn reuse_detected_while_redis_is_down_revokes_the_family_durably() {
    let _serial = serial();
    let (pg, mut redis) = (Postgres::start(), Redis::start());
    let env = instance_env(&pg, &redis);
    let (a, b) = (Instance::start(&env), Instance::start(&env));
    runtime().block_on(async {
        let api = Api::new();
        let name = unique("u");
        api.register(&a, &name).await;
        let mut families = Vec::new();
        for _ in 0..20 {
            let (_, refresh) = api.login(&a, &name).await;
            let next = api.refresh(&a, &refresh).await;
            families.push((
                refresh,
                next.body["access_token"].as_str().unwrap().to_owned(),
            ));
        }
        redis.kill();
        for (refresh, access) in &families {
            let reuse = api.refresh(&b, refresh).await;
            assert_eq!(reuse.status, StatusCode::BAD_REQUEST, "{}", reuse.body);
            assert_eq!(reuse.body["error"], "invalid_grant");
            // Its own instance at once; the other by its next poll of the database (1 s).
            assert_eq!(api.posts(&b, access).await.status, StatusCode::UNAUTHORIZED);
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        for (_, access) in &families {
            assert_eq!(api.posts(&a, access).await.status, StatusCode::UNAUTHORIZED);
        }
        redis.run();
        let c = Instance::start(&env);
        for (_, access) in &families {
            for instance in [&a, &b, &c] {
                assert_eq!(
                    api.posts(instance, access).await.status,
                    StatusCode::UNAUTHORIZED
                );
            }
        }
    });
}

/// During an outage: every answer is 200 or 503 + `Retry-After` within 2 s (never 401 for a
/// valid token, never 500, never 200 for a revoked one); afterwards, 200 within 5 s.
async fn through_an_outage(
    api: &Api,
    instances: [&Instance; 2],
    valid: &str,
    revoked: &str,
    name: &str,
    during: Duration,
    what: &str,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let deadline = Instant::now() + during;
    let mut answered_503 = 0;
    while Instant::now() < deadline {
        for instance in instances {
            let reply = api.posts(instance, valid).await;
            latencies.push(reply.took);
            assert!(
                reply.took < Duration::from_secs(2),
                "{what}: {:?}",
                reply.took
            );
            match reply.status {
                StatusCode::OK => {}
                StatusCode::SERVICE_UNAVAILABLE => {
                    answered_503 += 1;
                    assert!(
                        reply.retry_after.is_some(),
                        "{what}: 503 without Retry-After"
                    );
                    assert_eq!(reply.body["code"], "temporarily_unavailable", "{what}");
                }
                other => panic!("{what}: valid token got {other}: {}", reply.body),
            }
            let reply = api.posts(instance, revoked).await;
            assert!(
                reply.took < Duration::from_secs(2),
                "{what}: {:?}",
                reply.took
            );
            assert!(
                matches!(
                    reply.status,
                    StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE
                ),
                "{what}: revoked token got {}",
                reply.status
            );
            // A login needs the throttle counters (Redis) and the users (PostgreSQL).
            let login = api
                .send(
                    instance,
                    "POST",
                    "/login",
                    None,
                    None,
                    Some(format!("username={name}&password=a-good-password")),
                )
                .await;
            latencies.push(login.took);
            assert!(
                login.took < Duration::from_secs(2),
                "{what}: login {:?}",
                login.took
            );
            assert!(
                matches!(
                    login.status,
                    StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE
                ),
                "{what}: login got {}: {}",
                login.status,
                login.body
            );
            if login.status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(
                    login.retry_after.is_some(),
                    "{what}: login 503 without Retry-After"
                );
            }
        }
    }
    eprintln!("{what}: {answered_503} answers were 503");
    latencies
}

/// Whether `instance` refuses `token` (401) within `bound`.
async fn refused_within(api: &Api, instance: &Instance, token: &str, bound: Duration) -> bool {
    let started = Instant::now();
    loop {
        match api.posts(instance, token).await.status {
            StatusCode::UNAUTHORIZED => return true,
            StatusCode::OK if started.elapsed() < bound => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => return false,
        }
    }
}

async fn recovers(api: &Api, instances: [&Instance; 2], valid: &str, name: &str, what: &str) {
    let started = Instant::now();
    for instance in instances {
        loop {
            let posts = api.posts(instance, valid).await.status;
            let login = api
                .send(
                    instance,
                    "POST",
                    "/login",
                    None,
                    None,
                    Some(format!("username={name}&password=a-good-password")),
                )
                .await
                .status;
            if posts == StatusCode::OK && login == StatusCode::OK {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{what}: still {posts} / {login} 5 s after the service came back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!("{what}: recovered in {:?}", started.elapsed());
}

#[test]
#[cfg_attr(
    not(authz_faults),
    ignore = "fault injection (slow, starts PostgreSQL and Redis of its own): AUTHZ_FAULTS=1, as .ci/run sets"
)]
fn outages_answer_503_fast_never_401_or_500() {
    let _serial = serial();
    let (mut pg, mut redis) = (Postgres::start(), Redis::start());
    let env = instance_env(&pg, &redis);
    let (a, b) = (Instance::start(&env), Instance::start(&env));
    runtime().block_on(async {
        let api = Api::new();
        let name = unique("u");
        api.register(&a, &name).await;
        let (valid, _) = api.login(&a, &name).await;
        let (revoked, _) = api.login(&a, &name).await;
        assert_eq!(
            api.logout(&a, &revoked, false).await.status,
            StatusCode::NO_CONTENT
        );
        let window = Duration::from_secs(4);
        let mut report = Vec::new();

        pg.kill();
        let times = through_an_outage(
            &api,
            [&a, &b],
            &valid,
            &revoked,
            &name,
            window,
            "PostgreSQL killed",
        )
        .await;
        report.push(summary("PostgreSQL killed", times));
        pg.run();
        recovers(&api, [&a, &b], &valid, &name, "PostgreSQL back").await;

        pg.freeze();
        let times = through_an_outage(
            &api,
            [&a, &b],
            &valid,
            &revoked,
            &name,
            window,
            "PostgreSQL frozen",
        )
        .await;
        report.push(summary("PostgreSQL frozen", times));
        pg.thaw();
        recovers(&api, [&a, &b], &valid, &name, "PostgreSQL thawed").await;

        redis.kill();
        let times = through_an_outage(
            &api,
            [&a, &b],
            &valid,
            &revoked,
            &name,
            window,
            "Redis killed",
        )
        .await;
        report.push(summary("Redis killed", times));
        redis.run();
        recovers(&api, [&a, &b], &valid, &name, "Redis back").await;

        redis.freeze();
        let times = through_an_outage(
            &api,
            [&a, &b],
            &valid,
            &revoked,
            &name,
            window,
            "Redis frozen",
        )
        .await;
        report.push(summary("Redis frozen", times));
        redis.thaw();
        recovers(&api, [&a, &b], &valid, &name, "Redis thawed").await;

        // Logout while PostgreSQL is frozen: 503, nothing changed (the token still works
        // once it is back), and retrying is safe.
        let (token, _) = api.login(&a, &name).await;
        pg.freeze();
        let reply = api.logout(&a, &token, false).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert!(reply.retry_after.is_some());
        assert!(reply.took < Duration::from_secs(2), "{:?}", reply.took);
        pg.thaw();
        recovers(
            &api,
            [&a, &b],
            &token,
            &name,
            "PostgreSQL thawed after a refused logout",
        )
        .await;
        // Retrying is safe: it works now, and the other instance refuses the token within
        // the stated bound (the fan-out may still be reconnecting after the outages: then
        // the mirror's poll, 1 s at most).
        assert_eq!(
            api.logout(&a, &token, false).await.status,
            StatusCode::NO_CONTENT
        );
        assert!(refused_within(&api, &b, &token, Duration::from_millis(1_500)).await);

        // Logout while Redis is frozen: 204 means it took effect, durably, everywhere.
        let (token, _) = api.login(&a, &name).await;
        redis.freeze();
        let reply = api.logout(&a, &token, false).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
        assert!(reply.took < Duration::from_secs(3), "{:?}", reply.took);
        assert_eq!(api.posts(&a, &token).await.status, StatusCode::UNAUTHORIZED);
        // Redis frozen: the other instance learns it from the database, polled every 100 ms
        // while the fan-out is down.
        assert!(refused_within(&api, &b, &token, Duration::from_millis(1_500)).await);
        redis.thaw();
        for line in report {
            eprintln!("latency during outages: {line}");
        }
    });
}

#[test]
#[cfg_attr(
    not(authz_faults),
    ignore = "fault injection (slow, starts PostgreSQL and Redis of its own): AUTHZ_FAULTS=1, as .ci/run sets"
)]
fn no_acknowledged_write_is_lost_or_duplicated_across_a_sigkill() {
    let _serial = serial();
    let (pg, redis) = (Postgres::start(), Redis::start());
    let env = instance_env(&pg, &redis);
    let mut a = Instance::start(&env);
    runtime().block_on(async {
        let api = std::sync::Arc::new(Api::new());
        let name = unique("u");
        api.register(&a, &name).await;
        let (token, _) = api.login(&a, &name).await;
        let base = a.base.clone();
        // Eight writers, each creating posts with unique titles until the server dies.
        let mut writers = Vec::new();
        for writer in 0..8 {
            let (http, token, base) = (api.http.clone(), token.clone(), base.clone());
            writers.push(tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let title = format!("w{writer}-{i}");
                    let reply = http
                        .post(format!("{base}/posts"))
                        .bearer_auth(&token)
                        .json(&json!({"title": title, "content": "x"}))
                        .send()
                        .await;
                    match reply {
                        Ok(response) if response.status() == StatusCode::CREATED => {
                            acknowledged.push(title);
                        }
                        Ok(response) => panic!("unexpected {}", response.status()),
                        Err(_) => break, // the server is gone
                    }
                }
                acknowledged
            }));
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        a.kill();
        let mut acknowledged = Vec::new();
        for writer in writers {
            acknowledged.extend(writer.await.unwrap());
        }
        assert!(
            acknowledged.len() > 50,
            "only {} writes",
            acknowledged.len()
        );
        a.run();
        let (token, _) = api.login(&a, &name).await;
        let reply = api.posts(&a, &token).await;
        assert_eq!(reply.status, StatusCode::OK);
        let titles: Vec<String> = reply
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["title"].as_str().unwrap().to_owned())
            .collect();
        let mut counts = std::collections::HashMap::new();
        for title in &titles {
            *counts.entry(title.as_str()).or_insert(0) += 1;
        }
        assert!(counts.values().all(|n| *n == 1), "a write was stored twice");
        for title in &acknowledged {
            assert!(
                counts.contains_key(title.as_str()),
                "{title} was acknowledged and lost"
            );
        }
        eprintln!(
            "SIGKILL under writes: {} acknowledged, all stored once ({} stored)",
            acknowledged.len(),
            titles.len()
        );
    });
}

#[test]
#[cfg_attr(
    not(authz_faults),
    ignore = "fault injection (slow, starts PostgreSQL and Redis of its own): AUTHZ_FAULTS=1, as .ci/run sets"
)]
fn concurrent_refreshes_have_exactly_one_winner() {
    let _serial = serial();
    let (pg, redis) = (Postgres::start(), Redis::start());
    let mut env = instance_env(&pg, &redis);
    // Two tabs refreshing at once must not log the user out: the default grace.
    env.retain(|(k, _)| *k != "AUTHZ_REFRESH_REUSE_GRACE");
    let (a, b) = (Instance::start(&env), Instance::start(&env));
    runtime().block_on(async {
        let api = Api::new();
        let name = unique("u");
        api.register(&a, &name).await;
        let (_, mut refresh) = api.login(&a, &name).await;
        let trials = 1_000;
        for trial in 0..trials {
            let (one, two) = tokio::join!(api.refresh(&a, &refresh), api.refresh(&b, &refresh));
            let winners: Vec<&Reply> = [&one, &two]
                .into_iter()
                .filter(|r| r.status == StatusCode::OK)
                .collect();
            assert_eq!(
                winners.len(),
                1,
                "trial {trial}: {} / {}",
                one.status,
                two.status
            );
            let loser = if one.status == StatusCode::OK {
                &two
            } else {
                &one
            };
            assert_eq!(
                loser.status,
                StatusCode::BAD_REQUEST,
                "trial {trial}: {}",
                loser.body
            );
            refresh = winners[0].body["refresh_token"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        eprintln!("refresh race: {trials} trials, exactly one winner each");
    });
}
