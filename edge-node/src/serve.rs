//! The compute node's call service: dApp calls that routers stream to it
//! (`emc_edge_core::protocol` [`KIND_CALL`]), proxied to the node's local app (`app_url`).
//!
//! For each call: the head must decode, name this node's app and one of its models, carry a
//! body within `max_request_bytes`, and a user signature over the request that verifies
//! (`compute::verify_request`: a router cannot make up work for a user); a slot must be free
//! (at most `capacity` calls at once, else `Busy`, which the router retries elsewhere). A
//! body up to 1 MiB is read to its announced length and its hash checked, then sent to the
//! app over HTTP/1.1 (connections kept in a small pool); the user's signature is verified
//! while the app works on the request (its key decoded once, [`KeyCache`]), and before
//! anything of the app's answer leaves: a call whose signature fails is refused, with no
//! response and no receipt. A larger body (a streamed upload) has its signature verified
//! first, then flows to the app as it arrives (`pump_body`), checked against the signed
//! hash on the way; its last byte is held back until the whole body proved the one the user
//! signed, so an app never has a forged body whole, and the app's answer is relayed only
//! after that. The app's response head is the call's first byte ([`FRAME_RESPONSE`], with the
//! body's `content-length` when the app gave one); its body is relayed chunk by chunk
//! ([`FRAME_DATA`]) through the
//! [`Meter`] (units by the app's declared unit, response hash rolling over the chunks), within
//! `call_timeout` and `max_response_bytes`. A call served in full ends with a [`CallTrailer`]
//! whose receipt the node signed: the next nonce and cumulative amount of the (user, epoch)
//! lane ([`Lanes`]); a lane this process has not served yet (a new user, a new epoch, or any
//! lane after a restart) first asks a validator where the lane stands in the agreed state
//! (`KIND_LANE_STATE`) and resumes past it; an app error status gets no receipt (not billable). A call cut short (app
//! hang or failure, response too large, the router or the dApp gone) is reset and gets no
//! trailer, so nothing is billed. Only routers reach this: the node ignores calls from any
//! other role (the transport authenticated the role against the registry).
//!
//! **Compute pools** (issue #16). The node's pool ([`PoolPeers`], from the market or the
//! config; [`CallService::pool`]) makes it either the pool's entry node or a member. Once a
//! call's trailer went out, the entry asks every other active member to co-sign its receipt
//! ([`KIND_COSIGN`], all at once, each within `cosign_timeout`) in a task of its own, checks
//! each answer's signature, and sends the router the co-signatures it got ([`KIND_COSIGNED`]):
//! co-signing adds nothing to the call's latency. A member that does not answer (or answers
//! badly) is logged and counted (`cosign_missing`): the call was served, but the market will
//! not settle that receipt (the pool loses its payment unless a later receipt of the lane is
//! fully co-signed). A
//! member answers [`CallService::cosign_answer`]: only a compute peer that is its pool's
//! entry, for a receipt of that entry in its pool, whose node signature verifies.

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use emc_edge_core::compute::{
    request_hash, sign, sign_receipt, signature_valid, verify_request_with, BodyCheck, KeyCache,
    Lanes, Meter,
};
use emc_edge_core::pool::PoolPeers;
use emc_edge_core::protocol::{
    CallHead, CallRefusal, CallTrailer, CosignAnswer, CosignRefusal, CosignRequest,
    CosignedReceipt, LaneQuery, LaneState, Offer, RefusalCode, ResponseHead, FORWARDED_HEADERS,
    FRAME_BODY, FRAME_DATA, FRAME_REFUSED, FRAME_RESPONSE, FRAME_TRAILER, KIND_CALL, KIND_COSIGN,
    KIND_COSIGNED, KIND_LANE_STATE,
};
use emc_net::{Call, CallReceiver, CallSender, Network, NodeId, Role};
use emc_node_common::config::ComputeConfig;
use emc_node_common::status::{CallStats, Latencies};
use emc_types::pool::cosign_message;
use emc_types::Cosignature;
use emc_types::{ComputeReceipt, Hash, MeterUnit, Signature};
use http_body_util::channel::{Channel, Sender as BodySender};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Body as _;
use hyper::client::conn::http1::SendRequest;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tracing::{debug, warn, Instrument as _};

/// Idle app connections kept for reuse.
const POOL: usize = 64;

/// A request body for the app: whole, or streamed as the router sends it.
type AppBody = http_body_util::Either<Full<Bytes>, Channel<Bytes, BodyAborted>>;

type AppConn = SendRequest<AppBody>;

/// Bodies up to this are read whole before the app is asked; larger ones stream to it.
const STREAM_ABOVE: u64 = 1 << 20;
/// The first bytes of a streamed body kept for the meter (image steps).
const METER_PREFIX: usize = 64 << 10;

/// The app's request body was cut: the call's body is not the one the user signed, or the
/// router's stream failed.
#[derive(Debug, thiserror::Error)]
#[error("the call's request body was cut")]
struct BodyAborted;

