//! The router's dApp-facing HTTP API (hyper 1, HTTP/1.1), on `RouterConfig::http_addr`.
//!
//! Routes:
//! - `POST /v1/chat/completions`, `POST /v1/completions`: OpenAI-compatible, served by the
//!   `openai_app` (`llm`) with the body's `model`; SSE streams pass through chunk by chunk;
//! - `GET /v1/models`: the models of the live nodes, with price, unit, nodes and capacity;
//! - `/{app}/{path..}`: any other app's REST API (model from the `x-emc-model` header);
//! - `GET /emc/v1/receipts?account=<hex>`: the node-signed receipts awaiting the account's
//!   countersignature; `POST /emc/v1/receipts`: countersigned receipts back
//!   (`{"receipts": ["<hex>", ...]}`), queued for the validators.
//!
//! A call carries `x-emc-account` (hex ed25519 key), `x-emc-nonce` (decimal) and
//! `x-emc-signature` (hex, over `emc_edge_core::compute::request_hash`). A body up to
//! `buffered_request_bytes` is read whole first; a larger one (up to `max_request_bytes`)
//! must declare its SHA-256 (`x-emc-body-sha256`) and `content-length`, and then streams to
//! the node as it arrives (`attempt_streamed`: the signature covers the declared hash, so
//! every check below is done before its first byte moves; the body is checked against the
//! hash on its way, by the node too, and a different one is refused at its end, 400). A
//! small body may declare its hash too (it must match). Checks, in order: missing or
//! malformed auth headers 401, body over its cap 413 (at once when `content-length` says
//! so), bad signature 401, a call through a computing socket (`x-emc-socket: <token id>`,
//! `crate::sockets`) that its key's holder no longer holds, expired, for another app or
//! unknown 400/403/404/410/503,
//! unknown or unfunded account 402, replayed nonce 409, rate limit 429, then dispatch:
//! no node serves it 404, none live or free 503, a node timeout on the last attempt 504,
//! attempts exhausted 502. Every error is `{"error": {"message", "type", "code"}}`.
//!
//! Dispatch is `emc_edge_core::dispatch`: up to 3 attempts on distinct nodes, retried only
//! before the first byte (a node's refusal as busy or failing, a lost stream, a timeout), and
//! for a streamed body only while none of it was taken from the dApp. The
//! node's response head is the first byte; after it the body streams to the dApp and a
//! failure cuts the response (no retry). The call is charged once, to the succeeding node's
//! receipt, when its trailer arrives; a dApp that disconnects resets the node's stream (the
//! call is cancelled, nothing charged). SSE responses end with a comment line carrying the
//! receipt (`: emc-receipt <hex>`, ignored by SSE clients) for the client to countersign.

use crate::gateway::{Gateway, TicketGuard, TrailerWait};
use bytes::Bytes;
use emc_edge_core::compute::{
    request_hash, BodyCheck, BodyError, FundsError, NonceError, BODY_HASH_HEADER,
};
use emc_edge_core::dispatch::{affinity_key, CallError, CallPlan};
use emc_edge_core::protocol::{
    decode_receipt, encode_receipt, CallHead, CallRefusal, CallTrailer, RefusalCode, ResponseHead,
    FORWARDED_HEADERS, FRAME_BODY, FRAME_DATA, FRAME_REFUSED, FRAME_RESPONSE, FRAME_TRAILER,
    KIND_CALL,
};
use emc_net::{CallReceiver, NetError};
use emc_types::{sha256, Hash, NodeId, Signature};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::debug;
use tracing::Instrument as _;

/// How long a look at pending receipts waits for trailers of calls whose bodies have ended.
const TRAILER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A streamed response body: chunks from the relay task; an `Err` cuts the response.
#[derive(Debug)]
pub struct RelayBody(mpsc::Receiver<Result<Bytes, RelayCut>>);

/// The node's stream failed after the first byte: the response is cut.
#[derive(Debug)]
pub struct RelayCut;

impl std::fmt::Display for RelayCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the compute node's stream failed mid-response")
    }
}

impl std::error::Error for RelayCut {}

impl Body for RelayBody {
    type Data = Bytes;
    type Error = RelayCut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RelayCut>>> {
        self.0.poll_recv(cx).map(|m| m.map(|r| r.map(Frame::data)))
    }
}

