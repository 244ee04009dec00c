//! # emc-demo-llm: a tiny OpenAI-compatible streaming LLM server
//!
//! The devnet's compute nodes serve this app, so `curl` against a router returns a real,
//! streamed completion. It really computes, deterministically: a **word-bigram model** over
//! an embedded corpus (every word's successors in the text). A completion starts from the
//! prompt's last known word and draws each next word among the current word's successors
//! with a counter hash of (prompt, position): the same request always gets the same text.
//! One token is one word.
//!
//! Routes (hyper 1, HTTP/1.1):
//! - `GET /v1/models`: the one model, [`MODEL`];
//! - `POST /v1/chat/completions` (`messages`, `max_tokens`, `stream`) and `POST
//!   /v1/completions` (`prompt`, `max_tokens`, `stream`): with `"stream": true` an SSE stream of
//!   `chat.completion.chunk` / `text_completion` events, one word each, then a final event
//!   with `finish_reason` and the `usage` object, then `data: [DONE]`; otherwise one JSON
//!   object with `usage`;
//! - `GET /health`.
//!
//! Malformed JSON, a missing prompt or an unknown model get a 400 with an OpenAI-style error
//! object. [`DemoConfig`] can slow it down (a delay before the first token and per token), so
//! tests can make one node slower than another.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::debug;

/// The model's name.
pub const MODEL: &str = "emc-bigram";
/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;
/// Most tokens one completion generates.
pub const MAX_TOKENS: u64 = 4096;
/// Tokens generated when the request names no `max_tokens`.
pub const DEFAULT_TOKENS: u64 = 16;

const CORPUS: &str = include_str!("corpus.txt");

/// Settings of the demo server.
#[derive(Clone, Debug, Default)]
pub struct DemoConfig {
    /// Delay before the first token (injected latency).
    pub first_token_delay: Duration,
    /// Delay before each further token.
    pub token_delay: Duration,
}

/// The word-bigram model.
#[derive(Debug)]
pub struct Model {
    words: Vec<String>,
    index: BTreeMap<String, usize>,
    successors: Vec<Vec<usize>>,
}

impl Model {
    /// The model of the embedded corpus.
    pub fn embedded() -> Model {
        Model::train(CORPUS)
    }

    /// Trains on `text` (whitespace-separated words).
    pub fn train(text: &str) -> Model {
        let mut words = Vec::new();
        let mut index = BTreeMap::new();
        let mut seq = Vec::new();
        for w in text.split_whitespace() {
            let id = *index.entry(w.to_string()).or_insert_with(|| {
                words.push(w.to_string());
                words.len() - 1
            });
            seq.push(id);
        }
        let mut successors = vec![Vec::new(); words.len()];
        for pair in seq.windows(2) {
            successors[pair[0]].push(pair[1]);
        }
        // The last word continues with the first, so every word has a successor.
        if let (Some(&last), Some(&first)) = (seq.last(), seq.first()) {
            successors[last].push(first);
        }
        Model {
            words,
            index,
            successors,
        }
    }

    /// The completion of `prompt`, `n` words, deterministic.
    pub fn complete(&self, prompt: &str, n: u64) -> Vec<String> {
        if self.words.is_empty() {
            return Vec::new();
        }
        let seed: [u8; 32] = Sha256::digest(prompt.as_bytes()).into();
        let mut cur = prompt
            .split_whitespace()
            .rev()
            .find_map(|w| self.index.get(w).copied())
            .unwrap_or(usize::from(seed[0]) % self.words.len());
        let mut out = Vec::new();
        for i in 0..n {
            let next = &self.successors[cur];
            let mut h = Sha256::new();
            h.update(seed);
            h.update(i.to_be_bytes());
            let d = h.finalize();
            let mut b = [0u8; 8];
            b.copy_from_slice(&d[..8]);
            let pick = (u64::from_le_bytes(b) % next.len().max(1) as u64) as usize;
            cur = next.get(pick).copied().unwrap_or(0);
            out.push(self.words[cur].clone());
        }
        out
    }
}

