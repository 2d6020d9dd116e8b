//! The client's address, once for every use: login throttling, registration throttling,
//! quotas, usage counters and logs all read [`client_address`].
//!
//! Without a [`ClientAddressLayer`] it is the TCP peer (axum's `ConnectInfo`; serve with
//! `into_make_service_with_connect_info::<SocketAddr>()`). Behind a reverse proxy every request
//! comes from the proxy, so every client would share one throttling bucket; add the layer
//! with the proxies' addresses, and the address they report is used instead — `Forwarded`
//! (RFC 7239) or else `X-Forwarded-For`, read **right to left**, stopping at the first hop
//! that is not a trusted proxy (the hops left of it are whatever the client chose to write).
//! A request from an untrusted peer is never believed about anything.
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use authz_axum::client::{ClientAddress, ClientAddressLayer, TrustedProxies};
//! use axum::extract::ConnectInfo;
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! async fn who(ClientAddress(ip): ClientAddress) -> String {
//!     ip.to_string()
//! }
//! let proxies = TrustedProxies::new(["10.0.0.0/8"])?;
//! let app = Router::new().route("/", get(who)).layer(ClientAddressLayer::new(proxies));
//!
//! // Through the proxy at 10.0.0.2: the client it reports (the spoofed hop left of it is
//! // ignored).
//! let mut request = Request::get("/")
//!     .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
//!     .body(Body::empty())?;
//! request.extensions_mut().insert(ConnectInfo("10.0.0.2:5000".parse::<SocketAddr>()?));
//! let body = axum::body::to_bytes(app.clone().oneshot(request).await?.into_body(), 64).await?;
//! assert_eq!(body, "203.0.113.9");
//!
//! // Straight from a client: its own address, whatever it writes.
//! let mut request = Request::get("/")
//!     .header("x-forwarded-for", "6.6.6.6")
//!     .body(Body::empty())?;
//! request.extensions_mut().insert(ConnectInfo("198.51.100.4:5000".parse::<SocketAddr>()?));
//! let body = axum::body::to_bytes(app.oneshot(request).await?.into_body(), 64).await?;
//! assert_eq!(body, "198.51.100.4");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use http::{Extensions, HeaderMap, Request, StatusCode};
use ipnet::IpNet;
use tower_layer::Layer;
use tower_service::Service;

/// The client's address, as [`ClientAddressLayer`] worked it out (also an extractor: 500
/// without a layer or `ConnectInfo`, so that no handler runs with no idea of its caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(pub IpAddr);

/// The client's address: what [`ClientAddressLayer`] found, else the TCP peer from axum's
/// `ConnectInfo<SocketAddr>`, else `None`.
pub fn client_address(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ClientAddress>()
        .map(|ClientAddress(ip)| *ip)
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip())
        })
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        client_address(&parts.extensions).map(ClientAddress).ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "the client address is unknown: serve with into_make_service_with_connect_info",
        ))
    }
}

/// The reverse proxies whose forwarding headers are believed: addresses or CIDR blocks.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.nets.iter().map(ToString::to_string))
            .finish()
    }
}

/// A trusted proxy that is neither an address nor a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyConfigError {
    /// The value given.
    pub value: String,
}

impl fmt::Display for ProxyConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trusted proxy {:?} is neither an IP address nor a CIDR block (10.0.0.0/8)",
            self.value
        )
    }
}

impl std::error::Error for ProxyConfigError {}

impl TrustedProxies {
    /// Proxies by address (`10.0.0.2`, `::1`) or CIDR block (`10.0.0.0/8`, `fd00::/8`).
    ///
    /// # Errors
    ///
    /// [`ProxyConfigError`] for a value that is neither.
    pub fn new<I>(proxies: I) -> Result<Self, ProxyConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut nets = Vec::new();
        for proxy in proxies {
            let value = proxy.as_ref().trim();
            let net = value
                .parse::<IpNet>()
                .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| ProxyConfigError {
                    value: value.to_owned(),
                })?;
            nets.push(net.trunc());
        }
        Ok(Self { nets })
    }

    /// No proxy: every request's address is its TCP peer.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`: the peer itself unless
    /// it is a trusted proxy; then the forwarded hops, right to left, up to the first that is
    /// not one. A hop that cannot be read (`unknown`, an obfuscated name, garbage) stops the
    /// walk at the proxy that reported it.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut current = canonical(peer);
        if !self.trusts(current) {
            return current;
        }
        for hop in forwarded_hops(headers).into_iter().rev() {
            let Some(ip) = hop else {
                return current;
            };
            current = canonical(ip);
            if !self.trusts(current) {
                return current;
            }
        }
        current
    }
}

