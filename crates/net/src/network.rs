//! The peer manager: one QUIC endpoint, one live connection per peer, dialing with backoff,
//! frames and requests in, events out.

use crate::auth::{Authorizer, Role, Roles};
use crate::config::NetConfig;
use crate::error::{close_code, NetError, RESET_NO_RESPONSE};
use crate::frame::{
    encode_header, is_reserved, read_frame, FrameError, ReadError, ABSOLUTE_MAX_FRAME_BYTES,
    HEADER_LEN, KIND_HELLO, KIND_HELLO_ACK,
};
use crate::hello::{Hello, HelloError};
use crate::identity::{node_id_of_certificate, Identity};
use crate::metrics::{add, inc, Metrics, MetricsSnapshot};
use crate::tls::{self, ALPN, SERVER_NAME};
use bytes::Bytes;
use emc_types::NodeId;
use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};
use quinn::{Connection, IdleTimeout, RecvStream, SendStream, TransportConfig, VarInt};
use rand::Rng;
use rustls::pki_types::CertificateDer;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Largest hello payload read (a version-1 hello is 7 bytes).
const HELLO_MAX: usize = 64;
/// How often a dialer re-checks a connected peer even without a wake-up.
const DIAL_RECHECK: Duration = Duration::from_secs(1);
/// Concurrent requests one peer may have open to us.
const MAX_REQUESTS_IN_FLIGHT: u32 = 64;
/// Incoming handshakes processed at once; more are refused until some finish.
const MAX_PENDING_HANDSHAKES: usize = 256;
/// The larger node id of a pair waits this many `backoff_min` before its first dial.
const FIRST_DIAL_HEAD_START: u32 = 4;
/// Bounds on how long a replaced duplicate connection stays open to deliver frames in flight.
const RETIRE_GRACE_MIN: Duration = Duration::from_millis(50);
const RETIRE_GRACE_MAX: Duration = Duration::from_secs(1);
/// Bounds on how long `close` waits for connections to drain.
const CLOSE_DRAIN_MIN: Duration = Duration::from_millis(20);
const CLOSE_DRAIN_MAX: Duration = Duration::from_secs(1);

/// What the network tells the application.
#[derive(Debug)]
pub enum Event {
    /// A connection to `peer` is up (after TLS and the hello). Comes before any frame from it.
    PeerUp {
        /// The peer.
        peer: NodeId,
        /// The role it claimed and the authorizer confirmed.
        role: Role,
        /// Its address.
        addr: SocketAddr,
    },
    /// The connection to `peer` is gone; no frame of it follows. Frames queued for it were
    /// dropped. (Not reported for connections replaced by a duplicate, nor on [`Network::close`].)
    PeerDown {
        /// The peer.
        peer: NodeId,
    },
    /// A frame from `peer`, in the order the peer sent it.
    Frame {
        /// The sender.
        peer: NodeId,
        /// The sender's role.
        role: Role,
        /// Application-defined kind.
        kind: u8,
        /// The payload.
        payload: Bytes,
    },
    /// A request from `peer`; answer it with `responder` (dropping it answers "no response").
    Request {
        /// The requester.
        peer: NodeId,
        /// The requester's role.
        role: Role,
        /// Application-defined kind.
        kind: u8,
        /// The request.
        payload: Bytes,
        /// Sends the answer.
        responder: Responder,
    },
}

/// Answers one [`Event::Request`]. Dropping it without answering resets the request stream:
/// the requester gets [`NetError::NoResponse`] at once.
pub struct Responder {
    tx: oneshot::Sender<Bytes>,
    max: usize,
}

impl Responder {
    /// Sends `payload` back (without blocking: a task writes it). Fails if it exceeds the
    /// frame cap (the requester then gets [`NetError::NoResponse`]) or the request is gone
    /// (requester timed out, connection lost).
    pub fn respond(self, payload: impl Into<Bytes>) -> Result<(), NetError> {
        let payload = payload.into();
        if payload.len() > self.max {
            return Err(FrameError::TooLarge {
                len: payload.len() as u64,
                max: self.max,
            }
            .into());
        }
        self.tx.send(payload).map_err(|_| NetError::NoResponse)
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// A live connection, as [`Network::peers`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer.
    pub node: NodeId,
    /// Its role.
    pub role: Role,
    /// Its address.
    pub addr: SocketAddr,
    /// Whether we dialed it.
    pub outbound: bool,
    /// QUIC's current round-trip estimate.
    pub rtt: Duration,
}

/// The edge network's transport: a QUIC endpoint that keeps one authenticated connection per
/// peer. Cheap to clone (all clones drive the same endpoint). Dropping the handles does not
/// stop it: call [`Network::close`].
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

struct Inner {
    config: NetConfig,
    identity: Identity,
    node_id: NodeId,
    role: Role,
    authorizer: Arc<dyn Authorizer>,
    endpoint: quinn::Endpoint,
    transport: Arc<TransportConfig>,
    metrics: Arc<Metrics>,
    events: mpsc::Sender<Event>,
    runtime: Handle,
    state: Mutex<State>,
    /// Serializes connection installs and removals with their PeerUp/PeerDown events, so the
    /// application sees them in the order they happened.
    membership: tokio::sync::Mutex<()>,
    blocked: RwLock<HashSet<NodeId>>,
    shutdown: watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    peers: HashMap<NodeId, PeerSlot>,
    dials: HashMap<NodeId, DialEntry>,
    closed: bool,
}

struct PeerSlot {
    live: Option<Live>,
    queue: Arc<SendQueue>,
    ever_up: bool,
}

#[derive(Clone)]
struct Live {
    conn: Connection,
    role: Role,
    addr: SocketAddr,
    outbound: bool,
    peer_max_frame: usize,
    since: Instant,
}

struct DialEntry {
    addr: SocketAddr,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

/// A peer's outgoing frames: bounded, drop-oldest.
struct SendQueue {
    frames: Mutex<VecDeque<(u8, Bytes)>>,
    notify: Notify,
    cap: usize,
}

impl SendQueue {
    fn new(cap: usize) -> SendQueue {
        SendQueue {
            frames: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            cap,
        }
    }

