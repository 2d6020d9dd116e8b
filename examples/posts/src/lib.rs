//! Seeds 003 and 004 in Rust: register, log in with the OAuth2 password form, get an access +
//! refresh pair, and create, read, update and delete posts guarded by `#[require_auth]`.
//! Users, refresh families, revocations and throttling live in SQLite (`posts.db`, no setup)
//! or PostgreSQL (`DATABASE_URL`); with `REDIS_URL`, revocations and throttling are shared
//! through Redis, so that several instances behave as one.
//!
//! Layout, as the seed's FastAPI project: `routes::users` (`POST /users`,
//! `POST /users/register`, `GET /users/{id}`), `routes::auth` (`POST /login` and the token
//! routes), `routes::posts` (`/posts` CRUD), `db` (the posts table).

pub mod db;
pub mod openapi;
pub mod routes;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use authz_axum::client::{ClientAddressLayer, TrustedProxies};
use authz_axum::cookie::Csrf;
use authz_axum::core::lifecycle::TokenService;
use authz_axum::core::lifecycle::store::{RedisStore, SqlStore};
use authz_axum::token::TokenRoutes;
use authz_axum::usage::{Quota, Quotas, UsageLayer, UsageMeter};
use authz_axum::ws::WsGuard;
use authz_axum::{Algorithm, AuthLayer, SigningKey};
use axum::Router;

/// Configuration from the environment (the interface outside tests rely on).
#[derive(Debug, Clone)]
pub struct Config {
    /// `AUTHZ_ADDR`, default `127.0.0.1:8000`.
    pub addr: String,
    /// `DATABASE_URL`, default `sqlite://posts.db` (in the working directory).
    pub database_url: String,
    /// `REDIS_URL`: revocations and throttling in Redis.
    pub redis_url: Option<String>,
    /// `AUTHZ_ADMINS`: usernames of accounts that exist at start and get the `admin` role
    /// (never a name registered later, never an email).
    pub admins: Vec<String>,
    /// `AUTHZ_ADMIN_USER` / `AUTHZ_ADMIN_PASSWORD`: an admin account created at start, or
    /// its password reset (how an operator bootstraps the first admin).
    pub admin_account: Option<(String, String)>,
    /// `AUTHZ_TRUSTED_PROXIES`: comma-separated addresses or CIDR blocks of the reverse
    /// proxies whose `Forwarded` / `X-Forwarded-For` headers are believed.
    pub trusted_proxies: Vec<String>,
    /// `AUTHZ_SECRET`: the HS256 secret (at least 32 bytes). Without it, a random secret is
    /// made once and kept in the database, so that restarts and other instances on the same
    /// database accept the tokens.
    pub secret: Option<String>,
    /// `AUTHZ_REFRESH_REUSE_GRACE` (seconds, default 2): how recently a refresh token may
    /// have been used for a second use to count as two tabs refreshing at once rather than a
    /// theft (`0`: every second use revokes the session).
    pub reuse_grace: Duration,
    /// `AUTHZ_QUOTA_USER` (`burst/per-second`, default `100/20`): each user's request quota.
    pub user_quota: (u32, f64),
    /// `AUTHZ_QUOTA_ANONYMOUS` (default `60/10`): each anonymous address's request quota.
    pub anonymous_quota: (u32, f64),
}

