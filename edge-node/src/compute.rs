//! The compute role's shell: answers validators' proof-of-computing challenges with the
//! configured prover, answers liveness probes with its load, reports its load to the routers,
//! and refreshes who may connect from the registry.
//!
//! # Proof of computing
//! A validator sends a [`Challenge`] ([`KIND_POC_CHALLENGE`]) with a window; the node runs
//! rounds of the task with [`ProverSession::run_window`] on a blocking thread (one task at a
//! time: a second waits its turn) while its [`WindowStop`] on this process's monotonic clock
//! allows (the challenge's arrival plus the window, less `poc_margin`, less its estimate of the
//! time to hash the result, which it measures on every challenge; at most `max_rounds`), and
//! answers with the [`Commitment`] to the rounds it completed. A window too short for one
//! round gets no answer. It keeps the result, keyed by the validator and the
//! seed, until the validator's [`PocOpen`] ([`KIND_POC_OPEN`]) asks for rows, answers with
//! [`ProverSession::open`] and drops it. At most `max_sessions` results (computing or waiting
//! for their opening) are kept; a waiting one expires after `session_ttl` or is evicted,
//! oldest first, for a new challenge; when every slot is computing, new challenges are
//! refused. Only peers the registry lists as validators may challenge, and tasks above
//! `max_task_n` are refused, so a peer cannot make the node grow without bound.
//!
//! The prover is the CPU one (`prover = "cpu"`) or a Vulkan device (`prover = "vulkan"`,
//! `vulkan_device` = `auto`, an index or a name substring); when no Vulkan device can be
//! opened, the node logs why and answers with the CPU prover (same bits, smaller E).

use crate::challenge::mono_ns;
use crate::serve::{discover_models, CallService};
use emc_edge_core::pool::PoolPeers;
use emc_edge_core::protocol::KIND_COSIGN;
use emc_edge_core::protocol::KIND_OFFER;
use emc_edge_core::protocol::{
    PingReply, PocOpen, KIND_LOAD, KIND_PING, KIND_POC_CHALLENGE, KIND_POC_OPEN,
};
use emc_edge_core::sessions::{SessionError, SessionKey, Sessions};
use emc_net::{Event, Network, Role, Roles, StaticAuthorizer};
use emc_node_common::config::{ComputeConfig, PoolConfig, ProverKind};
use emc_node_common::http::{metric, Endpoint};
use emc_node_common::ic::IcHandles;
use emc_node_common::service::Service;
use emc_node_common::status::{CallStats, Shared};
use emc_poc::{
    finish_estimate_ns, Challenge, CpuProver, DeviceSelector, ParamsError, Prover, ProverSession,
    VulkanProver, WindowStop, WireError,
};
use emc_types::NodeId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tracing::Instrument as _;
use tracing::{debug, error, info, warn};

/// A compute node's status.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ComputeStatus {
    /// Node id (hex).
    pub id: String,
    /// The local app it serves.
    pub app_url: Option<String>,
    /// Hardware description as registered (empty until read from the registry).
    pub hardware: String,
    /// Whether the registry lists this node.
    pub registered: bool,
    /// The prover in use: `cpu` or `vulkan` (empty while it starts).
    pub prover: String,
    /// The prover's description (device name, threads).
    pub prover_name: String,
    /// Why the configured prover could not be used, when the node fell back to the CPU.
    pub prover_error: Option<String>,
    /// Connected routers.
    pub routers: usize,
    /// Connected validators.
    pub validators: usize,
    /// Probes answered.
    pub probes_answered: u64,
    /// Challenges answered with a commitment.
    pub challenges_answered: u64,
    /// Challenges refused (not a validator, malformed, too large, busy, prover failure).
    pub challenges_refused: u64,
    /// Openings answered.
    pub openings_answered: u64,
    /// Open requests refused (unknown or expired challenge, malformed).
    pub openings_refused: u64,
    /// Local time to compute the last answered challenge, ms.
    pub last_compute_ms: Option<f64>,
    /// Rounds completed in the last answered challenge's window.
    pub last_rounds: Option<u32>,
    /// Jobs running.
    pub load: u32,
    /// Job slots.
    pub capacity: u32,
    /// The app's name and models, as offered to routers.
    pub app: String,
    /// The app's models.
    pub models: Vec<String>,
    /// dApp calls served through routers.
    pub calls: CallStats,
    /// Calls from peers that are not routers, ignored.
    pub calls_refused_not_router: u64,
    /// The compute pool this node is a member of, as last read (its offer id).
    pub pool: Option<u64>,
    /// Whether this node is its pool's entry node (it collects co-signatures).
    pub pool_entry: bool,
    /// Co-signing of pool receipts.
    pub cosign: crate::serve::CosignStats,
}

