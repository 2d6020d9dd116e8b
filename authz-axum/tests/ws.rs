//! Guarded WebSockets over real connections (a server on a loopback port, tokio-tungstenite
//! as the client): the handshake by subprotocol or by cookie (with its `Origin` check),
//! refusals as HTTP answers, and connections closed with 1008 when their token expires or is
//! revoked.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::net::SocketAddr;
use std::time::Duration;

use authz_axum::cookie::{Csrf, TokenCookies};
use authz_axum::core::lifecycle::TokenService;
use authz_axum::core::lifecycle::password::Passwords;
use authz_axum::token::TokenRoutes;
use authz_axum::ws::{GuardedSocket, WsGuard};
use authz_axum::{Algorithm, FixedClock, SigningKey};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderMap, Uri};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

const FORM: &str = "application/x-www-form-urlencoded";

struct App {
    addr: SocketAddr,
    service: TokenService,
}

async fn hello(mut socket: GuardedSocket) {
    let hello = format!("hello {}", socket.principal().subject());
    if socket.send(Message::text(hello)).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        if socket.send(message).await.is_err() {
            return;
        }
    }
}

async fn ws(
    State(guard): State<WsGuard>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: WebSocketUpgrade,
) -> Response {
    guard.accept(&headers, &uri, upgrade, hello).await
}

async fn start(access_ttl: Duration) -> App {
    start_at(access_ttl, None).await
}

async fn start_at(access_ttl: Duration, clock: Option<FixedClock>) -> App {
    let builder = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap());
    let builder = match clock {
        Some(clock) => builder.with_clock(clock),
        None => builder,
    };
    let service = builder
        .with_access_ttl(access_ttl)
        .with_passwords(Passwords::with_params(
            argon2::Params::new(1024, 1, 1, None).unwrap(),
        ))
        .build()
        .unwrap();
    service
        .register("alice", None, "correct horse 1", &["user"])
        .await
        .unwrap();
    let cookies = TokenCookies::new(Csrf::new(&[9; 32]).unwrap());
    let guard = WsGuard::new(service.verifier().clone())
        .with_token_cookies(&cookies)
        .with_revocation(service.clone())
        .with_check_interval(Duration::from_millis(100))
        .with_protocols(["posts.v1"]);
    let app = Router::new()
        .route("/ws", get(ws))
        .with_state(guard)
        .merge(TokenRoutes::new(service.clone()).public_routes());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App { addr, service }
}