/// A response body: whole or relayed.
pub type ApiBody = http_body_util::Either<Full<Bytes>, RelayBody>;

fn json_response(status: StatusCode, v: &Value) -> Response<ApiBody> {
    let mut r = Response::new(http_body_util::Either::Left(Full::new(Bytes::from(
        v.to_string(),
    ))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A clear JSON error.
pub fn error(status: u16, kind: &str, message: &str) -> Response<ApiBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(
        status,
        &json!({"error": {"message": message, "type": kind, "code": status.as_u16()}}),
    )
}

/// Binds `addr` and serves the API until `stop` turns true; returns the bound address. Must
/// be called inside a tokio runtime.
pub fn serve(
    gw: Arc<Gateway>,
    addr: SocketAddr,
    stop: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let local = listener.local_addr()?;
    let handler = move |req| handle(gw.clone(), req);
    let opts = emc_http::Options::named("dApp API");
    tokio::spawn(emc_http::serve(listener, handler, stop, opts).in_current_span());
    Ok(local)
}

async fn read_body(body: Incoming, max: u64, hint: &str) -> Result<Vec<u8>, Response<ApiBody>> {
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| error(400, "invalid_request_error", &e.to_string()))?;
        if let Some(d) = frame.data_ref() {
            if (out.len() + d.len()) as u64 > max {
                return Err(error(
                    413,
                    "invalid_request_error",
                    &format!("request body over {max} bytes{hint}"),
                ));
            }
            out.extend_from_slice(d);
        }
    }
    Ok(out)
}

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    hex::decode(s).ok()?.try_into().ok()
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

async fn handle(gw: Arc<Gateway>, req: Request<Incoming>) -> Response<ApiBody> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET, "/v1/models") => json_response(StatusCode::OK, &gw.models_json()),
        (&Method::GET, "/emc/v1/receipts") => {
            let account = req
                .uri()
                .query()
                .and_then(|q| query_param(q, "account"))
                .and_then(hex32);
            match account {
                Some(a) => {
                    // Calls whose bodies ended before their trailers came: their receipts first.
                    gw.trailers_taken(&NodeId(a), TRAILER_WAIT).await;
                    let pending: Vec<String> = gw
                        .pending_receipts(&NodeId(a))
                        .iter()
                        .map(|r| hex::encode(encode_receipt(r)))
                        .collect();
                    json_response(StatusCode::OK, &json!({"receipts": pending}))
                }
                None => error(
                    400,
                    "invalid_request_error",
                    "?account=<hex key> is required",
                ),
            }
        }
        (&Method::POST, "/emc/v1/receipts") => {
            let body = match read_body(req.into_body(), 8 << 20, "").await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let v: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return error(400, "invalid_request_error", &format!("JSON: {e}")),
            };
            let Some(list) = v.get("receipts").and_then(Value::as_array) else {
                return error(400, "invalid_request_error", "`receipts` must be an array");
            };
            let receipts: Vec<_> = list
                .iter()
                .filter_map(|item| {
                    let bytes = hex::decode(item.as_str()?).ok()?;
                    decode_receipt(&bytes).ok()
                })
                .collect();
            let malformed = (list.len() - receipts.len()) as u64;
            let (accepted, refused) = gw.countersigned(receipts);
            let refused = refused + malformed;
            json_response(
                StatusCode::OK,
                &json!({"accepted": accepted, "refused": refused}),
            )
        }
        (&Method::POST, "/v1/chat/completions" | "/v1/completions") => {
            let app = gw.cfg.openai_app.clone();
            call(gw, req, app, None, path.clone(), path).await
        }
        _ => {
            // /{app}/{path..}
            let mut parts = path.splitn(3, '/');
            let (_, app, rest) = (parts.next(), parts.next(), parts.next());
            match app {
                Some(app) if !app.is_empty() && app != "v1" && app != "emc" => {
                    let app_path = format!("/{}", rest.unwrap_or(""));
                    let model = header(&req, "x-emc-model").unwrap_or("").to_string();
                    let app = app.to_string();
                    call(gw, req, app, Some(model), path.clone(), app_path).await
                }
                _ => error(404, "not_found", "no such route"),
            }
        }
    }
}

