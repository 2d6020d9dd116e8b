//! Runs `microservices` (issuer + resource) and rotates the issuer's key while a client keeps
//! calling the resource with fresh tokens: no request is refused, and tokens move to the new
//! key without a restart.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::Value;

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

async fn token_from(http: &Client, issuer: &str, body: String) -> Value {
    let response = http
        .post(format!("{issuer}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn orders(http: &Client, resource: &str, token: &str) -> (u16, Value) {
    let response = http
        .get(format!("{resource}/orders"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn rotation_without_restart_or_rejection() {
    let (issuer_addr, resource_addr) = (free_addr(), free_addr());
    let mut child = Command::new(env!("CARGO_BIN_EXE_microservices"))
        .env("MS_ISSUER_ADDR", &issuer_addr)
        .env("MS_RESOURCE_ADDR", &resource_addr)
        .env("MS_JWKS_MAX_AGE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("issuer listening")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("resource listening")
    );
    let _proc = Proc(child);
    let (issuer, resource) = (
        format!("http://{issuer_addr}"),
        format!("http://{resource_addr}"),
    );
    let http = Client::new();

    let mut pair = token_from(
        &http,
        &issuer,
        "grant_type=password&username=demo&password=demo-password-123".into(),
    )
    .await;
    let first = pair["access_token"].as_str().unwrap().to_owned();
    let (status, body) = orders(&http, &resource, &first).await;
    assert_eq!(status, 200, "{body}");
    // Keys are named by their RFC 7638 thumbprint.
    let first_kid = body["signed_by"].as_str().unwrap().to_owned();
    assert_eq!(first_kid.len(), 43, "{first_kid}");

    // The resource knows only the issuer's JWKS URL; a token from elsewhere is refused.
    assert_eq!(orders(&http, &resource, "e30.e30.e30").await.0, 401);

    let response = http
        .post(format!("{issuer}/admin/rotate"))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The answer lists both keys: the new one is staged (published, not signing yet).
    let answer: Value = response.json().await.unwrap();
    let staged = answer["staged"].as_str().unwrap().to_owned();
    assert_ne!(staged, first_kid);
    assert_eq!(answer["published"], serde_json::json!([first_kid, staged]));
    // The README shows this answer; it must stay the answer (placeholders filled in).
    let readme = include_str!("../README.md");
    let shown = readme
        .lines()
        .skip_while(|line| !line.contains("/admin/rotate -H"))
        .nth(1)
        .and_then(|line| line.strip_prefix("# "))
        .expect("the README's rotate call and its answer")
        .replace("<first kid>", &first_kid)
        .replace("<new kid>", &staged);
    let mut shown: Value = serde_json::from_str(&shown).unwrap();
    shown["promote_in_secs"] = answer["promote_in_secs"].clone();
    assert_eq!(
        answer, shown,
        "examples/microservices/README.md shows another answer"
    );
    let started = Instant::now();
    let mut calls = 0;
    let mut refused = Vec::new();
    let mut last_kid = Value::Null;
    while started.elapsed() < Duration::from_secs(5) {
        pair = token_from(
            &http,
            &issuer,
            format!(
                "grant_type=refresh_token&refresh_token={}",
                pair["refresh_token"].as_str().unwrap()
            ),
        )
        .await;
        for token in [pair["access_token"].as_str().unwrap(), first.as_str()] {
            let (status, body) = orders(&http, &resource, token).await;
            calls += 1;
            if status != 200 {
                refused.push((status, body));
            } else if token != first {
                last_kid = body["signed_by"].clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused.is_empty(),
        "{} of {calls} refused: {refused:?}",
        refused.len()
    );
    assert_eq!(last_kid, staged, "new tokens are signed with the new key");
    // The old key is still published: tokens it signed live out their lifetime.
    let jwks: Value = http
        .get(format!("{issuer}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [staged.as_str(), first_kid.as_str()]);
}