/// A comma-separated list.
fn list(value: Option<String>) -> Vec<String> {
    value
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `burst/per-second`, e.g. `100/20`.
fn parse_quota(name: &str, text: &str) -> Result<(u32, f64), String> {
    let parsed = text.split_once('/').and_then(|(burst, rate)| {
        Some((burst.trim().parse().ok()?, rate.trim().parse::<f64>().ok()?))
    });
    match parsed {
        Some((burst, rate)) if burst > 0 && rate > 0.0 && rate.is_finite() => Ok((burst, rate)),
        _ => Err(format!(
            "{name} must be burst/per-second with both above 0, like 100/20"
        )),
    }
}

impl Config {
    /// Reads the environment.
    ///
    /// # Errors
    ///
    /// A variable that does not parse, with a message naming it.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(Self {
            addr: var("AUTHZ_ADDR").unwrap_or_else(|| "127.0.0.1:8000".into()),
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://posts.db".into()),
            redis_url: var("REDIS_URL"),
            admins: list(var("AUTHZ_ADMINS")),
            admin_account: match (var("AUTHZ_ADMIN_USER"), var("AUTHZ_ADMIN_PASSWORD")) {
                (Some(user), Some(password)) => Some((user, password)),
                (None, None) => None,
                _ => {
                    return Err(
                        "AUTHZ_ADMIN_USER and AUTHZ_ADMIN_PASSWORD go together: set both or neither"
                            .into(),
                    );
                }
            },
            trusted_proxies: list(var("AUTHZ_TRUSTED_PROXIES")),
            secret: var("AUTHZ_SECRET"),
            reuse_grace: match var("AUTHZ_REFRESH_REUSE_GRACE") {
                Some(secs) => Duration::from_secs(secs.trim().parse().map_err(|_| {
                    "AUTHZ_REFRESH_REUSE_GRACE must be a whole number of seconds".to_owned()
                })?),
                None => Duration::from_secs(2),
            },
            user_quota: match var("AUTHZ_QUOTA_USER") {
                Some(text) => parse_quota("AUTHZ_QUOTA_USER", &text)?,
                None => (100, 20.0),
            },
            anonymous_quota: match var("AUTHZ_QUOTA_ANONYMOUS") {
                Some(text) => parse_quota("AUTHZ_QUOTA_ANONYMOUS", &text)?,
                None => (60, 10.0),
            },
        })
    }

    /// "SQLite" or "PostgreSQL", plus "+ Redis".
    pub fn database_kind(&self) -> String {
        let db = if self.database_url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        match self.redis_url {
            Some(_) => format!("{db} + Redis"),
            None => db.to_owned(),
        }
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Login, tokens, revocation.
    pub tokens: TokenService,
    /// The posts table.
    pub posts: db::Posts,
    /// `AUTHZ_ADMINS`.
    pub admins: Arc<[String]>,
    /// Request counters per caller (`GET /usage`).
    pub meter: Arc<UsageMeter>,
    /// With `REDIS_URL`: the counters of every instance, shared.
    pub redis: Option<Arc<RedisStore>>,
    /// Each new post, for the live feed (`GET /web/feed`).
    pub feed: tokio::sync::broadcast::Sender<db::Post>,
}