/// Authorizes, dispatches and relays one call.
async fn call(
    gw: Arc<Gateway>,
    req: Request<Incoming>,
    app: String,
    model: Option<String>,
    path: String,
    app_path: String,
) -> Response<ApiBody> {
    let started = Instant::now();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let (url_path, app_path) = (format!("{path}{query}"), format!("{app_path}{query}"));
    let method = req.method().as_str().to_string();
    let account = header(&req, "x-emc-account").and_then(hex32).map(NodeId);
    let nonce = header(&req, "x-emc-nonce").and_then(|n| n.parse::<u64>().ok());
    let signature = header(&req, "x-emc-signature")
        .and_then(|s| hex::decode(s).ok())
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(Signature);
    let (Some(user), Some(nonce), Some(signature)) = (account, nonce, signature) else {
        return error(
            401,
            "authentication_error",
            "x-emc-account (hex key), x-emc-nonce and x-emc-signature (hex) are required",
        );
    };
    let socket = header(&req, crate::sockets::SOCKET_HEADER).map(crate::sockets::parse_header);
    let affinity = header(&req, "x-session-id").map(|s| affinity_key(s.as_bytes()));
    let headers: Vec<(String, String)> = FORWARDED_HEADERS
        .iter()
        .filter_map(|h| header(&req, h).map(|v| (h.to_string(), v.to_string())))
        .collect();
    let header_model = header(&req, "x-emc-model").map(str::to_string);
    let declared = match header(&req, BODY_HASH_HEADER).map(hex32) {
        None => None,
        Some(Some(h)) => Some(Hash(h)),
        Some(None) => {
            return error(
                400,
                "invalid_request_error",
                "x-emc-body-sha256 must be 64 hex digits",
            )
        }
    };
    let length = header(&req, "content-length").and_then(|l| l.parse::<u64>().ok());
    let max = gw.cfg.max_request_bytes;
    if length.is_some_and(|l| l > max) {
        return error(
            413,
            "invalid_request_error",
            &format!("request body over {max} bytes"),
        );
    }
    // A body over the buffered size streams to the node, once its signed hash is declared
    // (ARCHITECTURE, Decisions: streamed request bodies).
    let whole_max = gw.cfg.buffered_request_bytes.min(max);
    let (body_hash, body_len, mut upload) = match (declared, length) {
        (Some(declared), Some(len)) if len > whole_max => {
            (declared, len, Upload::Streamed(req.into_body()))
        }
        _ => {
            let hint = if whole_max < max {
                format!(
                    "; a body up to {max} bytes streams when it declares its SHA-256 \
                     (x-emc-body-sha256) and content-length"
                )
            } else {
                String::new()
            };
            if length.is_some_and(|l| l > whole_max) {
                return error(
                    413,
                    "invalid_request_error",
                    &format!("request body over {whole_max} bytes{hint}"),
                );
            }
            let body = match read_body(req.into_body(), whole_max, &hint).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let body_hash = sha256(&[&body]);
            if declared.is_some_and(|d| d != body_hash) {
                return error(
                    400,
                    "invalid_request_error",
                    "the body does not match x-emc-body-sha256",
                );
            }
            (
                body_hash,
                body.len() as u64,
                Upload::Whole(Bytes::from(body)),
            )
        }
    };
    let hash = request_hash(&user, nonce, &method, &url_path, &body_hash);
    if !gw.request_signed(&user, &hash, &signature) {
        return error(
            401,
            "authentication_error",
            "the signature does not verify for this account and request",
        );
    }
    // A call through a computing socket (issue #16): the key's holder must hold it.
    // Its calls go to the node of the offer it was bought from (a pool's entry node).
    let mut bound_node = None;
    if let Some(socket) = socket {
        match crate::sockets::admit_call(&gw.sockets, &user, socket, &app).await {
            Ok(node) => bound_node = node,
            Err(e) => return error(e.status(), e.code(), &e.to_string()),
        }
    }
    if let Some(m) = gw.market() {
        m.ensure_read(&user).await;
    }
    if let Err(e) = gw.funds_available(&user) {
        let m = match e {
            FundsError::Unknown => "unknown account",
            FundsError::Exhausted => "the account has no funds left",
        };
        return error(402, "insufficient_funds", m);
    }
    if let Err(e) = gw.accept_nonce(&user, nonce) {
        let m = match e {
            NonceError::Replayed => "nonce already used",
            NonceError::TooOld => "nonce too old",
        };
        return error(409, "replayed_nonce", m);
    }
    if let Err(wait_ms) = gw.rate_limit(&user) {
        let mut r = error(
            429,
            "rate_limit_exceeded",
            "too many calls for this account",
        );
        if let Ok(v) = hyper::header::HeaderValue::from_str(&wait_ms.div_ceil(1000).to_string()) {
            r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
        }
        return r;
    }
    let model = match (model, &upload) {
        (Some(m), _) => m,
        (None, Upload::Whole(body)) => match serde_json::from_slice::<Value>(body) {
            Ok(v) => match v.get("model").and_then(Value::as_str) {
                Some(m) => m.to_string(),
                None => return error(400, "invalid_request_error", "`model` is required"),
            },
            Err(e) => {
                return error(
                    400,
                    "invalid_request_error",
                    &format!("malformed JSON: {e}"),
                )
            }
        },
        (None, Upload::Streamed(_)) => match header_model {
            Some(m) => m,
            None => {
                return error(
                    400,
                    "invalid_request_error",
                    "a streamed body's call names its model in x-emc-model",
                )
            }
        },
    };
    let head = CallHead {
        app: app.clone(),
        model: model.clone(),
        method,
        url_path,
        app_path,
        headers,
        user,
        nonce,
        body_hash,
        body_len,
        signature,
        epoch: gw.epoch(),
        max_response_bytes: gw.cfg.max_response_bytes,
        timeout_ms: u32::try_from(gw.cfg.call_timeout.as_millis()).unwrap_or(u32::MAX),
    };
    let head_request = head.method == "HEAD";
    let head = Bytes::from(head.encode());
    let mut plan = CallPlan::new(&app, &model, affinity).only(bound_node);
    let mut last: Option<(u16, String)> = None;
    loop {
        let ticket = {
            let mut d = gw.dispatcher();
            plan.next(&mut d, gw.now_ns(), gw.random())
        };
        let ticket = match ticket {
            Ok(t) => t,
            Err(e) => {
                let (status, message) = match (e, &last) {
                    (CallError::NoNode(n), None) => (
                        n.reason.http_status(),
                        format!("no compute node can take {app}/{model}: {:?}", n.reason),
                    ),
                    (_, Some((s, m))) => (*s, m.clone()),
                    (e, None) => (e.http_status(), e.to_string()),
                };
                return error(status, "dispatch_error", &message);
            }
        };
        let node = ticket.node();
        let mut guard = TicketGuard::new(gw.clone(), ticket);
        let tried = match &mut upload {
            Upload::Whole(body) => attempt(&gw, node, head.clone(), body.clone()).await,
            Upload::Streamed(body) => {
                attempt_streamed(&gw, node, head.clone(), body, body_len, body_hash).await
            }
        };
        match tried {
            Ok((rh, receiver)) => {
                guard.first_byte(&mut plan);
                let relayed = Relayed {
                    node,
                    user,
                    head: rh,
                    receiver,
                    head_request,
                };
                return relay(gw, guard, plan, relayed, started);
            }
            Err(Failure::Retry(status, message)) => {
                debug!(?node, %message, "attempt failed; trying another node");
                gw.count_error(node);
                let again = guard.failure(&mut plan, true);
                last = Some((status, message));
                if !again {
                    let (s, m) = last.unwrap_or((502, "all attempts failed".into()));
                    return error(s, "upstream_error", &m);
                }
            }
            Err(Failure::Final(status, message)) => {
                // The node is fine; the call is not: no retry, nothing charged.
                guard.success(&mut plan);
                return error(status, "invalid_request_error", &message);
            }
            Err(Failure::Spent(status, message)) => {
                debug!(?node, %message, "a streamed call failed after its body went out");
                gw.count_error(node);
                guard.failure(&mut plan, false);
                return error(status, "upstream_error", &message);
            }
            Err(Failure::Cancelled(message)) => {
                guard.cancel(&mut plan);
                gw.count_cancelled(node);
                return error(400, "invalid_request_error", &message);
            }
        }
    }
}

