//! `authz_axum::serve`: the settings `axum::serve` leaves out, tried over real sockets — idle
//! and slow connections closed, the connection cap, graceful shutdown, the client's address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use authz_axum::serve::{ServeOptions, serve};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

fn app() -> Router {
    Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }),
        )
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn run(options: ServeOptions) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app(), options, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

/// Reads until the peer closes (`Ok(bytes)`) or `within` passes (`Err(bytes so far)`).
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Ok(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return Err(seen),
        }
    }
}

fn fast() -> ServeOptions {
    ServeOptions::default().with_header_read_timeout(Duration::from_millis(500))
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let server = run(fast()).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    assert!(
        read_until_closed(&mut idle, Duration::from_secs(5))
            .await
            .is_ok()
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    // The start of an HTTP/2 preface, then nothing.
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled.write_all(b"PRI * HTTP").await.unwrap();
    assert!(
        read_until_closed(&mut stalled, Duration::from_secs(5))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_slowloris_is_closed_and_an_idle_keep_alive_too() {
    let server = run(fast()).await;
    // One byte of headers every 200 ms: never done within the header-read timeout.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    for byte in b"GET /peer HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if slow.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    if !closed {
        closed = read_until_closed(&mut slow, Duration::from_millis(200))
            .await
            .is_ok();
    }
    assert!(
        closed,
        "a slowloris kept its connection for {:?}",
        started.elapsed()
    );

    // A kept-alive connection that answered one request and then waits for nothing.
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let seen = read_until_closed(&mut kept, Duration::from_secs(5)).await;
    let seen = String::from_utf8(seen.expect("an idle keep-alive connection stayed open")).unwrap();
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
}

#[tokio::test]
async fn handlers_see_the_client_address() {
    let server = run(fast()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let seen = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    let seen = String::from_utf8(seen).unwrap();
    assert!(seen.ends_with(&local.to_string()), "{seen}");
}

#[tokio::test]
async fn beyond_the_cap_connections_wait() {
    let options = ServeOptions::default()
        .with_header_read_timeout(Duration::from_secs(30))
        .with_max_connections(2);
    let server = run(options).await;
    let first = TcpStream::connect(server.addr).await.unwrap();
    let _second = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut third, Duration::from_millis(500))
            .await
            .is_err(),
        "served beyond the cap"
    );
    drop(first);
    let seen = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(String::from_utf8(seen).unwrap().starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn shutdown_lets_requests_finish_and_takes_no_new_ones() {
    let mut server = run(fast()).await;
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.take().unwrap().send(()).unwrap();
    let seen = read_until_closed(&mut busy, Duration::from_secs(5))
        .await
        .unwrap();
    let seen = String::from_utf8(seen).unwrap();
    assert!(
        seen.starts_with("HTTP/1.1 200") && seen.ends_with("done"),
        "{seen}"
    );
    let result = tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve did not return after shutdown");
    result.unwrap().unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still listening"
    );
}