/// A body fed from a channel (one data frame per message), for streamed responses.
#[derive(Debug)]
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

/// A response body: whole or streamed.
pub type DemoBody = http_body_util::Either<Full<Bytes>, ChannelBody>;

fn json_response(status: StatusCode, v: &Value) -> Response<DemoBody> {
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

fn error(status: StatusCode, message: &str) -> Response<DemoBody> {
    json_response(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "code": status.as_u16()}}),
    )
}

struct Server {
    model: Model,
    cfg: DemoConfig,
}

/// What a completion request asks.
struct Ask {
    chat: bool,
    prompt: String,
    max_tokens: u64,
    stream: bool,
}

fn parse(chat: bool, body: &[u8]) -> Result<Ask, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))?;
    if let Some(m) = v.get("model").and_then(Value::as_str) {
        if m != MODEL {
            return Err(format!("unknown model {m:?}: this app serves {MODEL:?}"));
        }
    }
    let prompt = if chat {
        let msgs = v
            .get("messages")
            .and_then(Value::as_array)
            .ok_or("`messages` must be an array")?;
        msgs.iter()
            .filter_map(|m| m.get("content").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        match v.get("prompt") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
            _ => return Err("`prompt` must be a string".into()),
        }
    };
    let max_tokens = v
        .get("max_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_TOKENS)
        .min(MAX_TOKENS);
    let stream = v.get("stream").and_then(Value::as_bool).unwrap_or(false);
    Ok(Ask {
        chat,
        prompt,
        max_tokens,
        stream,
    })
}

fn chunk_event(ask: &Ask, id: &str, text: Option<&str>, usage: Option<&Value>) -> Bytes {
    let finish = text.is_none().then_some("length");
    let choice = if ask.chat {
        json!({"index": 0, "delta": text.map_or(json!({}), |t| json!({"content": t})), "finish_reason": finish})
    } else {
        json!({"index": 0, "text": text.unwrap_or(""), "finish_reason": finish})
    };
    let mut v = json!({
        "id": id,
        "object": if ask.chat { "chat.completion.chunk" } else { "text_completion" },
        "created": 0,
        "model": MODEL,
        "choices": [choice],
    });
    if let (Some(u), Some(o)) = (usage, v.as_object_mut()) {
        o.insert("usage".into(), u.clone());
    }
    Bytes::from(format!("data: {v}\n\n"))
}

impl Server {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<DemoBody> {
        let path = req.uri().path().to_string();
        match (req.method().clone(), path.as_str()) {
            (Method::GET, "/health") => json_response(StatusCode::OK, &json!({"ok": true})),
            (Method::GET, "/v1/models") => json_response(
                StatusCode::OK,
                &json!({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "emc"}]}),
            ),
            (Method::POST, "/v1/chat/completions" | "/v1/completions") => {
                let body = match read_body(req.into_body()).await {
                    Ok(b) => b,
                    Err(status) => return error(status, "request body too large or unreadable"),
                };
                match parse(path == "/v1/chat/completions", &body) {
                    Ok(ask) => self.complete(ask).await,
                    Err(e) => error(StatusCode::BAD_REQUEST, &e),
                }
            }
            (_, "/v1/chat/completions" | "/v1/completions" | "/v1/models" | "/health") => {
                error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            _ => error(StatusCode::NOT_FOUND, "no such route"),
        }
    }

    async fn complete(self: Arc<Self>, ask: Ask) -> Response<DemoBody> {
        let words = self.model.complete(&ask.prompt, ask.max_tokens);
        let prompt_tokens = ask.prompt.split_whitespace().count() as u64;
        let usage = json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": words.len(),
            "total_tokens": prompt_tokens + words.len() as u64,
        });
        let id = format!(
            "cmpl-{}",
            hex_prefix(&Sha256::digest(ask.prompt.as_bytes()))
        );
        if !ask.stream {
            pause(self.cfg.first_token_delay).await;
            let text = words.join(" ");
            let choice = if ask.chat {
                json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"})
            } else {
                json!({"index": 0, "text": text, "finish_reason": "length"})
            };
            return json_response(
                StatusCode::OK,
                &json!({
                    "id": id,
                    "object": if ask.chat { "chat.completion" } else { "text_completion" },
                    "created": 0,
                    "model": MODEL,
                    "choices": [choice],
                    "usage": usage,
                }),
            );
        }
        let (tx, rx) = mpsc::channel(16);
        let cfg = self.cfg.clone();
        tokio::spawn(async move {
            pause(cfg.first_token_delay).await;
            for (i, w) in words.iter().enumerate() {
                if i > 0 && !cfg.token_delay.is_zero() {
                    tokio::time::sleep(cfg.token_delay).await;
                }
                let text = if i == 0 { w.clone() } else { format!(" {w}") };
                if tx
                    .send(chunk_event(&ask, &id, Some(&text), None))
                    .await
                    .is_err()
                {
                    debug!("client went away mid-stream");
                    return;
                }
            }
            let _ = tx.send(chunk_event(&ask, &id, None, Some(&usage))).await;
            let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
        });
        let mut r = Response::new(http_body_util::Either::Right(ChannelBody(rx)));
        let h = r.headers_mut();
        h.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/event-stream"),
        );
        h.insert(
            hyper::header::CACHE_CONTROL,
            hyper::header::HeaderValue::from_static("no-cache"),
        );
        r
    }
}