    /// Queues a frame; returns whether the oldest frame was dropped to make room.
    fn push(&self, kind: u8, payload: Bytes) -> bool {
        let dropped = {
            let mut q = lock(&self.frames);
            let dropped = q.len() >= self.cap && q.pop_front().is_some();
            q.push_back((kind, payload));
            dropped
        };
        self.notify.notify_one();
        dropped
    }

    /// Everything queued, waiting until there is something.
    async fn next_batch(&self) -> Vec<(u8, Bytes)> {
        loop {
            {
                let mut q = lock(&self.frames);
                if !q.is_empty() {
                    return q.drain(..).collect();
                }
            }
            self.notify.notified().await;
        }
    }

    /// Puts frames taken by a retiring writer back at the head of the queue, in order.
    fn requeue_front(&self, batch: Vec<(u8, Bytes)>) {
        {
            let mut q = lock(&self.frames);
            for frame in batch.into_iter().rev() {
                q.push_front(frame);
            }
        }
        self.notify.notify_one();
    }

    fn clear(&self) -> usize {
        let mut q = lock(&self.frames);
        let n = q.len();
        q.clear();
        n
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn code(c: u32) -> VarInt {
    VarInt::from_u32(c)
}

fn check_kind(kind: u8) -> Result<(), NetError> {
    if is_reserved(kind) {
        Err(NetError::ReservedKind(kind))
    } else {
        Ok(())
    }
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

/// The error to report for a failed stream: the connection's close reason when it is closed.
fn stream_error(conn: &Connection, e: impl fmt::Display) -> NetError {
    match conn.close_reason() {
        Some(reason) => reason.into(),
        None => NetError::Stream(e.to_string()),
    }
}

/// The authenticated peer of a connection (the verifiers already checked its key), after
/// checking that `emc/1` was negotiated.
fn peer_of(conn: &Connection) -> Result<NodeId, NetError> {
    let protocol = conn
        .handshake_data()
        .and_then(|d| d.downcast::<HandshakeData>().ok())
        .and_then(|d| d.protocol);
    if protocol.as_deref() != Some(ALPN) {
        return Err(NetError::Handshake(
            "the peer did not negotiate emc/1".into(),
        ));
    }
    let certs = conn
        .peer_identity()
        .and_then(|i| i.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or_else(|| NetError::Handshake("no peer certificate".into()))?;
    let cert = certs
        .first()
        .ok_or_else(|| NetError::Handshake("no peer certificate".into()))?;
    node_id_of_certificate(cert).map_err(|e| NetError::Handshake(e.to_string()))
}

fn transport_config(c: &NetConfig) -> Result<TransportConfig, NetError> {
    let idle = IdleTimeout::try_from(c.idle_timeout)
        .map_err(|_| NetError::Config("idle_timeout is too large".into()))?;
    let mut t = TransportConfig::default();
    t.keep_alive_interval(Some(c.keep_alive_interval))
        .max_idle_timeout(Some(idle))
        .enable_segmentation_offload(c.gso)
        // One frame stream each way, and a few spare for a reopened one.
        .max_concurrent_uni_streams(code(4))
        // Requests in flight from one peer (more wait for credit, they do not fail).
        .max_concurrent_bidi_streams(code(MAX_REQUESTS_IN_FLIGHT))
        .datagram_receive_buffer_size(None);
    Ok(t)
}

async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens with the network itself.
    let _ = rx.wait_for(|closed| *closed).await;
}

impl Network {
    /// Binds the endpoint on `config.listen_addr` and starts accepting connections. `role` is
    /// what this node claims in its hellos (peers check it against their authorizer). Must
    /// be called inside a tokio runtime. Returns the handle and the event stream; the network
    /// waits (and QUIC flow control slows peers) when the application does not read events.
    pub fn bind(
        config: NetConfig,
        identity: Identity,
        authorizer: Arc<dyn Authorizer>,
        role: Role,
    ) -> Result<(Network, mpsc::Receiver<Event>), NetError> {
        config.validate()?;
        let runtime = Handle::try_current().map_err(|_| NetError::NoRuntime)?;
        let metrics = Arc::new(Metrics::default());
        let transport = Arc::new(transport_config(&config)?);
        let tls = tls::server_config(&identity, authorizer.clone(), metrics.clone())?;
        let quic = QuicServerConfig::try_from(tls)
            .map_err(|e| NetError::Config(format!("QUIC TLS: {e}")))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
        server.transport_config(transport.clone());
        let endpoint = {
            let _guard = runtime.enter();
            quinn::Endpoint::server(server, config.listen_addr).map_err(NetError::Bind)?
        };
        let (events, rx) = mpsc::channel(config.event_queue_len);
        let (shutdown, _) = watch::channel(false);
        let node_id = identity.node_id();
        info!(node = ?node_id, %role, addr = ?endpoint.local_addr().ok(), gso = config.gso,
              "network bound");
        let inner = Arc::new(Inner {
            config,
            identity,
            node_id,
            role,
            authorizer,
            endpoint,
            transport,
            metrics,
            events,
            runtime,
            state: Mutex::new(State::default()),
            membership: tokio::sync::Mutex::new(()),
            blocked: RwLock::new(HashSet::new()),
            shutdown,
        });
        inner.runtime.spawn(accept_loop(inner.clone()));
        Ok((Network { inner }, rx))
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.inner.endpoint.local_addr().map_err(NetError::Bind)
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// This node's role.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// Keeps a connection to `peer` at `addr`: dials now, redials with exponential backoff
    /// (`backoff_min` doubling to `backoff_max`, with jitter) after failures and drops. Does
    /// not dial while a connection in either direction is up. Calling it again updates the
    /// address.
    pub fn add_peer(&self, peer: NodeId, addr: SocketAddr) {
        if peer == self.inner.node_id {
            warn!("add_peer: refusing to dial ourselves");
            return;
        }
        let mut st = lock(&self.inner.state);
        if st.closed {
            return;
        }
        if let Some(entry) = st.dials.get_mut(&peer) {
            entry.addr = addr;
            return;
        }
        let wake = Arc::new(Notify::new());
        let task = self
            .inner
            .runtime
            .spawn(dial_loop(self.inner.clone(), peer, wake.clone()));
        st.dials.insert(peer, DialEntry { addr, wake, task });
    }

    /// Stops dialing `peer` and closes the connection to it, if any. The peer may still
    /// connect to us if the authorizer lists it.
    pub fn remove_peer(&self, peer: &NodeId) {
        let (entry, live) = {
            let mut st = lock(&self.inner.state);
            let entry = st.dials.remove(peer);
            let live = st.peers.get(peer).and_then(|s| s.live.clone());
            (entry, live)
        };
        if let Some(entry) = entry {
            entry.task.abort();
        }
        if let Some(live) = live {
            live.conn.close(code(close_code::NORMAL), b"removed");
        }
    }

    /// Dials `peer` once (no retry, not added to the dial list) and returns its role, or why
    /// it failed. Returns at once if a connection to it is already up.
    pub async fn connect(&self, peer: NodeId, addr: SocketAddr) -> Result<Role, NetError> {
        if let Some(live) = self.inner.live(&peer) {
            return Ok(live.role);
        }
        self.inner.dial(peer, addr).await
    }

    /// Queues a frame for `peer` and returns at once. The per-peer queue holds
    /// `peer_queue_len` frames; when full, the oldest queued frame is dropped (counted in
    /// `dropped_queue_full`), so a slow peer gets the freshest frames. Delivery is in order
    /// and at most once: frames still queued when the connection drops are discarded, never
    /// carried to the next connection. Fails when no connection is up, for a reserved kind,
    /// or for a payload over the cap (ours or the peer's, whichever is smaller).
    pub fn send(&self, peer: &NodeId, kind: u8, payload: impl Into<Bytes>) -> Result<(), NetError> {
        check_kind(kind)?;
        let payload = payload.into();
        let (queue, peer_max) = {
            let st = lock(&self.inner.state);
            st.peers
                .get(peer)
                .and_then(|s| s.live.as_ref().map(|l| (s.queue.clone(), l.peer_max_frame)))
                .ok_or(NetError::NotConnected(*peer))?
        };
        self.inner.check_size(payload.len(), peer_max)?;
        self.inner.enqueue(peer, &queue, kind, payload);
        Ok(())
    }

    /// Queues a frame for every connected peer whose role is in `roles`; returns how many.
    /// Peers whose frame cap is below the payload are skipped.
    pub fn broadcast(
        &self,
        kind: u8,
        payload: impl Into<Bytes>,
        roles: Roles,
    ) -> Result<usize, NetError> {
        check_kind(kind)?;
        let payload = payload.into();
        self.inner.check_size(payload.len(), usize::MAX)?;
        let targets: Vec<(NodeId, Arc<SendQueue>, usize)> = {
            let st = lock(&self.inner.state);
            st.peers
                .iter()
                .filter_map(|(node, slot)| {
                    let live = slot.live.as_ref()?;
                    roles
                        .contains(live.role)
                        .then(|| (*node, slot.queue.clone(), live.peer_max_frame))
                })
                .collect()
        };
        let mut sent = 0;
        for (peer, queue, peer_max) in targets {
            if payload.len() > peer_max {
                debug!(
                    ?peer,
                    len = payload.len(),
                    peer_max,
                    "broadcast: frame over the peer's cap"
                );
                continue;
            }
            self.inner.enqueue(&peer, &queue, kind, payload.clone());
            sent += 1;
        }
        Ok(sent)
    }

    /// Sends a request on a new bidirectional stream and waits up to `timeout` for the answer.
    /// Answers are capped like frames.
    pub async fn request(
        &self,
        peer: &NodeId,
        kind: u8,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Bytes, NetError> {
        check_kind(kind)?;
        let payload = payload.into();
        let inner = &self.inner;
        let live = inner.live(peer).ok_or(NetError::NotConnected(*peer))?;
        inner.check_size(payload.len(), live.peer_max_frame)?;
        let deadline = Instant::now() + timeout;
        if inner.is_blocked(peer) {
            return inner.blackhole(deadline).await;
        }
        inc(&inner.metrics.requests_out);
        let max = inner.config.max_frame_bytes;
        let len = payload.len();
        let exchange = async {
            let (mut send, mut recv) = live.conn.open_bi().await?;
            let header = encode_header(kind, len, ABSOLUTE_MAX_FRAME_BYTES)?;
            send.write_all_chunks(&mut [Bytes::copy_from_slice(&header), payload])
                .await
                .map_err(|e| stream_error(&live.conn, e))?;
            let _ = send.finish();
            add(&inner.metrics.bytes_out, (HEADER_LEN + len) as u64);
            match read_frame(&mut recv, max).await {
                Ok(Some(f)) if f.kind == kind => {
                    add(
                        &inner.metrics.bytes_in,
                        (HEADER_LEN + f.payload.len()) as u64,
                    );
                    Ok(f.payload)
                }
                Ok(Some(f)) => Err(NetError::Stream(format!(
                    "answer of kind {} to a request of kind {kind}",
                    f.kind
                ))),
                Ok(None) => Err(NetError::NoResponse),
                Err(ReadError::Frame(e)) => Err(e.into()),
                Err(ReadError::Io(_)) => Err(match live.conn.close_reason() {
                    Some(reason) => reason.into(),
                    None => NetError::NoResponse,
                }),
            }
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Err(_) => {
                inc(&inner.metrics.request_timeouts);
                Err(NetError::Timeout)
            }
            Ok(Ok(_)) if inner.is_blocked(peer) => inner.blackhole(deadline).await,
            Ok(r) => r,
        }
    }

    /// Whether a connection to `peer` is up.
    pub fn is_connected(&self, peer: &NodeId) -> bool {
        self.inner.live(peer).is_some()
    }

    /// The live connections.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let st = lock(&self.inner.state);
        let mut out: Vec<PeerInfo> = st
            .peers
            .iter()
            .filter_map(|(node, slot)| {
                slot.live.as_ref().map(|l| PeerInfo {
                    node: *node,
                    role: l.role,
                    addr: l.addr,
                    outbound: l.outbound,
                    rtt: l.conn.rtt(),
                })
            })
            .collect();
        out.sort_by_key(|p| p.node);
        out
    }

    /// QUIC's round-trip estimate to `peer`.
    pub fn rtt(&self, peer: &NodeId) -> Option<Duration> {
        self.inner.live(peer).map(|l| l.conn.rtt())
    }

    /// Fault injection for partition tests: while `blocked`, every frame and request to or
    /// from `peer` is silently dropped at the transport (counted in `dropped_blocked`), and
    /// requests to it wait out their timeout, while the connection itself (keep-alives,
    /// handshake state) stays up. Unblocking heals at once. Not for production use.
    pub fn set_blocked(&self, peer: NodeId, blocked: bool) {
        let mut set = self
            .inner
            .blocked
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if blocked {
            set.insert(peer);
        } else {
            set.remove(&peer);
        }
        info!(?peer, blocked, "fault injection: peer traffic blocked");
    }

    /// Closes every connection whose peer the authorizer no longer lists for its role (after
    /// a registry refresh); returns how many.
    pub fn revalidate(&self) -> usize {
        let lives: Vec<(NodeId, Live)> = {
            let st = lock(&self.inner.state);
            st.peers
                .iter()
                .filter_map(|(n, s)| s.live.clone().map(|l| (*n, l)))
                .collect()
        };
        let mut closed = 0;
        for (peer, live) in lives {
            if !self.inner.authorizer.roles_of(&peer).contains(live.role) {
                info!(?peer, role = %live.role, "peer no longer authorized: closing");
                live.conn
                    .close(code(close_code::NOT_AUTHORIZED), b"no longer authorized");
                closed += 1;
            }
        }
        closed
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// Stops dialing, closes every connection (code [`close_code::NORMAL`]) and the endpoint,
    /// waits briefly (three round trips, at most a second) for the close to reach the peers,
    /// and stops every task. No event follows. quinn releases the UDP port once the last
    /// handle is dropped and its connections have drained (up to a few seconds for dials still
    /// handshaking with unreachable peers).
    pub async fn close(&self) {
        let dials = {
            let mut st = lock(&self.inner.state);
            st.closed = true;
            std::mem::take(&mut st.dials)
        };
        for entry in dials.into_values() {
            entry.task.abort();
        }
        // Long enough for a lost CONNECTION_CLOSE to be sent again (three round trips to the
        // slowest peer), but bounded: connections still handshaking with unreachable peers
        // would hold `wait_idle` for seconds.
        let drain = self
            .peers()
            .iter()
            .map(|p| p.rtt * 3)
            .max()
            .unwrap_or_default()
            .clamp(CLOSE_DRAIN_MIN, CLOSE_DRAIN_MAX);
        self.inner.shutdown.send_replace(true);
        self.inner
            .endpoint
            .close(code(close_code::NORMAL), b"shutdown");
        let _ = tokio::time::timeout(drain, self.inner.endpoint.wait_idle()).await;
        let peers = std::mem::take(&mut lock(&self.inner.state).peers);
        drop(peers);
        info!(node = ?self.inner.node_id, "network closed");
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("node_id", &self.inner.node_id)
            .field("role", &self.inner.role)
            .field("local_addr", &self.inner.endpoint.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn live(&self, peer: &NodeId) -> Option<Live> {
        lock(&self.state)
            .peers
            .get(peer)
            .and_then(|s| s.live.clone())
    }

    fn is_blocked(&self, peer: &NodeId) -> bool {
        self.blocked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(peer)
    }

    fn check_size(&self, len: usize, peer_max: usize) -> Result<(), NetError> {
        let max = self.config.max_frame_bytes.min(peer_max);
        if len > max {
            return Err(FrameError::TooLarge {
                len: len as u64,
                max,
            }
            .into());
        }
        Ok(())
    }

    fn enqueue(&self, peer: &NodeId, queue: &SendQueue, kind: u8, payload: Bytes) {
        if self.is_blocked(peer) {
            inc(&self.metrics.dropped_blocked);
        } else if queue.push(kind, payload) {
            inc(&self.metrics.dropped_queue_full);
        }
    }

    /// A request to or from a blocked peer: nothing comes back, so it times out.
    async fn blackhole(&self, deadline: Instant) -> Result<Bytes, NetError> {
        inc(&self.metrics.dropped_blocked);
        tokio::time::sleep_until(deadline).await;
        inc(&self.metrics.request_timeouts);
        Err(NetError::Timeout)
    }

    /// Sends an event unless the network is shutting down; false when it was not delivered.
    async fn emit(&self, event: Event) -> bool {
        let mut shutdown = self.shutdown.subscribe();
        if *shutdown.borrow() {
            return false;
        }
        tokio::select! {
            r = self.events.send(event) => r.is_ok(),
            _ = wait_shutdown(&mut shutdown) => false,
        }
    }

    /// Validates a hello from `peer`: version, shape, and that the authorizer lists the key
    /// for the claimed role. On refusal, the close code to use.
    fn check_hello(&self, peer: &NodeId, payload: &[u8]) -> Result<Hello, (u32, NetError)> {
        match Hello::decode(payload) {
            Err(HelloError::Version(v)) => {
                inc(&self.metrics.refused_version);
                Err((
                    close_code::VERSION_MISMATCH,
                    NetError::Handshake(HelloError::Version(v).to_string()),
                ))
            }
            Err(e) => {
                inc(&self.metrics.refused_bad_hello);
                Err((close_code::BAD_HELLO, NetError::Handshake(e.to_string())))
            }
            Ok(h) if !self.authorizer.roles_of(peer).contains(h.role) => {
                inc(&self.metrics.refused_role);
                Err((
                    close_code::ROLE_NOT_AUTHORIZED,
                    NetError::Handshake(format!("{peer:?} is not registered as {}", h.role)),
                ))
            }
            Ok(h) => Ok(h),
        }
    }

    /// Reads the hello (or ack) of `expected_kind` from `recv` and checks it.
    async fn read_hello(
        &self,
        conn: &Connection,
        peer: &NodeId,
        recv: &mut RecvStream,
        expected_kind: u8,
    ) -> Result<Hello, (u32, NetError)> {
        match read_frame(recv, HELLO_MAX).await {
            Ok(Some(f)) if f.kind == expected_kind => self.check_hello(peer, &f.payload),
            Ok(_) | Err(ReadError::Frame(_)) => {
                inc(&self.metrics.refused_bad_hello);
                Err((
                    close_code::BAD_HELLO,
                    NetError::Handshake("expected a hello frame".into()),
                ))
            }
            Err(ReadError::Io(e)) => Err((close_code::BAD_HELLO, stream_error(conn, e))),
        }
    }

    fn hello_frame(&self, kind: u8) -> Bytes {
        let hello = Hello::new(self.role, self.config.max_frame_bytes).encode();
        let mut out = Vec::with_capacity(HEADER_LEN + hello.len());
        // A 7-byte payload is always under the absolute cap.
        if let Ok(h) = encode_header(kind, hello.len(), ABSOLUTE_MAX_FRAME_BYTES) {
            out.extend_from_slice(&h);
        }
        out.extend_from_slice(&hello);
        out.into()
    }

    /// Dials `peer` once: TLS (the verifier pins the key), hello, ack, install.
    async fn dial(self: &Arc<Self>, peer: NodeId, addr: SocketAddr) -> Result<Role, NetError> {
        let hs = self.config.handshake_timeout;
        let tls = tls::client_config(
            &self.identity,
            self.authorizer.clone(),
            Some(peer),
            self.metrics.clone(),
        )?;
        let quic = QuicClientConfig::try_from(tls)
            .map_err(|e| NetError::Config(format!("QUIC TLS: {e}")))?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic));
        client.transport_config(self.transport.clone());
        let connecting = self.endpoint.connect_with(client, addr, SERVER_NAME)?;
        let conn = match tokio::time::timeout(hs, connecting).await {
            Err(_) => {
                inc(&self.metrics.handshake_timeouts);
                return Err(NetError::Timeout);
            }
            Ok(r) => r?,
        };
        match peer_of(&conn) {
            Ok(got) if got == peer => {}
            Ok(_) => {
                conn.close(code(close_code::BAD_HELLO), b"unexpected key");
                return Err(NetError::Handshake(
                    "the peer's key is not the one dialed".into(),
                ));
            }
            Err(e) => {
                conn.close(code(close_code::BAD_HELLO), b"bad handshake");
                return Err(e);
            }
        }
        let exchange = async {
            let (mut send, mut recv) = conn
                .open_bi()
                .await
                .map_err(|e| (close_code::BAD_HELLO, NetError::from(e)))?;
            send.write_chunk(self.hello_frame(KIND_HELLO))
                .await
                .map_err(|e| (close_code::BAD_HELLO, stream_error(&conn, e)))?;
            let _ = send.finish();
            self.read_hello(&conn, &peer, &mut recv, KIND_HELLO_ACK)
                .await
        };
        let hello = match tokio::time::timeout(hs, exchange).await {
            Err(_) => {
                inc(&self.metrics.handshake_timeouts);
                conn.close(code(close_code::BAD_HELLO), b"no hello ack in time");
                return Err(NetError::Timeout);
            }
            Ok(Err((c, e))) => {
                conn.close(code(c), e.to_string().as_bytes());
                return Err(e);
            }
            Ok(Ok(h)) => h,
        };
        let live = Live {
            addr: conn.remote_address(),
            conn,
            role: hello.role,
            outbound: true,
            peer_max_frame: hello.max_frame as usize,
            since: Instant::now(),
        };
        self.install(peer, live).await?;
        Ok(hello.role)
    }

    /// Accepts one incoming connection: TLS (the verifier checks the key), hello, install,
    /// ack.
    async fn accept(self: &Arc<Self>, incoming: quinn::Incoming) -> Result<(), NetError> {
        let hs = self.config.handshake_timeout;
        let connecting = incoming.accept()?;
        let conn = match tokio::time::timeout(hs, connecting).await {
            Err(_) => {
                inc(&self.metrics.handshake_timeouts);
                return Err(NetError::Timeout);
            }
            Ok(r) => r?,
        };
        let peer = match peer_of(&conn) {
            Ok(p) => p,
            Err(e) => {
                conn.close(code(close_code::BAD_HELLO), b"bad handshake");
                return Err(e);
            }
        };
        let exchange = async {
            let (send, mut recv) = conn
                .accept_bi()
                .await
                .map_err(|e| (close_code::BAD_HELLO, NetError::from(e)))?;
            let hello = self.read_hello(&conn, &peer, &mut recv, KIND_HELLO).await?;
            Ok::<_, (u32, NetError)>((hello, send))
        };
        let (hello, mut send) = match tokio::time::timeout(hs, exchange).await {
            Err(_) => {
                inc(&self.metrics.handshake_timeouts);
                inc(&self.metrics.refused_bad_hello);
                conn.close(code(close_code::BAD_HELLO), b"no hello in time");
                return Err(NetError::Timeout);
            }
            Ok(Err((c, e))) => {
                debug!(?peer, "refusing hello: {e}");
                conn.close(code(c), e.to_string().as_bytes());
                return Err(e);
            }
            Ok(Ok(x)) => x,
        };
        let live = Live {
            addr: conn.remote_address(),
            conn: conn.clone(),
            role: hello.role,
            outbound: false,
            peer_max_frame: hello.max_frame as usize,
            since: Instant::now(),
        };
        self.install(peer, live).await?;
        if let Err(e) = send.write_chunk(self.hello_frame(KIND_HELLO_ACK)).await {
            debug!(?peer, "sending the hello ack failed: {e}");
        }
        let _ = send.finish();
        Ok(())
    }

    /// Makes `live` the peer's connection unless a preferred one exists, emits PeerUp when the
    /// peer was down, and starts the connection's tasks. With two connections to one peer,
    /// the newer wins if both were dialed by the same side (the older is likely dead: the peer
    /// restarted); otherwise the one dialed by the smaller node id wins, on both sides alike.
    async fn install(self: &Arc<Self>, peer: NodeId, live: Live) -> Result<(), NetError> {
        enum Outcome {
            Up { reconnect: bool },
            Replaced(Live),
            Rejected,
        }
        let _membership = self.membership.lock().await;
        let outcome = {
            let mut st = lock(&self.state);
            if st.closed {
                None
            } else {
                let cap = self.config.peer_queue_len;
                let slot = st.peers.entry(peer).or_insert_with(|| PeerSlot {
                    live: None,
                    queue: Arc::new(SendQueue::new(cap)),
                    ever_up: false,
                });
                Some(match slot.live.take() {
                    None => {
                        let reconnect = slot.ever_up;
                        slot.ever_up = true;
                        slot.live = Some(live.clone());
                        Outcome::Up { reconnect }
                    }
                    Some(old) => {
                        let preferred_outbound = self.node_id < peer;
                        if old.outbound == live.outbound || live.outbound == preferred_outbound {
                            slot.live = Some(live.clone());
                            Outcome::Replaced(old)
                        } else {
                            slot.live = Some(old);
                            Outcome::Rejected
                        }
                    }
                })
            }
        };
        match outcome {
            None => {
                live.conn.close(code(close_code::NORMAL), b"shutdown");
                return Err(NetError::Closed);
            }
            Some(Outcome::Rejected) => {
                inc(&self.metrics.duplicates_closed);
                debug!(
                    ?peer,
                    outbound = live.outbound,
                    "duplicate connection closed"
                );
                live.conn
                    .close(code(close_code::DUPLICATE), b"duplicate connection");
                return Err(NetError::Duplicate(peer));
            }
            Some(Outcome::Replaced(old)) => {
                inc(&self.metrics.duplicates_closed);
                debug!(
                    ?peer,
                    outbound = live.outbound,
                    "connection replaces a duplicate"
                );
                // The old connection stops taking frames from the queue now (its writer sees
                // it is no longer current), but stays open briefly so that frames already in
                // flight on it in either direction are still read.
                let grace = (old.conn.rtt() * 3).clamp(RETIRE_GRACE_MIN, RETIRE_GRACE_MAX);
                self.runtime.spawn(async move {
                    tokio::time::sleep(grace).await;
                    old.conn
                        .close(code(close_code::DUPLICATE), b"duplicate connection");
                });
            }
            Some(Outcome::Up { reconnect }) => {
                inc(&self.metrics.connects);
                if reconnect {
                    inc(&self.metrics.reconnects);
                }
                info!(?peer, role = %live.role, addr = %live.addr, outbound = live.outbound, "peer up");
                self.emit(Event::PeerUp {
                    peer,
                    role: live.role,
                    addr: live.addr,
                })
                .await;
            }
        }
        self.runtime.spawn(drive(self.clone(), peer, live));
        Ok(())
    }

    /// Called once per connection when its tasks end: if it was the peer's connection, the
    /// peer is down.
    async fn connection_ended(&self, peer: NodeId, live: &Live) {
        let _membership = self.membership.lock().await;
        let (down, dropped, wake) = {
            let mut st = lock(&self.state);
            let mut down = false;
            let mut dropped = 0;
            if let Some(slot) = st.peers.get_mut(&peer) {
                let current = slot
                    .live
                    .as_ref()
                    .is_some_and(|l| l.conn.stable_id() == live.conn.stable_id());
                if current {
                    slot.live = None;
                    dropped = slot.queue.clear();
                    down = true;
                }
            }
            (down, dropped, st.dials.get(&peer).map(|d| d.wake.clone()))
        };
        live.conn.close(code(close_code::NORMAL), b"");
        if down {
            add(&self.metrics.dropped_disconnected, dropped as u64);
            info!(?peer, reason = ?live.conn.close_reason(), "peer down");
            self.emit(Event::PeerDown { peer }).await;
            if let Some(wake) = wake {
                wake.notify_one();
            }
        }
    }

    fn is_current(&self, peer: &NodeId, conn: &Connection) -> bool {
        lock(&self.state)
            .peers
            .get(peer)
            .and_then(|s| s.live.as_ref())
            .is_some_and(|l| l.conn.stable_id() == conn.stable_id())
    }

    fn dial_addr(&self, peer: &NodeId) -> Option<SocketAddr> {
        lock(&self.state).dials.get(peer).map(|d| d.addr)
    }
}

async fn accept_loop(inner: Arc<Inner>) {
    let mut shutdown = inner.shutdown.subscribe();
    let pending = Arc::new(AtomicUsize::new(0));
    loop {
        let incoming = tokio::select! {
            i = inner.endpoint.accept() => i,
            _ = wait_shutdown(&mut shutdown) => None,
        };
        let Some(incoming) = incoming else { break };
        let remote = incoming.remote_address();
        if pending.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING_HANDSHAKES {
            pending.fetch_sub(1, Ordering::AcqRel);
            debug!(%remote, "too many handshakes in progress: refusing");
            incoming.refuse();
            continue;
        }
        let task_inner = inner.clone();
        let task_pending = pending.clone();
        let mut task_shutdown = inner.shutdown.subscribe();
        inner.runtime.spawn(async move {
            tokio::select! {
                r = task_inner.accept(incoming) => {
                    if let Err(e) = r {
                        debug!(%remote, "incoming connection refused: {e}");
                    }
                }
                _ = wait_shutdown(&mut task_shutdown) => {}
            }
            task_pending.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

async fn dial_loop(inner: Arc<Inner>, peer: NodeId, wake: Arc<Notify>) {
    let (min, max) = (inner.config.backoff_min, inner.config.backoff_max);
    let mut delay = min;
    let mut shutdown = inner.shutdown.subscribe();
    // When the connection we last saw came up.
    let mut seen_up: Option<Instant> = None;
    // When both sides list each other, the smaller id dials first and the larger one gives it
    // a head start, so that they rarely dial each other at once (which costs a duplicate).
    if inner.node_id > peer {
        tokio::select! {
            _ = tokio::time::sleep(jitter(min * FIRST_DIAL_HEAD_START)) => {}
            _ = wait_shutdown(&mut shutdown) => return,
        }
    }
    loop {
        if let Some(live) = inner.live(&peer) {
            seen_up = Some(live.since);
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(DIAL_RECHECK) => {}
                _ = wait_shutdown(&mut shutdown) => return,
            }
            continue;
        }
        let pause = match seen_up.take() {
            // The connection dropped: wait before redialing, briefly if it had lasted.
            Some(since) => {
                if since.elapsed() >= max {
                    delay = min;
                }
                true
            }
            None => false,
        };
        if !pause {
            let Some(addr) = inner.dial_addr(&peer) else {
                return;
            };
            let result = tokio::select! {
                r = inner.dial(peer, addr) => r,
                _ = wait_shutdown(&mut shutdown) => return,
            };
            match result {
                Ok(_) => {
                    seen_up = Some(Instant::now());
                    continue;
                }
                // Connected the other way round meanwhile.
                Err(NetError::Duplicate(_)) => continue,
                Err(e) => {
                    inc(&inner.metrics.dial_failures);
                    debug!(?peer, %addr, "dial failed: {e}; next attempt in about {delay:?}");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(jitter(delay)) => {}
            _ = wait_shutdown(&mut shutdown) => return,
        }
        delay = (delay * 2).min(max);
    }
}

/// Runs one installed connection: its writer, one reader per incoming frame stream, one task
/// per incoming request; reports the peer down when the connection ends.
async fn drive(inner: Arc<Inner>, peer: NodeId, live: Live) {
    let queue = lock(&inner.state).peers.get(&peer).map(|s| s.queue.clone());
    let writer = queue.map(|q| {
        inner
            .runtime
            .spawn(write_loop(inner.clone(), peer, live.conn.clone(), q))
    });
    let mut tasks = JoinSet::new();
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = wait_shutdown(&mut shutdown) => break,
            r = live.conn.accept_uni() => match r {
                Ok(recv) => {
                    tasks.spawn(read_loop(inner.clone(), peer, live.clone(), recv));
                }
                Err(e) => {
                    debug!(?peer, "connection ended: {e}");
                    break;
                }
            },
            r = live.conn.accept_bi() => match r {
                Ok((send, recv)) => {
                    tasks.spawn(serve_request(inner.clone(), peer, live.clone(), send, recv));
                }
                Err(e) => {
                    debug!(?peer, "connection ended: {e}");
                    break;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    if let Some(writer) = writer {
        writer.abort();
    }
    tasks.shutdown().await;
    inner.connection_ended(peer, &live).await;
}

/// Writes the peer's queued frames, in order, on one long-lived unidirectional stream.
async fn write_loop(inner: Arc<Inner>, peer: NodeId, conn: Connection, queue: Arc<SendQueue>) {
    let mut stream = match conn.open_uni().await {
        Ok(s) => s,
        Err(e) => {
            debug!(?peer, "cannot open the frame stream: {e}");
            return;
        }
    };
    loop {
        let batch = tokio::select! {
            b = queue.next_batch() => b,
            _ = conn.closed() => return,
        };
        if !inner.is_current(&peer, &conn) {
            // Replaced by another connection to the peer: hand the frames to its writer.
            queue.requeue_front(batch);
            let _ = stream.finish();
            return;
        }
        for (kind, payload) in batch {
            if inner.is_blocked(&peer) {
                inc(&inner.metrics.dropped_blocked);
                continue;
            }
            let len = payload.len();
            // Sizes were checked when the frame was queued.
            let Ok(header) = encode_header(kind, len, ABSOLUTE_MAX_FRAME_BYTES) else {
                continue;
            };
            let mut chunks = [Bytes::copy_from_slice(&header), payload];
            if let Err(e) = stream.write_all_chunks(&mut chunks).await {
                debug!(?peer, "frame stream failed: {e}");
                conn.close(code(close_code::NORMAL), b"frame stream failed");
                return;
            }
            inc(&inner.metrics.frames_out);
            add(&inner.metrics.bytes_out, (HEADER_LEN + len) as u64);
        }
    }
}

/// Reads frames from one of the peer's frame streams. A malformed or oversized frame closes
/// the connection (the peer broke the protocol); nothing here panics on its bytes.
async fn read_loop(inner: Arc<Inner>, peer: NodeId, live: Live, mut recv: RecvStream) {
    let max = inner.config.max_frame_bytes;
    loop {
        match read_frame(&mut recv, max).await {
            Ok(Some(f)) if is_reserved(f.kind) => {
                inc(&inner.metrics.frames_refused_in);
                warn!(
                    ?peer,
                    kind = f.kind,
                    "reserved frame kind after the hello: closing"
                );
                live.conn
                    .close(code(close_code::PROTOCOL_VIOLATION), b"reserved frame kind");
                return;
            }
            Ok(Some(f)) => {
                if inner.is_blocked(&peer) {
                    inc(&inner.metrics.dropped_blocked);
                    continue;
                }
                inc(&inner.metrics.frames_in);
                add(
                    &inner.metrics.bytes_in,
                    (HEADER_LEN + f.payload.len()) as u64,
                );
                let event = Event::Frame {
                    peer,
                    role: live.role,
                    kind: f.kind,
                    payload: f.payload,
                };
                if !inner.emit(event).await {
                    return;
                }
            }
            Ok(None) => return,
            Err(ReadError::Frame(e)) => {
                inc(&inner.metrics.frames_refused_in);
                warn!(?peer, "refusing frame: {e}; closing");
                live.conn.close(
                    code(close_code::PROTOCOL_VIOLATION),
                    e.to_string().as_bytes(),
                );
                return;
            }
            Err(ReadError::Io(e)) => {
                debug!(?peer, "frame stream ended: {e}");
                return;
            }
        }
    }
}

/// Serves one request stream: read the request frame, hand it to the application, write its
/// answer (same kind) and finish, or reset the stream if it gives none.
async fn serve_request(
    inner: Arc<Inner>,
    peer: NodeId,
    live: Live,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    let max = inner.config.max_frame_bytes;
    let hold = inner.config.idle_timeout;
    let frame = match tokio::time::timeout(hold, read_frame(&mut recv, max)).await {
        Ok(Ok(Some(f))) if !is_reserved(f.kind) => f,
        Ok(Err(ReadError::Frame(e))) => {
            inc(&inner.metrics.frames_refused_in);
            warn!(?peer, "refusing request: {e}");
            let _ = send.reset(code(RESET_NO_RESPONSE));
            return;
        }
        _ => {
            let _ = send.reset(code(RESET_NO_RESPONSE));
            return;
        }
    };
    if inner.is_blocked(&peer) {
        inc(&inner.metrics.dropped_blocked);
        // Leave it unanswered, as a partition would, until the requester gives up.
        let _ = tokio::time::timeout(hold, send.stopped()).await;
        return;
    }
    inc(&inner.metrics.requests_in);
    add(
        &inner.metrics.bytes_in,
        (HEADER_LEN + frame.payload.len()) as u64,
    );
    let (tx, rx) = oneshot::channel();
    let responder = Responder {
        tx,
        max: max.min(live.peer_max_frame),
    };
    let event = Event::Request {
        peer,
        role: live.role,
        kind: frame.kind,
        payload: frame.payload,
        responder,
    };
    if !inner.emit(event).await {
        return;
    }
    let answer = tokio::select! {
        r = rx => r.ok(),
        _ = send.stopped() => return,
    };
    match answer {
        Some(payload) if !inner.is_blocked(&peer) => {
            let len = payload.len();
            let Ok(header) = encode_header(frame.kind, len, ABSOLUTE_MAX_FRAME_BYTES) else {
                let _ = send.reset(code(RESET_NO_RESPONSE));
                return;
            };
            let mut chunks = [Bytes::copy_from_slice(&header), payload];
            match send.write_all_chunks(&mut chunks).await {
                Ok(()) => {
                    let _ = send.finish();
                    add(&inner.metrics.bytes_out, (HEADER_LEN + len) as u64);
                }
                Err(e) => debug!(?peer, "writing an answer failed: {e}"),
            }
        }
        Some(_) => {
            inc(&inner.metrics.dropped_blocked);
            let _ = tokio::time::timeout(hold, send.stopped()).await;
        }
        None => {
            let _ = send.reset(code(RESET_NO_RESPONSE));
        }
    }
}
