//! Runs the `apiv1` binary the way outside tests do (configured by the environment) and talks
//! to it over real HTTP: every endpoint × (no token, bad token, expired, wrong role, right
//! role) → the exact status, `WWW-Authenticate` and body.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authz_axum::{Algorithm, FixedClock, Issuer, KeySet, SigningKey};
use serde_json::{Value, json};

const SECRET: &str = "k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";

struct Server {
    child: Child,
    base: String,
    stdout: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(env: &[(&str, &str)]) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_apiv1"));
    command
        .env_remove("AUTHZ_SECRET")
        .env_remove("AUTHZ_JWKS_FILE")
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
    let mut stdout = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.starts_with("apiv1 listening");
        stdout.push(line);
        if ready || Instant::now() > deadline {
            break;
        }
    }
    assert!(
        stdout
            .last()
            .is_some_and(|l| l.starts_with("apiv1 listening")),
        "{stdout:?}"
    );
    Server {
        child,
        base: format!("http://{addr}"),
        stdout,
    }
}

struct Reply {
    status: u16,
    challenge: Option<String>,
    body: Value,
}

async fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", server.base);
    let mut request = match method {
        "POST" => client.post(url),
        _ => client.get(url),
    };
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        challenge,
        body,
    }
}

fn key() -> SigningKey {
    SigningKey::from_secret(Algorithm::HS256, SECRET.as_bytes()).unwrap()
}

fn token(claims: Value) -> String {
    Issuer::new(key()).issue(&claims).unwrap()
}

