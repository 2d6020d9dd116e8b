//! The token routes' bodies: `POST /token` (password and refresh grants), `/token/refresh`,
//! `/token/revoke` mounted outside the AuthLayer, `/logout` and `/logout-all` under it, on a
//! real `TokenService` with one registered user (`alice` / `correct horse battery`).
//!
//! Input: `flags` (1 byte), then the body. Flags:
//! - bits 0-2: the route (0-2 and 7 `/token`, 3 `/token/refresh`, 4 `/token/revoke`,
//!   5 `/logout`, 6 `/logout-all`);
//! - bits 3-4: the content type (form, JSON, the body's first line as the raw value, none);
//! - bit 5: `Authorization: Bearer` with a fresh access token of alice's;
//! - bit 6: a client address (`ConnectInfo`), for the per-client throttling rules;
//! - bit 7: a second, conflicting `Content-Type` header.
//!
//! In the body (and a raw content type), `{R}` becomes a fresh refresh token of alice's and
//! `{T}` a fresh access token. The service, its stores and the throttling state are rebuilt
//! every few thousand inputs so that memory stays bounded. Any non-panicking response is fine.

#![no_main]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::LazyLock;

use authz_axum::lifecycle::password::Passwords;
use authz_axum::lifecycle::store::User;
use authz_axum::lifecycle::{TokenPair, TokenService};
use authz_axum::token::TokenRoutes;
use authz_axum::{Algorithm, AuthLayer, SigningKey};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

/// Inputs served by one service before it is rebuilt.
const REBUILD_EVERY: u32 = 4096;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

struct Fixture {
    service: TokenService,
    user: User,
    app: Router,
    served: u32,
}

fn fixture() -> Fixture {
    // HS256 and argon2's smallest memory (8 KiB): what is fuzzed is the routes' parsing and
    // flow, not signing or hashing, and these keep an execution cheap (with ES256 and 1 MiB,
    // about 1 100 executions/s under AddressSanitizer).
    let key = SigningKey::generate(Algorithm::HS256).expect("key");
    let service = TokenService::builder(key)
        .with_issuer("https://auth.test")
        .with_audience("api")
        .with_passwords(Passwords::with_params(
            argon2::Params::new(8, 1, 1, None).expect("argon2 params"),
        ))
        .build()
        .expect("service");
    let user = RUNTIME
        .block_on(service.register("alice", None, "correct horse battery", &["user"]))
        .expect("register");
    let routes = TokenRoutes::new(service.clone());
    let guarded = Router::new()
        .merge(routes.clone().logout_routes())
        .layer(AuthLayer::new(service.verifier().clone()).with_revocation(service.clone()));
    let app = routes.public_routes().merge(guarded);
    Fixture {
        service,
        user,
        app,
        served: 0,
    }
}

thread_local! {
    static FIXTURE: RefCell<Option<Fixture>> = const { RefCell::new(None) };
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh session of alice's (no password hashing: `start_session`).
async fn pair(service: &TokenService, user: &User) -> Option<TokenPair> {
    service.start_session(user, now()).await.ok()
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let (service, user, app) = FIXTURE.with_borrow_mut(|slot| {
        if slot.as_ref().is_none_or(|f| f.served >= REBUILD_EVERY) {
            *slot = Some(fixture());
        }
        let f = slot.as_mut().expect("just built");
        f.served += 1;
        (f.service.clone(), f.user.clone(), f.app.clone())
    });

    let path = match flags & 7 {
        3 => "/token/refresh",
        4 => "/token/revoke",
        5 => "/logout",
        6 => "/logout-all",
        _ => "/token",
    };
    let (content_type, mut body): (Option<Vec<u8>>, Vec<u8>) = match (flags >> 3) & 3 {
        0 => (Some(b"application/x-www-form-urlencoded".to_vec()), body.to_vec()),
        1 => (Some(b"application/json".to_vec()), body.to_vec()),
        2 => match body.iter().position(|&b| b == b'\n') {
            Some(i) => (Some(body[..i].to_vec()), body[i + 1..].to_vec()),
            None => (Some(body.to_vec()), Vec::new()),
        },
        _ => (None, body.to_vec()),
    };

    RUNTIME.block_on(async move {
        let wants_pair = flags & 0x20 != 0 || contains(&body, b"{R}") || contains(&body, b"{T}");
        let fresh = if wants_pair { pair(&service, &user).await } else { None };
        if let Some(fresh) = &fresh {
            body = replace(&body, b"{R}", fresh.refresh_token.as_bytes());
            body = replace(&body, b"{T}", fresh.access_token.as_bytes());
        }
        let mut request = Request::new(Body::from(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = path.parse().expect("path");
        if let Some(value) = content_type.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
            request.headers_mut().append(CONTENT_TYPE, value);
        }
        if flags & 0x80 != 0 {
            request
                .headers_mut()
                .append(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        }
        if flags & 0x20 != 0
            && let Some(fresh) = &fresh
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", fresh.access_token))
        {
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        if flags & 0x40 != 0 {
            let addr: SocketAddr = ([192, 0, 2, flags & 3], 40000).into();
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        let Ok(response) = app.oneshot(request).await;
        let _ = response.status();
        let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await;
    });
});
