//! Runs `zen keygen`, `zen keyserver` and `zen server` as a user would (in a fresh working
//! directory, on free ports) and drives them over HTTP: the seed's own Python client, and
//! the failure cases.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authz_axum::{Algorithm, Issuer, SigningKey};
use serde_json::json;
use zen::zen::LINES;

const AUDIENCE: &str = "http://127.0.0.1:5025";

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

fn zen(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zen"));
    command.current_dir(dir).args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

fn start(mut command: Command, ready: &str) -> Proc {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert!(line.starts_with(ready), "{line}");
    Proc(child)
}

struct Zen {
    dir: PathBuf,
    keyserver: String,
    server: String,
    _procs: (Proc, Proc),
}

fn setup() -> Zen {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("zen-test-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let status = zen(&dir, &["keygen"], &[])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for file in ["client.key", "client.key.pub", "keys/client.pem"] {
        assert!(dir.join(file).exists(), "{file}");
    }
    let (ks_addr, srv_addr) = (free_addr(), free_addr());
    let keyserver = start(
        zen(&dir, &["keyserver"], &[("ZEN_KEYSERVER_ADDR", &ks_addr)]),
        "keyserver listening",
    );
    let ks_url = format!("http://{ks_addr}");
    let server = start(
        zen(
            &dir,
            &["server"],
            &[("ZEN_SERVER_ADDR", &srv_addr), ("ZEN_KEYSERVER", &ks_url)],
        ),
        "server listening",
    );
    Zen {
        dir,
        keyserver: ks_url,
        server: format!("http://{srv_addr}"),
        _procs: (keyserver, server),
    }
}

#[tokio::test]
#[cfg_attr(
    not(authz_pyjwt),
    ignore = "needs python3 with PyJWT and requests: pip install \"pyjwt[crypto]\" requests"
)]
async fn the_seeds_python_client_sees_the_seeds_sequence() {
    let z = setup();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/seed_client.py");
    let output = tokio::process::Command::new("python3")
        .current_dir(&z.dir)
        .args([script, &z.server, AUDIENCE])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 9, "{stdout}");
    assert!(
        lines[0].contains("'nbf'") && lines[0].contains("'exp'"),
        "{}",
        lines[0]
    );
    let statuses: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_once(' ').unwrap().0)
        .collect();
    assert_eq!(
        statuses,
        ["403", "403", "200", "200", "200", "200", "200", "403"],
        "{stdout}"
    );
    assert_eq!(lines[1], "403 The token is not yet valid (nbf)");
    assert_eq!(lines[2], "403 The token is not yet valid (nbf)");
    for line in &lines[3..8] {
        assert!(LINES.contains(&&line[4..]), "{line}");
    }
    assert_eq!(lines[8], "403 Signature has expired");
}

fn assertion(key: &SigningKey, iss: &str) -> String {
    Issuer::new(key.clone())
        .with_audience(AUDIENCE)
        .with_ttl(Duration::from_secs(60))
        .issue(&json!({"iss": iss, "sub": iss}))
        .unwrap()
}

