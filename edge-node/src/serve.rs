//! The compute node's call service: dApp calls that routers stream to it
//! (`emc_edge_core::protocol` [`KIND_CALL`]), proxied to the node's local app (`app_url`).
//!
//! For each call: the head must decode, name this node's app and one of its models, carry a
//! body within `max_request_bytes`, and a user signature over the request that verifies
//! (`compute::verify_request`: a router cannot make up work for a user); a slot must be free
//! (at most `capacity` calls at once, else `Busy`, which the router retries elsewhere). The
//! body is read to its announced length and its hash checked, then sent to the app over
//! HTTP/1.1 (connections kept in a small pool). The app's response head is the call's first
//! byte ([`FRAME_RESPONSE`]); its body is relayed chunk by chunk ([`FRAME_DATA`]) through the
//! [`Meter`] (units by the app's declared unit, response hash rolling over the chunks), within
//! `call_timeout` and `max_response_bytes`. A call served in full ends with a [`CallTrailer`]
//! whose receipt the node signed: the next nonce and cumulative amount of the (user, epoch)
//! lane ([`Lanes`]); an app error status gets no receipt (not billable). A call cut short (app
//! hang or failure, response too large, the router or the dApp gone) is reset and gets no
//! trailer, so nothing is billed. Only routers reach this: the node ignores calls from any
//! other role (the transport authenticated the role against the registry).

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use emc_edge_core::compute::{request_hash, sign_receipt, verify_request, Lanes, Meter};
use emc_edge_core::protocol::{
    CallHead, CallRefusal, CallTrailer, Offer, RefusalCode, ResponseHead, FORWARDED_HEADERS,
    FRAME_BODY, FRAME_DATA, FRAME_REFUSED, FRAME_RESPONSE, FRAME_TRAILER, KIND_CALL,
};
use emc_net::{Call, CallSender, NodeId};
use emc_node_common::config::ComputeConfig;
use emc_node_common::status::{CallStats, Latencies};
use emc_types::{sha256, ComputeReceipt, Hash, MeterUnit, Signature};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tracing::debug;

/// Idle app connections kept for reuse.
const POOL: usize = 64;

type AppConn = SendRequest<Full<Bytes>>;

/// Serves calls for one app.
pub struct CallService {
    key: SigningKey,
    node: NodeId,
    app: String,
    models: Vec<String>,
    unit: MeterUnit,
    price_e8s: u64,
    capacity: u32,
    app_addr: Option<String>,
    timeout: Duration,
    max_request: u64,
    max_response: u64,
    slots: Semaphore,
    pool: Mutex<Vec<AppConn>>,
    lanes: Mutex<Lanes>,
    stats: Mutex<(CallStats, Latencies)>,
}

impl std::fmt::Debug for CallService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallService")
            .field("app", &self.app)
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `host:port` of an `http://host:port[/...]` URL.
fn authority(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let auth = rest.split('/').next()?;
    (!auth.is_empty()).then(|| auth.to_string())
}

/// How a call ended, for the counters.
enum Outcome {
    Served(u64),
    Failed,
}

impl CallService {
    /// A service for `cfg`'s app, signing receipts with `key`. `models` are the app's
    /// (empty: offered without a model).
    pub fn new(cfg: &ComputeConfig, key: SigningKey, models: Vec<String>) -> CallService {
        let node = NodeId(key.verifying_key().to_bytes());
        let models = if models.is_empty() {
            vec![String::new()]
        } else {
            models
        };
        CallService {
            key,
            node,
            app: cfg.app.clone(),
            models,
            unit: cfg.unit.meter(),
            price_e8s: cfg.price_e8s,
            capacity: cfg.capacity,
            app_addr: cfg.app_url.as_deref().and_then(authority),
            timeout: cfg.call_timeout,
            max_request: cfg.max_request_bytes,
            max_response: cfg.max_response_bytes,
            slots: Semaphore::new(cfg.capacity as usize),
            pool: Mutex::new(Vec::new()),
            lanes: Mutex::new(Lanes::default()),
            stats: Mutex::new((CallStats::default(), Latencies::default())),
        }
    }

    /// What this node offers its routers.
    pub fn offer(&self) -> Offer {
        Offer {
            app: self.app.clone(),
            models: self.models.clone(),
            unit: self.unit,
            price_e8s: self.price_e8s,
            capacity: self.capacity,
        }
    }

    /// Calls in progress.
    pub fn in_flight(&self) -> u32 {
        self.capacity
            .saturating_sub(self.slots.available_permits() as u32)
    }

    /// The counters and latency quantiles.
    pub fn stats(&self) -> CallStats {
        let g = lock(&self.stats);
        let mut s = g.0.clone();
        g.1.publish(&mut s);
        s
    }

