//! [`ComputeClient`]: compute calls through a router's OpenAI-compatible API, signed with the
//! user's ed25519 key, with the receipts countersigned; chat completions stream as an async
//! [`Stream`](futures::Stream) of [`ChatEvent`]s.
//!
//! Signing and countersigning are `emc_edge_core::compute`'s (the router verifies with the
//! same code); the SSE parsing ([`SseParser`]) is pure.
//!
//! ```no_run
//! # async fn demo(key: ed25519_dalek::SigningKey) -> Result<(), emc_sdk::SdkError> {
//! use emc_sdk::compute::{ChatEvent, ChatMessage, ComputeClient};
//! use futures::StreamExt;
//!
//! let client = ComputeClient::new("http://127.0.0.1:8080", key)?;
//! let mut stream = client
//!     .chat_stream("demo", vec![ChatMessage::user("Hello")])
//!     .await?;
//! while let Some(event) = stream.next().await {
//!     if let ChatEvent::Delta(text) = event? {
//!         print!("{text}");
//!     }
//! }
//! let (accepted, _refused) = client.countersign_pending().await?;
//! # let _ = accepted; Ok(()) }
//! ```

use crate::SdkError;
use ed25519_dalek::SigningKey;
use emc_edge_core::compute::{countersign, sign_request_hashed, BODY_HASH_HEADER};
use emc_edge_core::protocol::{decode_receipt, encode_receipt};
use emc_types::sha256;
use emc_types::{ComputeReceipt, NodeId};
use futures::stream::{self, BoxStream, StreamExt};
use ic_agent::export::reqwest;
use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The response, when its status is a success; else the router's error message.
async fn ok_status(resp: reqwest::Response) -> Result<reqwest::Response, SdkError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().await.unwrap_or_default();
    let msg = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or(text);
    Err(SdkError::Compute(format!(
        "router answered {status}: {msg}"
    )))
}

/// Path of chat completions on a router.
pub const CHAT_PATH: &str = "/v1/chat/completions";

/// The header naming the computing socket a call goes through (the router's
/// `emc_router::sockets::SOCKET_HEADER`).
pub const SOCKET_HEADER: &str = "x-emc-socket";

/// An HTTP client with the SDK's timeouts (connect 5 s, no overall limit: streams may last).
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "user".into(),
            content: content.into(),
        }
    }
}

/// What a chat stream yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatEvent {
    /// Text of the answer, in order.
    Delta(String),
    /// The serving node's receipt for the call (the router appends it to the stream).
    Receipt(Box<ComputeReceipt>),
    /// The end of the answer (`data: [DONE]`).
    Done,
}

/// Incremental parser of a chat completion's server-sent events: bytes in, events out. Pure.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

/// The longest SSE line kept (a line beyond it is an error, not unbounded memory).
pub const MAX_SSE_LINE: usize = 1 << 20;

impl SseParser {
    /// Feeds bytes; returns the events of the lines they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<ChatEvent>, SdkError> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(e) = Self::line(line.trim_end_matches(['\r', '\n']))? {
                out.push(e);
            }
        }
        if self.buf.len() > MAX_SSE_LINE {
            return Err(SdkError::Compute(format!(
                "an event line longer than {MAX_SSE_LINE} bytes"
            )));
        }
        Ok(out)
    }

    fn line(line: &str) -> Result<Option<ChatEvent>, SdkError> {
        if let Some(h) = line.strip_prefix(": emc-receipt ") {
            let r = hex::decode(h.trim())
                .ok()
                .and_then(|b| decode_receipt(&b).ok())
                .ok_or_else(|| SdkError::Compute("an undecodable receipt in the stream".into()))?;
            return Ok(Some(ChatEvent::Receipt(Box::new(r))));
        }
        let Some(data) = line.strip_prefix("data:") else {
            return Ok(None); // comments, `event:`, `id:`, blank lines
        };
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(Some(ChatEvent::Done));
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| SdkError::Compute(format!("a stream event is not JSON: {e}")))?;
        if let Some(err) = v.get("error") {
            return Err(SdkError::Compute(format!("the router reports: {err}")));
        }
        let text = v["choices"][0]["delta"]["content"]
            .as_str()
            .or(v["choices"][0]["text"].as_str())
            .unwrap_or_default();
        Ok((!text.is_empty()).then(|| ChatEvent::Delta(text.to_string())))
    }
}

