//! Streamed request bodies (issue #14: "bodies streamed both ways"), end to end: a dApp's
//! large upload, signed over its declared SHA-256, flows through the router and the compute
//! node into the app while the dApp is still sending it; a body that is not the declared one
//! never gets an answer from the app, nor a receipt; a dApp that goes away mid-upload cuts
//! the app's request, and the router keeps serving.

use super::SERIAL;
use anyhow::Result;
use bytes::Bytes;
use emc_devnet::{devnet_user_key, Cluster, ClusterConfig};
use emc_edge_core::compute::{sign_request_hashed, BODY_HASH_HEADER};
use emc_edge_core::protocol::{CallHead, CallRefusal, FRAME_BODY, FRAME_REFUSED, KIND_CALL};
use emc_net::Call;
use emc_types::{sha256, Hash, NodeId};
use http_body_util::channel::{Channel, Sender};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, Instant};

const MIB: usize = 1 << 20;

/// What the upload app saw.
#[derive(Default)]
struct Seen {
    /// Body bytes received, over all requests.
    bytes: AtomicU64,
    /// Uploads received whole (and answered).
    whole: AtomicU64,
    /// Uploads whose body broke off.
    cut: AtomicU64,
}

/// A REST app that stores uploads: `POST /upload` answers the body's length and SHA-256;
/// `GET /v1/models` lists its one model. On loopback; its address.
async fn upload_app(seen: Arc<Seen>) -> Result<SocketAddr> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let seen = seen.clone();
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let seen = seen.clone();
                async move {
                    let body = if req.uri().path() == "/v1/models" {
                        r#"{"object":"list","data":[{"id":"store","object":"model"}]}"#.into()
                    } else {
                        let (mut body, mut got) = (req.into_body(), Vec::new());
                        while let Some(frame) = body.frame().await {
                            let Ok(frame) = frame else {
                                seen.cut.fetch_add(1, SeqCst);
                                return Err("the upload broke off");
                            };
                            if let Some(d) = frame.data_ref() {
                                got.extend_from_slice(d);
                                seen.bytes.fetch_add(d.len() as u64, SeqCst);
                            }
                        }
                        seen.whole.fetch_add(1, SeqCst);
                        serde_json::json!({"bytes": got.len(), "sha256": hex::encode(sha256(&[&got]).0)})
                            .to_string()
                    };
                    Ok(hyper::Response::new(Full::new(Bytes::from(body))))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
            );
        }
    });
    Ok(addr)
}

/// What a test upload announces.
struct Announce<'a> {
    path: &'a str,
    len: usize,
    /// `x-emc-body-sha256`, if any.
    declared: Option<Hash>,
    /// The body hash the signature covers.
    signed: Hash,
    /// `x-emc-model`, if any.
    model: Option<&'a str>,
}

impl Announce<'_> {
    /// An upload to the upload app of `len` bytes hashing to `hash`, as announced and signed.
    fn upload(len: usize, hash: Hash) -> Announce<'static> {
        Announce {
            path: "/files/upload",
            len,
            declared: Some(hash),
            signed: hash,
            model: Some("store"),
        }
    }
}

/// A signed call to the router as `a` announces it, its body fed through the returned
/// sender; the response comes from the returned task.
async fn upload(
    api: SocketAddr,
    user: &ed25519_dalek::SigningKey,
    nonce: u64,
    a: Announce<'_>,
) -> Result<(
    Sender<Bytes, std::io::Error>,
    tokio::task::JoinHandle<Result<(u16, String)>>,
)> {
    let sig = sign_request_hashed(user, nonce, "POST", a.path, &a.signed);
    let (tx, body) = Channel::<Bytes, std::io::Error>::new(2);
    let mut req = hyper::Request::post(a.path)
        .header(hyper::header::HOST, api.to_string())
        .header(hyper::header::CONTENT_LENGTH, a.len)
        .header(
            "x-emc-account",
            hex::encode(user.verifying_key().to_bytes()),
        )
        .header("x-emc-nonce", nonce.to_string())
        .header("x-emc-signature", hex::encode(sig.0));
    if let Some(m) = a.model {
        req = req.header("x-emc-model", m);
    }
    if let Some(h) = a.declared {
        req = req.header(BODY_HASH_HEADER, hex::encode(h.0));
    }
    let req = req.body(body)?;
    let tcp = tokio::net::TcpStream::connect(api).await?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let reply = tokio::spawn(async move {
        let resp = send.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    });
    Ok((tx, reply))
}