/// Why a challenge or an open request gets no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The payload does not decode.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The task's size is invalid.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// The task is larger than this node accepts.
    #[error("n = {n} is above the configured maximum {max}")]
    TooLarge {
        /// Asked.
        n: u32,
        /// Accepted at most.
        max: u32,
    },
    /// Every slot holds a computing task.
    #[error("busy: every result slot is computing")]
    Busy,
    /// The same validator sent the same seed while its result is still kept.
    #[error("duplicate challenge")]
    Duplicate,
    /// The challenge's window left no time for one round (it passed while the challenge
    /// waited for the prover, or it is shorter than the margin and the hashing).
    #[error("the window left no time for a round")]
    Late,
    /// The prover failed.
    #[error("prover: {0}")]
    Prover(String),
    /// An open request for a result this node does not hold (never computed, expired,
    /// already opened).
    #[error("no result held for this challenge")]
    Unknown,
}

impl From<SessionError> for Refusal {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Busy => Refusal::Busy,
            SessionError::Duplicate => Refusal::Duplicate,
        }
    }
}

impl From<WireError> for Refusal {
    fn from(e: WireError) -> Self {
        Refusal::Malformed(e.to_string())
    }
}

type HeldSessions = Sessions<Arc<ProverSession>>;

/// Frees a reserved slot unless the computation filled it (also when the future is dropped).
struct SlotGuard<'a> {
    service: &'a PocService,
    key: SessionKey,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.service.with_sessions(|s| s.cancel(&self.key));
    }
}

fn lock(m: &Mutex<HeldSessions>) -> std::sync::MutexGuard<'_, HeldSessions> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A prover shared between challenges.
pub type SharedProver = Arc<dyn Prover + Send + Sync>;

/// The prover a configuration asks for, or the CPU prover when it cannot be opened.
pub struct ProverChoice {
    /// The prover.
    pub prover: SharedProver,
    /// What it is.
    pub kind: ProverKind,
    /// Its description.
    pub name: String,
    /// Why the configured prover was not used.
    pub error: Option<String>,
}

impl std::fmt::Debug for ProverChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProverChoice")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Opens the configured prover (blocking: a Vulkan device takes a while to open).
pub fn open_prover(cfg: &ComputeConfig) -> ProverChoice {
    let cpu = |error: Option<String>| {
        let p = CpuProver::new(cfg.cpu_threads);
        ProverChoice {
            name: format!("cpu ({} threads)", p.threads()),
            prover: Arc::new(p),
            kind: ProverKind::Cpu,
            error,
        }
    };
    match cfg.prover {
        ProverKind::Cpu => cpu(None),
        ProverKind::Vulkan => {
            let selector: DeviceSelector = match cfg.vulkan_device.parse() {
                Ok(s) => s,
                Err(never) => match never {},
            };
            match VulkanProver::new(&selector) {
                Ok(p) => ProverChoice {
                    name: format!("vulkan: {}", p.device_name()),
                    prover: Arc::new(p),
                    kind: ProverKind::Vulkan,
                    error: None,
                },
                Err(e) => {
                    error!(
                        device = %selector,
                        error = %e,
                        "no usable Vulkan device: answering challenges with the CPU prover"
                    );
                    cpu(Some(e.to_string()))
                }
            }
        }
    }
}

/// What the node measured in its last challenge, for the next one's [`WindowStop`].
#[derive(Clone, Copy, Debug, Default)]
struct Timing {
    /// The matrix size measured.
    n: u32,
    /// Time of one round.
    round_ns: Option<u64>,
    /// Time from the last round's end to the commitment ready (read back, hash, tree).
    finish_ns: Option<u64>,
}

/// An answered challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The encoded commitment.
    pub commitment: Vec<u8>,
    /// Rounds completed.
    pub rounds: u32,
    /// Local time from the prover's start to the commitment ready.
    pub took: Duration,
}

/// The compute role's answers to proof-of-computing challenges.
pub struct PocService {
    prover: SharedProver,
    sessions: Mutex<HeldSessions>,
    gate: Semaphore,
    max_n: u32,
    margin_ns: u64,
    timing: Mutex<Timing>,
    /// Challenges computing, published after every change of the table.
    load: tokio::sync::watch::Sender<usize>,
}

impl std::fmt::Debug for PocService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PocService")
            .field("prover", &self.prover.name())
            .field("sessions", &lock(&self.sessions).len())
            .finish_non_exhaustive()
    }
}