impl App {
    async fn token(&self) -> String {
        let body: serde_json::Value = reqwest::Client::new()
            .post(format!("http://{}/token", self.addr))
            .header("content-type", FORM)
            .body("grant_type=password&username=alice&password=correct+horse+1")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    fn request(&self, headers: &[(&str, &str)]) -> tungstenite::handshake::client::Request {
        let mut request = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        request
    }
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    request: tungstenite::handshake::client::Request,
) -> Result<(Client, tungstenite::handshake::client::Response), tungstenite::Error> {
    tokio_tungstenite::connect_async(request).await
}

/// The HTTP refusal of a handshake: status and `code`.
fn refusal(error: tungstenite::Error) -> (u16, String) {
    match error {
        tungstenite::Error::Http(response) => {
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            (
                response.status().as_u16(),
                body["code"].as_str().unwrap().to_owned(),
            )
        }
        other => panic!("not an HTTP refusal: {other}"),
    }
}

async fn next_text(client: &mut Client) -> String {
    use futures_util::StreamExt as _;
    match client.next().await.unwrap().unwrap() {
        WsMessage::Text(text) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Waits (at most `within`) for the server's close frame: its code and reason.
async fn close_frame(client: &mut Client, within: Duration) -> (CloseCode, String) {
    use futures_util::StreamExt as _;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, client.next())
            .await
            .expect("the server did not close in time");
        match message {
            Some(Ok(WsMessage::Close(Some(frame)))) => {
                return (frame.code, frame.reason.to_string());
            }
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn token_as_subprotocol_is_accepted_and_only_the_protocol_is_echoed() {
    let app = start(Duration::from_secs(60)).await;
    let token = app.token().await;

    let offer = format!("authz.bearer, {token}");
    let (mut client, response) = connect(app.request(&[("sec-websocket-protocol", &offer)]))
        .await
        .unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "authz.bearer");
    assert_eq!(next_text(&mut client).await, "hello 1");

    // With the app's own protocol offered too, that one is selected; never the token.
    let offer = format!("posts.v1, authz.bearer, {token}");
    let (mut client, response) = connect(app.request(&[("sec-websocket-protocol", &offer)]))
        .await
        .unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "posts.v1");
    assert_eq!(next_text(&mut client).await, "hello 1");
}

#[tokio::test]
async fn refused_handshakes_are_http_answers() {
    let app = start(Duration::from_secs(60)).await;
    let error = connect(app.request(&[])).await.unwrap_err();
    assert_eq!(refusal(error), (401, "missing_token".to_owned()));

    let error = connect(app.request(&[("sec-websocket-protocol", "authz.bearer, not.a.token")]))
        .await
        .unwrap_err();
    assert_eq!(refusal(error).0, 401);

    let error = connect(app.request(&[("sec-websocket-protocol", "authz.bearer")]))
        .await
        .unwrap_err();
    assert_eq!(refusal(error), (400, "invalid_request".to_owned()));
}

#[tokio::test]
async fn cookie_handshakes_need_the_apps_own_origin() {
    let app = start(Duration::from_secs(60)).await;
    let token = app.token().await;
    let cookie = format!("__Host-access={token}");
    let own = format!("http://{}", app.addr);

    let (mut client, response) = connect(app.request(&[("cookie", &cookie), ("origin", &own)]))
        .await
        .unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    assert_eq!(next_text(&mut client).await, "hello 1");

    for origin in ["https://evil.example", "http://localhost:1", "null"] {
        let error = connect(app.request(&[("cookie", &cookie), ("origin", origin)]))
            .await
            .unwrap_err();
        assert_eq!(refusal(error), (403, "csrf_failed".to_owned()), "{origin}");
    }
    let error = connect(app.request(&[("cookie", &cookie)]))
        .await
        .unwrap_err();
    assert_eq!(refusal(error), (403, "csrf_failed".to_owned()), "no Origin");
}

#[tokio::test]
async fn a_revoked_token_ends_the_connection_with_1008() {
    let app = start(Duration::from_secs(60)).await;
    let token = app.token().await;
    let offer = format!("authz.bearer, {token}");
    let (mut client, _) = connect(app.request(&[("sec-websocket-protocol", &offer)]))
        .await
        .unwrap();
    assert_eq!(next_text(&mut client).await, "hello 1");

    let principal = app.service.verifier().verify(&token).unwrap();
    app.service.logout(&principal).await.unwrap();
    let (code, reason) = close_frame(&mut client, Duration::from_secs(3)).await;
    assert_eq!(code, CloseCode::Policy, "1008");
    assert_eq!(reason, "token revoked");

    // And a new handshake with it is refused.
    let error = connect(app.request(&[("sec-websocket-protocol", &offer)]))
        .await
        .unwrap_err();
    assert_eq!(refusal(error), (401, "token_revoked".to_owned()));
}

#[tokio::test]
async fn an_expired_token_ends_the_connection_with_1008() {
    let app = start(Duration::from_secs(2)).await;
    let token = app.token().await;
    let offer = format!("authz.bearer, {token}");
    let (mut client, _) = connect(app.request(&[("sec-websocket-protocol", &offer)]))
        .await
        .unwrap();
    assert_eq!(next_text(&mut client).await, "hello 1");
    let (code, reason) = close_frame(&mut client, Duration::from_secs(5)).await;
    assert_eq!(code, CloseCode::Policy, "1008");
    assert_eq!(reason, "token expired");
}

/// The expiry timer reads the verifier's clock, as verification does: on a `FixedClock` six
/// years behind the system's, a token with 2 s left lives 2 s (with the system clock it would
/// be taken for long expired and closed at once).
#[tokio::test]
async fn the_expiry_timer_reads_the_verifiers_clock() {
    let app = start_at(
        Duration::from_secs(2),
        Some(FixedClock::at_unix(1_600_000_000)),
    )
    .await;
    let token = app.token().await;
    let offer = format!("authz.bearer, {token}");
    let (mut client, _) = connect(app.request(&[("sec-websocket-protocol", &offer)]))
        .await
        .unwrap();
    assert_eq!(next_text(&mut client).await, "hello 1");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    futures_util::SinkExt::send(&mut client, WsMessage::text("still here"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut client).await, "still here");
    let (code, reason) = close_frame(&mut client, Duration::from_secs(5)).await;
    assert_eq!(code, CloseCode::Policy, "1008");
    assert_eq!(reason, "token expired");
}
