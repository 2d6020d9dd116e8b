//! The web front-end in a real browser: headless Chromium (Debian's `chromium`, driven
//! through `chromedriver` with fantoccini) against the posts binary served as
//! `http://localhost:PORT`. It registers, logs in, creates a post, reloads (the session
//! persists), receives another user's post over the WebSocket feed, loads an attacker's
//! pages from `http://localhost:OTHERPORT` — same site, another origin, so the `SameSite=Lax`
//! access cookie *is* sent and the CSRF check itself must refuse — and logs out (the posts
//! are no longer readable). A screenshot of each step goes to `target/browser-artifacts/`
//! (or `AUTHZ_BROWSER_ARTIFACTS`).
//!
//! Needs `chromium` and `chromedriver` (`scripts/browser-deps` installs them); without them
//! the test is reported as ignored, and with `AUTHZ_REQUIRE_BROWSER=1` (CI) their absence
//! fails the build.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use common::{start, unique, workdir};

/// A chromedriver of our own, stopped at the end.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where `program` is on `PATH` (the build script found it there).
fn on_path(program: &str) -> String {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .map_or_else(|| program.to_owned(), |path| path.display().to_string())
}

fn artifacts() -> PathBuf {
    let dir = std::env::var_os("AUTHZ_BROWSER_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // CARGO_TARGET_TMPDIR is <target>/tmp.
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .unwrap()
                .join("browser-artifacts")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    let path = artifacts().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// Waits (10 s at most) until the element `id` contains `text`.
async fn wait_text(browser: &Client, id: &str, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = match browser.find(Locator::Id(id)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if found.contains(text) {
            return found;
        }
        if tokio::time::Instant::now() > deadline {
            let status = browser
                .find(Locator::Id("status"))
                .await
                .ok()
                .map(|s| async move { s.text().await.unwrap_or_default() });
            let status = match status {
                Some(text) => text.await,
                None => String::new(),
            };
            screenshot(browser, &format!("failed-{id}")).await;
            panic!("#{id} never showed {text:?}: it shows {found:?} (status: {status:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fill(browser: &Client, id: &str, text: &str) {
    let input = browser.find(Locator::Id(id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

async fn submit(browser: &Client, form: &str) {
    browser
        .find(Locator::Css(&format!("#{form} button[type=submit]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// What the page's own script gets for `GET path` (status and body), as it would.
async fn fetch_from_page(browser: &Client, path: &str) -> (u64, String) {
    let result = browser
        .execute_async(
            "const [path, done] = arguments;
             fetch(path, {credentials: 'same-origin'})
               .then(async r => done([r.status, await r.text()]))
               .catch(e => done([0, String(e)]));",
            vec![json!(path)],
        )
        .await
        .unwrap();
    (
        result[0].as_u64().unwrap(),
        result[1].as_str().unwrap().to_owned(),
    )
}

/// The attacker's site: a forged form that submits itself, and forged fetches and a
/// WebSocket, all aimed at the app.
fn attacker(app: &str) -> Router {
    let form = format!(
        r#"<!doctype html><title>win a prize</title>
<form id="forged" method="POST" action="{app}/posts">
  <input name="title" value="forged by a form"><input name="content" value="csrf">
</form>
<script>document.getElementById("forged").submit();</script>"#
    );
    let fetches = format!(
        r#"<!doctype html><title>win another prize</title><ul id="log"></ul>
<script>
const log = (line) => {{ const li = document.createElement("li"); li.textContent = line; document.getElementById("log").append(li); }};
(async () => {{
  // Simple requests: no preflight, the cookies go along (same site), the answer is opaque.
  for (const path of ["/posts", "/web/logout", "/web/token/refresh"]) {{
    try {{
      await fetch("{app}" + path, {{method: "POST", mode: "no-cors", credentials: "include",
        headers: {{"content-type": "text/plain"}}, body: '{{"title":"forged by fetch","content":"csrf"}}'}});
      log("sent " + path);
    }} catch (e) {{ log("failed " + path + ": " + e); }}
  }}
  // Same host, another port: this page CAN read the app's CSRF cookie (cookies ignore
  // ports). A custom header needs a CORS preflight, which the app does not grant.
  const csrf = (document.cookie.match(/__Host-csrf=([^;]+)/) || [])[1] || "";
  log("csrf cookie readable here: " + (csrf ? "yes" : "no"));
  try {{
    const r = await fetch("{app}/posts", {{method: "POST", credentials: "include",
      headers: {{"content-type": "application/json", "x-csrf-token": csrf}},
      body: '{{"title":"forged with the header","content":"csrf"}}'}});
    log("with header: " + r.status);
  }} catch (e) {{ log("with header: blocked"); }}
  // A WebSocket carries the cookie and this page's Origin: the handshake is refused.
  await new Promise((done) => {{
    const ws = new WebSocket("{ws}/web/feed");
    ws.onopen = () => {{ log("websocket: open"); ws.close(); done(); }};
    ws.onclose = (e) => {{ log("websocket: closed " + e.code); done(); }};
  }});
  log("done");
}})();
</script>"#,
        ws = app.replacen("http", "ws", 1)
    );
    Router::new()
        .route("/form", get(move || async move { Html(form) }))
        .route("/fetch", get(move || async move { Html(fetches) }))
}

/// Logs `user` in through the API (not the browser) and returns a bearer token.
async fn api_login(base: &str, user: &str) -> String {
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/users/register"))
        .json(&json!({"username": user, "password": "another horse 12"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let body: Value = http
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={user}&password=another+horse+12"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn published_titles(base: &str, token: &str) -> Vec<String> {
    let posts: Vec<Value> = reqwest::Client::new()
        .get(format!("{base}/posts"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    posts
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
#[cfg_attr(
    not(authz_chromium),
    ignore = "needs chromium and chromedriver (scripts/browser-deps installs them)"
)]
async fn the_web_front_end_in_a_real_browser() {
    let dir = workdir();
    let server = start(&dir, &[]);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let app = format!("http://localhost:{port}");

    let attacker_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil = format!(
        "http://localhost:{}",
        attacker_listener.local_addr().unwrap().port()
    );
    let evil_app = attacker(&app);
    tokio::spawn(async move { axum::serve(attacker_listener, evil_app).await });

    let driver_port = free_port();
    let _driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": on_path("chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1000,1100"],
        }),
    );
    let mut browser = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
        {
            Ok(client) => {
                browser = Some(client);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let browser = browser.expect("chromedriver did not start");
    // The steps in a task of their own, so that the browser is closed whatever happens.
    let outcome = tokio::spawn({
        let (browser, base) = (browser.clone(), server.base.clone());
        async move { steps(&browser, &base, &app, &evil).await }
    })
    .await;
    let _ = browser.close().await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

async fn steps(browser: &Client, base: &str, app: &str, evil: &str) {
    let user = unique("web");
    let password = "correct horse battery 9";

    // 1. Register and log in.
    browser.goto(&format!("{app}/app/")).await.unwrap();
    wait_text(browser, "status", "").await;
    fill(browser, "reg-username", &user).await;
    fill(browser, "reg-password", password).await;
    submit(browser, "register-form").await;
    wait_text(browser, "status", "registered").await;
    screenshot(browser, "01-registered").await;
    fill(browser, "login-username", &user).await;
    fill(browser, "login-password", password).await;
    submit(browser, "login-form").await;
    wait_text(browser, "who", &format!("signed in as {user}")).await;
    // No token is visible to the page's script: only the CSRF cookie is readable.
    let cookies = browser
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    let cookies = cookies.as_str().unwrap();
    assert!(cookies.contains("__Host-csrf="), "{cookies}");
    assert!(!cookies.contains("access"), "{cookies}");
    assert!(!cookies.contains("refresh"), "{cookies}");
    assert!(!cookies.contains("eyJ"), "no JWT readable: {cookies}");
    screenshot(browser, "02-logged-in").await;

    // 2. Create a post.
    fill(browser, "post-title", "written in a browser").await;
    fill(browser, "post-content", "by cookie, with a CSRF header").await;
    submit(browser, "post-form").await;
    wait_text(browser, "posts", "written in a browser").await;
    screenshot(browser, "03-post-created").await;

    // 3. Reload: the session persists.
    browser.refresh().await.unwrap();
    wait_text(browser, "who", &format!("signed in as {user}")).await;
    wait_text(browser, "posts", "written in a browser").await;
    screenshot(browser, "04-reloaded").await;

    // 4. Another user's post arrives over the WebSocket.
    wait_text(browser, "feed-state", "connected").await;
    let other = api_login(base, &unique("api")).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/posts"))
        .bearer_auth(&other)
        .json(&json!({"title": "live from another user", "content": "over the feed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    wait_text(browser, "feed", "live from another user").await;
    screenshot(browser, "05-live-feed").await;

    // 5. The attacker's pages, from another port of localhost (same site, other origin).
    let before = published_titles(base, &other).await;
    browser.goto(&format!("{evil}/form")).await.unwrap();
    // The form navigates to the app's answer: the CSRF check's refusal.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let refusal = loop {
        let source = browser.source().await.unwrap();
        if source.contains("csrf_failed") || tokio::time::Instant::now() > deadline {
            break source;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refusal.contains("csrf_failed"), "{refusal}");
    assert!(refusal.contains("CSRF check failed"), "{refusal}");
    screenshot(browser, "06-forged-form-refused").await;

    browser.goto(&format!("{evil}/fetch")).await.unwrap();
    let log = wait_text(browser, "log", "done").await;
    assert!(log.contains("websocket: closed"), "{log}");
    assert!(!log.contains("with header: 201"), "{log}");
    screenshot(browser, "07-forged-fetches").await;
    let after = published_titles(base, &other).await;
    assert_eq!(before, after, "nothing stored");
    assert!(!after.iter().any(|t| t.contains("forged")), "{after:?}");

    // The forged logout and refresh changed nothing either: still signed in.
    browser.goto(&format!("{app}/app/")).await.unwrap();
    wait_text(browser, "who", &format!("signed in as {user}")).await;
    wait_text(browser, "posts", "written in a browser").await;

    // 6. Log out: the posts are no longer readable.
    browser
        .find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(browser, "status", "logged out").await;
    let (status, body) = fetch_from_page(browser, "/posts").await;
    assert_eq!(status, 401, "{body}");
    let cookies = browser
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert_eq!(cookies.as_str().unwrap(), "", "every cookie cleared");
    browser.refresh().await.unwrap();
    wait_text(browser, "signed-out", "Log in").await;
    screenshot(browser, "08-logged-out").await;
}
