//! JWKS over HTTP: publish an issuer's public keys, and fetch another service's.
//!
//! - [`JwksRoutes`] (feature `jwks-routes`) serves `GET /.well-known/jwks.json` from a [`KeyRing`] (rotation with
//!   overlap) or a fixed [`KeySet`], with `Cache-Control: public, max-age=…` and
//!   `Content-Type: application/jwk-set+json`.
//! - [`discover`] finds the JWKS URL through OpenID Connect discovery.
//! - [`HttpFetcher`] (feature `jwks-fetch`, on by default) is the
//!   [`JwksFetcher`] for [`RemoteKeySet`]: reqwest with rustls, timeouts, no redirects, a size
//!   cap. [`remote_jwks`] puts them together and starts the background refresh.
//!
//! ```no_run
//! # #[cfg(all(feature = "jwks-routes", feature = "jwks-fetch"))]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::Router;
//! use authz_axum::jwks::{JwksRoutes, remote_jwks};
//! use authz_axum::core::key::KeyRing;
//! use authz_axum::{Algorithm, AuthLayer, SigningKey, Verifier};
//!
//! // The issuer publishes its keys...
//! let ring = KeyRing::new(SigningKey::generate(Algorithm::ES256)?.with_kid("2026-11"))?;
//! let issuer_app: Router = JwksRoutes::from_ring(ring.clone()).router();
//!
//! // ...and a resource service trusts them by URL only.
//! let remote = remote_jwks("https://issuer.internal/.well-known/jwks.json")?;
//! let verifier = Verifier::builder(remote).with_issuer("https://issuer.internal").build()?;
//! let resource_app: Router = Router::new().layer(AuthLayer::new(verifier));
//! # Ok(()) }
//! ```

#[cfg(feature = "jwks-fetch")]
use std::sync::Arc;
#[cfg(feature = "jwks-fetch")]
use std::time::Duration;

#[cfg(feature = "jwks-fetch")]
use authz_core::remote::{FetchedJwks, JwksFetcher, RemoteKeySet, RemoteOptions};
#[cfg(feature = "jwks-fetch")]
use http::header::CACHE_CONTROL;

#[cfg(feature = "jwks-routes")]
pub use self::routes::JwksRoutes;

/// Publishing keys (feature `jwks-routes`).
#[cfg(feature = "jwks-routes")]
mod routes {
    use std::sync::Arc;
    use std::time::Duration;

    use authz_core::KeySet;
    use authz_core::key::KeyRing;
    use axum::Router;
    use axum::extract::State;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use http::HeaderValue;
    use http::header::{CACHE_CONTROL, CONTENT_TYPE};

    /// What the JWKS route serves.
    #[derive(Debug, Clone)]
    enum Published {
        Ring(KeyRing),
        Fixed(Arc<str>),
    }

    /// The JWKS route. See the [module docs](self).
    #[derive(Debug, Clone)]
    #[must_use]
    pub struct JwksRoutes {
        published: Published,
        max_age: Duration,
        path: String,
    }

    impl JwksRoutes {
        /// Serves the ring's published keys (current, staged and retired), as they change.
        pub fn from_ring(ring: KeyRing) -> Self {
            Self {
                published: Published::Ring(ring),
                max_age: Duration::from_secs(300),
                path: "/.well-known/jwks.json".into(),
            }
        }

        /// Serves a fixed set (its public parts).
        pub fn from_keys(keys: &KeySet) -> Self {
            Self {
                published: Published::Fixed(keys.to_jwks_string().into()),
                max_age: Duration::from_secs(300),
                path: "/.well-known/jwks.json".into(),
            }
        }

        /// `Cache-Control: max-age`. Default 5 minutes. Stage a new key at least this long
        /// before promoting it.
        pub fn with_max_age(mut self, max_age: Duration) -> Self {
            self.max_age = max_age;
            self
        }

        /// The path. Default `/.well-known/jwks.json`.
        pub fn with_path(mut self, path: impl Into<String>) -> Self {
            self.path = path.into();
            self
        }