/// How a call's body reaches the node.
enum Upload {
    /// Read whole before dispatch: any attempt can send it again.
    Whole(Bytes),
    /// Streamed from the dApp as it arrives, checked against its declared hash on the way:
    /// only an attempt that has not taken any of it yet can be retried.
    Streamed(Incoming),
}

enum Failure {
    /// The node failed: another node may serve the call.
    Retry(u16, String),
    /// The call itself is bad.
    Final(u16, String),
    /// The node failed after a streamed body went (partly) to it: no other node can have it.
    Spent(u16, String),
    /// The dApp went away, or stopped sending its body.
    Cancelled(String),
}

/// What a node's first frame of a call says: its response head, or why the attempt failed.
fn first_frame(frame: Result<Option<(u8, Bytes)>, NetError>) -> Result<ResponseHead, Failure> {
    match frame {
        Ok(Some((FRAME_RESPONSE, p))) => ResponseHead::decode(&p)
            .map_err(|e| Failure::Retry(502, format!("bad response head: {e}"))),
        Ok(Some((FRAME_REFUSED, p))) => match CallRefusal::decode(&p) {
            Ok(r) if r.code.retryable() => Err(Failure::Retry(
                if r.code == RefusalCode::Busy {
                    503
                } else {
                    502
                },
                r.message,
            )),
            Ok(r) if r.code == RefusalCode::Timeout => Err(Failure::Retry(504, r.message)),
            Ok(r) if r.code == RefusalCode::TooLarge => Err(Failure::Final(413, r.message)),
            Ok(r) => Err(Failure::Final(400, r.message)),
            Err(e) => Err(Failure::Retry(502, format!("bad refusal: {e}"))),
        },
        Ok(Some((k, _))) => Err(Failure::Retry(502, format!("unexpected frame {k}"))),
        Ok(None) => Err(Failure::Retry(502, "the node closed the call".into())),
        Err(e) => Err(Failure::Retry(
            502,
            format!("the node's stream failed: {e}"),
        )),
    }
}

