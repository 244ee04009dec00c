//! The operator endpoint: `GET /status` (JSON) and `GET /metrics` (Prometheus text format),
//! served on a local TCP address through the workspace's HTTP loop ([`emc_http::serve`]:
//! hyper, head timeout, accept back-off); any other path is 404, any other method 405.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;
use tracing::Instrument as _;

/// What the endpoint serves.
pub trait Endpoint: Send + Sync + 'static {
    /// The status document (JSON).
    fn status_json(&self) -> String;
    /// The metrics (Prometheus text exposition format).
    fn metrics_text(&self) -> String;
}

/// Binds `addr` and serves until `stop` turns true; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    endpoint: Arc<dyn Endpoint>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    info!(addr = %local, "status and metrics endpoint");
    let handler = move |req: Request<Incoming>| {
        let reply = answer(&req, endpoint.as_ref());
        async move { reply }
    };
    let opts = emc_http::Options::named("operator endpoint");
    tokio::spawn(emc_http::serve(listener, handler, stop, opts).in_current_span());
    Ok(local)
}

fn answer(req: &Request<Incoming>, endpoint: &dyn Endpoint) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/status") => (StatusCode::OK, "application/json", endpoint.status_json()),
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            endpoint.metrics_text(),
        ),
        (&Method::GET, _) => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
    }
    resp
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
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

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

    /// Sends `req` (one request, the connection then half-closed) and reads the whole answer.
    async fn get(addr: SocketAddr, req: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        s.shutdown().await.unwrap();
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
        let r = get(
            addr,
            "GET /status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
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
        // Not HTTP: 400, and the endpoint keeps serving.
        assert!(get(addr, "\x16\x03\x01 hello\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 400"));
        assert!(get(addr, "GET /status HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 200"));
    }
}