/// A call's request body as the node has it.
enum RequestBody {
    /// Read whole and checked against the head; the user's signature is still to check.
    Whole(Vec<u8>),
    /// Still on the call's stream (the user's signature already checked).
    Streamed,
}

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
    /// Users' decoded keys.
    keys: Mutex<KeyCache>,
    stats: Mutex<(CallStats, Latencies)>,
    /// The node's network, to ask validators where a lane stands (none: lanes start fresh).
    net: Option<Network>,
    /// The network pool members are asked over (none: co-signatures are not collected).
    pool_net: Option<Network>,
    /// The node's compute pool, as last read (none: not in a pool).
    compute_pool: Arc<RwLock<Option<PoolPeers>>>,
    /// How long the entry waits for each member's co-signature.
    cosign_timeout: Duration,
    cosign_stats: Mutex<CosignStats>,
}

/// Co-signing counters of a pool member or entry node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CosignStats {
    /// Co-signatures the entry collected (valid ones, sent to the router).
    pub collected: u64,
    /// Co-signatures the entry asked for and did not get (no answer, a refusal, a bad
    /// signature): each leaves a receipt the market will not settle.
    pub missing: u64,
    /// Receipts this member co-signed for its entry.
    pub signed: u64,
    /// Co-sign requests this member refused.
    pub refused: u64,
}

/// How long a validator has to say where a lane stands.
const LANE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a call's receipt waits for a validator to connect (just after a restart).
const LANE_WAIT: Duration = Duration::from_secs(10);
/// Validators asked, one after the other, before a lane starts without the agreed state.
const LANE_TRIES: usize = 2;
/// Users' decoded keys kept ([`KeyCache`]).
const KEYS_CACHED: usize = 4096;

/// A call's user signature, checked once the call is on its way to the app ([`CallService::relay`]).
struct SignatureCheck {
    key: ed25519_dalek::VerifyingKey,
    hash: Hash,
    signature: Signature,
}

