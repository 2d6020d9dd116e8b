//! Runs the `posts` binary as a user would (`cargo run -p posts`, configured by the
//! environment, in its own working directory) and drives it over real HTTP.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Api, FormBody, start, token, unique, workdir};
use reqwest::StatusCode;
use serde_json::{Value, json};

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
    // The operator's admin account, created at start (registration only ever makes users).
    let server = start(
        &dir,
        &[
            ("AUTHZ_ADMIN_USER", "root"),
            ("AUTHZ_ADMIN_PASSWORD", "a-good-password"),
        ],
    );
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    assert_eq!(alice["username"], "alice");
    assert!(alice.get("password").is_none() && alice.get("password_hash").is_none());
    api.register("bob").await;
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
    // A draft: its author and admins read it; anyone else is told it does not exist.
    let (status, body) = api.send("GET", &path, Some(token(&bob_t)), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (_, list) = api.send("GET", "/posts", Some(token(&bob_t)), None).await;
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == post["id"]),
        "a draft listed for another user"
    );
    let (status, draft) = api.send("GET", &path, Some(token(&alice_t)), None).await;
    assert_eq!(
        (status, draft["published"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    let (_, list) = api.send("GET", "/posts", Some(token(&root_t)), None).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == post["id"])
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
    // GET alice's profile, GET /users/999999, GET /posts/{id}, GET /posts, PUT and DELETE (403),
    // the draft and the list without it.
    assert_eq!(requests_of("bob").map(|(_, n)| n), Some(8), "{usage}");
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
    assert_eq!(mine["requests"], 8, "{mine}");
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
    // It reaches A through Redis within milliseconds (the README promises well under 1 s).
    let logged_out = Instant::now();
    let (status, body) = loop {
        let (status, body) = api_a.send("GET", "/posts", Some(token(&pair)), None).await;
        if status != StatusCode::OK || logged_out.elapsed() > Duration::from_secs(1) {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(status, StatusCode::UNAUTHORIZED, "still accepted after 1 s");
    assert_eq!(body["code"], "token_revoked");
    // No password files were written: the working directories hold no database.
    assert!(!dir_a.join("posts.db").exists());
}