#[tokio::test]
async fn keyserver_and_login_failures() {
    let z = setup();
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move {
            let r = http.get(path).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, pem) = get(format!("{}/getkey?identity=client", z.keyserver)).await;
    assert_eq!(status, 200);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(
        get(format!("{}/getkey?identity=nobody", z.keyserver))
            .await
            .0,
        404
    );
    assert_eq!(
        get(format!("{}/getkey?identity=../client.key", z.keyserver))
            .await
            .0,
        400
    );
    let (status, jwks) = get(format!("{}/.well-known/jwks.json", z.keyserver)).await;
    assert_eq!(status, 200);
    assert!(jwks.contains("\"kid\":\"client\"") && jwks.contains("\"alg\":\"RS256\""));

    let post = |path: &str, body: String| {
        let http = http.clone();
        let url = format!("{}{path}", z.server);
        async move {
            let r = http.post(url).body(body).send().await.unwrap();
            (
                r.status().as_u16(),
                r.headers().get("content-type").cloned(),
                r.text().await.unwrap(),
            )
        }
    };
    let client = SigningKey::from_pem(
        Algorithm::RS256,
        std::fs::read_to_string(z.dir.join("client.key")).unwrap(),
    )
    .unwrap();

    // A good assertion: an application/jwt use token, not usable yet.
    let good = assertion(&client, "client");
    let (status, content_type, use_token) = post("/login", good.clone()).await;
    assert_eq!(status, 200, "{use_token}");
    assert_eq!(content_type.unwrap(), "application/jwt");
    assert_eq!(
        post("/", use_token.clone()).await.2,
        "The token is not yet valid (nbf)"
    );
    let bearer = http
        .post(format!("{}/", z.server))
        .bearer_auth(&use_token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 403);

    // Replay, unknown identity, wrong key, wrong audience, no token, garbage.
    assert_eq!(post("/login", good).await.2, "Token has already been used");
    let stranger = SigningKey::generate(Algorithm::RS256).unwrap();
    let (status, _, body) = post("/login", assertion(&stranger, "nobody")).await;
    assert_eq!((status, body.as_str()), (401, "Unknown client"));
    let (status, _, body) = post("/login", assertion(&stranger, "client")).await;
    assert_eq!(
        (status, body.as_str()),
        (403, "Signature verification failed")
    );
    let other_aud = Issuer::new(client.clone())
        .with_audience("http://elsewhere")
        .issue(&json!({"iss": "client", "sub": "client"}))
        .unwrap();
    assert_eq!(post("/login", other_aud).await.2, "Invalid audience");
    let long = Issuer::new(client.clone())
        .with_audience(AUDIENCE)
        .with_ttl(Duration::from_secs(3600))
        .issue(&json!({"iss": "client", "sub": "client"}))
        .unwrap();
    assert_eq!(post("/login", long).await.0, 403);
    assert_eq!(post("/login", String::new()).await.0, 401);
    assert_eq!(post("/", "not.a.token".into()).await.0, 403);
    assert_eq!(post("/", String::new()).await.0, 401);

    // A client registered while everything runs is found without a restart.
    let newcomer = SigningKey::generate(Algorithm::ES256).unwrap();
    std::fs::write(
        z.dir.join("keys/newcomer.pem"),
        newcomer.verifying_key().to_pem().unwrap(),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await; // the unknown-id cooldown
    let (status, _, body) = post("/login", assertion(&newcomer, "newcomer")).await;
    assert_eq!(status, 200, "{body}");
}

/// The standard grant beside the seed's /login: client credentials with a client assertion,
/// RFC 6749 §5.2 errors, and the draft-ietf-oauth-rfc7523bis checks on the assertion.
#[tokio::test]
async fn client_credentials_with_a_client_assertion() {
    let z = setup();
    let http = reqwest::Client::new();
    let client = SigningKey::from_pem(
        Algorithm::RS256,
        std::fs::read_to_string(z.dir.join("client.key")).unwrap(),
    )
    .unwrap();
    let grant = |assertion: &str, extra: &str| {
        let http = http.clone();
        let url = format!("{}/token", z.server);
        let body = format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}{extra}"
        );
        async move {
            let r = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = grant(&assertion(&client, "client"), "&client_id=client").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "zen");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token (§4.4.3)"
    );
    // The access token works at once at POST /.
    let response = http
        .post(format!("{}/", z.server))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // Refused: an audience array (even with the server in it), a client_id of someone else,
    // an access token presented as an assertion, a replay, a scope not granted.
    let array_aud = Issuer::new(client.clone())
        .with_audience(AUDIENCE)
        .with_audience("http://elsewhere")
        .issue(&json!({"iss": "client", "sub": "client"}))
        .unwrap();
    let (status, body) = grant(&array_aud, "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = grant(&assertion(&client, "client"), "&client_id=other").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let access_token = Issuer::new(client.clone())
        .with_audience(AUDIENCE)
        .with_typ("at+jwt")
        .issue(&json!({"iss": "client", "sub": "client"}))
        .unwrap();
    let (status, body) = grant(&access_token, "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    let once = assertion(&client, "client");
    assert_eq!(grant(&once, "").await.0, 200);
    assert_eq!(grant(&once, "").await.0, 401, "replayed");
    let (status, body) = grant(&assertion(&client, "client"), "&scope=admin").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // No assertion at all, or another assertion type: invalid_client; no grant type:
    // invalid_request.
    let response = http
        .post(format!("{}/token", z.server))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = http
        .post(format!("{}/token", z.server))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("client_assertion=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}