        /// The router.
        pub fn router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
            let path = self.path.clone();
            Router::new()
                .route(&path, get(serve))
                .with_state(Arc::new(self))
        }
    }

    async fn serve(State(routes): State<Arc<JwksRoutes>>) -> Response {
        let body = match &routes.published {
            Published::Ring(ring) => ring.jwks(),
            Published::Fixed(body) => body.clone(),
        };
        let mut response = body.to_string().into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        );
        if let Ok(value) =
            HeaderValue::try_from(format!("public, max-age={}", routes.max_age.as_secs()))
        {
            headers.insert(CACHE_CONTROL, value);
        }
        response
    }
}

/// Fetches JWKS documents with reqwest (rustls): 2 s to connect, 5 s in all, no redirects,
/// 256 KiB at most, non-2xx statuses as errors. Bring your own `reqwest::Client` for a
/// private CA or a proxy.
#[cfg(feature = "jwks-fetch")]
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    max_bytes: usize,
}

#[cfg(feature = "jwks-fetch")]
impl HttpFetcher {
    /// The default client.
    ///
    /// # Errors
    ///
    /// If the TLS backend cannot start.
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authz/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self::with_client(client))
    }

    /// Uses the app's client (its TLS roots, proxy, timeouts).
    pub fn with_client(client: reqwest::Client) -> Self {
        Self {
            client,
            max_bytes: RemoteOptions::default().max_bytes,
        }
    }
}

#[cfg(feature = "jwks-fetch")]
#[async_trait::async_trait]
impl JwksFetcher for HttpFetcher {
    async fn fetch(&self, url: &str) -> Result<FetchedJwks, String> {
        let mut response = self
            .client
            .get(url)
            .header("accept", "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes as u64)
        {
            return Err("the JWKS is over the size cap".into());
        }
        let cache_control = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err("the JWKS is over the size cap".into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedJwks {
            body,
            cache_control,
        })
    }
}

/// A [`RemoteKeySet`] for `url` over [`HttpFetcher`], with its background refresh started
/// (the first fetch starts at once). Needs a tokio runtime.
///
/// # Errors
///
/// If the HTTP client cannot be built.
#[cfg(feature = "jwks-fetch")]
pub fn remote_jwks(url: &str) -> Result<RemoteKeySet, String> {
    let remote = RemoteKeySet::new(url, Arc::new(HttpFetcher::new()?));
    remote.spawn_refresh();
    Ok(remote)
}

/// OpenID Connect discovery: reads `{issuer}/.well-known/openid-configuration`, checks that
/// its `issuer` is exactly `issuer` (OIDC Discovery §4.3), and returns [`remote_jwks`] over
/// its `jwks_uri`. The `jwks_uri` must use `https`, unless the issuer itself is plain `http`
/// (a development setup).
///
/// # Errors
///
/// If the document cannot be fetched or read, names another issuer, or lacks `jwks_uri`.
#[cfg(feature = "jwks-fetch")]
pub async fn discover(issuer: &str) -> Result<RemoteKeySet, String> {
    let issuer = issuer.trim_end_matches('/');
    let fetcher = HttpFetcher::new()?;
    let url = format!("{issuer}/.well-known/openid-configuration");
    let document = fetcher.fetch(&url).await?;
    #[derive(serde::Deserialize)]
    struct Discovery {
        issuer: String,
        jwks_uri: Option<String>,
    }
    let discovery: Discovery = serde_json::from_slice(&document.body)
        .map_err(|e| format!("{url}: not a discovery document: {e}"))?;
    if discovery.issuer.trim_end_matches('/') != issuer {
        return Err(format!(
            "{url} names issuer {:?}, not {issuer:?}",
            discovery.issuer
        ));
    }
    let jwks_uri = discovery
        .jwks_uri
        .ok_or_else(|| format!("{url} has no jwks_uri"))?;
    let secure = jwks_uri.starts_with("https://")
        || (issuer.starts_with("http://") && jwks_uri.starts_with("http://"));
    if !secure {
        return Err(format!("{url}: jwks_uri must use https"));
    }
    remote_jwks(&jwks_uri)
}
