//! Runs the `token-pair` binary and drives simplejwt's routes over real HTTP, with JSON and
//! form bodies, as a client of djangorestframework-simplejwt would.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
    http: Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_token-pair"))
        .env("AUTHZ_ADDR", &addr)
        .env_remove("AUTHZ_DEMO_USER")
        .env_remove("AUTHZ_DEMO_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert!(line.starts_with("token-pair listening"), "{line}");
    Server {
        child,
        base: format!("http://{addr}"),
        http: Client::new(),
    }
}

impl Server {
    async fn json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn form(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn hello(&self, access: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}/hello/", self.base))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }
}

fn s(value: &Value) -> &str {
    value.as_str().unwrap()
}

#[tokio::test]
async fn simplejwt_flow() {
    let server = start();

    // Obtain a pair (JSON), use it on /hello/.
    let (status, pair) = server
        .json(
            "/api/token/",
            json!({"username": "demo", "password": "demo-password-123"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut keys: Vec<_> = pair.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["access", "refresh"]);
    // The device cookie comes with it (the account-wide throttle waives this client).
    let response = server
        .http
        .post(format!("{}/api/token/", server.base))
        .json(&json!({"username": "demo", "password": "demo-password-123"}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("__Host-authz-device=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert_eq!(
        server.hello(s(&pair["access"])).await,
        (
            StatusCode::OK,
            json!({"message": "Hello, World!", "user": "demo"})
        )
    );

    // Verify (form body), refresh (rotates), verify the new access token.
    assert_eq!(
        server
            .form(
                "/api/token/verify/",
                &format!("token={}", s(&pair["access"]))
            )
            .await,
        (StatusCode::OK, json!({}))
    );
    let (status, renewed) = server
        .form(
            "/api/token/refresh/",
            &format!("refresh={}", s(&pair["refresh"])),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(renewed["refresh"], pair["refresh"]);
    assert_eq!(server.hello(s(&renewed["access"])).await.0, StatusCode::OK);

    // The rotated refresh token, presented again later: refused, and the session ends.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let not_valid = json!({"detail": "Token is invalid or expired", "code": "token_not_valid"});
    assert_eq!(
        server
            .json("/api/token/refresh/", json!({"refresh": pair["refresh"]}))
            .await,
        (StatusCode::UNAUTHORIZED, not_valid.clone())
    );
    assert_eq!(
        server
            .json("/api/token/verify/", json!({"token": renewed["access"]}))
            .await,
        (StatusCode::UNAUTHORIZED, not_valid.clone())
    );
    assert_eq!(
        server.hello(s(&renewed["access"])).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Blacklist a fresh refresh token: it no longer refreshes.
    let (_, pair) = server
        .form("/api/token/", "username=demo&password=demo-password-123")
        .await;
    assert_eq!(
        server
            .json("/api/token/blacklist/", json!({"refresh": pair["refresh"]}))
            .await,
        (StatusCode::OK, json!({}))
    );
    assert_eq!(
        server
            .json("/api/token/refresh/", json!({"refresh": pair["refresh"]}))
            .await,
        (StatusCode::UNAUTHORIZED, not_valid.clone())
    );
    // An access token is not a refresh token, nor the reverse.
    let (_, pair) = server
        .form("/api/token/", "username=demo&password=demo-password-123")
        .await;
    assert_eq!(
        server
            .json("/api/token/refresh/", json!({"refresh": pair["access"]}))
            .await,
        (StatusCode::UNAUTHORIZED, not_valid.clone())
    );
    assert_eq!(
        server
            .json("/api/token/verify/", json!({"token": pair["refresh"]}))
            .await,
        (StatusCode::UNAUTHORIZED, not_valid)
    );
    assert_eq!(
        server.hello(s(&pair["refresh"])).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The token routes need no access token: a client that still sends a blacklisted or
    // garbage one gets a new pair all the same.
    for stale in [s(&pair["refresh"]), "garbage"] {
        let response = server
            .http
            .post(format!("{}/api/token/", server.base))
            .bearer_auth(stale)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("username=demo&password=demo-password-123")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{stale}");
    }
}

#[tokio::test]
async fn drf_shaped_errors() {
    let server = start();
    assert_eq!(
        server
            .json(
                "/api/token/",
                json!({"username": "demo", "password": "wrong"})
            )
            .await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"detail": "No active account found with the given credentials"})
        )
    );
    assert_eq!(
        server.json("/api/token/", json!({})).await,
        (
            StatusCode::BAD_REQUEST,
            json!({"username": ["This field is required."], "password": ["This field is required."]})
        )
    );
    assert_eq!(
        server.form("/api/token/refresh/", "").await,
        (
            StatusCode::BAD_REQUEST,
            json!({"refresh": ["This field is required."]})
        )
    );
    let (status, body) = server.form("/api/token/", "username=a&username=b").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(s(&body["detail"]).starts_with("malformed form body"));
    let response = server
        .http
        .get(format!("{}/hello/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"api\""
    );
}