/// One attempt up to its first byte: open the call, send the body, wait for the response
/// head (or a refusal) within `first_byte_timeout`.
async fn attempt(
    gw: &Gateway,
    node: NodeId,
    head: Bytes,
    body: Bytes,
) -> Result<(ResponseHead, CallReceiver), Failure> {
    let timeout = gw.cfg.first_byte_timeout;
    let go = async {
        let call = gw
            .net
            .open_call(&node, KIND_CALL, head, timeout)
            .await
            .map_err(|e| Failure::Retry(502, format!("compute node unreachable: {e}")))?;
        let (mut sender, mut receiver) = (call.sender, call.receiver);
        // A node that refuses the call stops reading its body: the refusal still follows,
        // so a failed send is judged by what the node answers.
        let sent = if body.is_empty() {
            Ok(())
        } else {
            sender.send(FRAME_BODY, body).await
        };
        sender.finish();
        if let Err(e) = &sent {
            debug!(?node, error = %e, "the node stopped reading the body");
        }
        first_frame(receiver.recv().await).map(|rh| (rh, receiver))
    };
    match tokio::time::timeout(timeout, go).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Retry(
            504,
            format!("the compute node sent nothing within {timeout:?}"),
        )),
    }
}

/// Why a streamed body stopped on its way to the node.
enum UploadError {
    /// The dApp's side failed (it went away).
    Dapp(String),
    /// The body is not the declared one.
    Body(BodyError),
    /// The node stopped reading (it refused the call: its refusal follows).
    NodeStopped,
}

