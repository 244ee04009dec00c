//! The peer manager: one QUIC endpoint, one live connection per peer, dialing with backoff,
//! frames and requests in, events out.
//!
//! This module holds the public API ([`Network`], [`Event`], [`Responder`], [`PeerInfo`]) and
//! the shared state; the machinery is split by concern:
//! - `handshake`: TLS, then the hello each way, for dialed and accepted connections;
//! - `membership`: installing a connection (the duplicate rule, `keep_which`) and removing it;
//! - `dial`: the per-peer dial loop with jittered exponential backoff;
//! - `streams`: a connection's frame writer and readers and its request streams;
//! - `queue`: the bounded, drop-oldest per-peer send queue.

mod calls;
mod dial;
mod handshake;
mod membership;
mod queue;
mod streams;

pub use self::calls::{Call, CallReceiver, CallSender, KIND_CALL};
use self::dial::dial_loop;
use self::handshake::accept_loop;
use self::membership::Dialer;
use self::queue::SendQueue;
use crate::auth::{Authorizer, Role, Roles};
use crate::config::NetConfig;
use crate::error::{close_code, NetError};
use crate::frame::{
    encode_header, is_reserved, read_frame_within, ByteBudget, FrameError, ReadError,
    ABSOLUTE_MAX_FRAME_BYTES, HEADER_LEN,
};
use crate::identity::Identity;
use crate::metrics::{add, inc, Metrics, MetricsSnapshot};
use crate::tls;
use bytes::Bytes;
use emc_types::NodeId;
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Connection, IdleTimeout, TransportConfig, VarInt};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument as _;
use tracing::{debug, info, warn};

/// Concurrent requests one peer may have open to us.
const MAX_REQUESTS_IN_FLIGHT: u32 = 256;
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
    /// A streamed call from `peer` ([`Network::open_call`]): its head, and both halves of its
    /// stream. Dropping `call` cancels it.
    Call {
        /// The caller.
        peer: NodeId,
        /// The caller's role.
        role: Role,
        /// Application-defined kind.
        kind: u8,
        /// The call's head (application-defined).
        head: Bytes,
        /// The stream.
        call: Call,
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
    /// The bytes this connection's incoming frames may hold together
    /// ([`NetConfig::max_connection_buffer_bytes`]), shared by its streams.
    budget: ByteBudget,
}

impl Live {
    fn dialer(&self) -> Dialer {
        if self.outbound {
            Dialer::Us
        } else {
            Dialer::Peer
        }
    }
}

struct DialEntry {
    addr: SocketAddr,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
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

/// The error to report for a failed stream: the connection's close reason when it is closed.
fn stream_error(conn: &Connection, e: impl fmt::Display) -> NetError {
    match conn.close_reason() {
        Some(reason) => reason.into(),
        None => NetError::Stream(e.to_string()),
    }
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
        inner
            .runtime
            .spawn(accept_loop(inner.clone()).in_current_span());
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
            .spawn(dial_loop(self.inner.clone(), peer, wake.clone()).in_current_span());
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
            match read_frame_within(&mut recv, max, &live.budget).await {
                Ok(Some((f, _))) if f.kind == kind => {
                    add(
                        &inner.metrics.bytes_in,
                        (HEADER_LEN + f.payload.len()) as u64,
                    );
                    Ok(f.payload)
                }
                Ok(Some((f, _))) => Err(NetError::Stream(format!(
                    "answer of kind {} to a request of kind {kind}",
                    f.kind
                ))),
                Ok(None) => Err(NetError::NoResponse),
                Err(ReadError::Frame(e)) => {
                    if matches!(e, FrameError::OverBudget { .. }) {
                        inc(&inner.metrics.frames_over_budget);
                    }
                    Err(e.into())
                }
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

    /// Opens a streamed call to `peer`: a new bidirectional stream whose first frame carries
    /// `kind` and `head` (capped like a frame). `timeout` bounds opening the stream (QUIC
    /// stream credit) and writing the head; the call's own pace is the application's. The
    /// peer gets [`Event::Call`].
    pub async fn open_call(
        &self,
        peer: &NodeId,
        kind: u8,
        head: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Call, NetError> {
        check_kind(kind)?;
        let head = head.into();
        let inner = &self.inner;
        let live = inner.live(peer).ok_or(NetError::NotConnected(*peer))?;
        inner.check_size(head.len() + 1, live.peer_max_frame)?;
        if inner.is_blocked(peer) {
            inner.blackhole(Instant::now() + timeout).await?;
            return Err(NetError::Timeout);
        }
        inc(&inner.metrics.requests_out);
        let open = async {
            let (mut send, recv) = live.conn.open_bi().await?;
            let header = encode_header(KIND_CALL, head.len() + 1, ABSOLUTE_MAX_FRAME_BYTES)?;
            send.write_all_chunks(&mut [
                Bytes::copy_from_slice(&header),
                Bytes::copy_from_slice(&[kind]),
                head.clone(),
            ])
            .await
            .map_err(|e| stream_error(&live.conn, e))?;
            add(
                &inner.metrics.bytes_out,
                (HEADER_LEN + 1 + head.len()) as u64,
            );
            Ok::<_, NetError>(Call::new(inner, &live, send, recv))
        };
        match tokio::time::timeout(timeout, open).await {
            Ok(r) => r,
            Err(_) => {
                inc(&inner.metrics.request_timeouts);
                Err(NetError::Timeout)
            }
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
