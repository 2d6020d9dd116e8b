//! Seed 000's closing remark — "as long as all microservices have the key, they can open this
//! token and verify it" — done the way it scales: the **issuer** signs with a [`KeyRing`] and
//! publishes its public keys at `/.well-known/jwks.json`; the **resource** service is given
//! nothing but that URL. Keys rotate on the issuer (stage → publish → promote → retire)
//! without restarting either service and without a rejected request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authz_axum::core::key::KeyRing;
use authz_axum::core::lifecycle::TokenService;
use authz_axum::core::remote::{RemoteKeySet, RemoteOptions};
use authz_axum::jwks::{HttpFetcher, JwksRoutes};
use authz_axum::token::TokenRoutes;
use authz_axum::{Algorithm, Auth, AuthLayer, SigningKey, Verifier, require_auth};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// Configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MS_ISSUER_ADDR`, default `127.0.0.1:8001`.
    pub issuer_addr: String,
    /// `MS_RESOURCE_ADDR`, default `127.0.0.1:8002`.
    pub resource_addr: String,
    /// `MS_JWKS_MAX_AGE` (seconds), default 60: how long verifiers may cache the JWKS, and so
    /// how long a new key is published before it signs.
    pub jwks_max_age: Duration,
    /// `MS_ROTATE_EVERY` (seconds): rotate on a timer too (default: only on
    /// `POST /admin/rotate`).
    pub rotate_every: Option<Duration>,
}

impl Config {
    /// Reads the environment.
    ///
    /// # Errors
    ///
    /// A number that does not parse.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let secs = |name: &str| -> Result<Option<Duration>, String> {
            var(name)
                .map(|v| {
                    v.parse()
                        .map(Duration::from_secs)
                        .map_err(|_| format!("{name}: not a number"))
                })
                .transpose()
        };
        Ok(Self {
            issuer_addr: var("MS_ISSUER_ADDR").unwrap_or_else(|| "127.0.0.1:8001".into()),
            resource_addr: var("MS_RESOURCE_ADDR").unwrap_or_else(|| "127.0.0.1:8002".into()),
            jwks_max_age: secs("MS_JWKS_MAX_AGE")?.unwrap_or(Duration::from_secs(60)),
            rotate_every: secs("MS_ROTATE_EVERY")?,
        })
    }
}

/// The issuer's shared state.
#[derive(Debug, Clone)]
pub struct Issuer {
    ring: KeyRing,
    max_age: Duration,
    access_ttl: Duration,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

/// A new signing key, named by its RFC 7638 thumbprint (what `SigningKey::generate` does): a
/// restarted issuer never names a new key like an old one that verifiers may still cache.
fn new_key() -> Result<SigningKey, String> {
    SigningKey::generate(Algorithm::ES256).map_err(|e| e.to_string())
}

impl Issuer {
    /// Publishes a new key (staged: it does not sign yet); returns its `kid`.
    ///
    /// # Errors
    ///
    /// If a key cannot be made.
    pub fn stage(&self) -> Result<String, String> {
        let next = new_key()?;
        let kid = next.kid().unwrap_or_default().to_owned();
        self.ring.stage(next).map_err(|e| e.to_string())?;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(kid)
    }

    /// Once every verifier's cached JWKS has expired (max-age + 1 s), signs with the staged
    /// key; the old key stays published until its last token expires (access lifetime + 60 s
    /// of leeway).
    ///
    /// # Errors
    ///
    /// If nothing is staged.
    pub async fn promote_later(&self) -> Result<(), String> {
        tokio::time::sleep(self.max_age + Duration::from_secs(1)).await;
        self.ring
            .promote(self.access_ttl + Duration::from_secs(60))
            .map_err(|e| e.to_string())?;
        self.ring.purge();
        Ok(())
    }