/// Sleeps `d`; nothing at all for zero (a zero sleep still waits for the timer's next
/// millisecond tick).
async fn pause(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

fn hex_prefix(d: &[u8]) -> String {
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

async fn read_body(mut body: Incoming) -> Result<Vec<u8>, StatusCode> {
    use http_body_util::BodyExt as _;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
        if let Some(d) = frame.data_ref() {
            if out.len() + d.len() > MAX_BODY {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            out.extend_from_slice(d);
        }
    }
    Ok(out)
}

/// Serves on `listener` until `stop` turns true (each connection in its own task).
pub async fn serve(listener: TcpListener, cfg: DemoConfig, stop: watch::Receiver<bool>) {
    let server = Arc::new(Server {
        model: Model::embedded(),
        cfg,
    });
    let handler = move |req| server.clone().handle(req);
    emc_http::serve(
        listener,
        handler,
        stop,
        emc_http::Options::named("demo-llm"),
    )
    .await
}

/// Binds `addr` and serves in a task until `stop` turns true; returns the bound address.
pub async fn spawn(
    addr: SocketAddr,
    cfg: DemoConfig,
    stop: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(listener, cfg, stop));
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_deterministic_and_follows_its_bigrams() {
        let m = Model::train("a b c a b d");
        let out = m.complete("x a", 20);
        assert_eq!(out, m.complete("x a", 20));
        assert_eq!(out.len(), 20);
        // a is always followed by b; d by a (the corpus wraps around).
        let mut prev = "a".to_string();
        for w in &out {
            let ok: &[&str] = match prev.as_str() {
                "a" => &["b"],
                "b" => &["c", "d"],
                "c" | "d" => &["a"],
                _ => &[],
            };
            assert!(ok.contains(&w.as_str()), "{prev} -> {w}");
            prev = w.clone();
        }
        assert_ne!(m.complete("another prompt", 20), out);
        assert!(Model::train("").complete("x", 3).is_empty());
        assert!(!Model::embedded().complete("the", 5).is_empty());
    }

    #[test]
    fn requests_parse_or_say_why_not() {
        let a = parse(true, br#"{"model":"emc-bigram","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":9999999}"#).unwrap();
        assert!(a.chat && a.stream && a.prompt == "hi" && a.max_tokens == MAX_TOKENS);
        let a = parse(false, br#"{"prompt":"x y"}"#).unwrap();
        assert!(!a.stream && a.max_tokens == DEFAULT_TOKENS);
        assert!(parse(true, b"{").is_err());
        assert!(parse(true, br#"{"messages":3}"#).is_err());
        assert!(parse(false, br#"{"prompt":3}"#).is_err());
        assert!(parse(false, br#"{"prompt":"x","model":"gpt-9"}"#).is_err());
    }
}