impl PocService {
    /// A service over `prover` with the limits of `cfg`.
    pub fn new(prover: SharedProver, cfg: &ComputeConfig) -> PocService {
        PocService {
            prover,
            sessions: Mutex::new(Sessions::new(
                cfg.max_sessions,
                emc_node_common::config::duration_ns(cfg.session_ttl),
            )),
            gate: Semaphore::new(1),
            max_n: cfg.max_task_n,
            margin_ns: emc_node_common::config::duration_ns(cfg.poc_margin),
            timing: Mutex::new(Timing::default()),
            load: tokio::sync::watch::channel(0).0,
        }
    }

    /// Changes the table and publishes the load that results.
    fn with_sessions<R>(&self, f: impl FnOnce(&mut HeldSessions) -> R) -> R {
        let mut s = lock(&self.sessions);
        let r = f(&mut s);
        let computing = s.computing();
        drop(s);
        self.load
            .send_if_modified(|l| std::mem::replace(l, computing) != computing);
        r
    }

    /// The load (challenges computing), changing as challenges start and end.
    pub fn load(&self) -> tokio::sync::watch::Receiver<usize> {
        self.load.subscribe()
    }

    /// Results held (computing or waiting for their opening).
    pub fn sessions(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Challenges computing now: the node's running jobs (its load as routers see it).
    pub fn computing(&self) -> usize {
        lock(&self.sessions).computing()
    }

    /// Answers a challenge from validator `peer`: runs rounds until the window's stopping
    /// rule says stop (measured from the challenge's arrival) and commits to them.
    pub async fn challenge(&self, peer: NodeId, payload: &[u8]) -> Result<Answer, Refusal> {
        let received_ns = mono_ns();
        let ch = Challenge::decode(payload)?;
        ch.task.params.validate()?;
        if ch.task.params.n > self.max_n {
            return Err(Refusal::TooLarge {
                n: ch.task.params.n,
                max: self.max_n,
            });
        }
        let key = (peer, ch.task.seed);
        self.with_sessions(|s| s.reserve(key, received_ns))?;
        let _guard = SlotGuard { service: self, key };
        let _permit = self.gate.acquire().await.map_err(|_| Refusal::Busy)?;
        let n = ch.task.params.n;
        let last = *self.timing.lock().unwrap_or_else(|p| p.into_inner());
        let last = Some(last).filter(|t| t.n == n).unwrap_or_default();
        let mut stop = WindowStop::new(
            received_ns,
            ch.window_ns,
            self.margin_ns,
            finish_estimate_ns(n, last.finish_ns),
            ch.max_rounds(),
            last.round_ns,
        );
        let prover = self.prover.clone();
        let task = ch.task;
        let started = Instant::now();
        let (session, stop, ready_ns) = tokio::task::spawn_blocking(move || {
            let budget = &mut |done| stop.more(done, mono_ns());
            let session = ProverSession::run_window(prover.as_ref(), &task, budget);
            (session, stop, mono_ns())
        })
        .await
        .map_err(|e| Refusal::Prover(e.to_string()))?;
        let session = session
            .map_err(|e| Refusal::Prover(e.to_string()))?
            .ok_or(Refusal::Late)?;
        let took = started.elapsed();
        {
            let mut t = self.timing.lock().unwrap_or_else(|p| p.into_inner());
            *t = Timing {
                n,
                round_ns: stop.round_ns().or(last.round_ns),
                finish_ns: stop
                    .stopped_at_ns()
                    .map(|at| ready_ns.saturating_sub(at))
                    .or(last.finish_ns),
            };
        }
        let commitment = session.commitment();
        self.with_sessions(|s| s.fill(&key, Arc::new(session), mono_ns()));
        Ok(Answer {
            commitment: commitment.encode(),
            rounds: commitment.rounds,
            took,
        })
    }

    /// Answers validator `peer`'s open request: the encoded opening. The result is dropped.
    pub fn open(&self, peer: NodeId, payload: &[u8]) -> Result<Vec<u8>, Refusal> {
        let req = PocOpen::decode(payload).map_err(|e| Refusal::Malformed(e.to_string()))?;
        let session = self
            .with_sessions(|s| s.take(&(peer, req.seed), mono_ns()))
            .ok_or(Refusal::Unknown)?;
        let opening = session
            .open(&req.request)
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        Ok(opening.encode())
    }
}

/// A running compute node.
#[derive(Debug)]
pub struct ComputeHandle {
    /// Node id.
    pub id: NodeId,
    /// Live status.
    pub status: Shared<ComputeStatus>,
    service: Service,
}

impl ComputeHandle {
    /// Stops the node and waits for its task.
    pub async fn stop(self) {
        self.service.stop().await;
    }
}

/// What a registry refresh brings back.
struct Refresh {
    view: emc_edge_core::view::ChainView,
    me: Option<emc_registry::Node>,
    /// The pool as the market answered (`None`: not asked, or the read failed).
    pool: Option<Option<PoolPeers>>,
}

/// The pool `[compute.pool]` names when the market is not asked: its entry and members from
/// the config, under the market's membership rule (`emc_types::pool::check_members`); why
/// not, when they break it or are not hex keys.
fn static_pool(cfg: &PoolConfig) -> Result<PoolPeers, String> {
    let key = |h: &str| -> Result<NodeId, String> {
        hex::decode(h)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(NodeId)
            .ok_or_else(|| format!("{h:?} is not a node key (64 hex digits)"))
    };
    let entry = key(cfg.entry.as_deref().ok_or("no entry is named")?)?;
    let active = cfg
        .members
        .iter()
        .map(|m| key(m))
        .collect::<Result<Vec<_>, _>>()?;
    emc_types::pool::check_members(&entry, &active).map_err(|e| e.to_string())?;
    Ok(PoolPeers {
        id: cfg.id,
        entry,
        active,
    })
}

/// Reads pool `id` from the market: its entry and active members (`Ok(None)`: no such pool).
async fn market_pool(
    ic: &IcHandles,
    market: candid::Principal,
    id: u64,
) -> Result<Option<PoolPeers>, emc_ic_client::IcError> {
    use emc_ic_client::IcClientExt as _;
    let p: Option<emc_market::market::pools::Pool> = ic
        .epochs
        .client()
        .query_candid(market, "pool", (id,))
        .await?;
    Ok(p.map(|p| PoolPeers {
        id: p.offer_id,
        entry: p.entry,
        active: p.active().map(|m| m.node).collect(),
    }))
}

/// Reports the node's load (jobs running: challenges computing and calls in progress) and
/// capacity to its routers.
fn report_load(net: &Network, st: &Shared<ComputeStatus>, calls: &CallService) {
    let in_flight = calls.in_flight();
    let stats = calls.stats();
    let cosign = calls.cosign_stats();
    st.update(|s| {
        s.calls = stats;
        s.cosign = cosign;
    });
    let s = st.get();
    let report = PingReply {
        height: 0,
        load: s.load.saturating_add(in_flight),
        capacity: s.capacity,
    };
    let _ = net.broadcast(KIND_LOAD, report.encode(), Roles::from(Role::Router));
}

fn count_role(net: &Network, role: Role) -> usize {
    net.peers().iter().filter(|p| p.role == role).count()
}

/// Starts the compute role on a network bound with role compute.
pub fn start_compute(
    cfg: ComputeConfig,
    net: Network,
    mut events: mpsc::Receiver<Event>,
    authorizer: Arc<StaticAuthorizer>,
    ic: IcHandles,
    key: ed25519_dalek::SigningKey,
) -> ComputeHandle {
    let id = net.node_id();
    let status = Shared::new(ComputeStatus {
        id: hex::encode(id.0),
        app_url: cfg.app_url.clone(),
        capacity: cfg.capacity,
        ..ComputeStatus::default()
    });
    let st = status.clone();
    let service = Service::spawn(move |mut stop| {
        async move {
        let pcfg = cfg.clone();
        let choice = match tokio::task::spawn_blocking(move || open_prover(&pcfg)).await {
            Ok(c) => c,
            Err(e) => {
                error!(error = %e, "opening the prover failed: answering with the CPU prover");
                open_prover(&ComputeConfig {
                    prover: ProverKind::Cpu,
                    ..cfg.clone()
                })
            }
        };
        info!(
            node = %hex::encode(id.0),
            prover = %choice.name,
            app_url = cfg.app_url.as_deref().unwrap_or("-"),
            "compute node up"
        );
        st.update(|s| {
            s.prover = choice.kind.as_str().into();
            s.prover_name = choice.name.clone();
            s.prover_error = choice.error.clone();
        });
        let poc = Arc::new(PocService::new(choice.prover, &cfg));
        let mut load = poc.load();
        let models = match (&cfg.app_url, cfg.models.is_empty()) {
            (Some(url), true) => discover_models(url).await,
            _ => cfg.models.clone(),
        };
        let calls = Arc::new(CallService::new(&cfg, key, models).with_network(net.clone()));
        // The pool: from the market at each refresh when it is configured, else from the
        // config once.
        let pool_from_market = cfg.pool.as_ref().and_then(|p| ic.market.map(|m| (m, p.id)));
        if let (None, Some(pc)) = (pool_from_market, cfg.pool.as_ref()) {
            match static_pool(pc) {
                Ok(p) => {
                    info!(pool = p.id, entry = p.entry == id, members = p.active.len(), "pool from the config");
                    *calls.pool().write().unwrap_or_else(|e| e.into_inner()) = Some(p);
                }
                Err(why) => warn!(%why, "[compute.pool] is not a pool and no market is configured: not in a pool"),
            }
        }
        let publish_pool = |st: &Shared<ComputeStatus>, calls: &CallService| {
            let p = calls.pool_now();
            st.update(|s| {
                s.pool = p.as_ref().map(|p| p.id);
                s.pool_entry = p.as_ref().is_some_and(|p| p.entry == id);
            });
        };
        publish_pool(&st, &calls);
        let offer = calls.offer();
        info!(app = %offer.app, models = ?offer.models, "offering the app to routers");
        st.update(|s| { s.app = offer.app.clone(); s.models = offer.models.clone(); });
        let offer = bytes::Bytes::from(offer.encode());
        let send_offer = |net: &Network| {
            if cfg.app_url.is_some() {
                let _ = net.broadcast(KIND_OFFER, offer.clone(), Roles::from(Role::Router));
            }
        };

        let (tx, mut rx) = mpsc::channel::<Refresh>(16);
        let mut refresh = tokio::time::interval(cfg.registry_refresh);
        let mut report = tokio::time::interval(cfg.report_interval);
        let mut dialed: BTreeMap<NodeId, std::net::SocketAddr> = BTreeMap::new();
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                ev = events.recv() => match ev {
                    Some(Event::Call { peer, role, kind, head, call }) => {
                        if role != Role::Router {
                            debug!(?peer, %role, "call from a non-router ignored");
                            drop(call);
                            st.update(|s| s.calls_refused_not_router += 1);
                            continue;
                        }
                        tokio::spawn(calls.clone().serve(peer, kind, head, call).in_current_span());
                    }
                    Some(Event::Request { peer, role, kind: KIND_COSIGN, payload, responder }) => {
                        let answer = calls.cosign_answer(peer, role, &payload);
                        let _ = responder.respond(answer.encode());
                    }
                    Some(Event::Request { kind: KIND_PING, responder, .. }) => {
                        let s = st.get();
                        let load = s.load.saturating_add(calls.in_flight());
                        let reply = PingReply { height: 0, load, capacity: s.capacity };
                        let _ = responder.respond(reply.encode());
                        st.update(|s| s.probes_answered += 1);
                    }
                    Some(Event::Request { peer, role, kind: KIND_POC_CHALLENGE, payload, responder }) => {
                        if role != Role::Validator {
                            debug!(?peer, %role, "challenge from a non-validator refused");
                            st.update(|s| s.challenges_refused += 1);
                            continue;
                        }
                        let (poc, st) = (poc.clone(), st.clone());
                        tokio::spawn(async move {
                            match poc.challenge(peer, &payload).await {
                                Ok(answer) => {
                                    let sent = responder.respond(answer.commitment).is_ok();
                                    let ms = answer.took.as_secs_f64() * 1e3;
                                    let rounds = answer.rounds;
                                    info!(validator = ?peer, compute_ms = ms, rounds, sent, "challenge answered");
                                    st.update(|s| {
                                        s.challenges_answered += 1;
                                        s.last_compute_ms = Some(ms);
                                        s.last_rounds = Some(rounds);
                                    });
                                }
                                Err(e) => {
                                    warn!(validator = ?peer, error = %e, "challenge refused");
                                    st.update(|s| s.challenges_refused += 1);
                                }
                            }
                        }.in_current_span());
                    }
                    Some(Event::Request { peer, role, kind: KIND_POC_OPEN, payload, responder }) => {
                        let answer = if role == Role::Validator {
                            poc.open(peer, &payload)
                        } else {
                            Err(Refusal::Unknown)
                        };
                        match answer {
                            Ok(opening) => {
                                let sent = responder.respond(opening);
                                if let Err(e) = &sent {
                                    warn!(validator = ?peer, error = %e, "opening not sent");
                                }
                                st.update(|s| s.openings_answered += 1);
                            }
                            Err(e) => {
                                warn!(validator = ?peer, error = %e, "open request refused");
                                st.update(|s| s.openings_refused += 1);
                            }
                        }
                    }
                    Some(ev @ (Event::PeerUp { .. } | Event::PeerDown { .. })) => {
                        if matches!(ev, Event::PeerUp { role: Role::Router, .. }) {
                            send_offer(&net);
                        }
                        let routers = count_role(&net, Role::Router);
                        let validators = count_role(&net, Role::Validator);
                        st.update(|s| { s.routers = routers; s.validators = validators; });
                    }
                    Some(ev) => debug!(?ev, "compute: ignored"),
                    None => break,
                },
                Some(Refresh { view, me, pool }) = rx.recv() => {
                    if let Some(me) = me {
                        st.update(|s| { s.registered = true; s.hardware = me.hardware; });
                    }
                    if let Some(pool) = pool {
                        if pool.is_none() {
                            warn!("the market lists no such pool: not in a pool");
                        }
                        *calls.pool().write().unwrap_or_else(|e| e.into_inner()) = pool;
                        publish_pool(&st, &calls);
                    }
                    // Validators (who challenge and probe) and routers may connect; compute
                    // nodes only when they are members of this node's pool.
                    let pool = calls.pool_now();
                    let links = pool.as_ref().map(|p| p.links(&id)).unwrap_or_default();
                    authorizer.replace_all(
                        view.authorized_for_compute(&links)
                            .map(|(n, role)| (n, Roles::from(role))),
                    );
                    // The entry node dials the members it asks for co-signatures.
                    let cosigners = pool.as_ref().map(|p| p.cosigners(&id)).unwrap_or_default();
                    let wanted = view.addresses(|n| {
                        n.role == Role::Router || (n.role == Role::Compute && cosigners.contains(&n.id))
                    });
                    emc_node_common::ic::sync_dials(&net, &mut dialed, wanted);
                }
                _ = refresh.tick() => {
                    let (ic, tx) = (ic.clone(), tx.clone());
                    tokio::spawn(async move {
                        match ic.chain_view(0).await {
                            Ok(view) => {
                                let me = match ic.node(id).await {
                                    Ok(me) => me,
                                    Err(e) => {
                                        debug!(error = %e, "own registry entry unreadable");
                                        None
                                    }
                                };
                                let pool = match pool_from_market {
                                    Some((market, pid)) => match market_pool(&ic, market, pid).await {
                                        Ok(p) => Some(p),
                                        Err(e) => {
                                            warn!(pool = pid, error = %e, "pool unreadable: keeping the last one");
                                            None
                                        }
                                    },
                                    None => None,
                                };
                                let _ = tx.send(Refresh { view, me, pool }).await;
                            }
                            Err(e) => warn!(error = %e, "registry refresh failed"),
                        }
                    }.in_current_span());
                }
                // The load changed (a challenge started or ended): routers learn it at once.
                Ok(()) = load.changed() => {
                    let jobs = u32::try_from(*load.borrow_and_update()).unwrap_or(u32::MAX);
                    st.update(|s| s.load = jobs);
                    report_load(&net, &st, &calls);
                }
                _ = report.tick() => {
                    send_offer(&net);
                    report_load(&net, &st, &calls);
                }
            }
        }
        info!("compute node stopped");
    }.in_current_span()
    });
    ComputeHandle {
        id,
        status,
        service,
    }
}

