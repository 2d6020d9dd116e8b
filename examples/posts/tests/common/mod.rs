//! What the posts tests share: the binary started in its own directory, and a client.

#![allow(dead_code, unreachable_pub)] // each test file uses some of it

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unique(prefix: &str) -> String {
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

/// A loopback address of this client's own (127.x.y.z): the server throttles registrations and
/// logins per client address, and a shared PostgreSQL keeps those counts across tests and runs,
/// so every client of the suite comes from an address nobody else used.
pub fn own_loopback_address() -> std::net::IpAddr {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mix = (std::process::id() ^ nanos.rotate_left(11))
        .wrapping_add(N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9));
    let [_, a, b, c] = mix.to_be_bytes();
    // 127.0.0.1 and the network/broadcast-looking ends are avoided.
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, a.max(1), b, c.clamp(2, 254)))
}

pub fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("posts-test-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_posts"));
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("AUTHZ_SECRET")
        .env_remove("AUTHZ_ADMINS")
        .env_remove("AUTHZ_ADMIN_USER")
        .env_remove("AUTHZ_ADMIN_PASSWORD")
        .env_remove("AUTHZ_TRUSTED_PROXIES")
        .env("AUTHZ_ADDR", &addr);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.starts_with("posts listening");
        seen.push(line);
        if ready || Instant::now() > deadline {
            break;
        }
    }
    assert!(
        seen.last()
            .is_some_and(|l| l.starts_with("posts listening")),
        "{seen:?}"
    );
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

pub struct Api<'a> {
    pub server: &'a Server,
    pub http: Client,
}

impl<'a> Api<'a> {
    pub fn new(server: &'a Server) -> Self {
        Self {
            server,
            http: Client::builder()
                .local_address(own_loopback_address())
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn register(&self, username: &str) -> Value {
        let (status, body) = self
            .send(
                "POST",
                "/users",
                None,
                Some(json!({"username": username, "password": "a-good-password"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Form login, as FastAPI's OAuth2PasswordRequestForm posts it.
    pub async fn login(&self, username: &str) -> Value {
        let response = self
            .http
            .post(self.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("username={username}&password=a-good-password"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

pub fn token(pair: &Value) -> &str {
    pair["access_token"].as_str().unwrap()
}

pub trait FormBody {
    fn form_body(self, body: &str) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, body: &str) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    }
}
