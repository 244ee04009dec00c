//! The operator endpoint: `GET /status` (JSON) and `GET /metrics` (Prometheus text format),
//! served on a local TCP address. Two read-only GET routes do not justify a web framework in
//! the dependency tree, so this is a small HTTP/1.1 responder: one request per connection,
//! the request head capped at 8 KiB and 5 s, anything else answered 404/405.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument as _;
use tracing::{debug, info};

/// What the endpoint serves.
pub trait Endpoint: Send + Sync + 'static {
    /// The status document (JSON).
    fn status_json(&self) -> String;
    /// The metrics (Prometheus text exposition format).
    fn metrics_text(&self) -> String;
}

const MAX_HEAD: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` and serves until `stop` turns true; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    endpoint: Arc<dyn Endpoint>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    info!(addr = %local, "status and metrics endpoint");
    tokio::spawn(
        async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    conn = listener.accept() => {
                        let Ok((stream, _)) = conn else { continue };
                        let endpoint = endpoint.clone();
                        tokio::spawn(async move {
                            if let Err(e) = handle(stream, endpoint).await {
                                debug!(error = %e, "http connection");
                            }
                        }.in_current_span());
                    }
                }
            }
        }
        .in_current_span(),
    );
    Ok(local)
}

async fn handle(
    mut stream: tokio::net::TcpStream,
    endpoint: Arc<dyn Endpoint>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    if tokio::time::timeout(READ_TIMEOUT, read).await.is_err() {
        return Ok(());
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (code, ctype, body) = match (method, path) {
        ("GET", "/status") => ("200 OK", "application/json", endpoint.status_json()),
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            endpoint.metrics_text(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    let resp = format!(
        "HTTP/1.1 {code}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(resp.as_bytes()).await?;
    stream.shutdown().await
}

/// Writes Prometheus metrics: `metric(out, name, kind, help, value)`.
pub fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Per-node call metrics: `{prefix}_calls_total{node="..."}`, errors, units, p50/p99 µs.
pub fn calls_metrics(
    out: &mut String,
    prefix: &str,
    calls: &std::collections::BTreeMap<String, crate::status::CallStats>,
) {
    use std::fmt::Write as _;
    type Series = (
        &'static str,
        &'static str,
        &'static str,
        fn(&crate::status::CallStats) -> u64,
    );
    let series: [Series; 5] = [
        ("calls_total", "counter", "Calls served in full.", |c| {
            c.calls
        }),
        (
            "call_errors_total",
            "counter",
            "Calls failed or abandoned.",
            |c| c.errors,
        ),
        ("call_units_total", "counter", "Units metered.", |c| c.units),
        (
            "call_latency_p50_us",
            "gauge",
            "Median call latency, µs.",
            |c| c.p50_us,
        ),
        (
            "call_latency_p99_us",
            "gauge",
            "99th percentile call latency, µs.",
            |c| c.p99_us,
        ),
    ];
    for (name, kind, help, get) in series {
        let _ = writeln!(
            out,
            "# HELP {prefix}_{name} {help}\n# TYPE {prefix}_{name} {kind}"
        );
        for (node, c) in calls {
            let _ = writeln!(out, "{prefix}_{name}{{node=\"{node}\"}} {}", get(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Endpoint for Fixed {
        fn status_json(&self) -> String {
            "{\"height\":7}".into()
        }
        fn metrics_text(&self) -> String {
            let mut s = String::new();
            metric(&mut s, "emc_height", "gauge", "Committed height.", 7);
            s
        }
    }

    async fn get(addr: SocketAddr, req: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_status_and_metrics_and_refuses_the_rest() {
        let (_tx, rx) = watch::channel(false);
        let addr = serve("127.0.0.1:0".parse().unwrap(), Arc::new(Fixed), rx)
            .await
            .unwrap();
        let r = get(addr, "GET /status HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert!(
            r.starts_with("HTTP/1.1 200") && r.ends_with("{\"height\":7}"),
            "{r}"
        );
        let r = get(addr, "GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(r.contains("# TYPE emc_height gauge\nemc_height 7"), "{r}");
        assert!(get(addr, "GET /x HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 404"));
        assert!(get(addr, "POST /status HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 405"));
        assert!(get(addr, "\r\n\r\n").await.starts_with("HTTP/1.1 405"));
    }
}