    fn count(&self, outcome: Outcome, started: Instant) {
        let mut g = lock(&self.stats);
        match outcome {
            Outcome::Served(units) => {
                g.0.calls += 1;
                g.0.units = g.0.units.saturating_add(units);
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                g.1.record(us);
            }
            Outcome::Failed => g.0.errors += 1,
        }
    }

    /// Serves one call from router `router` (kind [`KIND_CALL`]); never panics on its bytes.
    pub async fn serve(self: Arc<Self>, router: NodeId, kind: u8, head: Bytes, call: Call) {
        let started = Instant::now();
        let Call {
            mut sender,
            mut receiver,
        } = call;
        if kind != KIND_CALL {
            return;
        }
        let refuse = |code, message: String| CallRefusal { code, message };
        let prepared = async {
            let head = CallHead::decode(&head)
                .map_err(|e| refuse(RefusalCode::BadRequest, format!("call head: {e}")))?;
            if head.app != self.app || !self.models.contains(&head.model) {
                return Err(refuse(
                    RefusalCode::NotServed,
                    format!("this node serves {} {:?}", self.app, self.models),
                ));
            }
            if head.body_len > self.max_request {
                return Err(refuse(
                    RefusalCode::TooLarge,
                    format!("request body over {} bytes", self.max_request),
                ));
            }
            let consistent = head.app_path == head.url_path
                || head.url_path.strip_prefix(&format!("/{}", head.app)) == Some(&head.app_path);
            let hash = request_hash(
                &head.user,
                head.nonce,
                &head.method,
                &head.url_path,
                &head.body_hash,
            );
            if !consistent || !head.app_path.starts_with('/') {
                return Err(refuse(RefusalCode::BadRequest, "inconsistent paths".into()));
            }
            if !verify_request(&head.user, &hash, &head.signature) {
                return Err(refuse(
                    RefusalCode::BadRequest,
                    "the user's signature does not verify".into(),
                ));
            }
            let permit = self
                .slots
                .try_acquire()
                .map_err(|_| refuse(RefusalCode::Busy, "every slot is busy".into()))?;
            let mut body = Vec::with_capacity(head.body_len.min(1 << 16) as usize);
            loop {
                match receiver.recv().await {
                    Ok(Some((FRAME_BODY, chunk))) => {
                        if (body.len() + chunk.len()) as u64 > head.body_len {
                            return Err(refuse(
                                RefusalCode::BadRequest,
                                "body longer than announced".into(),
                            ));
                        }
                        body.extend_from_slice(&chunk);
                    }
                    Ok(Some(_)) => {
                        return Err(refuse(RefusalCode::BadRequest, "unexpected frame".into()))
                    }
                    Ok(None) => break,
                    Err(e) => return Err(refuse(RefusalCode::BadRequest, format!("body: {e}"))),
                }
            }
            if body.len() as u64 != head.body_len || sha256(&[&body]) != head.body_hash {
                return Err(refuse(
                    RefusalCode::BadRequest,
                    "body does not match its hash".into(),
                ));
            }
            Ok((head, hash, body, permit))
        };
        let (head, request_hash, body, _permit) = match prepared.await {
            Ok(p) => p,
            Err(refusal) => {
                debug!(?router, code = ?refusal.code, message = %refusal.message, "call refused");
                let _ = sender
                    .send(FRAME_REFUSED, Bytes::from(refusal.encode()))
                    .await;
                sender.finish();
                self.count(Outcome::Failed, started);
                return;
            }
        };
        let outcome = self
            .relay(router, &head, request_hash, body, &mut sender, started)
            .await;
        match outcome {
            Ok(units) => {
                sender.finish();
                self.count(Outcome::Served(units), started);
            }
            Err(refusal) => {
                if let Some(r) = refusal {
                    debug!(?router, message = %r.message, "call failed before its first byte");
                    let _ = sender.send(FRAME_REFUSED, Bytes::from(r.encode())).await;
                    sender.finish();
                } else {
                    sender.cancel();
                }
                self.count(Outcome::Failed, started);
            }
        }
    }