/// One attempt of a streamed call: open the call, stream the dApp's body to the node with
/// its length and hash checked on the way ([`BodyCheck`]), end the stream only if the body
/// is the declared one (the stream is reset otherwise, and the node refuses it before its
/// app answers), then wait for the response head within `first_byte_timeout`. The whole
/// upload has `call_timeout`. Retried (another node) only while none of the body was taken.
async fn attempt_streamed(
    gw: &Gateway,
    node: NodeId,
    head: Bytes,
    body: &mut Incoming,
    len: u64,
    hash: Hash,
) -> Result<(ResponseHead, CallReceiver), Failure> {
    let timeout = gw.cfg.first_byte_timeout;
    let call = match tokio::time::timeout(
        timeout,
        gw.net.open_call(&node, KIND_CALL, head, timeout),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return Err(Failure::Retry(
                502,
                format!("compute node unreachable: {e}"),
            ))
        }
        Err(_) => {
            return Err(Failure::Retry(
                504,
                "the compute node did not open the call".into(),
            ))
        }
    };
    let (sender, mut receiver) = (call.sender, call.receiver);
    let taken = std::sync::atomic::AtomicBool::new(false);
    let taken_ref = &taken;
    let pump = async move {
        let (mut sender, mut check) = (sender, BodyCheck::new(len, hash));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| UploadError::Dapp(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            taken_ref.store(true, std::sync::atomic::Ordering::Relaxed);
            check.feed(&data).map_err(UploadError::Body)?;
            if sender.send(FRAME_BODY, data).await.is_err() {
                return Err(UploadError::NodeStopped);
            }
        }
        // The declared body, whole: the stream's end is the router's go. (On any error
        // above, `sender` is dropped unfinished: the node sees a reset.)
        check.finish().map_err(UploadError::Body)?;
        sender.finish();
        Ok(())
    };
    let deadline = tokio::time::Instant::now() + gw.cfg.call_timeout;
    // The node's first frame is awaited across the upload (a refusal may come during it),
    // never dropped half-read.
    let frame = {
        let recv = receiver.recv();
        tokio::pin!(pump, recv);
        let pumped = tokio::select! {
            biased;
            f = &mut recv => Err(f),
            p = &mut pump => Ok(p),
            _ = tokio::time::sleep_until(deadline) => {
                let late = "the request body did not arrive in time";
                return Err(Failure::Final(408, late.into()));
            }
        };
        match pumped {
            // The node answered during the upload (a refusal).
            Err(f) => f,
            Ok(Err(UploadError::Dapp(e))) => {
                return Err(Failure::Cancelled(format!("the request body failed: {e}")))
            }
            Ok(Err(UploadError::Body(e))) => {
                gw.count_upload(None);
                let status = if matches!(e, BodyError::TooLong { .. }) {
                    413
                } else {
                    400
                };
                return Err(Failure::Final(status, e.to_string()));
            }
            // Sent whole, or the node stopped reading: its answer (or refusal) is next.
            Ok(r @ (Ok(()) | Err(UploadError::NodeStopped))) => {
                if r.is_ok() {
                    gw.count_upload(Some(len));
                }
                match tokio::time::timeout(timeout, &mut recv).await {
                    Ok(f) => f,
                    Err(_) => {
                        let silent = format!("the compute node sent nothing within {timeout:?}");
                        return Err(Failure::Spent(504, silent));
                    }
                }
            }
        }
    };
    match first_frame(frame) {
        Ok(rh) => Ok((rh, receiver)),
        Err(Failure::Retry(status, message))
            if taken.load(std::sync::atomic::Ordering::Relaxed) =>
        {
            Err(Failure::Spent(status, message))
        }
        Err(f) => Err(f),
    }
}

/// An attempt that got its first byte: the node, its response head and the rest of its stream.
struct Relayed {
    node: NodeId,
    /// The paying user.
    user: NodeId,
    head: ResponseHead,
    receiver: CallReceiver,
    /// The dApp's request is a HEAD (its response carries no body, whatever its length).
    head_request: bool,
}

/// The response body's length when the node announced it (`content-length`) and the router
/// passes the body on unchanged: not for SSE (the receipt line is appended) nor for a HEAD
/// request.
fn known_length(rh: &ResponseHead, sse: bool, head_request: bool) -> Option<u64> {
    if sse || head_request {
        return None;
    }
    rh.headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
}