/// Connects the stores, makes the tables, and builds the router.
///
/// Routes that never need a token (registration, login, the token endpoint) are mounted
/// outside the AuthLayer, so that a client still sending its expired or revoked access token
/// can log in again; everything else is under it.
///
/// # Errors
///
/// If the database or Redis cannot be reached, or `AUTHZ_SECRET` is too weak.
pub async fn app(config: &Config) -> Result<Router, String> {
    let store = Arc::new(
        SqlStore::connect(&config.database_url)
            .await
            .map_err(|e| format!("cannot open the database: {e}"))?,
    );
    let posts = db::Posts::new(store.pool().clone(), store.is_postgres())
        .await
        .map_err(|e| format!("cannot create the posts table: {e}"))?;
    let secret = match &config.secret {
        Some(secret) => secret.as_bytes().to_vec(),
        None => posts
            .shared_secret("hs256_secret")
            .await
            .map_err(|e| format!("cannot read the signing secret: {e}"))?,
    };
    // Keys throttle counters and device tokens, the same on every instance.
    let service_secret = posts
        .shared_secret("service_secret")
        .await
        .map_err(|e| format!("cannot read the service secret: {e}"))?;
    let proxies = TrustedProxies::new(&config.trusted_proxies)
        .map_err(|e| format!("AUTHZ_TRUSTED_PROXIES: {e}"))?;
    let key = SigningKey::from_secret(Algorithm::HS256, &secret)
        .map_err(|e| format!("AUTHZ_SECRET: {e}"))?;

    // Users, sessions and every revocation in SQL (the durable truth); with Redis, login
    // throttling shared by every instance, and revocations told to the others at once.
    let mut builder = TokenService::builder(key)
        .with_issuer("posts")
        .with_audience("posts")
        .with_refresh_reuse_grace(config.reuse_grace)
        .with_secret(&service_secret)
        .with_store(store.clone());
    let redis = match &config.redis_url {
        Some(url) => Some(Arc::new(
            RedisStore::connect(url, "posts:")
                .await
                .map_err(|e| format!("cannot reach Redis: {e}"))?,
        )),
        None => None,
    };
    if let Some(redis) = &redis {
        builder = builder
            .with_throttle_store(redis.clone())
            .with_fanout(redis.clone());
    }
    let tokens = builder.build().map_err(|e| e.to_string())?;
    if !tokens.load_revocations().await {
        tracing::warn!(target: "posts", "revocations not loaded yet; checks ask the database until they are");
    }
    tokens.spawn_housekeeping(Duration::from_secs(3600));

    let meter = match &redis {
        Some(redis) => {
            let meter = Arc::new(UsageMeter::new().exporting());
            redis.spawn_usage_flush(&meter, Duration::from_secs(1));
            meter
        }
        None => Arc::new(UsageMeter::new()),
    };
    let state = AppState {
        tokens: tokens.clone(),
        posts,
        admins: config.admins.clone().into(),
        meter: meter.clone(),
        redis,
        feed: tokio::sync::broadcast::channel(64).0,
    };
    // Per caller: bursts of 100 then 20/s for users, 60 then 10/s per anonymous address
    // (AUTHZ_QUOTA_USER, AUTHZ_QUOTA_ANONYMOUS).
    let quotas = Quotas::new()
        .for_authenticated(Quota::rate(config.user_quota.0, config.user_quota.1))
        .for_anonymous(Quota::rate(
            config.anonymous_quota.0,
            config.anonymous_quota.1,
        ));
    routes::users::bootstrap_admins(&state, config.admin_account.as_ref())
        .await
        .map_err(|e| format!("cannot set up the admins: {e}"))?;

    // The browser page's session: cookies from the token routes under /web (web.rs), a
    // CSRF key every instance shares.
    let csrf_key = state
        .posts
        .shared_secret("csrf_secret")
        .await
        .map_err(|e| format!("cannot read the CSRF secret: {e}"))?;
    let csrf = Csrf::new(&csrf_key).map_err(|e| format!("CSRF key: {e}"))?;
    let cookies = web::cookies(csrf);
    let web_tokens = TokenRoutes::new(tokens.clone()).with_cookies(cookies.clone());
    let feed_guard = WsGuard::new(tokens.verifier().clone())
        .with_token_cookies(&cookies)
        .with_revocation(tokens.clone());

    // One metering layer (one set of quota buckets) on both halves.
    let usage = UsageLayer::new(meter).with_quotas(quotas);
    let token_routes = TokenRoutes::new(tokens.clone());
    let public = Router::new()
        .merge(routes::users::public_routes())
        .merge(routes::auth::routes())
        .with_state(state.clone())
        .merge(token_routes.clone().public_routes())
        .merge(web::public_routes(
            state.clone(),
            web_tokens.clone(),
            feed_guard,
        ))
        .layer(usage.clone());
    let guarded = Router::new()
        .merge(routes::users::routes())
        .merge(routes::posts::routes())
        .merge(routes::usage::routes())
        .merge(web::routes(web_tokens))
        .with_state(state)
        .merge(token_routes.logout_routes())
        .layer(usage)
        // On matched routes only: a method a route does not have is 405, with or without a
        // token (as the OpenAPI document says).
        .route_layer(
            AuthLayer::new(tokens.verifier().clone())
                .with_realm("posts")
                .with_token_cookies(&cookies)
                .with_revocation(tokens),
        );
    // Outermost: every layer and route below reads the client address it works out.
    Ok(public
        .merge(guarded)
        .merge(openapi::routes())
        .layer(ClientAddressLayer::new(proxies)))
}
