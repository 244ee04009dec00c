//! The HTTP shell: hyper 1 on a tokio listener, routing the IC's HTTP interface to the
//! replica thread. Envelopes are decoded and their signatures verified here, on the tokio
//! workers, in parallel; only authenticated requests reach the replica thread.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /api/v2/status` | CBOR `{impl_version, replica_health_status, root_key}` |
//! | `POST /api/v2/canister/<id>/call` | 202 once the call ran (poll with read_state) |
//! | `POST /api/v3/…/call`, `/api/v4/…/call` | 200 `{status: "replied", certificate}`, 200 `non_replicated_rejection`, or 202 |
//! | `POST /api/v2|v3/canister/<id>/query` | 200 `{status, reply | reject…, signatures}` |
//! | `POST /api/v2|v3/canister/<id>/read_state`, `…/subnet/<id>/read_state` | 200 `{certificate}` |
//! | `POST /_/time` (manual clock only) | sets the IC's time to the decimal nanoseconds in the body |
//! | `GET <path>` of a [`crate::StaticFile`] | that file (the devnet serves the explorer so) |
//!
//! Bad input gets the IC's HTTP status and a text body: 400 for a malformed envelope, a bad
//! signature, an expired ingress, a wrong content type or a request type that does not fit the
//! endpoint; 413 for a body over the limit; 404 for an unknown path; 403 for reading another
//! sender's request status. The replica keeps serving and nothing changes.

use crate::cbor::Value;
use crate::envelope::{self, Body, Request};
use crate::host::{CallReply, Clock, Command};
use crate::replica::{ReadStateError, ReadStateTarget};
use candid::Principal;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use tokio::sync::oneshot;

pub(crate) struct Shared {
    pub tx: mpsc::Sender<Command>,
    pub time: Arc<AtomicU64>,
    pub clock: Clock,
    pub status: Bytes,
    pub max_body_bytes: usize,
    pub static_files: crate::StaticFiles,
}

type HttpResponse = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    r
}

fn cbor(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    respond(status, "application/cbor", body)
}

fn text(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    respond(status, "text/plain; charset=utf-8", message.into())
}

/// Serves one HTTP request.
pub(crate) async fn handle(req: hyper::Request<Incoming>, shared: Arc<Shared>) -> HttpResponse {
    route(req, &shared).await.unwrap_or_else(|r| r)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Call { version: u8 },
    Query,
    ReadState,
}

async fn route(
    req: hyper::Request<Incoming>,
    shared: &Shared,
) -> Result<HttpResponse, HttpResponse> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    if method == Method::OPTIONS {
        let mut r = text(StatusCode::NO_CONTENT, "");
        let h = r.headers_mut();
        h.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            "access-control-allow-headers",
            HeaderValue::from_static("content-type"),
        );
        h.insert("access-control-max-age", HeaderValue::from_static("86400"));
        return Ok(r);
    }
    let not_found = || {
        text(
            StatusCode::NOT_FOUND,
            format!("no endpoint {method} {path}"),
        )
    };
    match (method.clone(), segments.as_slice()) {
        (Method::GET, ["api", "v2", "status"]) => Ok(cbor(StatusCode::OK, shared.status.to_vec())),
        (Method::GET, _) if shared.static_files.contains_key(path.as_str()) => {
            let file = &shared.static_files[path.as_str()];
            let mut r = respond(StatusCode::OK, file.content_type, file.body.clone());
            r.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-cache"));
            Ok(r)
        }
        (Method::POST, ["_", "time"]) => {
            let body = read_body(req, shared.max_body_bytes, false).await?;
            set_time(shared, &body).await
        }
        (Method::POST, ["api", v, kind @ ("canister" | "subnet"), id, op]) => {
            let endpoint = match (*v, *kind, *op) {
                ("v2", "canister", "call") => Endpoint::Call { version: 2 },
                ("v3", "canister", "call") => Endpoint::Call { version: 3 },
                ("v4", "canister", "call") => Endpoint::Call { version: 4 },
                ("v2" | "v3", "canister", "query") => Endpoint::Query,
                ("v2" | "v3", _, "read_state") => Endpoint::ReadState,
                _ => return Err(not_found()),
            };
            let id = Principal::from_text(id).map_err(|e| {
                text(
                    StatusCode::BAD_REQUEST,
                    format!("invalid principal {id:?} in the URL: {e}"),
                )
            })?;
            let subnet = *kind == "subnet";
            let body = read_body(req, shared.max_body_bytes, true).await?;
            let now = shared.time.load(Ordering::Relaxed).max(match shared.clock {
                Clock::Wall => crate::host::unix_nanos(),
                Clock::Manual => 0,
            });
            let request = envelope::authenticate(&body, now)
                .map_err(|e| text(StatusCode::BAD_REQUEST, e.to_string()))?;
            dispatch(shared, endpoint, id, subnet, request).await
        }
        _ => Err(not_found()),
    }
}

