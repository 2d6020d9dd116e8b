//! The token routes over real HTTP (a server on a loopback port, reqwest as the client):
//! grants, errors, refresh rotation and reuse, revocation, logout, logout-all, throttling,
//! and the AuthLayer honouring all of it.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::net::SocketAddr;

use authz_axum::core::lifecycle::TokenService;
use authz_axum::core::lifecycle::password::Passwords;
use authz_axum::token::TokenRoutes;
use authz_axum::{Algorithm, Auth, AuthLayer, SigningKey};
use axum::Router;
use axum::routing::get;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

const FORM: &str = "application/x-www-form-urlencoded";

struct App {
    base: String,
    http: Client,
    service: TokenService,
}

async fn me(Auth(user): Auth) -> String {
    user.subject().to_owned()
}

async fn start() -> App {
    let service = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_issuer("https://auth.test")
        .with_audience("api")
        .with_passwords(Passwords::with_params(
            argon2::Params::new(1024, 1, 1, None).unwrap(),
        ))
        .build()
        .unwrap();
    service
        .register(
            "alice",
            Some("alice@example.com"),
            "correct horse 1",
            &["user"],
        )
        .await
        .unwrap();
    // The routes that need no token outside the layer, so that a stale token sent along
    // cannot break them; the session routes under it.
    let routes = TokenRoutes::new(service.clone());
    let guarded = Router::new()
        .route("/me", get(me))
        .merge(routes.clone().logout_routes())
        .layer(AuthLayer::new(service.verifier().clone()).with_revocation(service.clone()));
    let app = routes.public_routes().merge(guarded);
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
    App {
        base: format!("http://{addr}"),
        http: Client::new(),
        service,
    }
}

