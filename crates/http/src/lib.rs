//! # emc-http: the workspace's one HTTP/1.1 accept loop
//!
//! Every TCP server of the workspace (the router's dApp API, the nodes' operator endpoint, the
//! local replica, the demo app) serves hyper through [`serve`], so each gets the same
//! behaviour:
//! - `TCP_NODELAY` on every connection (small responses and SSE chunks leave at once);
//! - a request head must arrive within [`Options::header_read_timeout`] (a slow-loris client
//!   holds a task, not a server); hyper starts that clock when a connection waits for its next
//!   request, so it also closes keep-alive connections idle that long;
//! - an accept error that names the process (out of file descriptors, buffers) pauses accepting
//!   for [`ACCEPT_BACKOFF`] instead of spinning a core; one that names only the connection
//!   (reset, aborted) is skipped;
//! - each connection is its own task, in the caller's tracing span;
//! - `stop` turning true (or its sender dropping) stops accepting; calls in flight finish.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, warn, Instrument as _};

/// How long accepting pauses after an error that is not one connection's.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How a server treats its connections.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The server's name in logs.
    pub name: &'static str,
    /// A connection whose request head takes longer (counted from when it waits for the
    /// request, so idle keep-alive time counts) is closed.
    pub header_read_timeout: Duration,
    /// Whether a connection serves more than one request.
    pub keep_alive: bool,
}

impl Options {
    /// Keep-alive connections, 30 s for a request head (hyper's default).
    pub fn named(name: &'static str) -> Options {
        Options {
            name,
            header_read_timeout: Duration::from_secs(30),
            keep_alive: true,
        }
    }
}

/// Serves `handler` on `listener` until `stop` turns true (or its sender drops). The handler
/// answers every request (errors are responses too).
pub async fn serve<H, F, B>(
    listener: TcpListener,
    handler: H,
    mut stop: watch::Receiver<bool>,
    opts: Options,
) where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let handler = Arc::new(handler);
    loop {
        if *stop.borrow() {
            return;
        }
        let stream = tokio::select! {
            r = stop.changed() => {
                if r.is_err() {
                    return;
                }
                continue;
            }
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) if connection_error(&e) => {
                    debug!(server = opts.name, error = %e, "accept");
                    continue;
                }
                Err(e) => {
                    warn!(server = opts.name, error = %e, "accept failed; pausing");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(
            async move {
                let svc = hyper::service::service_fn(move |req| {
                    let reply = handler(req);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(opts.header_read_timeout)
                    .keep_alive(opts.keep_alive)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await
                {
                    debug!(server = opts.name, error = %e, "connection");
                }
            }
            .in_current_span(),
        );
    }
}

/// Whether an accept error concerns only the connection being accepted.
fn connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionRefused
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn start(opts: Options) -> (std::net::SocketAddr, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = watch::channel(false);
        let handler = |req: Request<Incoming>| async move {
            Response::new(Full::new(Bytes::from(format!("path {}", req.uri().path()))))
        };
        tokio::spawn(serve(listener, handler, rx, opts));
        (addr, tx)
    }

    async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn serves_requests_until_stopped() {
        let (addr, stop) = start(Options::named("test")).await;
        let r = get(addr, "/a").await.unwrap();
        assert!(
            r.starts_with("HTTP/1.1 200") && r.ends_with("path /a"),
            "{r}"
        );
        stop.send(true).unwrap();
        // The loop ends and drops the listener: a new connection is refused or gets nothing.
        for _ in 0..100 {
            match get(addr, "/b").await {
                Err(_) => return,
                Ok(r) if r.is_empty() => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        panic!("still serving after stop");
    }

    #[tokio::test]
    async fn a_slow_request_head_is_cut_off_and_others_are_served() {
        let (addr, _stop) = start(Options {
            header_read_timeout: Duration::from_millis(200),
            ..Options::named("test")
        })
        .await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /slow HTTP/1.1\r\n").await.unwrap();
        // Served meanwhile.
        assert!(get(addr, "/c").await.unwrap().ends_with("path /c"));
        // The slow one is closed once its head is late (hyper may answer 408 first).
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "the slow connection was not closed");
        assert!(!String::from_utf8_lossy(&out).contains("path /slow"));
    }
}
