//! Runs the `posts` binary as a user would (`cargo run -p posts`, configured by the
//! environment, in its own working directory) and drives it over real HTTP.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("posts-test-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
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

struct Api<'a> {
    server: &'a Server,
    http: Client,
}

impl<'a> Api<'a> {
    fn new(server: &'a Server) -> Self {
        Self {
            server,
            http: Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    async fn send(
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

    async fn register(&self, username: &str) -> Value {
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
    async fn login(&self, username: &str) -> Value {
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

fn token(pair: &Value) -> &str {
    pair["access_token"].as_str().unwrap()
}

#[tokio::test]
#[cfg_attr(
    not(authz_py_requests),
    ignore = "needs python3 with requests: pip install requests"
)]
async fn seed_client_with_python_requests() {
    let dir = workdir();
    let server = start(&dir, &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/seed_client.py");
    let output = Command::new("python3")
        .args([script, &server.base, &unique("eligijus")])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "register 201",
            "register-again 409",
            "login 200 bearer",
            "create-anonymous 401 Bearer realm=\"posts\"",
            "create 201 hello",
        ]
    );
    // The embedded default: a SQLite file in the working directory.
    assert!(dir.join("posts.db").exists());
}

#[tokio::test]
async fn posts_crud_with_ownership() {
    let dir = workdir();
    let server = start(&dir, &[("AUTHZ_ADMINS", "root")]);
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    assert_eq!(alice["username"], "alice");
    assert!(alice.get("password").is_none() && alice.get("password_hash").is_none());
    api.register("bob").await;
    api.register("root").await;
    let (alice_t, bob_t, root_t) = (
        api.login("alice").await,
        api.login("bob").await,
        api.login("root").await,
    );

    // GET /users/{id}: a token is needed; never a password; the email only for the account's
    // owner and admins.
    let alice_path = format!("/users/{}", alice["id"]);
    let (status, body) = api.send("GET", &alice_path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "missing_token");
    let (status, user) = api
        .send("GET", &alice_path, Some(token(&alice_t)), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        user.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["created_at", "email", "id", "username"]
    );
    let (_, seen_by_bob) = api
        .send("GET", &alice_path, Some(token(&bob_t)), None)
        .await;
    assert_eq!(seen_by_bob["username"], "alice");
    assert_eq!(seen_by_bob["email"], Value::Null, "not bob's to see");
    let (_, seen_by_admin) = api
        .send("GET", &alice_path, Some(token(&root_t)), None)
        .await;
    assert_eq!(seen_by_admin["email"], user["email"]);
    assert_eq!(
        api.send("GET", "/users/999999", Some(token(&bob_t)), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Create, read.
    let new = json!({"title": "Hello", "content": "First post"});
    let (status, body) = api.send("POST", "/posts", None, Some(new.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "missing_token");
    let (status, post) = api
        .send("POST", "/posts", Some(token(&alice_t)), Some(new))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(post["owner_id"], alice["id"]);
    assert_eq!(post["published"], true);
    let path = format!("/posts/{}", post["id"]);
    let (status, got) = api.send("GET", &path, Some(token(&bob_t)), None).await;
    assert_eq!((status, &got), (StatusCode::OK, &post));
    let (status, list) = api.send("GET", "/posts", Some(token(&bob_t)), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.as_array().unwrap().contains(&post));

    // Only the author or an admin changes it.
    let edit = json!({"title": "Edited", "content": "by someone", "published": false});
    let (status, body) = api
        .send("PUT", &path, Some(token(&bob_t)), Some(edit.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "not_owner");
    assert_eq!(
        api.send("DELETE", &path, Some(token(&bob_t)), None).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, edited) = api
        .send("PUT", &path, Some(token(&root_t)), Some(edit))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (edited["title"].as_str(), edited["published"].as_bool()),
        (Some("Edited"), Some(false))
    );
    let (status, _) = api
        .send(
            "PUT",
            &path,
            Some(token(&alice_t)),
            Some(json!({"title": "Mine", "content": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.send("DELETE", &path, Some(token(&alice_t)), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = api.send("GET", &path, Some(token(&alice_t)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["detail"],
        format!("post with id: {} was not found", post["id"])
    );

    // Bad bodies: clear 400/413/415, nothing stored.
    let before = api
        .send("GET", "/posts", Some(token(&alice_t)), None)
        .await
        .1;
    for (body, content_type, status) in [
        ("{\"title\": ", "application/json", StatusCode::BAD_REQUEST),
        (
            "{\"title\": \"x\", \"content\": \"y\", \"owner_id\": 2}",
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "{\"title\": \"\", \"content\": \"y\"}",
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "title=x",
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let response = api
            .http
            .post(api.url("/posts"))
            .bearer_auth(token(&alice_t))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "invalid_body");
        assert!(!error["detail"].as_str().unwrap().is_empty());
    }
    let huge = json!({"title": "x", "content": "y".repeat(70_000)});
    let (status, _) = api
        .send("POST", "/posts", Some(token(&alice_t)), Some(huge))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let after = api
        .send("GET", "/posts", Some(token(&alice_t)), None)
        .await
        .1;
    assert_eq!(before, after, "refused requests stored nothing");

    // Registration: duplicate 409, weak password 400, nothing in the body about the password.
    let (status, body) = api
        .send(
            "POST",
            "/users/register",
            None,
            Some(json!({"username": "alice", "password": "another-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "conflict");
    let (status, body) = api
        .send(
            "POST",
            "/users",
            None,
            Some(json!({"email": "carol@example.com", "password": "short"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"], "the password must be at least 8 characters");

    // Seed 004's usage tracking: per user, admins only; and each user's own.
    let (status, usage) = api.send("GET", "/usage", Some(token(&root_t)), None).await;
    assert_eq!(status, StatusCode::OK);
    let users = usage["users"].as_array().unwrap();
    // The report names each user by subject id and username.
    let requests_of = |name: &str| {
        users
            .iter()
            .find(|u| u["username"] == name)
            .map(|u| (u["subject"].clone(), u["requests"].as_u64().unwrap()))
    };
    let (alice_subject, alice_requests) = requests_of("alice").unwrap();
    assert_eq!(alice_subject, alice["id"].to_string().as_str());
    assert!(alice_requests >= 10);
    // GET alice's profile, GET /users/999999, GET /posts/{id}, GET /posts, PUT and DELETE (403).
    assert_eq!(requests_of("bob").map(|(_, n)| n), Some(6), "{usage}");
    assert_eq!(
        api.send("GET", "/usage", Some(token(&alice_t)), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, mine) = api
        .send("GET", "/usage/me", Some(token(&bob_t)), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["requests"], 6, "{mine}");
    let routes: Vec<&str> = mine["by_route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["route"].as_str().unwrap())
        .collect();
    assert!(
        routes.contains(&"/posts/{id}") && routes.contains(&"/posts"),
        "{routes:?}"
    );
}

#[tokio::test]
async fn refresh_logout_and_restart() {
    let dir = workdir();
    let server = start(&dir, &[]);
    let api = Api::new(&server);
    api.register("dora").await;
    let pair = api.login("dora").await;
    assert_eq!(pair["token_type"], "bearer");

    // The refresh grant on /token.
    let response = api
        .http
        .post(api.url("/token"))
        .form_body(&format!(
            "grant_type=refresh_token&refresh_token={}",
            pair["refresh_token"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let renewed: Value = response.json().await.unwrap();
    assert_eq!(
        api.send("GET", "/posts", Some(token(&renewed)), None)
            .await
            .0,
        StatusCode::OK
    );

    // The key and the users survive a restart (the secret is kept in the database).
    drop(server);
    let server = start(&dir, &[]);
    let api = Api::new(&server);
    assert_eq!(
        api.send("GET", "/posts", Some(token(&renewed)), None)
            .await
            .0,
        StatusCode::OK
    );

    // Logout: that access token stops working, and its refresh token too.
    let (status, _) = api
        .send("POST", "/logout", Some(token(&renewed)), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.send("GET", "/posts", Some(token(&renewed)), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "token_revoked");
    let response = api
        .http
        .post(api.url("/token/refresh"))
        .form_body(&format!(
            "refresh_token={}",
            renewed["refresh_token"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

trait FormBody {
    fn form_body(self, body: &str) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, body: &str) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    }
}

#[tokio::test]
#[cfg_attr(
    not(all(authz_postgres, authz_redis)),
    ignore = "needs PostgreSQL and Redis: set AUTHZ_TEST_POSTGRES_URL and AUTHZ_TEST_REDIS_URL (./scripts/services prints them)"
)]
async fn two_instances_on_postgres_and_redis_behave_as_one() {
    let (Ok(pg), Ok(redis)) = (
        std::env::var("AUTHZ_TEST_POSTGRES_URL"),
        std::env::var("AUTHZ_TEST_REDIS_URL"),
    ) else {
        panic!("the service URLs were set when the tests were built, and are not now");
    };
    let env = [("DATABASE_URL", pg.as_str()), ("REDIS_URL", redis.as_str())];
    let (dir_a, dir_b) = (workdir(), workdir());
    let a = start(&dir_a, &env);
    let b = start(&dir_b, &env);
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));
    let name = unique("erin");
    api_a.register(&name).await;
    let pair = api_b.login(&name).await;
    // A token from B works on A (same key, kept in the shared database).
    let (status, _) = api_a
        .send(
            "POST",
            "/posts",
            Some(token(&pair)),
            Some(json!({"title": "shared", "content": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Logout on B is honoured by A.
    assert_eq!(
        api_b
            .send("POST", "/logout", Some(token(&pair)), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = api_a.send("GET", "/posts", Some(token(&pair)), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "token_revoked");
    // No password files were written: the working directories hold no database.
    assert!(!dir_a.join("posts.db").exists());
}
