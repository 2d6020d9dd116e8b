//! The posts service attacked as issue 18 describes, over real HTTP against the binary: admin
//! by squatting a name, enumeration, locking the owner out, spoofed and proxied client
//! addresses, registration floods, look-alike names, weak passwords and NUL bytes.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

mod common;

use common::{Api, FormBody, Server, start, token, workdir};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "a-good-password";

/// `POST /login` as a form, from `forwarded` (sent as `X-Forwarded-For`) with `cookie`.
async fn login_from(
    api: &Api<'_>,
    username: &str,
    password: &str,
    forwarded: Option<&str>,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut request = api
        .http
        .post(api.url("/login"))
        .form_body(&format!("username={username}&password={password}"));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// `POST /users` with a JSON body.
async fn register_raw(api: &Api<'_>, body: Value) -> (StatusCode, Value) {
    api.send("POST", "/users", None, Some(body)).await
}

fn admin_env() -> [(&'static str, &'static str); 2] {
    [
        ("AUTHZ_ADMIN_USER", "root"),
        ("AUTHZ_ADMIN_PASSWORD", PASSWORD),
    ]
}

async fn is_admin(api: &Api<'_>, username: &str) -> bool {
    let pair = api.login(username).await;
    let status = api.send("GET", "/usage", Some(token(&pair)), None).await.0;
    assert!(
        status == StatusCode::OK || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    status == StatusCode::OK
}

/// Item 1: `AUTHZ_ADMINS=admin` used to make whoever registered `admin` first an admin, and an
/// unverified email in the list did the same after a restart.
#[tokio::test]
async fn roles_follow_accounts_never_names() {
    let dir = workdir();
    let env = [("AUTHZ_ADMINS", "admin,boss@example.com,carol")];
    let server = start(&dir, &env);
    let api = Api::new(&server);
    // Nobody had `admin` at start: registering it now gives a plain user.
    api.register("admin").await;
    assert!(!is_admin(&api, "admin").await, "admin by squatting");
    // The same name in any spelling is taken.
    for spelling in ["Admin", "ADMIN", "ａｄｍｉｎ"] {
        let (status, body) =
            register_raw(&api, json!({"username": spelling, "password": PASSWORD})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{spelling}: {body}");
    }
    // Someone else's email under another name, and carol's account, made before a restart.
    let (status, _) = register_raw(
        &api,
        json!({"username": "mallory", "email": "boss@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    api.register("carol").await;
    drop(server);

    let server = start(&dir, &env);
    let api = Api::new(&server);
    assert!(
        !is_admin(&api, "mallory").await,
        "admin by an unverified email"
    );
    // AUTHZ_ADMINS grants to accounts that exist at start, by username.
    assert!(is_admin(&api, "carol").await);
    drop(server);

    // The operator's account: created at start, its password reset at the next start.
    let server = start(&dir, &admin_env());
    let api = Api::new(&server);
    assert!(is_admin(&api, "root").await);
    // Registration never hands out more than `user`, whatever the body asks.
    let (status, _) = register_raw(
        &api,
        json!({"username": "eve", "password": PASSWORD, "roles": ["admin"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Item 2: profiles need a token, emails are their owner's (and admins'), and a login says the
/// same for an unknown name as for a wrong password.
#[tokio::test]
async fn no_enumeration() {
    let dir = workdir();
    let server = start(&dir, &admin_env());
    let api = Api::new(&server);
    let (status, alice) = register_raw(
        &api,
        json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    api.register("bob").await;
    let path = format!("/users/{}", alice["id"]);
    let (status, body) = api.send("GET", &path, None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_token"))
    );
    let bob = api.login("bob").await;
    let (_, seen) = api.send("GET", &path, Some(token(&bob)), None).await;
    assert_eq!(seen["email"], Value::Null);
    let root = api.login("root").await;
    let (_, seen) = api.send("GET", &path, Some(token(&root)), None).await;
    assert_eq!(seen["email"], "alice@example.com");

    let wrong = login_from(&api, "alice", "wrong-password", None, None).await;
    let unknown = login_from(&api, "nobody-here", "wrong-password", None, None).await;
    let by_email = login_from(&api, "alice@example.com", "wrong-password", None, None).await;
    let mut answers = Vec::new();
    for response in [wrong, unknown, by_email] {
        let status = response.status();
        let www = response.headers().get("www-authenticate").cloned();
        answers.push((status, www, response.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, StatusCode::BAD_REQUEST);
    assert!(answers[0].2.contains("invalid_grant"), "{}", answers[0].2);
    assert_eq!(answers[0], answers[1], "unknown user answered differently");
    assert_eq!(answers[0], answers[2]);
}

/// Makes failing attempts (`attempt(i)`) until one is refused with 429 and a `Retry-After` of
/// at least `min_wait` seconds, waiting out shorter back-offs; returns how many failed (400
/// `invalid_grant`, RFC 6749 §5.2) before the first 429. (Throttling counts whole seconds, so a back-off of 1 s may be over
/// by the next attempt: callers assert a range.)
async fn until_throttled<F, Fut>(mut attempt: F, min_wait: u64) -> usize
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let mut failures_before = None;
    for i in 0..400 {
        let response = attempt(i).await;
        match response.status() {
            StatusCode::BAD_REQUEST => {}
            StatusCode::TOO_MANY_REQUESTS => {
                failures_before.get_or_insert(i);
                let wait: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                if wait >= min_wait {
                    return failures_before.unwrap();
                }
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            }
            other => panic!("attempt {i}: {other}"),
        }
    }
    panic!("never throttled");
}

/// Item 4: behind a trusted proxy each client has its own throttle; a spoofed header from an
/// untrusted peer is ignored.
#[tokio::test]
async fn client_addresses_behind_a_trusted_proxy() {
    let dir = workdir();
    let server = start(&dir, &[("AUTHZ_TRUSTED_PROXIES", "127.0.0.0/8")]);
    let api = Api::new(&server);
    api.register("alice").await;
    // One client guesses many names until its address is throttled.
    let guesser = "203.0.113.5";
    let free = until_throttled(
        |i| {
            let api = &api;
            async move {
                login_from(
                    api,
                    &format!("name{i}"),
                    "wrong-password",
                    Some(guesser),
                    None,
                )
                .await
            }
        },
        8,
    )
    .await;
    assert!(
        (20..=21).contains(&free),
        "20 free failures per address, then back-off: {free}"
    );
    // Another client behind the same proxy is not.
    let response = login_from(&api, "alice", PASSWORD, Some("198.51.100.7"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    // The guesser cannot get out by prepending an address: the header is read right to left,
    // and its rightmost untrusted entry is the guesser's.
    let spoofed = format!("198.51.100.9, {guesser}");
    let response = login_from(&api, "alice", PASSWORD, Some(&spoofed), None).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // Through a chain of trusted proxies: the first untrusted hop from the right counts.
    let chain = format!("{guesser}, 127.0.0.1");
    let response = login_from(&api, "alice", PASSWORD, Some(&chain), None).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_headers_are_ignored() {
    let dir = workdir();
    let server = start(&dir, &[]);
    let api = Api::new(&server);
    api.register("alice").await;
    // Each guess claims another address; all come from the client's own loopback address, which is what counts.
    let free = until_throttled(
        |i| {
            let claimed = format!("198.51.100.{i}");
            let api = &api;
            async move {
                login_from(
                    api,
                    &format!("name{i}"),
                    "wrong-password",
                    Some(&claimed),
                    None,
                )
                .await
            }
        },
        1,
    )
    .await;
    assert!((20..=21).contains(&free), "{free}");
}

/// The `Set-Cookie` value of the device cookie in a login response.
fn device_cookie(response: &reqwest::Response) -> String {
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("__Host-authz-device="))
        .expect("no device cookie")
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

/// Item 3: ~100 failures spread over many addresses used to lock the owner out even with the
/// right password. A device the owner has logged in from before is not held by the
/// account-wide rule; a new device still is (letting a correct password through would tell
/// the attacker which guess was right).
#[tokio::test]
async fn strangers_cannot_lock_the_owner_out_of_a_known_device() {
    let dir = workdir();
    let server: Server = start(&dir, &[("AUTHZ_TRUSTED_PROXIES", "127.0.0.0/8")]);
    let api = Api::new(&server);
    api.register("alice").await;
    api.register("bob").await;
    let first = login_from(&api, "alice", PASSWORD, Some("192.0.2.10"), None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let cookie = device_cookie(&first);
    let bob = login_from(&api, "bob", PASSWORD, Some("192.0.2.20"), None).await;
    let bob_cookie = device_cookie(&bob);

    // A distributed attack: one guess from each address, until the account rule holds
    // strangers for at least 8 s.
    let free = until_throttled(
        |i| {
            let attacker = format!("10.{}.{}.1", i / 250, i % 250);
            let api = &api;
            async move { login_from(api, "alice", "wrong-password", Some(&attacker), None).await }
        },
        8,
    )
    .await;
    assert!(
        (100..=101).contains(&free),
        "100 free failures per account: {free}"
    );

    // The owner on a new device is held too, right password or not; a made-up or altered
    // device token, or another account's, is worth nothing...
    let other = if cookie.ends_with('x') { 'y' } else { 'x' }; // always a different token
    let forged = format!("{}{other}", &cookie[..cookie.len() - 1]);
    for device in [None, Some(forged.as_str()), Some(bob_cookie.as_str())] {
        let response = login_from(&api, "alice", PASSWORD, Some("192.0.2.99"), device).await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{device:?}"
        );
    }
    // ...but the device that logged in before gets in, from anywhere.
    let response = login_from(&api, "alice", PASSWORD, Some("192.0.2.77"), Some(&cookie)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );

    // A stolen device token buys few guesses: 5, then back-off.
    let free =
        until_throttled(
            |i| {
                let thief = format!("10.20.0.{i}");
                let (api, cookie) = (&api, &cookie);
                async move {
                    login_from(api, "alice", "wrong-password", Some(&thief), Some(cookie)).await
                }
            },
            1,
        )
        .await;
    assert!((5..=6).contains(&free), "{free}");
}

/// Item 6: registrations are throttled per address (every attempt counts, 409s too).
#[tokio::test]
async fn registration_floods_are_throttled() {
    let dir = workdir();
    let server = start(&dir, &[]);
    let api = Api::new(&server);
    api.register("alice").await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, _) =
            register_raw(&api, json!({"username": "alice", "password": PASSWORD})).await;
        statuses.push(status);
    }
    assert_eq!(statuses[..9], [StatusCode::CONFLICT; 9], "{statuses:?}");
    assert_eq!(
        statuses[9..],
        [StatusCode::TOO_MANY_REQUESTS; 3],
        "{statuses:?}"
    );
    let response = api
        .http
        .post(api.url("/users"))
        .json(&json!({"username": "zed", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
}

/// Item 9: look-alike names, hidden characters, weak passwords and NUL bytes.
#[tokio::test]
async fn look_alikes_weak_passwords_and_nul_are_refused() {
    let dir = workdir();
    let server = start(&dir, &[]);
    let api = Api::new(&server);
    api.register("alice").await;
    for (name, status) in [
        ("Alice", StatusCode::CONFLICT),
        ("ａｌｉｃｅ", StatusCode::CONFLICT),
        ("al\u{200D}ice", StatusCode::BAD_REQUEST),
        ("al\u{AD}ice", StatusCode::BAD_REQUEST),
        ("\u{202E}ecila", StatusCode::BAD_REQUEST),
        ("\u{430}lice", StatusCode::BAD_REQUEST),
        ("ali\u{0}ce", StatusCode::BAD_REQUEST),
    ] {
        let (got, body) = register_raw(&api, json!({"username": name, "password": PASSWORD})).await;
        assert_eq!(got, status, "{name:?}: {body}");
    }
    // Logging in by another spelling of the name finds the account.
    assert_eq!(
        login_from(&api, "ALICE", PASSWORD, None, None)
            .await
            .status(),
        StatusCode::OK
    );
    for password in [
        "        ",
        "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}",
        "password1",
        "  short  ",
    ] {
        let (status, body) =
            register_raw(&api, json!({"username": "dora", "password": password})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{password:?}: {body}");
        assert_eq!(body["code"], "invalid_body");
    }
    // NUL anywhere in a login or a post: 400, nothing stored, the server still fine.
    let response = login_from(&api, "ali%00ce", PASSWORD, None, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("invalid_grant"));
    let pair = api.login("alice").await;
    for post in [
        json!({"title": "a\u{0}b", "content": "x"}),
        json!({"title": "t", "content": "x\u{0}"}),
    ] {
        let (status, body) = api
            .send("POST", "/posts", Some(token(&pair)), Some(post))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, list) = api.send("GET", "/posts", Some(token(&pair)), None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
}

/// Item 6: tokens of self-registered accounts attached to anonymous routes used to buy each
/// its own quota bucket. Routes that need no token count per client address whatever is
/// attached.
#[tokio::test]
async fn tokens_buy_anonymous_routes_no_quota() {
    let dir = workdir();
    let server = start(&dir, &[("AUTHZ_QUOTA_ANONYMOUS", "8/0.01")]);
    let api = Api::new(&server);
    let mut tokens = Vec::new();
    for name in ["u1", "u2", "u3"] {
        api.register(name).await;
        tokens.push(token(&api.login(name).await).to_owned());
    }
    // Six requests so far from this address (three registrations, three logins).
    let mut statuses = Vec::new();
    for i in 0..4 {
        let response = api
            .http
            .post(api.url("/login"))
            .bearer_auth(&tokens[i % tokens.len()])
            .form_body("username=u1&password=wrong-password")
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::BAD_REQUEST,
            StatusCode::BAD_REQUEST,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}