/// A client of one router's API, paying as one user key.
#[derive(Debug)]
pub struct ComputeClient {
    base: String,
    key: SigningKey,
    nonce: AtomicU64,
    http: reqwest::Client,
    socket: Option<u64>,
}

impl ComputeClient {
    /// A client of the router at `router_url` (e.g. `http://127.0.0.1:8080`), paying as
    /// `key` (the key bound to the user's escrow with `Market::bind_key`). Nonces start at the
    /// current UNIX time in µs, so a restarted client does not reuse them.
    pub fn new(router_url: &str, key: SigningKey) -> Result<Self, SdkError> {
        let base = router_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SdkError::Input(format!(
                "router URL {router_url:?} must start with http:// or https://"
            )));
        }
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1);
        Ok(ComputeClient {
            base,
            key,
            nonce: AtomicU64::new(start),
            http: http_client().map_err(SdkError::Compute)?,
            socket: None,
        })
    }

    /// Calls go through computing socket `token_id` (the `x-emc-socket` header): the router
    /// admits them while the key's binder holds the socket and it has not expired, and they
    /// are paid from the socket's escrow (the key must be bound with
    /// `Market::bind_socket_key`).
    pub fn with_socket(mut self, token_id: u64) -> Self {
        self.socket = Some(token_id);
        self
    }

    /// The socket calls go through, if any.
    pub fn socket(&self) -> Option<u64> {
        self.socket
    }

    /// The paying account (the user key).
    pub fn account(&self) -> NodeId {
        NodeId(self.key.verifying_key().to_bytes())
    }

    /// A signed request. The body's SHA-256 is declared up front ([`BODY_HASH_HEADER`]), so
    /// a body over the router's buffered size streams through it and the node instead of
    /// being refused.
    fn signed(&self, method: &str, path: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        let body_hash = sha256(&[&body]);
        let sig = sign_request_hashed(&self.key, nonce, method, path, &body_hash);
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let req = self
            .http
            .request(m, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("x-emc-account", hex::encode(self.account().0))
            .header("x-emc-nonce", nonce.to_string())
            .header("x-emc-signature", hex::encode(sig.0))
            .header(BODY_HASH_HEADER, hex::encode(body_hash.0));
        match self.socket {
            Some(id) => req.header(SOCKET_HEADER, id.to_string()),
            None => req,
        }
        .body(body)
    }

    /// A call to app `app`'s own REST API through the router (`/{app}{path}`, e.g. `sd`,
    /// `/sdapi/v1/txt2img`), served by a node with `model` (empty: any). The answer is the
    /// app's, headers and body, to read or stream ([`reqwest::Response::chunk`]); the
    /// serving node is in its `x-emc-node` header. The receipt waits at the router
    /// ([`ComputeClient::countersign_pending`]). An HTTP error status is an
    /// [`SdkError::Compute`] with the router's message.
    pub async fn call_app(
        &self,
        method: &str,
        app: &str,
        path: &str,
        model: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, SdkError> {
        if app.is_empty() || app.contains('/') || !path.starts_with('/') {
            return Err(SdkError::Compute(format!(
                "an app call needs an app name and a path starting with /: {app:?} {path:?}"
            )));
        }
        let resp = self
            .signed(method, &format!("/{app}{path}"), body)
            .header("x-emc-model", model)
            .send()
            .await
            .map_err(|e| {
                SdkError::Compute(format!("cannot reach the router {}: {e}", self.base))
            })?;
        ok_status(resp).await
    }

    /// A streaming chat completion: the events as they arrive. An HTTP error status is an
    /// [`SdkError::Compute`] with the router's message.
    pub async fn chat_stream(
        &self,
        model: &str,
        messages: Vec<ChatMessage>,
    ) -> Result<BoxStream<'static, Result<ChatEvent, SdkError>>, SdkError> {
        let body = serde_json::json!({ "model": model, "messages": messages, "stream": true })
            .to_string()
            .into_bytes();
        let resp = self
            .signed("POST", CHAT_PATH, body)
            .send()
            .await
            .map_err(|e| {
                SdkError::Compute(format!("cannot reach the router {}: {e}", self.base))
            })?;
        let resp = ok_status(resp).await?;
        let state = (
            Some(resp),
            SseParser::default(),
            VecDeque::<ChatEvent>::new(),
        );
        Ok(
            stream::unfold(state, |(mut resp, mut parser, mut queue)| async move {
                loop {
                    if let Some(e) = queue.pop_front() {
                        return Some((Ok(e), (resp, parser, queue)));
                    }
                    let r = resp.as_mut()?;
                    match r.chunk().await {
                        Ok(Some(bytes)) => match parser.push(&bytes) {
                            Ok(events) => queue.extend(events),
                            Err(e) => return Some((Err(e), (None, parser, queue))),
                        },
                        Ok(None) => return None,
                        Err(e) => {
                            let err = SdkError::Compute(format!("the stream broke: {e}"));
                            return Some((Err(err), (None, parser, queue)));
                        }
                    }
                }
            })
            .boxed(),
        )
    }

    /// Fetches the receipts the router holds for this account, countersigns those that are
    /// this user's and carry a valid node signature, and posts them back; `(accepted,
    /// refused)` as the router counted them.
    pub async fn countersign_pending(&self) -> Result<(u64, u64), SdkError> {
        let err = |e: reqwest::Error| SdkError::Compute(format!("receipts: {e}"));
        let url = format!(
            "{}/emc/v1/receipts?account={}",
            self.base,
            hex::encode(self.account().0)
        );
        let v: Value = serde_json::from_str(
            &self
                .http
                .get(url)
                .send()
                .await
                .map_err(err)?
                .text()
                .await
                .map_err(err)?,
        )
        .map_err(|e| SdkError::Compute(format!("receipts: not JSON: {e}")))?;
        let signed: Vec<String> = v["receipts"]
            .as_array()
            .ok_or_else(|| SdkError::Compute("receipts: no `receipts` list".into()))?
            .iter()
            .filter_map(|h| hex::decode(h.as_str()?).ok())
            .filter_map(|b| decode_receipt(&b).ok())
            .filter_map(|mut r| {
                countersign(&self.key, &mut r).then(|| hex::encode(encode_receipt(&r)))
            })
            .collect();
        if signed.is_empty() {
            return Ok((0, 0));
        }
        let body = serde_json::json!({ "receipts": signed }).to_string();
        let text = self
            .http
            .post(format!("{}/emc/v1/receipts", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(err)?
            .text()
            .await
            .map_err(err)?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| SdkError::Compute(format!("receipts: not JSON: {e}")))?;
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Ok((n("accepted"), n("refused")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_split_anywhere() {
        let text = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
                    : keep-alive\n\
                    data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\r\n\r\n\
                    data: {\"choices\":[{\"delta\":{}}]}\n\n\
                    data: [DONE]\n\n";
        for split in 0..text.len() {
            let mut p = SseParser::default();
            let mut ev = p.push(&text.as_bytes()[..split]).unwrap();
            ev.extend(p.push(&text.as_bytes()[split..]).unwrap());
            assert_eq!(
                ev,
                vec![
                    ChatEvent::Delta("Hel".into()),
                    ChatEvent::Delta("lo".into()),
                    ChatEvent::Done
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn sse_errors() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: {not json\n").is_err());
        assert!(p.push(b": emc-receipt zz\n").is_err());
        assert!(p
            .push(b"data: {\"error\":{\"message\":\"no escrow\"}}\n")
            .is_err());
        let mut p = SseParser::default();
        assert!(p.push(&vec![b'x'; MAX_SSE_LINE + 1]).is_err());
    }

    #[test]
    fn router_url_checked() {
        let key = SigningKey::from_bytes(&[1; 32]);
        assert!(ComputeClient::new("127.0.0.1:8080", key.clone()).is_err());
        let c = ComputeClient::new("http://127.0.0.1:8080/", key).unwrap();
        assert_eq!(c.base, "http://127.0.0.1:8080");
        assert_eq!(c.socket(), None);
        let c = c.with_socket(9);
        let req = c.signed("POST", CHAT_PATH, b"{}".to_vec()).build().unwrap();
        assert_eq!(req.headers()[SOCKET_HEADER], "9");
        assert!(req.headers().contains_key("x-emc-signature"));
    }
}
