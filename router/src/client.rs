//! A Rust client of the router's dApp API: signs each call with the user's key (fresh nonces)
//! and countersigns the receipts the router holds for it.
//!
//! Receipts travel this way: the node signs a receipt per served call and the router keeps it
//! for the user (and, for SSE responses, appends it as a final comment line
//! `: emc-receipt <hex>`). [`Client::countersign_pending`] fetches them
//! (`GET /emc/v1/receipts?account=`), checks each is this user's and the node's signature
//! verifies, countersigns, and posts them back (`POST /emc/v1/receipts`); the router then
//! batches them to the validators. A client that never countersigns leaves its calls
//! unsettled in the agreed state (the router's allowance still charged them).

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use emc_edge_core::compute::{countersign_all, sign_request};
use emc_edge_core::protocol::{decode_receipt, encode_receipt};
use emc_types::{ComputeReceipt, NodeId};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Why a call could not be made (an HTTP error status is a [`Reply`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection to the router.
    #[error("connect: {0}")]
    Connect(String),
    /// The HTTP exchange failed (the response was cut, the connection dropped).
    #[error("http: {0}")]
    Http(String),
    /// The router's answer is not what the API documents.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// A call's answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The compute node that served it (`x-emc-node`, hex).
    pub node: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
    /// Body chunks as they arrived.
    pub chunks: usize,
    /// Time from sending to the response head.
    pub first_byte: Duration,
    /// Receipts carried in the body (SSE `: emc-receipt` lines).
    pub receipts: Vec<ComputeReceipt>,
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A signing client over one keep-alive HTTP/1.1 connection (calls are sequential).
pub struct Client {
    addr: SocketAddr,
    key: SigningKey,
    nonce: AtomicU64,
    conn: tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr)
            .field("account", &self.account())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the router API at `addr`, paying as `key`. Nonces start at the current
    /// UNIX time in µs, so a restarted client does not reuse them.
    pub fn new(addr: SocketAddr, key: SigningKey) -> Client {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1);
        Client {
            addr,
            key,
            nonce: AtomicU64::new(start),
            conn: tokio::sync::Mutex::new(None),
        }
    }

    /// The paying account.
    pub fn account(&self) -> NodeId {
        NodeId(self.key.verifying_key().to_bytes())
    }

    /// A fresh nonce.
    pub fn next_nonce(&self) -> u64 {
        self.nonce.fetch_add(1, Ordering::Relaxed)
    }

    async fn connection(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let mut slot = self.conn.lock().await;
        if let Some(mut c) = slot.take() {
            if !c.is_closed() && c.ready().await.is_ok() {
                return Ok(c);
            }
        }
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }

    async fn put_back(&self, c: SendRequest<Full<Bytes>>) {
        *self.conn.lock().await = Some(c);
    }

    /// A signed call with a fresh nonce.
    pub async fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Reply, ClientError> {
        let nonce = self.next_nonce();
        self.call_as(method, path, body, nonce, None).await
    }

    /// A signed call through computing socket `token_id` (the `x-emc-socket` header).
    pub async fn call_through_socket(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        token_id: u64,
    ) -> Result<Reply, ClientError> {
        let nonce = self.next_nonce();
        let sig = sign_request(&self.key, nonce, method, path, body);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("x-emc-account", hex::encode(self.account().0))
            .header("x-emc-nonce", nonce.to_string())
            .header("x-emc-signature", hex::encode(sig.0))
            .header(crate::sockets::SOCKET_HEADER, token_id.to_string())
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        self.send(req).await
    }

    /// A call with a given nonce and, when `sign_as` is given, signed by that key instead
    /// (for tests of the refusals).
    pub async fn call_as(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        nonce: u64,
        sign_as: Option<&SigningKey>,
    ) -> Result<Reply, ClientError> {
        let sig = sign_request(sign_as.unwrap_or(&self.key), nonce, method, path, body);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("x-emc-account", hex::encode(self.account().0))
            .header("x-emc-nonce", nonce.to_string())
            .header("x-emc-signature", hex::encode(sig.0))
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        self.send(req).await
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, req: hyper::Request<Full<Bytes>>) -> Result<Reply, ClientError> {
        let mut c = self.connection().await?;
        let t0 = Instant::now();
        let resp = c
            .send_request(req)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let first_byte = t0.elapsed();
        let status = resp.status().as_u16();
        let node = resp
            .headers()
            .get("x-emc-node")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = resp.into_body();
        let (mut out, mut chunks) = (Vec::new(), 0);
        while let Some(f) = body.frame().await {
            let f = f.map_err(|e| ClientError::Http(e.to_string()))?;
            if let Some(d) = f.data_ref() {
                chunks += 1;
                out.extend_from_slice(d);
            }
        }
        self.put_back(c).await;
        let receipts = String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| l.strip_prefix(": emc-receipt "))
            .filter_map(|h| hex::decode(h.trim()).ok())
            .filter_map(|b| decode_receipt(&b).ok())
            .collect();
        Ok(Reply {
            status,
            node,
            body: out,
            chunks,
            first_byte,
            receipts,
        })
    }

    /// Fetches the receipts the router holds for this account, countersigns the valid ones
    /// and posts them back; returns `(accepted, refused)` as the router counted them.
    pub async fn countersign_pending(&self) -> Result<(u64, u64), ClientError> {
        let req = hyper::Request::get(format!(
            "/emc/v1/receipts?account={}",
            hex::encode(self.account().0)
        ))
        .header(hyper::header::HOST, self.addr.to_string())
        .body(Full::new(Bytes::new()))
        .map_err(|e| ClientError::Http(e.to_string()))?;
        let reply = self.send(req).await?;
        let v: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let mut receipts: Vec<ComputeReceipt> = v
            .get("receipts")
            .and_then(|r| r.as_array())
            .ok_or_else(|| ClientError::Unexpected("no `receipts`".into()))?
            .iter()
            .filter_map(|h| hex::decode(h.as_str()?).ok())
            .filter_map(|b| decode_receipt(&b).ok())
            .collect();
        // The node signatures verified in one batch.
        let ok = countersign_all(&self.key, &mut receipts);
        let signed: Vec<String> = receipts
            .iter()
            .zip(ok)
            .filter(|(_, ok)| *ok)
            .map(|(r, _)| hex::encode(encode_receipt(r)))
            .collect();
        if signed.is_empty() {
            return Ok((0, 0));
        }
        let body = serde_json::json!({ "receipts": signed }).to_string();
        let req = hyper::Request::post("/emc/v1/receipts")
            .header(hyper::header::HOST, self.addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let reply = self.send(req).await?;
        let v: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
        Ok((n("accepted"), n("refused")))
    }
}