async fn read_body(
    req: hyper::Request<Incoming>,
    max: usize,
    cbor_only: bool,
) -> Result<Bytes, HttpResponse> {
    if cbor_only {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.trim().eq_ignore_ascii_case("application/cbor") {
            return Err(text(
                StatusCode::BAD_REQUEST,
                format!(
                    "Unexpected content-type, got {content_type:?}, expected \"application/cbor\""
                ),
            ));
        }
    }
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request is too large: the limit is {max} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(text(
            StatusCode::BAD_REQUEST,
            format!("reading the body: {e}"),
        )),
    }
}

async fn ask<T>(
    shared: &Shared,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, HttpResponse> {
    let (tx, rx) = oneshot::channel();
    let unavailable = || {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the replica is shutting down",
        )
    };
    shared.tx.send(make(tx)).map_err(|_| unavailable())?;
    rx.await.map_err(|_| unavailable())
}

async fn dispatch(
    shared: &Shared,
    endpoint: Endpoint,
    id: Principal,
    subnet: bool,
    req: Request,
) -> Result<HttpResponse, HttpResponse> {
    let wrong_type = |expected: &str| {
        text(
            StatusCode::BAD_REQUEST,
            format!("Malformed request: expected a {expected} request at this endpoint"),
        )
    };
    match endpoint {
        Endpoint::Call { version } => {
            if !matches!(req.body, Body::Call(_)) {
                return Err(wrong_type("call"));
            }
            let reply = ask(shared, |reply| Command::Call {
                req,
                effective: id,
                reply,
            })
            .await?;
            Ok(match (reply, version) {
                (CallReply::Rejected(r), 2) => text(StatusCode::BAD_REQUEST, r.message),
                (CallReply::Certified(_) | CallReply::Accepted, 2) | (CallReply::Accepted, _) => {
                    respond(StatusCode::ACCEPTED, "application/cbor", Bytes::new())
                }
                (CallReply::Certified(certificate), _) => cbor(
                    StatusCode::OK,
                    Value::map([
                        ("status", Value::text("replied")),
                        ("certificate", Value::bytes(certificate)),
                    ])
                    .encode_self_described(),
                ),
                (CallReply::Rejected(r), _) => {
                    let mut fields = vec![
                        ("status", Value::text("non_replicated_rejection")),
                        ("reject_code", Value::Uint(u64::from(r.code))),
                        ("reject_message", Value::text(r.message)),
                    ];
                    if let Some(code) = r.error_code {
                        fields.push(("error_code", Value::text(code)));
                    }
                    cbor(StatusCode::OK, Value::map(fields).encode_self_described())
                }
            })
        }
        Endpoint::Query => {
            if !matches!(req.body, Body::Query(_)) {
                return Err(wrong_type("query"));
            }
            let body = ask(shared, |reply| Command::Query {
                req,
                effective: id,
                reply,
            })
            .await?
            .map_err(|e| text(StatusCode::BAD_REQUEST, e))?;
            Ok(cbor(StatusCode::OK, body))
        }
        Endpoint::ReadState => {
            if !matches!(req.body, Body::ReadState { .. }) {
                return Err(wrong_type("read_state"));
            }
            let target = if subnet {
                ReadStateTarget::Subnet(id)
            } else {
                ReadStateTarget::Canister(id)
            };
            let body = ask(shared, |reply| Command::ReadState { req, target, reply })
                .await?
                .map_err(|e| match e {
                    ReadStateError::Forbidden(m) => text(StatusCode::FORBIDDEN, m),
                    ReadStateError::BadRequest(m) => text(StatusCode::BAD_REQUEST, m),
                })?;
            Ok(cbor(StatusCode::OK, body))
        }
    }
}

async fn set_time(shared: &Shared, body: &[u8]) -> Result<HttpResponse, HttpResponse> {
    if shared.clock != Clock::Manual {
        return Err(text(
            StatusCode::BAD_REQUEST,
            "the time can only be set with --clock manual",
        ));
    }
    let nanos: u64 = std::str::from_utf8(body)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            text(
                StatusCode::BAD_REQUEST,
                "expected the time as decimal nanoseconds since the UNIX epoch",
            )
        })?;
    let now = ask(shared, |reply| {
        Command::Run(Box::new(move |replica| {
            replica.set_time(nanos);
            replica.tick_if_due();
            let _ = reply.send(replica.time());
        }))
    })
    .await?;
    Ok(text(StatusCode::OK, now.to_string()))
}