#[tokio::test]
async fn matrix_over_real_http() {
    let server = start(&[("AUTHZ_SECRET", SECRET)]);
    let health = call(&server, "GET", "/api/v1/health", None, None).await;
    assert_eq!((health.status, health.body), (200, json!({"status": "ok"})));

    let expired = Issuer::new(key())
        .with_clock(FixedClock::at_unix(1_600_000_000))
        .issue(&json!({"sub": "admin", "roles": ["admin"], "scope": "items:write"}))
        .unwrap();
    // The health route needs no token, and a stale or garbage one cannot break it.
    for stale in [expired.as_str(), "garbage"] {
        let health = call(&server, "GET", "/api/v1/health", Some(stale), None).await;
        assert_eq!(health.status, 200, "{stale}");
    }
    let wrong = token(json!({"sub": "user", "roles": ["user"], "scope": "items:read"}));
    let right = token(json!({"sub": "admin", "roles": ["admin"], "scope": "items:write"}));
    let realm = r#"Bearer realm="apiv1""#;
    let invalid = |d: &str| format!(r#"{realm}, error="invalid_token", error_description="{d}""#);

    let endpoints: [(&str, &str, Option<Value>, Option<(&str, &str)>, u16, Value); 3] = [
        (
            "GET",
            "/api/v1/me",
            None,
            None,
            200,
            json!({"subject": "admin", "roles": ["admin"], "scopes": ["items:write"]}),
        ),
        (
            "GET",
            "/api/v1/admin",
            None,
            Some(("role = 'admin'", "role = \"admin\"")),
            200,
            json!({"message": "welcome, admin"}),
        ),
        (
            "POST",
            "/api/v1/items",
            Some(json!({"name": "pen"})),
            Some(("scope = 'items:write'", "scope = \"items:write\"")),
            201,
            json!({"id": 1, "name": "pen", "owner": "admin"}),
        ),
    ];
    for (method, path, body, forbidden, ok_status, ok_body) in endpoints {
        let r = call(&server, method, path, None, body.clone()).await;
        assert_eq!(
            (r.status, r.challenge.as_deref()),
            (401, Some(realm)),
            "{path} no token"
        );
        assert_eq!(
            r.body,
            json!({"detail": "Not authenticated", "code": "missing_token"})
        );

        let r = call(&server, method, path, Some("garbage"), body.clone()).await;
        assert_eq!(r.status, 401, "{path} bad token");
        assert_eq!(r.challenge, Some(invalid("Not enough segments")));
        assert_eq!(
            r.body,
            json!({"detail": "Not enough segments", "code": "not_enough_segments"})
        );

        let r = call(&server, method, path, Some(&expired), body.clone()).await;
        assert_eq!(r.status, 401, "{path} expired");
        assert_eq!(r.challenge, Some(invalid("Signature has expired")));
        assert_eq!(
            r.body,
            json!({"detail": "Signature has expired", "code": "token_expired"})
        );

        let r = call(&server, method, path, Some(&wrong), body.clone()).await;
        match forbidden {
            Some((described, detail)) => {
                assert_eq!(r.status, 403, "{path} wrong role");
                let mut challenge = format!(
                    r#"{realm}, error="insufficient_scope", error_description="Insufficient permissions: requires {described}""#
                );
                if path.ends_with("items") {
                    challenge.push_str(r#", scope="items:write""#);
                }
                assert_eq!(r.challenge, Some(challenge));
                assert_eq!(
                    r.body,
                    json!({"detail": format!("Insufficient permissions: requires {detail}"), "code": "insufficient_scope"})
                );
            }
            None => assert_eq!(r.status, 200, "{path}: any valid token"),
        }

        let r = call(&server, method, path, Some(&right), body.clone()).await;
        assert_eq!(
            (r.status, r.challenge),
            (ok_status, None),
            "{path} right role"
        );
        assert_eq!(r.body, ok_body);
    }

    // Malformed input changes nothing.
    let r = call(
        &server,
        "POST",
        "/api/v1/items",
        Some(&right),
        Some(json!({"name": ""})),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = call(
        &server,
        "POST",
        "/api/v1/items",
        Some(&right),
        Some(json!({"nom": "x"})),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = call(
        &server,
        "POST",
        "/api/v1/items",
        Some(&right),
        Some(json!({"name": "cup"})),
    )
    .await;
    assert_eq!(r.body["id"], 2, "the refused bodies stored nothing");
}

#[tokio::test]
async fn issuer_audience_and_leeway_from_the_environment() {
    let server = start(&[
        ("AUTHZ_SECRET", SECRET),
        ("AUTHZ_ISSUER", "https://auth.example"),
        ("AUTHZ_AUDIENCE", "apiv1"),
        ("AUTHZ_LEEWAY_SECS", "0"),
    ]);
    let issuer = Issuer::new(key())
        .with_issuer("https://auth.example")
        .with_audience("apiv1");
    let ok = issuer.issue(&json!({"sub": "a"})).unwrap();
    assert_eq!(
        call(&server, "GET", "/api/v1/me", Some(&ok), None)
            .await
            .status,
        200
    );
    let other = Issuer::new(key())
        .with_issuer("https://auth.example")
        .with_audience("billing");
    let r = call(
        &server,
        "GET",
        "/api/v1/me",
        Some(&other.issue(&json!({"sub": "a"})).unwrap()),
        None,
    )
    .await;
    assert_eq!(r.body["detail"], "Invalid audience");
    let r = call(
        &server,
        "GET",
        "/api/v1/me",
        Some(&token(json!({"sub": "a", "aud": "apiv1"}))),
        None,
    )
    .await;
    assert_eq!(r.body["detail"], "Token is missing the \"iss\" claim");
}

#[tokio::test]
async fn jwks_file_mode_trusts_only_those_public_keys() {
    let es = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("es-1");
    let ed = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .with_kid("ed-1");
    let jwks = KeySet::new([es.verifying_key(), ed.verifying_key()])
        .unwrap()
        .to_jwks_string();
    let dir = std::env::temp_dir().join(format!("apiv1-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwks.json");
    std::fs::write(&file, jwks).unwrap();
    let server = start(&[("AUTHZ_JWKS_FILE", file.to_str().unwrap())]);
    for key in [&es, &ed] {
        let t = Issuer::new(key.clone())
            .issue(&json!({"sub": "svc", "roles": ["admin"]}))
            .unwrap();
        assert_eq!(
            call(&server, "GET", "/api/v1/admin", Some(&t), None)
                .await
                .status,
            200
        );
    }
    let r = call(
        &server,
        "GET",
        "/api/v1/me",
        Some(&token(json!({"sub": "a"}))),
        None,
    )
    .await;
    assert_eq!(
        r.status, 401,
        "an HS256 token is refused by a public-key verifier"
    );
    assert_eq!(r.body["code"], "missing_kid");
}

#[tokio::test]
async fn without_a_secret_it_prints_working_tokens() {
    let server = start(&[]);
    let find = |prefix: &str| {
        server
            .stdout
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::to_owned)
            .unwrap()
    };
    let (admin, user) = (find("admin token: "), find("user token: "));
    assert_eq!(
        call(&server, "GET", "/api/v1/admin", Some(&admin), None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(&server, "GET", "/api/v1/admin", Some(&user), None)
            .await
            .status,
        403
    );
    let r = call(
        &server,
        "GET",
        "/api/v1/me",
        Some(&token(json!({"sub": "a"}))),
        None,
    )
    .await;
    assert_eq!(
        r.body["code"], "invalid_signature",
        "the random secret is not ours"
    );
}

#[test]
fn bad_configuration_is_refused_at_start() {
    for env in [
        vec![("AUTHZ_SECRET", "123456")],
        vec![
            ("AUTHZ_SECRET", SECRET),
            ("AUTHZ_JWKS_FILE", "/nonexistent"),
        ],
        vec![("AUTHZ_JWKS_FILE", "/nonexistent/jwks.json")],
        vec![("AUTHZ_SECRET", SECRET), ("AUTHZ_LEEWAY_SECS", "3600")],
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_apiv1"));
        command
            .env_remove("AUTHZ_SECRET")
            .env_remove("AUTHZ_JWKS_FILE")
            .env("AUTHZ_ADDR", "127.0.0.1:0");
        for (k, v) in &env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        assert!(!out.status.success(), "{env:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("apiv1: "), "{err}");
        assert!(!err.contains("123456"), "the secret is never echoed");
    }
}