    /// One rotation with overlap: [`stage`](Self::stage), then
    /// [`promote_later`](Self::promote_later).
    ///
    /// # Errors
    ///
    /// As both.
    pub async fn rotate(&self) -> Result<String, String> {
        let kid = self.stage()?;
        self.promote_later().await?;
        Ok(kid)
    }
}

/// `POST /admin/rotate` (role `admin`): starts a rotation and answers at once.
#[require_auth(role = "admin")]
async fn rotate(State(issuer): State<Issuer>) -> Result<Json<Value>, (StatusCode, String)> {
    // Staged now, so that the answer lists both keys; promoted once caches have expired.
    let staged = issuer
        .stage()
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let later = issuer.clone();
    tokio::spawn(async move {
        if let Err(error) = later.promote_later().await {
            eprintln!("rotation failed: {error}");
        }
    });
    Ok(Json(json!({
        "published": issuer.ring.published_kids(),
        "staged": staged,
        "promote_in_secs": issuer.max_age.as_secs() + 1,
    })))
}

/// The issuer: `/token` (password and refresh grants; user `demo` / `demo-password-123`, an
/// admin), `/.well-known/jwks.json`, `POST /admin/rotate`.
///
/// # Errors
///
/// If a key cannot be made.
pub async fn issuer(config: &Config) -> Result<(Router, Issuer), String> {
    let ring = KeyRing::new(new_key()?).map_err(|e| e.to_string())?;
    let tokens = TokenService::builder(ring.clone())
        .with_issuer(format!("http://{}", config.issuer_addr))
        .with_audience("orders")
        .build()
        .map_err(|e| e.to_string())?;
    tokens
        .register("demo", None, "demo-password-123", &["user", "admin"])
        .await
        .map_err(|e| e.to_string())?;
    let state = Issuer {
        ring: ring.clone(),
        max_age: config.jwks_max_age,
        access_ttl: tokens.access_ttl(),
        generation: Arc::default(),
    };
    // Routes that need no token (login, refresh, the JWKS) outside the AuthLayer, so that a
    // stale token sent along never breaks them.
    let routes = TokenRoutes::new(tokens.clone());
    let guarded = Router::new()
        .route("/admin/rotate", post(rotate))
        .with_state(state.clone())
        .merge(routes.clone().logout_routes())
        .layer(AuthLayer::new(tokens.verifier().clone()).with_revocation(tokens));
    let app = routes
        .public_routes()
        .merge(
            JwksRoutes::from_ring(ring)
                .with_max_age(config.jwks_max_age)
                .router(),
        )
        .merge(guarded);
    Ok((app, state))
}

#[require_auth]
async fn orders(Auth(user): Auth) -> Json<Value> {
    Json(json!({
        "orders": [{"id": 1, "item": "coffee"}, {"id": 2, "item": "tea"}],
        "for": user.subject(),
        "signed_by": user.key_id(),
    }))
}

/// The resource service: `GET /orders` under `#[require_auth]`, trusting the issuer's JWKS
/// URL and nothing else.
///
/// # Errors
///
/// If the HTTP client cannot be made.
pub fn resource(config: &Config) -> Result<Router, String> {
    let remote = RemoteKeySet::with_options(
        format!("http://{}/.well-known/jwks.json", config.issuer_addr),
        Arc::new(HttpFetcher::new()?),
        RemoteOptions {
            // Honour the issuer's max-age even when it is short.
            min_ttl: Duration::from_secs(1),
            ..RemoteOptions::default()
        },
    );
    remote.spawn_refresh();
    let verifier = Verifier::builder(remote)
        .with_issuer(format!("http://{}", config.issuer_addr))
        .with_audience("orders")
        .with_typ("at+jwt")
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Router::new()
        .route("/orders", get(orders))
        .route("/health", get(|| async { "ok" }))
        .layer(AuthLayer::new(verifier)))
}

/// Serves both services until Ctrl-C.
///
/// # Errors
///
/// If an address cannot be bound.
pub async fn run(config: Config) -> Result<(), String> {
    let issuer_listener = tokio::net::TcpListener::bind(&config.issuer_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.issuer_addr))?;
    let (issuer_app, issuer_state) = issuer(&config).await?;
    let resource_listener = tokio::net::TcpListener::bind(&config.resource_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.resource_addr))?;
    let resource_app = resource(&config)?;
    if let Some(every) = config.rotate_every {
        let state = issuer_state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = state.rotate().await {
                    eprintln!("rotation failed: {error}");
                }
            }
        });
    }
    println!("issuer listening on http://{}", config.issuer_addr);
    println!("resource listening on http://{}", config.resource_addr);
    let issuer = axum::serve(
        issuer_listener,
        issuer_app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    let resource = axum::serve(resource_listener, resource_app);
    tokio::select! {
        result = issuer => result.map_err(|e| e.to_string()),
        result = resource => result.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