/// After the first byte: stream the node's body to the dApp, then take the trailer. A body
/// of known length ([`known_length`]) ends for the dApp with its last byte; the call is still
/// booked only once the trailer arrives (no trailer: not billed).
fn relay(
    gw: Arc<Gateway>,
    guard: TicketGuard,
    plan: CallPlan,
    relayed: Relayed,
    started: Instant,
) -> Response<ApiBody> {
    let Relayed {
        node,
        user,
        head: rh,
        mut receiver,
        head_request,
    } = relayed;
    let (tx, rx) = mpsc::channel::<Result<Bytes, RelayCut>>(32);
    let sse = rh
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("text/event-stream"));
    let length = known_length(&rh, sse, head_request);
    let deadline = tokio::time::Instant::now() + gw.cfg.call_timeout;
    tokio::spawn(
        async move {
            let mut guard = guard;
            let mut plan = plan;
            // The body bytes the dApp still expects, when known; `tx` is dropped (the body
            // ends) once they are all sent.
            let mut left = length;
            let mut tx = (left != Some(0)).then_some(tx);
            // Held while the dApp has its whole body and the trailer is still to come.
            let mut _trailer_wait = tx.is_none().then(|| TrailerWait::new(gw.clone(), user));
            let outcome = loop {
                let next = tokio::time::timeout_at(deadline, receiver.recv());
                let frame = match &tx {
                    Some(t) => tokio::select! {
                        f = next => f,
                        _ = t.closed() => break Err(None),
                    },
                    None => next.await,
                };
                match frame {
                    Ok(Ok(Some((FRAME_DATA, data)))) => {
                        let Some(t) = &tx else {
                            break Err(Some("data past the body's length".into()));
                        };
                        if let Some(l) = &mut left {
                            match l.checked_sub(data.len() as u64) {
                                Some(rest) => *l = rest,
                                None => break Err(Some("data past the body's length".into())),
                            }
                        }
                        if t.send(Ok(data)).await.is_err() {
                            // The dApp went away: cancel (the receiver's drop stops the node).
                            break Err(None);
                        }
                        if left == Some(0) {
                            tx = None; // the dApp has the whole body
                            _trailer_wait = Some(TrailerWait::new(gw.clone(), user));
                        }
                    }
                    Ok(Ok(Some((FRAME_TRAILER, p)))) => break Ok(CallTrailer::decode(&p)),
                    Ok(Ok(Some((k, _)))) => {
                        break Err(Some(format!("unexpected frame {k} mid-stream")))
                    }
                    Ok(Ok(None)) => break Err(Some("stream ended without a trailer".into())),
                    Ok(Err(NetError::Timeout)) | Err(_) => {
                        break Err(Some("the call passed its timeout".into()))
                    }
                    Ok(Err(e)) => break Err(Some(format!("stream failed: {e}"))),
                }
            };
            match outcome {
                Ok(Ok(trailer)) => {
                    if !sse {
                        // The body is complete: end it, and leave the receipt's signature
                        // check and booking to the gateway (`served`: in batches, off this
                        // thread), so the dApp's response never waits for them.
                        drop(tx);
                        guard.success(&mut plan);
                        gw.served(node, trailer.receipt, started);
                        return;
                    }
                    guard.success(&mut plan);
                    let receipt = trailer.receipt.and_then(|r| gw.on_receipt(node, r));
                    if let (Some(tx), Some(r)) = (&tx, &receipt) {
                        let line = format!(": emc-receipt {}\n\n", hex::encode(encode_receipt(r)));
                        let _ = tx.send(Ok(Bytes::from(line))).await;
                    }
                    gw.count_served(node, receipt.map_or(0, |r| r.units), started);
                }
                Ok(Err(e)) => {
                    debug!(?node, error = %e, "bad trailer: not billed");
                    guard.failure(&mut plan, false);
                    gw.count_error(node);
                    if let Some(tx) = &tx {
                        let _ = tx.send(Err(RelayCut)).await;
                    }
                }
                Err(Some(why)) => {
                    // (With its whole body sent, the dApp's response stands; the node's
                    // missing trailer only leaves the call unbilled.)
                    debug!(?node, %why, "call cut mid-stream: not billed");
                    guard.failure(&mut plan, false);
                    gw.count_error(node);
                    if let Some(tx) = &tx {
                        let _ = tx.send(Err(RelayCut)).await;
                    }
                }
                Err(None) => {
                    guard.cancel(&mut plan);
                    gw.count_cancelled(node);
                }
            }
        }
        .in_current_span(),
    );
    let mut r = Response::new(http_body_util::Either::Right(RelayBody(rx)));
    *r.status_mut() = StatusCode::from_u16(rh.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in &rh.headers {
        if k == "content-length" && length.is_none() {
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    if let Ok(v) = hyper::header::HeaderValue::from_str(&hex::encode(node.0)) {
        r.headers_mut().insert("x-emc-node", v);
    }
    r
}