/// The compute node's status and metrics endpoint.
#[derive(Clone, Debug)]
pub struct ComputeEndpoint(pub Shared<ComputeStatus>);

impl Endpoint for ComputeEndpoint {
    fn status_json(&self) -> String {
        serde_json::to_string_pretty(&self.0.get()).unwrap_or_default()
    }

    fn metrics_text(&self) -> String {
        let s = self.0.get();
        let mut out = String::new();
        let counters = [
            (
                "emc_probes_answered_total",
                "Probes answered.",
                s.probes_answered,
            ),
            (
                "emc_poc_challenges_answered_total",
                "Proof-of-computing challenges answered.",
                s.challenges_answered,
            ),
            (
                "emc_poc_challenges_refused_total",
                "Proof-of-computing challenges refused.",
                s.challenges_refused,
            ),
            (
                "emc_poc_openings_answered_total",
                "Proof-of-computing openings answered.",
                s.openings_answered,
            ),
            (
                "emc_pool_cosignatures_collected_total",
                "Pool members' co-signatures collected by this entry node.",
                s.cosign.collected,
            ),
            (
                "emc_pool_cosignatures_missing_total",
                "Pool members' co-signatures asked for and not received (receipts that will not settle).",
                s.cosign.missing,
            ),
            (
                "emc_pool_cosign_signed_total",
                "Receipts this member co-signed for its pool's entry node.",
                s.cosign.signed,
            ),
            (
                "emc_pool_cosign_refused_total",
                "Co-sign requests this member refused.",
                s.cosign.refused,
            ),
        ];
        for (name, help, v) in counters {
            metric(&mut out, name, "counter", help, v);
        }
        let calls = std::iter::once((s.id.clone(), s.calls.clone())).collect();
        emc_node_common::http::calls_metrics(&mut out, "emc_compute", &calls);
        metric(
            &mut out,
            "emc_poc_last_compute_ms",
            "gauge",
            "Local time of the last answered challenge.",
            s.last_compute_ms.unwrap_or(0.0),
        );
        metric(&mut out, "emc_load", "gauge", "Jobs running.", s.load);
        metric(&mut out, "emc_capacity", "gauge", "Job slots.", s.capacity);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emc_poc::{Commitment, OpenRequest, Opening, Task, TaskParams, Verifier, VerifierConfig};

    fn cfg(max_sessions: usize) -> ComputeConfig {
        ComputeConfig {
            max_sessions,
            max_task_n: 256,
            cpu_threads: 1,
            session_ttl: Duration::from_secs(60),
            ..ComputeConfig::default()
        }
    }

    fn challenge(seed: u8, n: u32) -> Challenge {
        Challenge {
            task: Task {
                seed: [seed; 32],
                params: TaskParams { n, rounds: 1 },
            },
            window_ns: 10_000_000_000,
        }
    }

    fn service(max_sessions: usize) -> PocService {
        PocService::new(Arc::new(CpuProver::new(1)), &cfg(max_sessions))
    }

    #[test]
    fn a_static_pool_follows_the_markets_membership_rule() {
        let (a, b) = ("aa".repeat(32), "bb".repeat(32));
        let pool = |entry: &str, members: &[&str]| {
            static_pool(&PoolConfig {
                id: 7,
                entry: Some(entry.to_string()),
                members: members.iter().map(|m| m.to_string()).collect(),
                ..PoolConfig::default()
            })
        };
        let p = pool(&a, &[&a, &b]).unwrap();
        assert_eq!((p.id, p.entry, p.active.len()), (7, NodeId([0xaa; 32]), 2));
        assert!(pool(&a, &[&a]).unwrap_err().contains("2 to 16 members"));
        assert!(pool(&a, &[&a, &b, &b]).unwrap_err().contains("twice"));
        assert!(pool(&"cc".repeat(32), &[&a, &b])
            .unwrap_err()
            .contains("entry node must be a member"));
        assert!(pool(&a, &[&a, "xyz"])
            .unwrap_err()
            .contains("not a node key"));
        let unnamed = PoolConfig {
            entry: None,
            ..PoolConfig::default()
        };
        assert!(static_pool(&unnamed).is_err());
    }

    #[tokio::test]
    async fn a_challenge_is_answered_and_opened_once() {
        let svc = service(4);
        let v = NodeId([1; 32]);
        let ch = challenge(3, 128);
        let mut verifier = Verifier::new(ch.clone(), VerifierConfig::default(), 0).unwrap();
        let answer = svc.challenge(v, &ch.encode()).await.unwrap();
        let c = Commitment::decode(&answer.commitment).unwrap();
        assert_eq!(
            (answer.rounds, c.rounds),
            (1, 1),
            "max_rounds reached: commits at once"
        );
        assert!(verifier.on_commitment(&c, 1).unwrap().is_none());
        let req = verifier.rows_to_open(&[4; 32]).unwrap();
        let open = PocOpen {
            seed: ch.task.seed,
            request: req,
        };
        // Another validator cannot open this validator's result.
        assert_eq!(
            svc.open(NodeId([2; 32]), &open.encode()),
            Err(Refusal::Unknown)
        );
        let opening = Opening::decode(&svc.open(v, &open.encode()).unwrap()).unwrap();
        assert!(verifier.on_opening(&opening, 2).unwrap().passed);
        assert_eq!(svc.open(v, &open.encode()), Err(Refusal::Unknown), "once");
        assert_eq!(svc.sessions(), 0);
    }

    /// Window mode: with far more rounds allowed than fit, the node stops on its own before
    /// the window's end and passes with E from its rounds over the window; a window shorter
    /// than its margin gets no answer.
    #[tokio::test]
    async fn the_node_stops_within_the_window_and_refuses_one_too_short() {
        let svc = PocService::new(
            Arc::new(CpuProver::new(1)),
            &ComputeConfig {
                poc_margin: Duration::from_millis(100),
                ..cfg(2)
            },
        );
        let v = NodeId([1; 32]);
        let ch = Challenge {
            task: Task {
                seed: [4; 32],
                params: TaskParams {
                    n: 128,
                    rounds: 60_000,
                },
            },
            window_ns: 600_000_000,
        };
        let mut verifier = Verifier::new(ch.clone(), VerifierConfig::default(), mono_ns()).unwrap();
        let answer = svc.challenge(v, &ch.encode()).await.unwrap();
        let c = Commitment::decode(&answer.commitment).unwrap();
        assert!(c.rounds >= 1 && c.rounds < 60_000, "{} rounds", c.rounds);
        assert!(
            verifier.on_commitment(&c, mono_ns()).unwrap().is_none(),
            "within the window"
        );
        let req = verifier.rows_to_open(&[4; 32]).unwrap();
        let open = PocOpen {
            seed: ch.task.seed,
            request: req,
        };
        let opening = Opening::decode(&svc.open(v, &open.encode()).unwrap()).unwrap();
        let verdict = verifier.on_opening(&opening, mono_ns()).unwrap();
        assert!(verdict.passed, "{verdict:?}");
        assert_eq!(
            verdict.e,
            emc_poc::e_fixed(
                &TaskParams {
                    n: 128,
                    rounds: c.rounds
                },
                600_000_000
            )
        );
        let short = Challenge {
            task: Task {
                seed: [5; 32],
                ..ch.task
            },
            window_ns: 50_000_000,
        };
        assert_eq!(svc.challenge(v, &short.encode()).await, Err(Refusal::Late));
        assert_eq!(svc.sessions(), 0, "a refused challenge frees its slot");
    }

    #[tokio::test]
    async fn bad_and_oversized_challenges_are_refused() {
        let svc = service(2);
        let v = NodeId([1; 32]);
        assert!(matches!(
            svc.challenge(v, &[1, 2, 3]).await,
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(
            svc.challenge(v, &challenge(1, 100).encode()).await,
            Err(Refusal::Params(_))
        ));
        assert_eq!(
            svc.challenge(v, &challenge(1, 384).encode()).await,
            Err(Refusal::TooLarge { n: 384, max: 256 })
        );
        let rows = PocOpen {
            seed: [1; 32],
            request: OpenRequest { rows: vec![0] },
        };
        assert_eq!(svc.open(v, &rows.encode()), Err(Refusal::Unknown));
        assert!(matches!(svc.open(v, &[0; 10]), Err(Refusal::Malformed(_))));
        // Rows out of range of a held result.
        svc.challenge(v, &challenge(1, 128).encode()).await.unwrap();
        let far = PocOpen {
            seed: [1; 32],
            request: OpenRequest { rows: vec![128] },
        };
        assert!(matches!(
            svc.open(v, &far.encode()),
            Err(Refusal::Malformed(_))
        ));
        assert_eq!(svc.sessions(), 0, "a refused open still drops the result");
    }

    #[tokio::test]
    async fn sessions_are_bounded_oldest_first_and_duplicates_refused() {
        let svc = service(2);
        let v = NodeId([1; 32]);
        for seed in 1..=5u8 {
            svc.challenge(v, &challenge(seed, 128).encode())
                .await
                .unwrap();
            assert!(svc.sessions() <= 2);
        }
        // Seeds 4 and 5 are kept; 1..3 were evicted.
        let open = |seed: u8| PocOpen {
            seed: [seed; 32],
            request: OpenRequest { rows: vec![0] },
        };
        assert_eq!(svc.open(v, &open(3).encode()), Err(Refusal::Unknown));
        assert_eq!(
            svc.challenge(v, &challenge(5, 128).encode()).await,
            Err(Refusal::Duplicate)
        );
        assert!(svc.open(v, &open(5).encode()).is_ok());
        assert!(svc.open(v, &open(4).encode()).is_ok());
    }

    #[tokio::test]
    async fn the_load_rises_while_a_challenge_computes_and_falls_after() {
        let svc = Arc::new(service(2));
        let mut load = svc.load();
        assert_eq!(*load.borrow_and_update(), 0);
        let v = NodeId([1; 32]);
        let task = {
            let svc = svc.clone();
            tokio::spawn(
                async move { svc.challenge(v, &challenge(9, 256).encode()).await }
                    .in_current_span(),
            )
        };
        load.changed().await.unwrap();
        assert_eq!(*load.borrow_and_update(), 1, "computing");
        assert_eq!(svc.computing(), 1);
        task.await.unwrap().unwrap();
        load.changed().await.unwrap();
        assert_eq!(
            *load.borrow_and_update(),
            0,
            "done: the result waits, nothing computes"
        );
        assert_eq!(svc.sessions(), 1);
    }

    #[test]
    fn a_missing_vulkan_device_falls_back_to_the_cpu() {
        let choice = open_prover(&ComputeConfig {
            prover: ProverKind::Vulkan,
            vulkan_device: "no such device 8f3a".into(),
            cpu_threads: 1,
            ..ComputeConfig::default()
        });
        assert_eq!(choice.kind, ProverKind::Cpu);
        assert!(choice.error.is_some());
        assert_eq!(choice.name, "cpu (1 threads)");
    }
}