    async fn app_conn(&self) -> Result<AppConn, String> {
        loop {
            let Some(mut c) = lock(&self.pool).pop() else {
                break;
            };
            if !c.is_closed() && c.ready().await.is_ok() {
                return Ok(c);
            }
        }
        let addr = self.app_addr.as_deref().ok_or("no app_url configured")?;
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("app at {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .map_err(|e| format!("app handshake: {e}"))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(error = %e, "app connection");
            }
        });
        Ok(send)
    }

    /// Proxies the call to the app and relays its response. `Ok(units)` when served in full;
    /// `Err(Some(_))` for a failure before the first byte (a refusal to send), `Err(None)`
    /// after it (the stream is reset).
    async fn relay(
        &self,
        router: NodeId,
        head: &CallHead,
        request_hash: Hash,
        body: Vec<u8>,
        sender: &mut CallSender,
        started: Instant,
    ) -> Result<u64, Option<CallRefusal>> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let refuse = |code, message: String| Some(CallRefusal { code, message });
        let mut meter = Meter::new(self.unit, &body);
        let mut req = hyper::Request::builder()
            .method(head.method.as_str())
            .uri(head.app_path.as_str());
        for (k, v) in &head.headers {
            if FORWARDED_HEADERS.contains(&k.as_str()) {
                req = req.header(k.as_str(), v.as_str());
            }
        }
        if let Some(a) = &self.app_addr {
            req = req.header(hyper::header::HOST, a.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| refuse(RefusalCode::BadRequest, format!("request: {e}")))?;
        let ask = async {
            let mut conn = self.app_conn().await?;
            let resp = conn
                .send_request(req)
                .await
                .map_err(|e| format!("app: {e}"))?;
            Ok::<_, String>((conn, resp))
        };
        let (conn, resp) = tokio::select! {
            r = tokio::time::timeout_at(deadline, ask) => match r {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(refuse(RefusalCode::AppFailed, e)),
                Err(_) => return Err(refuse(RefusalCode::Timeout, "the app did not answer in time".into())),
            },
            _ = sender.stopped() => return Err(None),
        };
        let status = resp.status().as_u16();
        let mut headers = Vec::new();
        if let Some(ct) = resp
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            headers.push(("content-type".to_string(), ct.to_string()));
        }
        let rh = ResponseHead { status, headers };
        sender
            .send(FRAME_RESPONSE, Bytes::from(rh.encode()))
            .await
            .map_err(|_| None)?;
        let mut body = resp.into_body();
        let mut sent: u64 = 0;
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(f))) => f,
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    debug!(error = %e, "app body failed mid-stream");
                    return Err(None);
                }
                Err(_) => {
                    debug!("app timed out mid-stream");
                    return Err(None);
                }
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            sent += data.len() as u64;
            if sent > self.max_response.min(head.max_response_bytes) {
                debug!(sent, "response over its cap: cut");
                return Err(None);
            }
            meter.feed(&data);
            sender.send(FRAME_DATA, data).await.map_err(|_| None)?;
        }
        {
            let mut pool = lock(&self.pool);
            if pool.len() < POOL {
                pool.push(conn);
            }
        }
        let elapsed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let (units, response_hash) = meter.finish(elapsed);
        let receipt = (200..300).contains(&status).then(|| {
            let amount = units.saturating_mul(self.price_e8s);
            let (nonce, cumulative) = lock(&self.lanes).next(head.user, head.epoch, amount);
            let mut r = ComputeReceipt {
                user: head.user,
                node: self.node,
                router,
                epoch: head.epoch,
                nonce,
                request_hash,
                response_hash,
                unit: self.unit,
                units,
                price_e8s: self.price_e8s,
                cumulative_e8s: cumulative,
                node_signature: Signature([0; 64]),
                user_signature: Signature([0; 64]),
            };
            r.node_signature = sign_receipt(&self.key, &r);
            r
        });
        let trailer = CallTrailer { receipt };
        sender
            .send(FRAME_TRAILER, Bytes::from(trailer.encode()))
            .await
            .map_err(|_| None)?;
        Ok(units)
    }
}

/// The models the app at `app_url` lists on `GET /v1/models` (empty when it lists none or
/// cannot be asked).
pub async fn discover_models(app_url: &str) -> Vec<String> {
    let Some(addr) = authority(app_url) else {
        return Vec::new();
    };
    let ask = async {
        let tcp = TcpStream::connect(&addr).await.ok()?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .ok()?;
        tokio::spawn(conn);
        let req = hyper::Request::get("/v1/models")
            .header(hyper::header::HOST, addr.as_str())
            .body(Full::new(Bytes::new()))
            .ok()?;
        let resp = send.send_request(req).await.ok()?;
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        Some(
            v.get("data")?
                .as_array()?
                .iter()
                .filter_map(|m| m.get("id")?.as_str().map(str::to_string))
                .take(emc_edge_core::protocol::MAX_MODELS)
                .collect::<Vec<_>>(),
        )
    };
    tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_urls_give_their_authority() {
        assert_eq!(
            authority("http://127.0.0.1:8080"),
            Some("127.0.0.1:8080".into())
        );
        assert_eq!(
            authority("http://localhost:1/x/y"),
            Some("localhost:1".into())
        );
        assert_eq!(authority("https://x"), None);
        assert_eq!(authority("http://"), None);
    }
}