async fn feed(tx: &mut Sender<Bytes, std::io::Error>, bytes: &[u8]) -> Result<()> {
    for part in bytes.chunks(256 << 10) {
        tx.send_data(Bytes::copy_from_slice(part))
            .await
            .map_err(|_| anyhow::anyhow!("the router stopped reading the body"))?;
    }
    Ok(())
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_request_bodies_stream_through_router_and_node() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let dir = std::env::temp_dir().join(format!("emc-uploads-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let seen = Arc::new(Seen::default());
    let app = upload_app(seen.clone()).await?;
    let mut cfg = ClusterConfig::devnet(dir);
    cfg.compute = 1;
    cfg.pool = false;
    cfg.demo_app = false;
    cfg.compute_node.app_url = Some(format!("http://{app}"));
    cfg.compute_node.app = "files".into();
    cfg.compute_node.unit = emc_node_common::config::UnitKind::Seconds;
    cfg.genesis_delay = Duration::from_secs(3);
    cfg.validator.poc_interval = Duration::ZERO;
    cfg.validator.block_interval = Duration::from_millis(200);
    cfg.router.max_request_bytes = 16 * MIB as u64;
    assert_eq!(cfg.router.buffered_request_bytes, MIB as u64);
    let c = Cluster::start(cfg).await?;
    let api = c.api_addr(0).expect("the router's API is on");
    let gw = c.routers[0].0.gateway.clone();
    wait_for("the node's offer", || {
        gw.models_json()["data"][0]["emc"]["nodes"] == 1
    })
    .await;
    let node = c.compute[0].0.id;
    let key = devnet_user_key(0);
    let account = NodeId(key.verifying_key().to_bytes());
    let mut nonce = 1_000u64;
    let mut next_nonce = || {
        nonce += 1;
        nonce
    };
    let body: Vec<u8> = (0..6 * MIB).map(|i| (i * 7 % 253) as u8).collect();
    let hash = sha256(&[&body]);

    // 1. A 6 MiB upload reaches the app while the dApp is still sending it: the app has
    // bytes before the dApp's second half leaves (a router or node holding the body whole
    // would leave this waiting). The app's answer names the very body; the call's receipt
    // is booked.
    let (mut tx, reply) =
        upload(api, &key, next_nonce(), Announce::upload(body.len(), hash)).await?;
    feed(&mut tx, &body[..3 * MIB]).await?;
    wait_for("the upload's first bytes at the app", || {
        seen.bytes.load(SeqCst) >= MIB as u64
    })
    .await;
    assert_eq!(seen.whole.load(SeqCst), 0);
    feed(&mut tx, &body[3 * MIB..]).await?;
    drop(tx);
    let (status, text) = reply.await??;
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text)?;
    assert_eq!(v["bytes"], body.len());
    assert_eq!(v["sha256"], hex::encode(hash.0));
    wait_for("the upload's receipt", || {
        gw.pending_receipts(&account).len() == 1
    })
    .await;
    let totals = gw.stats().1;
    assert_eq!(
        (totals.uploads_streamed, totals.upload_bytes),
        (1, 6 * MIB as u64)
    );

    // 2. A body that is not the declared one (one byte changed): 400 at its end; the app's
    // request is cut before its last byte, so the app never answers it; no receipt.
    let mut altered = body.clone();
    altered[5 * MIB] ^= 1;
    let (whole, cut) = (seen.whole.load(SeqCst), seen.cut.load(SeqCst));
    let (mut tx, reply) =
        upload(api, &key, next_nonce(), Announce::upload(body.len(), hash)).await?;
    let _ = feed(&mut tx, &altered).await;
    drop(tx);
    let (status, text) = reply.await??;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("does not match its announced SHA-256"),
        "{text}"
    );
    wait_for("the app's cut request", || seen.cut.load(SeqCst) == cut + 1).await;
    assert_eq!(
        seen.whole.load(SeqCst),
        whole,
        "the app answered a forged body"
    );
    assert_eq!(gw.pending_receipts(&account).len(), 1);
    let totals = gw.stats().1;
    assert_eq!((totals.uploads_streamed, totals.uploads_refused), (1, 1));

    // 2b. A router that sends the node a body other than the one the user signed (with a
    // clean end): the node refuses the call, and its app never gets the body's last byte.
    let cut = seen.cut.load(SeqCst);
    let n = next_nonce();
    let head = CallHead {
        app: "files".into(),
        model: "store".into(),
        method: "POST".into(),
        url_path: "/files/upload".into(),
        app_path: "/upload".into(),
        headers: vec![],
        user: account,
        nonce: n,
        body_hash: hash,
        body_len: body.len() as u64,
        signature: sign_request_hashed(&key, n, "POST", "/files/upload", &hash),
        epoch: 0,
        max_response_bytes: 1 << 20,
        timeout_ms: 10_000,
    };
    let Call {
        mut sender,
        mut receiver,
    } = c.routers[0]
        .1
        .open_call(&node, KIND_CALL, head.encode(), Duration::from_secs(5))
        .await?;
    for part in altered.chunks(256 << 10) {
        sender
            .send(FRAME_BODY, Bytes::copy_from_slice(part))
            .await?;
    }
    sender.finish();
    let answer = tokio::time::timeout(Duration::from_secs(10), receiver.recv()).await??;
    let Some((FRAME_REFUSED, refusal)) = answer else {
        panic!("the node answered a forged body: {answer:?}");
    };
    let refusal = CallRefusal::decode(&refusal)?;
    assert!(refusal.message.contains("SHA-256"), "{}", refusal.message);
    wait_for("the app's cut request", || seen.cut.load(SeqCst) == cut + 1).await;
    assert_eq!(
        seen.whole.load(SeqCst),
        whole,
        "the app had a forged body whole"
    );

    // 3. Refused before a byte moves: a signature over another body (401), a body over
    // `max_request_bytes` (413), a large body that does not declare its hash (413, saying
    // how to stream), a streamed OpenAI call without its model in a header (400).
    let bytes_before = seen.bytes.load(SeqCst);
    let refused = |a: Announce<'static>, nonce: u64| {
        let key = key.clone();
        async move {
            let (_tx, reply) = upload(api, &key, nonce, a).await?;
            reply.await?
        }
    };
    let signed_other = Announce {
        signed: sha256(&[b"another body"]),
        ..Announce::upload(body.len(), hash)
    };
    let (status, text) = refused(signed_other, next_nonce()).await?;
    assert_eq!(status, 401, "{text}");
    let (status, text) = refused(Announce::upload(17 * MIB, hash), next_nonce()).await?;
    assert_eq!(status, 413, "{text}");
    let undeclared = Announce {
        declared: None,
        ..Announce::upload(2 * MIB, hash)
    };
    let (status, text) = refused(undeclared, next_nonce()).await?;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains(BODY_HASH_HEADER), "{text}");
    let openai = Announce {
        path: "/v1/chat/completions",
        model: None,
        ..Announce::upload(body.len(), hash)
    };
    let (status, text) = refused(openai, next_nonce()).await?;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("x-emc-model"), "{text}");
    assert_eq!(
        seen.bytes.load(SeqCst),
        bytes_before,
        "a refused body moved"
    );

    // 4. A dApp that goes away mid-upload: the app's request is cut, the call cancelled
    // (no ticket left, nothing billed), and the next upload is served.
    let (cancelled, cut) = (gw.stats().1.cancelled, seen.cut.load(SeqCst));
    let (mut tx, reply) =
        upload(api, &key, next_nonce(), Announce::upload(body.len(), hash)).await?;
    feed(&mut tx, &body[..2 * MIB]).await?;
    wait_for("the half upload at the app", || {
        seen.bytes.load(SeqCst) >= bytes_before + MIB as u64
    })
    .await;
    reply.abort();
    tx.abort(std::io::Error::other("the dApp went away"));
    wait_for("the app's cut request", || seen.cut.load(SeqCst) == cut + 1).await;
    wait_for("the cancelled call", || {
        gw.stats().1.cancelled == cancelled + 1 && gw.open_tickets() == 0
    })
    .await;
    let (mut tx, reply) =
        upload(api, &key, next_nonce(), Announce::upload(body.len(), hash)).await?;
    feed(&mut tx, &body).await?;
    drop(tx);
    let (status, text) = reply.await??;
    assert_eq!(status, 200, "{text}");
    wait_for("the second upload's receipt", || {
        gw.pending_receipts(&account).len() == 2
    })
    .await;
    let totals = gw.stats().1;
    assert_eq!((totals.uploads_streamed, totals.uploads_refused), (2, 1));
    Ok(())
}