/// An IPv4-mapped IPv6 address as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The forwarded hops, left (the client's side) to right: from `Forwarded` (RFC 7239) if any,
/// else `X-Forwarded-For`. `None` for a hop that is not an address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all(http::header::FORWARDED)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| node_address(value.trim()))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(','))
        .map(|hop| node_address(hop.trim()))
        .collect()
}

/// The address of a node: `192.0.2.1`, `192.0.2.1:80`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse::<SocketAddr>().ok().map(|addr| addr.ip())
}

/// Works out each request's [`ClientAddress`] (see the [module docs](self)). Put it outside
/// every layer that reads the client address (the usage layer, the routes).
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientAddressLayer {
    proxies: Arc<TrustedProxies>,
}

impl ClientAddressLayer {
    /// A layer that believes the forwarding headers of `proxies` only.
    pub fn new(proxies: TrustedProxies) -> Self {
        Self {
            proxies: Arc::new(proxies),
        }
    }
}

impl<S> Layer<S> for ClientAddressLayer {
    type Service = ClientAddressService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientAddressService {
            inner,
            proxies: self.proxies.clone(),
        }
    }
}

/// The service made by [`ClientAddressLayer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientAddressService<S> {
    inner: S,
    proxies: Arc<TrustedProxies>,
}

impl<S, B> Service<Request<B>> for ClientAddressService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        if let Some(peer) = peer {
            let client = self.proxies.client(peer, request.headers());
            request.extensions_mut().insert(ClientAddress(client));
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn right_to_left_up_to_the_first_untrusted_hop() {
        let proxies = TrustedProxies::new(["10.0.0.0/8", "fd00::/8", "192.0.2.9"]).unwrap();
        let xff = |v: &str| headers(&[("x-forwarded-for", v)]);
        // An untrusted peer is believed about nothing.
        assert_eq!(
            proxies.client(ip("203.0.113.1"), &xff("1.1.1.1")),
            ip("203.0.113.1")
        );
        // Two trusted proxies, then the client; what the client wrote is ignored.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &xff("6.6.6.6, 198.51.100.7, 10.0.0.2")),
            ip("198.51.100.7")
        );
        // Unreadable hop: stop at the proxy that reported it.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &xff("198.51.100.7, unknown")),
            ip("10.0.0.1")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &xff("10.1.1.1")),
            ip("10.1.1.1")
        );
        // No header: the proxy.
        assert_eq!(
            proxies.client(ip("192.0.2.9"), &HeaderMap::new()),
            ip("192.0.2.9")
        );
        // IPv4-mapped peers count as IPv4.
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.1"), &xff("198.51.100.7")),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for() {
        let proxies = TrustedProxies::new(["fd00::/8"]).unwrap();
        let h = headers(&[
            (
                "forwarded",
                r#"for=6.6.6.6;proto=http, for="[2001:db8:cafe::17]:4711";by=x"#,
            ),
            ("forwarded", "for=fd00::2"),
            ("x-forwarded-for", "7.7.7.7"),
        ]);
        assert_eq!(proxies.client(ip("fd00::1"), &h), ip("2001:db8:cafe::17"));
        let obfuscated = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(proxies.client(ip("fd00::1"), &obfuscated), ip("fd00::1"));
    }

    #[test]
    fn configuration_is_checked() {
        assert!(TrustedProxies::new(["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::new(["proxy.internal"]).is_err());
        assert!(TrustedProxies::new(["10.0.0.7", "::1", "10.0.0.0/8"]).is_ok());
        assert!(!TrustedProxies::none().trusts(ip("127.0.0.1")));
    }
}