impl App {
    async fn post(&self, path: &str, content_type: &str, body: impl Into<String>) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.into())
            .send()
            .await
            .unwrap()
    }

    async fn login(&self) -> Value {
        let response = self
            .post(
                "/token",
                FORM,
                "grant_type=password&username=alice&password=correct+horse+1",
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn me(&self, token: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

async fn error_of(response: Response) -> (StatusCode, Value) {
    assert_eq!(response.headers()["cache-control"], "no-store");
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn password_grant_answers_rfc_6749() {
    let app = start().await;
    let response = app
        .post(
            "/token",
            FORM,
            "grant_type=password&username=alice&password=correct+horse+1",
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    let access = body["access_token"].as_str().unwrap();
    assert!(body["refresh_token"].as_str().unwrap().starts_with("rt."));
    assert_eq!(app.me(access).await, (StatusCode::OK, "1".into()));

    // JSON, by email, and FastAPI's form without grant_type.
    let json_login = app
        .post(
            "/token",
            "application/json",
            json!({"grant_type": "password", "username": "alice@example.com", "password": "correct horse 1"}).to_string(),
        )
        .await;
    assert_eq!(json_login.status(), StatusCode::OK);
    let fastapi = app
        .post("/token", FORM, "username=alice&password=correct+horse+1")
        .await;
    assert_eq!(fastapi.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_credentials_and_bad_bodies_get_clear_errors_and_change_nothing() {
    let app = start().await;
    let wrong = error_of(
        app.post(
            "/token",
            FORM,
            "grant_type=password&username=alice&password=nope",
        )
        .await,
    )
    .await;
    let unknown = error_of(
        app.post(
            "/token",
            FORM,
            "grant_type=password&username=mallory&password=nope",
        )
        .await,
    )
    .await;
    assert_eq!(
        wrong,
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "Invalid credentials"})
        )
    );
    assert_eq!(
        wrong, unknown,
        "unknown user and wrong password look the same"
    );

    let cases: &[(&str, &str, StatusCode, &str, &str)] = &[
        (
            "/token",
            "grant_type=password&username=alice",
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the `password` field is required",
        ),
        (
            "/token",
            "password=x",
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the `grant_type` field is required",
        ),
        (
            "/token",
            "grant_type=client_credentials",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be `password` or `refresh_token`",
        ),
        (
            "/token",
            "grant_type=refresh_token",
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the `refresh_token` field is required",
        ),
        (
            "/token/refresh",
            "refresh_token=rt.garbage",
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The refresh token is invalid or expired",
        ),
        (
            "/token/revoke",
            "token_type_hint=refresh_token",
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the `token` field is required",
        ),
    ];
    for (path, body, status, error, description) in cases {
        let (got, body) = error_of(app.post(path, FORM, *body).await).await;
        assert_eq!(got, *status, "{path} {body}");
        assert_eq!(body["error"], *error, "{path}");
        assert_eq!(body["error_description"], *description, "{path}");
    }

    // Malformed JSON and form, another content type, an oversized body.
    let (status, body) = error_of(
        app.post("/token", "application/json", "{\"grant_type\":")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON body")
    );
    let (status, body) = error_of(
        app.post("/token", FORM, "username=a&username=b&password=c")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error_description"],
        "malformed form body: duplicate field `username`"
    );
    let (status, _) = error_of(app.post("/token", "text/plain", "username=alice").await).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!(
        "grant_type=password&username=alice&password={}",
        "x".repeat(9 * 1024)
    );
    let (status, _) = error_of(app.post("/token", FORM, huge).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // None of that counted against alice: five throttle-free failures remain... and the
    // two wrong passwords above are all that was counted, so she still logs in.
    app.login().await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = start().await;
    let first = app.login().await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let response = app
        .post(
            "/token",
            FORM,
            format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: Value = response.json().await.unwrap();
    let second_access = second["access_token"].as_str().unwrap();
    assert_eq!(app.me(second_access).await.0, StatusCode::OK);

    // Reuse after the grace period: the family dies, access tokens included.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (status, body) = error_of(
        app.post(
            "/token/refresh",
            "application/json",
            json!({"refresh_token": refresh}).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "The refresh token was already used; its session has been revoked"
    );
    let (status, body) = app.me(second_access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("token_revoked"), "{body}");
    let next = second["refresh_token"].as_str().unwrap();
    let response = app
        .post("/token/refresh", FORM, format!("refresh_token={next}"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A refresh token is not a Bearer token, an access token not a refresh token.
    let fresh = app.login().await;
    assert_eq!(
        app.me(fresh["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let access = fresh["access_token"].as_str().unwrap();
    let response = app
        .post("/token/refresh", FORM, format!("refresh_token={access}"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn revoke_logout_and_logout_all() {
    let app = start().await;

    // RFC 7009 with the refresh token.
    let pair = app.login().await;
    let response = app
        .post(
            "/token/revoke",
            FORM,
            format!(
                "token={}&token_type_hint=refresh_token",
                pair["refresh_token"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.me(pair["access_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Unknown tokens: 200 all the same (RFC 7009 §2.2).
    assert_eq!(
        app.post("/token/revoke", FORM, "token=whatever")
            .await
            .status(),
        StatusCode::OK
    );

    // Logout with the access token.
    let pair = app.login().await;
    let access = pair["access_token"].as_str().unwrap();
    let response = app
        .http
        .post(format!("{}/logout", app.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.me(access).await.0, StatusCode::UNAUTHORIZED);
    let response = app
        .post(
            "/token/refresh",
            FORM,
            format!("refresh_token={}", pair["refresh_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Logout without a token: the layer's 401.
    let response = app
        .http
        .post(format!("{}/logout", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Logout-all ends every session.
    let a = app.login().await;
    let b = app.login().await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let response = app
        .http
        .post(format!("{}/logout-all", app.base))
        .bearer_auth(a["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for pair in [&a, &b] {
        assert_eq!(
            app.me(pair["access_token"].as_str().unwrap()).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let again = app.login().await;
    assert_eq!(
        app.me(again["access_token"].as_str().unwrap()).await.0,
        StatusCode::OK
    );
    drop(app.service);
}

#[tokio::test]
async fn repeated_failures_get_429_with_retry_after() {
    let app = start().await;
    for _ in 0..5 {
        let response = app
            .post(
                "/token",
                FORM,
                "grant_type=password&username=alice&password=guess",
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let response = app
        .post(
            "/token",
            FORM,
            "grant_type=password&username=alice&password=correct+horse+1",
        )
        .await;
    assert_eq!(response.headers()["retry-after"], "1");
    let (status, body) = error_of(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "too_many_attempts");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    app.login().await;
}

/// A client that still sends its revoked (or malformed) access token can log in and refresh:
/// the token routes sit outside the AuthLayer.
#[tokio::test]
async fn a_stale_access_token_never_breaks_login_or_refresh() {
    let app = start().await;
    let pair = app.login().await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let response = app
        .http
        .post(format!("{}/logout", app.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.me(&access).await.0, StatusCode::UNAUTHORIZED);
    for stale in [access.as_str(), "not.a.token", "garbage"] {
        let response = app
            .http
            .post(format!("{}/token", app.base))
            .bearer_auth(stale)
            .header("content-type", FORM)
            .body("grant_type=password&username=alice&password=correct+horse+1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{stale}");
        let fresh: Value = response.json().await.unwrap();
        let response = app
            .http
            .post(format!("{}/token/refresh", app.base))
            .bearer_auth(stale)
            .header("content-type", FORM)
            .body(format!(
                "refresh_token={}",
                fresh["refresh_token"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{stale}");
    }
}

/// The client-credentials grant: a client the app does not allow it gets
/// `unauthorized_client`; an allowed one gets an access token whose `sub` and `client_id` are
/// the client, with the scopes asked (or all it may have).
#[tokio::test]
async fn client_credentials_grant_answers_rfc_6749_errors() {
    use authz_axum::core::assertion::{ClientAssertions, MemoryReplays};
    use authz_axum::{Issuer, KeySet};
    let service = TokenService::builder(SigningKey::generate(Algorithm::ES256).unwrap())
        .with_issuer("https://auth.test")
        .with_audience("api")
        .build()
        .unwrap();
    let worker = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .with_kid("worker");
    let intruder = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .with_kid("intruder");
    let registered = KeySet::new([worker.verifying_key(), intruder.verifying_key()]).unwrap();
    let assertions = ClientAssertions::new(
        std::sync::Arc::new(registered),
        std::sync::Arc::new(MemoryReplays::new()),
        "https://auth.test",
    );
    let app = TokenRoutes::new(service.clone())
        .with_client_credentials(assertions, |client| {
            (client == "worker").then(|| vec!["jobs:read".to_owned(), "jobs:write".to_owned()])
        })
        .public_routes::<()>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = Client::new();
    let grant = |key: &SigningKey, name: &str, scope: &str| {
        let assertion = Issuer::new(key.clone())
            .with_audience("https://auth.test")
            .issue(&json!({"iss": name, "sub": name}))
            .unwrap();
        http.post(format!("{base}/token")).header("content-type", FORM).body(format!(
            "grant_type=client_credentials&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion={assertion}{scope}"
        ))
    };
    let response = grant(&worker, "worker", "&scope=jobs:read")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "jobs:read");
    let principal = service
        .verifier()
        .verify(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(principal.subject(), "worker");
    assert!(principal.has_scope("jobs:read") && !principal.has_scope("jobs:write"));
    let body: Value = grant(&worker, "worker", "")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "jobs:read jobs:write");
    let (status, body) = error_of(grant(&intruder, "intruder", "").send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    let (status, body) = error_of(
        grant(&worker, "worker", "&scope=admin")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, body) = error_of(grant(&intruder, "worker", "").send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

/// The logout routes act only on tokens the service issued: a token of another issuer that
/// the same layer trusts (same subject, even) cannot log anyone out.
#[tokio::test]
async fn logout_refuses_tokens_of_another_issuer() {
    use authz_axum::{Issuer, KeySet, Verifier};
    let ours = SigningKey::generate(Algorithm::ES256).unwrap();
    let service = TokenService::builder(ours.clone())
        .with_issuer("https://auth.test")
        .with_audience("api")
        .with_passwords(Passwords::with_params(
            argon2::Params::new(1024, 1, 1, None).unwrap(),
        ))
        .build()
        .unwrap();
    let alice = service
        .register("alice", None, "correct horse 1", &["user"])
        .await
        .unwrap();
    let partner = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("partner");
    // A layer that accepts both issuers' tokens (audience "api").
    let verifier =
        Verifier::builder(KeySet::new([ours.verifying_key(), partner.verifying_key()]).unwrap())
            .with_audience("api")
            .build()
            .unwrap();
    let app = Router::new()
        .route("/me", get(me))
        .merge(TokenRoutes::new(service.clone()).logout_routes())
        .layer(AuthLayer::new(verifier).with_revocation(service.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = Client::new();

    let pair = service
        .login("alice", "correct horse 1", None)
        .await
        .unwrap();
    let foreign = Issuer::new(partner)
        .with_issuer("https://partner.test")
        .with_audience("api")
        .issue(&json!({"sub": alice.id.to_string(), "sid": "whatever"}))
        .unwrap();
    let me = http
        .get(format!("{base}/me"))
        .bearer_auth(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "the layer trusts the partner");
    for path in ["/logout", "/logout-all"] {
        let response = http
            .post(format!("{base}{path}"))
            .bearer_auth(&foreign)
            .send()
            .await
            .unwrap();
        let (status, body) = error_of(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["error"], "invalid_token", "{path}: {body}");
    }
    // Alice's own session is untouched.
    let principal = service.verifier().verify(&pair.access_token).unwrap();
    assert!(!service.is_revoked(&principal).await.unwrap());
    service.refresh(&pair.refresh_token).await.unwrap();
}