impl SignatureCheck {
    fn verifies(&self) -> bool {
        verify_request_with(&self.key, &self.hash, &self.signature)
    }
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
            keys: Mutex::new(KeyCache::new(KEYS_CACHED)),
            stats: Mutex::new((CallStats::default(), Latencies::default())),
            net: None,
            pool_net: None,
            compute_pool: Arc::new(RwLock::new(None)),
            cosign_timeout: cfg
                .pool
                .as_ref()
                .map_or(Duration::from_secs(2), |p| p.cosign_timeout),
            cosign_stats: Mutex::new(CosignStats::default()),
        }
    }

    /// The node's pool as last read: the compute shell replaces it at each refresh.
    pub fn pool(&self) -> &Arc<RwLock<Option<PoolPeers>>> {
        &self.compute_pool
    }

    /// The pool as last read.
    pub fn pool_now(&self) -> Option<PoolPeers> {
        self.compute_pool
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Co-signing counters.
    pub fn cosign_stats(&self) -> CosignStats {
        *lock(&self.cosign_stats)
    }

    /// A member's answer to peer `peer` (of `role`) asking it to co-sign a receipt
    /// ([`KIND_COSIGN`]): signed only for its pool's entry node, a compute peer, and a
    /// receipt of that entry that the entry signed ([`PoolPeers::cosign`]).
    pub fn cosign_answer(&self, peer: NodeId, role: Role, payload: &[u8]) -> CosignAnswer {
        let answer = (|| {
            if role != Role::Compute {
                return Err(CosignRefusal::NotEntry);
            }
            let req = CosignRequest::decode(payload).map_err(|_| CosignRefusal::Malformed)?;
            let pool = self.pool_now().ok_or(CosignRefusal::NotMember)?;
            let msg = pool.cosign(&self.node, &peer, &req)?;
            Ok(sign(&self.key, &msg))
        })();
        let mut st = lock(&self.cosign_stats);
        match &answer {
            Ok(_) => st.signed += 1,
            Err(why) => {
                st.refused += 1;
                debug!(?peer, %role, %why, "co-sign request refused");
            }
        }
        CosignAnswer(answer)
    }

    /// A pool's entry node, once receipt `r` went to `router` in its trailer: collects the
    /// members' co-signatures in a task of its own and sends them to the router
    /// ([`KIND_COSIGNED`]). Nothing for a node in no pool or a member.
    fn cosign_in_background(self: &Arc<Self>, router: NodeId, r: ComputeReceipt) {
        let entry = self.pool_now().is_some_and(|p| p.entry == self.node);
        let Some(net) = self.pool_net.clone().filter(|_| entry) else {
            return;
        };
        let svc = self.clone();
        tokio::spawn(
            async move {
                let cosignatures = svc.collect_cosignatures(&r).await;
                if cosignatures.is_empty() {
                    return;
                }
                let msg = CosignedReceipt::of(&r, cosignatures).encode();
                if let Err(e) = net.send(&router, KIND_COSIGNED, msg) {
                    warn!(?router, error = %e, "co-signatures not sent to the router: this receipt will not settle");
                }
            }
            .in_current_span(),
        );
    }

    /// The entry node's collection: every other active member's co-signature of `r`, asked
    /// all at once; those that do not come back valid in time are logged and counted.
    async fn collect_cosignatures(&self, r: &ComputeReceipt) -> Vec<Cosignature> {
        let Some(pool) = self.pool_now() else {
            return Vec::new();
        };
        let members = pool.cosigners(&self.node);
        let Some(net) = self.pool_net.as_ref().filter(|_| !members.is_empty()) else {
            return Vec::new();
        };
        let req = bytes::Bytes::from(
            CosignRequest {
                pool_id: pool.id,
                receipt: r.clone(),
            }
            .encode(),
        );
        let msg = cosign_message(pool.id, &r.body_hash());
        let mut asks = tokio::task::JoinSet::new();
        for m in members.iter().copied() {
            let (net, req, timeout) = (net.clone(), req.clone(), self.cosign_timeout);
            asks.spawn(async move {
                let got = match net.request(&m, KIND_COSIGN, req, timeout).await {
                    Ok(b) => CosignAnswer::decode(&b)
                        .map_err(|e| e.to_string())
                        .and_then(|a| a.0.map_err(|why| why.to_string())),
                    Err(e) => Err(e.to_string()),
                };
                (m, got)
            });
        }
        let mut got = Vec::with_capacity(members.len());
        while let Some(done) = asks.join_next().await {
            let Ok((m, answer)) = done else { continue };
            match answer {
                Ok(sig) if signature_valid(&m, &msg, &sig) => got.push(Cosignature {
                    node: m,
                    signature: sig,
                }),
                Ok(_) => warn!(member = ?m, "a pool member's co-signature does not verify"),
                Err(e) => {
                    warn!(member = ?m, error = %e, "no co-signature from a pool member: this receipt will not settle")
                }
            }
        }
        // In the pool's member order, whatever order the answers came in.
        got.sort_by_key(|c| members.iter().position(|m| *m == c.node));
        let mut st = lock(&self.cosign_stats);
        st.collected += got.len() as u64;
        st.missing += (members.len() - got.len()) as u64;
        got
    }

    /// Resumes lanes from the validators' agreed state over `net` (a lane this process has
    /// not served yet is asked for once, [`Lanes::resume`]), so a restarted node's receipts
    /// still move its lanes forward.
    pub fn with_network(mut self, net: Network) -> CallService {
        self.pool_net = Some(net.clone());
        self.net = Some(net);
        self
    }

    /// Asks pool members for co-signatures over `net` (which [`Self::with_network`] also
    /// sets), without asking validators about lanes.
    pub fn with_pool_network(mut self, net: Network) -> CallService {
        self.pool_net = Some(net);
        self
    }

    /// Where `user`'s lane paying this node in `epoch` stands in the agreed state: `None`
    /// when no validator answered.
    async fn agreed_lane(&self, user: NodeId, epoch: u64) -> Option<Option<(u64, u64)>> {
        let net = self.net.as_ref()?;
        let q = LaneQuery { user, epoch }.encode();
        // Just after a restart no validator may have reconnected yet: wait a little for one.
        let until = tokio::time::Instant::now() + LANE_WAIT;
        let validators = loop {
            let v: Vec<_> = net
                .peers()
                .into_iter()
                .filter(|p| p.role == Role::Validator)
                .collect();
            if !v.is_empty() || tokio::time::Instant::now() >= until {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for p in validators.into_iter().take(LANE_TRIES) {
            match net
                .request(&p.node, KIND_LANE_STATE, q.clone(), LANE_TIMEOUT)
                .await
            {
                Ok(b) => match LaneState::decode(&b) {
                    Ok(st) => return Some(st.last),
                    Err(e) => debug!(validator = ?p.node, error = %e, "bad lane state"),
                },
                Err(e) => debug!(validator = ?p.node, error = %e, "lane state not answered"),
            }
        }
        None
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
            // The user's signature is checked by `relay` while the app works on the call, and
            // before anything of the app's answer leaves (ARCHITECTURE, Decisions: the
            // node's signature check off the call's way).
            let Some(key) = lock(&self.keys).key(&head.user) else {
                return Err(bad_signature());
            };
            let check = SignatureCheck {
                key,
                hash,
                signature: head.signature,
            };
            let permit = self
                .slots
                .try_acquire()
                .map_err(|_| refuse(RefusalCode::Busy, "every slot is busy".into()))?;
            if head.body_len > STREAM_ABOVE {
                // A large body streams on to the app as it comes: its signature is checked
                // first, so only a call the user signed reaches the app at all, and the body
                // is checked against the signed hash on the way (`pump_body`).
                if !check.verifies() {
                    return Err(bad_signature());
                }
                return Ok((head, hash, RequestBody::Streamed, permit, check));
            }
            // The same check as a streamed body's (`BodyCheck`), on a body read whole.
            let mut body = Vec::with_capacity(head.body_len.min(1 << 16) as usize);
            let mut body_check = BodyCheck::new(head.body_len, head.body_hash);
            let bad = |e: emc_edge_core::compute::BodyError| {
                refuse(RefusalCode::BadRequest, e.to_string())
            };
            loop {
                match receiver.recv().await {
                    Ok(Some((FRAME_BODY, chunk))) => {
                        body_check.feed(&chunk).map_err(bad)?;
                        body.extend_from_slice(&chunk);
                    }
                    Ok(Some(_)) => {
                        return Err(refuse(RefusalCode::BadRequest, "unexpected frame".into()))
                    }
                    Ok(None) => break,
                    Err(e) => return Err(refuse(RefusalCode::BadRequest, format!("body: {e}"))),
                }
            }
            body_check.finish().map_err(bad)?;
            Ok((head, hash, RequestBody::Whole(body), permit, check))
        };
        let (head, request_hash, body, _permit, check) = match prepared.await {
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
            .relay(
                router,
                &head,
                request_hash,
                (body, check),
                &mut receiver,
                &mut sender,
                started,
            )
            .await;
        match outcome {
            Ok((units, receipt)) => {
                sender.finish();
                self.count(Outcome::Served(units), started);
                if let Some(r) = receipt {
                    self.cosign_in_background(router, r);
                }
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
    /// after it (the stream is reset). A whole body goes out to the app first, and the user's
    /// signature (`check`) is verified while the app works on it: a call whose signature
    /// fails is refused (the app's answer, if any, dropped unread), so nothing of the app's
    /// answer leaves for a call the user did not sign. A streamed body ([`pump_body`]) flows
    /// to the app as it arrives; the app's answer is relayed only once the body ended and
    /// proved the one the user signed (else the app's request is cut and the call refused).
    #[allow(clippy::too_many_arguments)]
    async fn relay(
        &self,
        router: NodeId,
        head: &CallHead,
        request_hash: Hash,
        (body, check): (RequestBody, SignatureCheck),
        receiver: &mut CallReceiver,
        sender: &mut CallSender,
        started: Instant,
    ) -> Result<(u64, Option<ComputeReceipt>), Option<CallRefusal>> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let refuse = |code, message: String| Some(CallRefusal { code, message });
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
        let (app_body, whole, upload) = match body {
            RequestBody::Whole(body) => {
                let meter = Meter::new(self.unit, &body);
                let b = http_body_util::Either::Left(Full::new(Bytes::from(body)));
                (b, Some((meter, check)), None)
            }
            RequestBody::Streamed => {
                req = req.header(hyper::header::CONTENT_LENGTH, head.body_len);
                let (tx, channel) = Channel::new(4);
                (http_body_util::Either::Right(channel), None, Some(tx))
            }
        };
        let req = req
            .body(app_body)
            .map_err(|e| refuse(RefusalCode::BadRequest, format!("request: {e}")))?;
        let ask = async {
            let mut conn = self.app_conn().await?;
            let resp = conn
                .send_request(req)
                .await
                .map_err(|e| format!("app: {e}"))?;
            Ok::<_, String>((conn, resp))
        };
        let mut ask = std::pin::pin!(tokio::time::timeout_at(deadline, ask));
        let (mut meter, answer) = match (whole, upload) {
            (Some((meter, check)), _) => {
                // Hand the request to the app's connection and let that write it (one
                // yield), then check the signature here while the app works on the call.
                let early = tokio::select! {
                    biased;
                    r = &mut ask => Some(r),
                    _ = tokio::task::yield_now() => None,
                };
                if !check.verifies() {
                    return Err(Some(bad_signature()));
                }
                let answer = match early {
                    Some(r) => r,
                    None => tokio::select! {
                        r = &mut ask => r,
                        _ = sender.stopped() => return Err(None),
                    },
                };
                (meter, answer)
            }
            (None, tx) => {
                let pump = pump_body(receiver, tx, head.body_len, head.body_hash);
                let mut pump = std::pin::pin!(tokio::time::timeout_at(deadline, pump));
                // An app may answer before the body ended: its answer waits for the body's
                // check, unless it is a failure (the call is refused at once).
                let mut early = None;
                let prefix = loop {
                    tokio::select! {
                        p = &mut pump => break p,
                        a = &mut ask, if early.is_none() => match a {
                            Ok(Ok(r)) => early = Some(r),
                            Ok(Err(e)) => return Err(refuse(RefusalCode::AppFailed, e)),
                            Err(_) => return Err(refuse(
                                RefusalCode::Timeout,
                                "the app did not answer in time".into(),
                            )),
                        },
                        _ = sender.stopped() => return Err(None),
                    }
                };
                let prefix = match prefix {
                    Ok(Ok(p)) => p,
                    Ok(Err(refusal)) => return Err(Some(refusal)),
                    Err(_) => {
                        return Err(refuse(
                            RefusalCode::Timeout,
                            "the request body did not arrive in time".into(),
                        ))
                    }
                };
                let answer = match early {
                    Some(r) => Ok(Ok(r)),
                    None => tokio::select! {
                        r = &mut ask => r,
                        _ = sender.stopped() => return Err(None),
                    },
                };
                (Meter::new(self.unit, &prefix), answer)
            }
        };
        let (conn, resp) = match answer {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(refuse(RefusalCode::AppFailed, e)),
            Err(_) => {
                return Err(refuse(
                    RefusalCode::Timeout,
                    "the app did not answer in time".into(),
                ))
            }
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
        // A body of known length (the app's `content-length`, as hyper frames it): the router
        // can end the dApp's response with its last byte, before the receipt.
        if let Some(len) = resp.body().size_hint().exact() {
            headers.push(("content-length".to_string(), len.to_string()));
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
        // Let the connection send the body's last bytes before the receipt is signed (a
        // signature is ~15 µs): a response of known length is complete for the dApp then.
        tokio::task::yield_now().await;
        let elapsed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let (units, response_hash) = meter.finish(elapsed);
        let billable = (200..300).contains(&status);
        if billable && self.net.is_some() && !lock(&self.lanes).has(&head.user, head.epoch) {
            match self.agreed_lane(head.user, head.epoch).await {
                Some(agreed) => lock(&self.lanes).resume(head.user, head.epoch, agreed),
                None => {
                    warn!(user = ?head.user, epoch = head.epoch, "no validator said where this lane stands: it starts fresh")
                }
            }
        }
        let receipt = billable.then(|| {
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
        let trailer = CallTrailer {
            receipt: receipt.clone(),
        };
        sender
            .send(FRAME_TRAILER, Bytes::from(trailer.encode()))
            .await
            .map_err(|_| None)?;
        Ok((units, receipt))
    }
}

/// Streams a call's body from the router's stream into the app's request (`tx`) as it
/// arrives, checked against the head's length and hash ([`BodyCheck`]); returns its first
/// [`METER_PREFIX`] bytes (for the meter). A body that is not the announced one, or a stream
/// that fails or is reset (the router's refusal of the body), cuts the app's request short of
/// its last byte and refuses the call. An app that stopped reading (it answered early) gets no more bytes; the
/// body is still read to its end and checked.
async fn pump_body(
    receiver: &mut CallReceiver,
    mut tx: Option<BodySender<Bytes, BodyAborted>>,
    len: u64,
    hash: Hash,
) -> Result<Vec<u8>, CallRefusal> {
    let refuse = |message: String| CallRefusal {
        code: RefusalCode::BadRequest,
        message,
    };
    let mut check = BodyCheck::new(len, hash);
    let mut prefix = Vec::new();
    // The body's last byte, held back until the body proved the announced one: an app reads
    // a body of announced length as complete at its last byte, so a forged body must never
    // give it that byte.
    let mut last = None;
    let refusal = loop {
        match receiver.recv().await {
            Ok(Some((FRAME_BODY, mut chunk))) => {
                if let Err(e) = check.feed(&chunk) {
                    break refuse(e.to_string());
                }
                let keep = METER_PREFIX.saturating_sub(prefix.len()).min(chunk.len());
                prefix.extend_from_slice(&chunk[..keep]);
                if check.received() == len && !chunk.is_empty() {
                    last = Some(chunk.split_off(chunk.len() - 1));
                }
                if let Some(t) = &mut tx {
                    if !chunk.is_empty() && t.send_data(chunk).await.is_err() {
                        tx = None;
                    }
                }
            }
            Ok(Some(_)) => break refuse("unexpected frame".into()),
            Ok(None) => match check.finish() {
                Ok(()) => {
                    if let (Some(mut t), Some(b)) = (tx, last) {
                        // (Dropping `t` then ends the app's body.)
                        let _ = t.send_data(b).await;
                    }
                    return Ok(prefix);
                }
                Err(e) => break refuse(e.to_string()),
            },
            Err(e) => break refuse(format!("body: {e}")),
        }
    };
    if let Some(t) = tx {
        t.abort(BodyAborted);
    }
    Err(refusal)
}

/// The refusal of a call whose user signature does not verify.
fn bad_signature() -> CallRefusal {
    CallRefusal {
        code: RefusalCode::BadRequest,
        message: "the user's signature does not verify".into(),
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
    use emc_edge_core::compute::sign_request;
    use emc_net::{Event, Identity, NetConfig, Network, Role, Roles, StaticAuthorizer};
    use emc_types::sha256;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A fake app on loopback: answers every request with `answer` after `delay` (or never).
    async fn fake_app(answer: &'static [u8], delay: Option<Duration>) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    match delay {
                        Some(d) => {
                            tokio::time::sleep(d).await;
                            let _ = s.write_all(answer).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(3600)).await,
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    struct Pair {
        router: Network,
        /// The router's events (frames the node sends it).
        router_events: tokio::sync::mpsc::Receiver<Event>,
        node_net: Network,
        node: NodeId,
        calls: tokio::sync::mpsc::Receiver<Event>,
        auth: Arc<StaticAuthorizer>,
    }

    async fn pair() -> Pair {
        let auth = Arc::new(StaticAuthorizer::new());
        let (rk, nk) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        auth.set(
            NodeId(rk.verifying_key().to_bytes()),
            Roles::from(Role::Router),
        );
        auth.set(
            NodeId(nk.verifying_key().to_bytes()),
            Roles::from(Role::Compute),
        );
        let cfg = NetConfig {
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            ..NetConfig::default()
        };
        let (router, router_events) = Network::bind(
            cfg.clone(),
            Identity::from_signing_key(rk).unwrap(),
            auth.clone(),
            Role::Router,
        )
        .unwrap();
        let (node_net, mut calls) = Network::bind(
            cfg,
            Identity::from_signing_key(nk.clone()).unwrap(),
            auth.clone(),
            Role::Compute,
        )
        .unwrap();
        let node = NodeId(nk.verifying_key().to_bytes());
        router
            .connect(node, node_net.local_addr().unwrap())
            .await
            .unwrap();
        // Skip the node's PeerUp.
        while !matches!(calls.recv().await, Some(Event::PeerUp { .. })) {}
        Pair {
            router,
            router_events,
            node_net,
            node,
            calls,
            auth,
        }
    }

    fn head(user: &SigningKey, body: &[u8], nonce: u64) -> CallHead {
        let path = "/v1/completions";
        CallHead {
            app: "llm".into(),
            model: "m".into(),
            method: "POST".into(),
            url_path: path.into(),
            app_path: path.into(),
            headers: vec![],
            user: NodeId(user.verifying_key().to_bytes()),
            nonce,
            body_hash: sha256(&[body]),
            body_len: body.len() as u64,
            signature: sign_request(user, nonce, "POST", path, body),
            epoch: 3,
            max_response_bytes: 1 << 20,
            timeout_ms: 1000,
        }
    }

    /// Sends one call through the service and returns the frames the router got, and whether
    /// the stream ended cleanly.
    async fn exchange(
        p: &mut Pair,
        svc: &Arc<CallService>,
        head: &CallHead,
        body: &[u8],
    ) -> (Vec<(u8, Bytes)>, bool) {
        let call = p
            .router
            .open_call(&p.node, KIND_CALL, head.encode(), Duration::from_secs(2))
            .await
            .unwrap();
        // The node's other events (a pool member's link coming up) are not this test's.
        let (peer, kind, h, incoming) = loop {
            match p.calls.recv().await {
                Some(Event::Call {
                    peer,
                    kind,
                    head,
                    call,
                    ..
                }) => break (peer, kind, head, call),
                Some(_) => continue,
                None => panic!("no call event"),
            }
        };
        tokio::spawn(svc.clone().serve(peer, kind, h, incoming));
        let Call {
            mut sender,
            mut receiver,
        } = call;
        if !body.is_empty() {
            // A node that refuses early stops reading: its refusal still comes back.
            let _ = sender.send(FRAME_BODY, Bytes::copy_from_slice(body)).await;
        }
        sender.finish();
        let mut frames = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await {
                Ok(Ok(Some(f))) => frames.push(f),
                Ok(Ok(None)) => return (frames, true),
                Ok(Err(_)) => return (frames, false),
                Err(_) => panic!("the node never ended the call"),
            }
        }
    }

    fn service(app_url: String, capacity: u32, timeout: Duration) -> Arc<CallService> {
        let cfg = ComputeConfig {
            app_url: Some(app_url),
            capacity,
            call_timeout: timeout,
            max_response_bytes: 64,
            ..ComputeConfig::default()
        };
        Arc::new(CallService::new(
            &cfg,
            SigningKey::from_bytes(&[2; 32]),
            vec!["m".into()],
        ))
    }

    fn refusal(frames: &[(u8, Bytes)]) -> Option<RefusalCode> {
        match frames {
            [(FRAME_REFUSED, p)] => CallRefusal::decode(p).ok().map(|r| r.code),
            _ => None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_apps_and_bad_calls_get_clear_ends_and_no_receipt() {
        let mut p = pair().await;
        let user = SigningKey::from_bytes(&[9; 32]);
        let body = br#"{"model":"m","prompt":"x"}"#;
        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 37\r\n\r\n{\"usage\":{\"total_tokens\":5},\"x\":1234}";
        // A working app: response head, data, a receipt signed by the node for 5 tokens.
        let svc = service(
            fake_app(ok, Some(Duration::ZERO)).await,
            2,
            Duration::from_secs(2),
        );
        let (frames, clean) = exchange(&mut p, &svc, &head(&user, body, 1), body).await;
        assert!(clean);
        assert_eq!(frames.first().map(|f| f.0), Some(FRAME_RESPONSE));
        // The body's length goes with the head (the router ends the dApp's body with it).
        let rh = ResponseHead::decode(&frames[0].1).unwrap();
        assert!(rh.headers.contains(&("content-length".into(), "37".into())));
        let trailer = frames.last().filter(|f| f.0 == FRAME_TRAILER).unwrap();
        let r = CallTrailer::decode(&trailer.1).unwrap().receipt.unwrap();
        assert_eq!((r.units, r.nonce, r.cumulative_e8s, r.epoch), (5, 1, 5, 3));
        assert!(emc_edge_core::compute::node_signature_valid(&r));
        // The lane moves on.
        let (frames, _) = exchange(&mut p, &svc, &head(&user, body, 2), body).await;
        let r = CallTrailer::decode(&frames.last().unwrap().1)
            .unwrap()
            .receipt
            .unwrap();
        assert_eq!((r.nonce, r.cumulative_e8s), (2, 10));

        // A bad user signature, a body that does not match its hash, another app: refused.
        let mut bad = head(&user, body, 3);
        bad.signature.0[0] ^= 1;
        let (frames, _) = exchange(&mut p, &svc, &bad, body).await;
        assert_eq!(refusal(&frames), Some(RefusalCode::BadRequest));
        let (frames, _) = exchange(&mut p, &svc, &head(&user, body, 4), b"{\"other\":1}").await;
        assert_eq!(refusal(&frames), Some(RefusalCode::BadRequest));
        let mut other = head(&user, body, 5);
        other.app = "sd".into();
        let (frames, _) = exchange(&mut p, &svc, &other, body).await;
        assert_eq!(refusal(&frames), Some(RefusalCode::NotServed));

        // An app that answers garbage: AppFailed (the router retries elsewhere).
        let svc = service(
            fake_app(b"garbage\r\n\r\n", Some(Duration::ZERO)).await,
            2,
            Duration::from_secs(2),
        );
        let (frames, _) = exchange(&mut p, &svc, &head(&user, body, 6), body).await;
        assert_eq!(refusal(&frames), Some(RefusalCode::AppFailed));
        // An app that hangs: Timeout after call_timeout.
        let svc = service(fake_app(b"", None).await, 2, Duration::from_millis(300));
        let (frames, _) = exchange(&mut p, &svc, &head(&user, body, 7), body).await;
        assert_eq!(refusal(&frames), Some(RefusalCode::Timeout));
        // A bad signature is refused while the app still works on the call (the check runs
        // alongside the app, not after its answer).
        let svc = service(fake_app(b"", None).await, 2, Duration::from_secs(30));
        let mut bad = head(&user, body, 11);
        bad.signature.0[5] ^= 1;
        let t = Instant::now();
        let (frames, _) = exchange(&mut p, &svc, &bad, body).await;
        assert_eq!(refusal(&frames), Some(RefusalCode::BadRequest));
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        // No app at all.
        let svc = service("http://127.0.0.1:1".into(), 2, Duration::from_secs(1));
        let (frames, _) = exchange(&mut p, &svc, &head(&user, body, 8), body).await;
        assert_eq!(refusal(&frames), Some(RefusalCode::AppFailed));
        // No slot: Busy.
        let svc = service(
            fake_app(ok, Some(Duration::ZERO)).await,
            0,
            Duration::from_secs(1),
        );
        let (frames, _) = exchange(&mut p, &svc, &head(&user, body, 9), body).await;
        assert_eq!(refusal(&frames), Some(RefusalCode::Busy));
        // A response over max_response_bytes (64): cut after the head, no trailer.
        let long = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789";
        let svc = service(
            fake_app(long, Some(Duration::ZERO)).await,
            2,
            Duration::from_secs(2),
        );
        let (frames, clean) = exchange(&mut p, &svc, &head(&user, body, 10), body).await;
        assert!(!clean, "a cut response must not end cleanly");
        assert!(frames.iter().all(|f| f.0 != FRAME_TRAILER));
        assert_eq!(svc.stats().errors, 1);
        assert_eq!(svc.in_flight(), 0);
    }

    /// An app on loopback that answers `answer` to the first bytes of each connection and
    /// keeps reading; the bytes it read, over all connections.
    async fn reading_app(answer: &'static [u8]) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = read.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 1 << 16];
                    let mut answered = false;
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        counter.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                        if !answered {
                            answered = true;
                            let _ = s.write_all(answer).await;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}"), read)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streamed_bodies_reach_the_app_only_when_signed() {
        use std::sync::atomic::Ordering::SeqCst;
        let mut p = pair().await;
        let user = SigningKey::from_bytes(&[9; 32]);
        let body: Vec<u8> = (0..(2 << 20)).map(|i| (i % 241) as u8).collect();
        assert!(body.len() as u64 > STREAM_ABOVE);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\nconnection: close\r\n\r\n{\"usage\":{\"total_tokens\":4}}";
        let (url, read) = reading_app(ok).await;
        let svc = service(url, 2, Duration::from_secs(5));
        // Signed: the body streams to the app (which answers before it ended); the answer
        // is relayed after the body's end, with a receipt.
        let (frames, clean) = exchange(&mut p, &svc, &head(&user, &body, 1), &body).await;
        assert!(clean);
        assert_eq!(frames.first().map(|f| f.0), Some(FRAME_RESPONSE));
        let trailer = frames.last().filter(|f| f.0 == FRAME_TRAILER).unwrap();
        let r = CallTrailer::decode(&trailer.1).unwrap().receipt.unwrap();
        assert_eq!((r.units, r.nonce), (4, 1));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = read.load(SeqCst);
        assert!(before > 0);
        // A bad signature: refused before a byte reaches the app.
        let mut bad = head(&user, &body, 2);
        bad.signature.0[0] ^= 1;
        let (frames, _) = exchange(&mut p, &svc, &bad, &body).await;
        assert_eq!(refusal(&frames), Some(RefusalCode::BadRequest));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            read.load(SeqCst),
            before,
            "an unsigned body reached the app"
        );
        // Another body than the signed one: refused (and the app's request cut).
        let mut other = body.clone();
        other[7] ^= 1;
        let (frames, _) = exchange(&mut p, &svc, &head(&user, &body, 3), &other).await;
        assert_eq!(refusal(&frames), Some(RefusalCode::BadRequest));
        // Longer than the node takes: refused at its head.
        let mut huge = head(&user, &body, 4);
        huge.body_len = ComputeConfig::default().max_request_bytes + 1;
        let (frames, _) = exchange(&mut p, &svc, &huge, b"").await;
        assert_eq!(refusal(&frames), Some(RefusalCode::TooLarge));
        assert_eq!(svc.in_flight(), 0);
    }

    /// The next co-signed receipt the router gets from the node (within 5 s).
    async fn next_cosigned(p: &mut Pair) -> Option<CosignedReceipt> {
        let wait = async {
            loop {
                match p.router_events.recv().await? {
                    Event::Frame {
                        peer,
                        kind: KIND_COSIGNED,
                        payload,
                        ..
                    } if peer == p.node => return CosignedReceipt::decode(&payload).ok(),
                    _ => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .ok()
            .flatten()
    }

    /// Polls `svc`'s co-sign counters until `done` holds (5 s at most).
    async fn cosign_stats_until(svc: &CallService, done: impl Fn(&CosignStats) -> bool) -> bool {
        for _ in 0..500 {
            if done(&svc.cosign_stats()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Issue #16, over real QUIC on loopback: a pool's entry node answers the call at once
    /// (its trailer carries the receipt), then sends the router its member's co-signature of
    /// that receipt (valid under the market's rule); a member refuses a peer that is not its
    /// entry and a pool that is not its own; an unreachable member leaves the receipt
    /// without its co-signature (served, counted as missing, nothing sent).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pool_entry_collects_its_members_cosignatures() {
        let mut p = pair().await; // router key 1, entry key 2
        let mk = SigningKey::from_bytes(&[3; 32]);
        let (entry, member) = (p.node, NodeId(mk.verifying_key().to_bytes()));
        p.auth.set(member, Roles::from(Role::Compute));
        let cfg = NetConfig {
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            ..NetConfig::default()
        };
        let (member_net, mut member_events) = Network::bind(
            cfg,
            Identity::from_signing_key(mk.clone()).unwrap(),
            p.auth.clone(),
            Role::Compute,
        )
        .unwrap();
        let pool = PoolPeers {
            id: 7,
            entry,
            active: vec![entry, member],
        };
        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 37\r\n\r\n{\"usage\":{\"total_tokens\":5},\"x\":1234}";
        let app = fake_app(ok, Some(Duration::ZERO)).await;
        let cfg = ComputeConfig {
            app_url: Some(app.clone()),
            pool: Some(emc_node_common::config::PoolConfig {
                cosign_timeout: Duration::from_millis(500),
                ..Default::default()
            }),
            ..ComputeConfig::default()
        };
        let svc = Arc::new(
            CallService::new(&cfg, SigningKey::from_bytes(&[2; 32]), vec!["m".into()])
                .with_pool_network(p.node_net.clone()),
        );
        *svc.pool().write().unwrap() = Some(pool.clone());
        let member_svc = Arc::new(CallService::new(&cfg, mk, vec!["m".into()]));
        *member_svc.pool().write().unwrap() = Some(pool.clone());
        // The member answers co-sign requests as the compute shell does.
        let answering = member_svc.clone();
        tokio::spawn(async move {
            while let Some(ev) = member_events.recv().await {
                if let Event::Request {
                    peer,
                    role,
                    kind: KIND_COSIGN,
                    payload,
                    responder,
                } = ev
                {
                    let _ =
                        responder.respond(answering.cosign_answer(peer, role, &payload).encode());
                }
            }
        });
        p.node_net
            .connect(member, member_net.local_addr().unwrap())
            .await
            .unwrap();

        let user = SigningKey::from_bytes(&[9; 32]);
        let body = br#"{"model":"m","prompt":"x"}"#;
        let (frames, clean) = exchange(&mut p, &svc, &head(&user, body, 1), body).await;
        assert!(clean);
        let r = CallTrailer::decode(&frames.last().unwrap().1)
            .unwrap()
            .receipt
            .unwrap();
        let c = next_cosigned(&mut p)
            .await
            .expect("the co-signatures reach the router");
        assert_eq!(
            (c.user, c.epoch, c.nonce, c.body_hash),
            (r.user, r.epoch, r.nonce, r.body_hash())
        );
        assert_eq!(c.cosignatures.len(), 1);
        assert_eq!(c.cosignatures[0].node, member);
        // They pass the market's rule.
        assert_eq!(
            emc_types::pool::verify_cosignatures(
                7,
                &entry,
                &[(entry, true), (member, true)],
                &r.body_hash(),
                &c.cosignatures,
                |k, m, s| signature_valid(k, m, s),
            ),
            Ok(())
        );
        assert_eq!(
            (svc.cosign_stats().collected, svc.cosign_stats().missing),
            (1, 0)
        );
        assert_eq!(member_svc.cosign_stats().signed, 1);

        // The member refuses a peer that is not its entry (the router), and a receipt that
        // is not the entry's.
        let req = CosignRequest {
            pool_id: 7,
            receipt: r.clone(),
        };
        assert_eq!(
            member_svc
                .cosign_answer(NodeId([1; 32]), Role::Router, &req.encode())
                .0,
            Err(CosignRefusal::NotEntry)
        );
        assert_eq!(
            member_svc
                .cosign_answer(member, Role::Compute, &req.encode())
                .0,
            Err(CosignRefusal::NotEntry)
        );
        assert_eq!(
            member_svc.cosign_answer(entry, Role::Compute, b"junk").0,
            Err(CosignRefusal::Malformed)
        );
        // The member now believes it is in another pool: it refuses; the receipt came back
        // (served) and its co-signature is counted as missing.
        *member_svc.pool().write().unwrap() = Some(PoolPeers {
            id: 8,
            ..pool.clone()
        });
        let (frames, _) = exchange(&mut p, &svc, &head(&user, body, 2), body).await;
        let t = CallTrailer::decode(&frames.last().unwrap().1).unwrap();
        assert!(t.receipt.is_some());
        assert!(cosign_stats_until(&svc, |s| s.missing == 1).await);
        // The member (in the pool again) is gone: the call is served, the co-signature
        // counted as missing; the router got no co-signature of either receipt.
        *member_svc.pool().write().unwrap() = Some(pool);
        member_net.close().await;
        let (frames, clean) = exchange(&mut p, &svc, &head(&user, body, 3), body).await;
        assert!(clean);
        let t = CallTrailer::decode(&frames.last().unwrap().1).unwrap();
        assert!(t.receipt.is_some());
        assert!(cosign_stats_until(&svc, |s| s.missing == 2).await);
        assert_eq!(svc.cosign_stats().collected, 1);
        while let Ok(e) = p.router_events.try_recv() {
            assert!(!matches!(
                e,
                Event::Frame {
                    kind: KIND_COSIGNED,
                    ..
                }
            ));
        }
    }

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
