//! Serving an app in production: the settings `axum::serve` leaves out, as one call
//! (feature `serve`).
//!
//! `axum::serve` sets no timer, so hyper's header-read timeout never fires: a client that opens
//! connections and sends nothing (or a byte a minute) keeps each one forever, and enough of
//! them exhaust the server's sockets and memory (slowloris). [`serve`] adds:
//!
//! | setting | default | what it stops |
//! | --- | --- | --- |
//! | header-read timeout (also the idle timeout of a kept-alive connection, which waits for the next request's headers) | 10 s | half-open and idle connections held forever |
//! | connection cap | 10 000 | one client opening sockets until the server has none: beyond the cap, new connections wait in the kernel's backlog |
//! | graceful shutdown | 30 s | requests cut off mid-way by a deploy: on the shutdown signal the listener closes, connections finish their request, and are closed after the grace |
//!
//! Each request gets `ConnectInfo<SocketAddr>`, as with
//! `into_make_service_with_connect_info`, so throttling and quotas see the client address
//! (and [`ClientAddressLayer`](crate::client::ClientAddressLayer) can work out the real one
//! behind proxies). Upgrades (WebSockets) work. Bound each request's own time with
//! `tower_http::timeout::TimeoutLayer` in the app.
//!
//! ```no_run
//! use authz_axum::serve::{ServeOptions, serve};
//! use axum::{Router, routing::get};
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/", get(|| async { "ok" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! serve(listener, app, ServeOptions::default(), shutdown).await
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// How [`serve`] serves. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The longest a client may take to send a request's headers, counted from when the
    /// connection is ready for the next request (so also the idle keep-alive timeout).
    ///
    /// Defaults to 10 seconds.
    pub header_read_timeout: Duration,
    /// The most connections served at once; more wait in the listen backlog.
    ///
    /// Defaults to 10 000.
    pub max_connections: usize,
    /// How long connections may finish their requests after the shutdown signal.
    ///
    /// Defaults to 30 seconds.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl ServeOptions {
    /// The header-read (and idle) timeout.
    #[must_use]
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// The connection cap.
    #[must_use]
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// The shutdown grace.
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits, at most `timeout`, until the client has sent enough to tell HTTP/1 from HTTP/2:
/// a byte that leaves the HTTP/2 preface, or the whole preface. `false`: it sent nothing in
/// time (or closed).
async fn first_bytes(stream: &tokio::net::TcpStream, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => return false,
            Ok(Ok(n)) if n == H2_PREFACE.len() || buf[..n] != H2_PREFACE[..n] => return true,
            // Part of the preface: `peek` would answer at once again; look again shortly.
            Ok(Ok(_)) => {
                if tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_millis(5)))
                    .await
                    .is_err()
                {
                    return false;
                }
            }
        }
    }
}

/// Serves `app` on `listener` with `options` until `shutdown` resolves, then shuts down
/// gracefully. See the [module docs](self).
///
/// # Errors
///
/// Never for a failed connection (logged at debug and dropped); the listener's errors are
/// logged and retried after a short pause (a full file-descriptor table, say).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(options.header_read_timeout))
        .keep_alive_timeout(options.header_read_timeout);
    let builder = Arc::new(builder);
    let permits = Arc::new(tokio::sync::Semaphore::new(options.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(target: "authz_axum::serve", %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let builder = builder.clone();
        let graceful_watch = graceful.watcher();
        let header_read_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            // hyper-util's version detection waits for the first bytes with no timer: a client
            // that connects and sends nothing would hold its connection (and permit) forever.
            if !first_bytes(&stream, header_read_timeout).await {
                drop(permit);
                return;
            }
            let service = app.map_request(move |mut request: Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
            let connection = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service),
                )
                .into_owned();
            let connection = graceful_watch.watch(connection);
            if let Err(error) = connection.await {
                tracing::debug!(target: "authz_axum::serve", %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.shutdown_grace) => {
            tracing::warn!(target: "authz_axum::serve", "shutdown grace over: closing the connections left");
        }
    }
    Ok(())
}
