//! The HTTP layer's token extraction: `Authorization: Bearer`, a cookie (with its CSRF check),
//! a custom header and the query string, then the guards, driven through a real axum Router.
//!
//! Input (text-like, one request):
//!
//! ```text
//! <flags byte><METHOD>\n
//! <path?query>\n          (a line not starting with '/' is a query for /x)
//! <name>: <value>\n       (any number of header lines)
//! \n
//! <body>
//! ```
//!
//! In the request line and header values, `{T}` becomes a valid access token (role `user`,
//! with `sid` and `jti`), `{A}` a valid admin token, `{E}` an expired one, `{R}` one whose
//! `jti` the revocation hook calls revoked, `{U}` one whose revocation check is unavailable,
//! and `{C}` the CSRF token bound to `{T}`'s session. Flags bit 0: the layer in required mode.
//! Header lines and URIs that `http` refuses are skipped. Any response is fine; a panic is a
//! finding.

#![no_main]

use std::sync::LazyLock;

use authz_axum::cookie::Csrf;
use authz_axum::{
    Algorithm, Auth, AuthLayer, Claims, ClaimMapping, FixedClock, KeySet, Principal,
    RevocationStatus, Verifier, VerifyingKey, require_auth,
};
use axum::Router;
use axum::body::Body;
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";
const CSRF_KEY: &[u8] = b"Qz8@w1#Er5%Ty7&Ui9*Op0(As2)Df4!G";
const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://issuer.example";

fn verifier() -> Verifier {
    let key = VerifyingKey::from_secret(Algorithm::HS256, SECRET).expect("test key");
    Verifier::builder(KeySet::single(key))
        .with_issuer(ISSUER)
        .with_audience("api")
        .with_typ("at+jwt")
        .with_required_claims(["iat", "jti"])
        .with_clock(FixedClock::at_unix(NOW))
        .with_claim_mapping(ClaimMapping::new().with_roles_from(["realm_access.roles", "roles"]))
        .build()
        .expect("verifier")
}

fn sign(claims: serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"at+jwt"}"#);
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("sign");
    format!("{input}.{sig}")
}

fn token(jti: &str, roles: &[&str], exp: u64) -> String {
    sign(serde_json::json!({
        "iss": ISSUER, "aud": "api", "sub": "alice", "iat": NOW - 10, "exp": exp,
        "jti": jti, "sid": "s-1", "roles": roles, "scope": "read write",
    }))
}

struct Fixture {
    optional: Router,
    required: Router,
    /// (placeholder, replacement)
    substitutions: Vec<(&'static [u8], Vec<u8>)>,
}

#[require_auth(role = "admin")]
async fn admin(Auth(user): Auth) -> String {
    user.subject().to_owned()
}

async fn owns(principal: &Principal, parts: &mut http::request::Parts) -> bool {
    parts.uri.query().is_some_and(|q| q.contains(principal.subject()))
}

#[require_auth(any(role = "admin", all(scope = "read", not(role = "banned"))), claim(sid = "s-1"), policy = owns)]
async fn nested() -> &'static str {
    "nested"
}

#[require_auth(role = "user", quota = "3/min")]
async fn limited() -> &'static str {
    "limited"
}

fn router(layer: AuthLayer) -> Router {
    Router::new()
        .route("/x", any(|| async { "ok" }))
        .route("/me", any(|Auth(p): Auth| async move { p.subject().to_owned() }))
        .route(
            "/opt",
            any(|p: Option<Auth>| async move { p.map(|Auth(p)| p.subject().len()).unwrap_or(0).to_string() }),
        )
        .route(
            "/claims",
            any(|Claims(c): Claims<serde_json::Value>| async move { c.to_string() }),
        )
        .route("/admin", any(admin))
        .route("/nested", any(nested))
        .route("/limited", any(limited))
        .layer(layer)
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let csrf = Csrf::new(CSRF_KEY)
        .expect("csrf key")
        .with_trusted_origins(["https://app.example"])
        .expect("origin");
    let valid = token("j-1", &["user"], NOW + 300);
    let csrf_token = {
        let p = verifier().verify(&valid).expect("the fixture token verifies");
        csrf.token(&p).expect("a session-bound CSRF token")
    };
    let layer = AuthLayer::new(verifier())
        .with_cookie("__Host-access")
        .with_header(HeaderName::from_static("x-api-token"))
        .insecure_with_query("access_token")
        .with_csrf(csrf)
        .with_revocation(|p: Principal| async move {
            match p.token_id() {
                Some("revoked") => RevocationStatus::Revoked,
                Some("down") => RevocationStatus::Unavailable,
                _ => RevocationStatus::Active,
            }
        });
    Fixture {
        optional: router(layer.clone()),
        required: router(layer.required()),
        substitutions: vec![
            (b"{T}", valid.into_bytes()),
            (b"{A}", token("j-2", &["admin"], NOW + 300).into_bytes()),
            (b"{E}", token("j-3", &["user"], NOW - 100).into_bytes()),
            (b"{R}", token("revoked", &["user"], NOW + 300).into_bytes()),
            (b"{U}", token("down", &["user"], NOW + 300).into_bytes()),
            (b"{C}", csrf_token.into_bytes()),
        ],
    }
});

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

fn substitute(line: &[u8]) -> Vec<u8> {
    if !line.contains(&b'{') {
        return line.to_vec();
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    'outer: while i < line.len() {
        for (from, to) in &FIXTURE.substitutions {
            if line[i..].starts_with(from) {
                out.extend_from_slice(to);
                i += from.len();
                continue 'outer;
            }
        }
        out.push(line[i]);
        i += 1;
    }
    out
}

/// Splits off one `\n`-terminated line (without a trailing `\r`).
fn line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let i = rest.iter().position(|&b| b == b'\n')?;
    let mut l = &rest[..i];
    *rest = &rest[i + 1..];
    if let [head @ .., b'\r'] = l {
        l = head;
    }
    Some(l)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let Some(method) = line(&mut rest) else {
        return;
    };
    let Ok(method) = Method::from_bytes(method) else {
        return;
    };
    let Some(target) = line(&mut rest) else {
        return;
    };
    let mut target = substitute(target);
    if !target.starts_with(b"/") {
        target.splice(0..0, b"/x?".iter().copied());
    }
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    let mut request = Request::new(Body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    while let Some(header) = line(&mut rest) {
        if header.is_empty() {
            break;
        }
        let Some(colon) = header.iter().position(|&b| b == b':') else {
            continue;
        };
        let Ok(name) = HeaderName::from_bytes(&header[..colon]) else {
            continue;
        };
        let value = substitute(header[colon + 1..].trim_ascii_start());
        let Ok(value) = HeaderValue::from_bytes(&value) else {
            continue;
        };
        request.headers_mut().append(name, value);
    }
    *request.body_mut() = Body::from(rest.to_vec());

    let app = if flags & 1 == 0 { &FIXTURE.optional } else { &FIXTURE.required };
    let app = app.clone();
    RUNTIME.block_on(async move {
        let Ok(response) = app.oneshot(request).await;
        let _ = response.status();
        let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await;
    });
});
