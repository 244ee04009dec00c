//! # emc-router: the smart router
//!
//! A router accepts registry-authorized QUIC connections from validators and compute nodes
//! (`emc-net` checks every key against the registry view), and:
//! - relays consensus messages between validators: a [`RelayEnvelope`] from validator V must
//!   name V as its origin (the transport authenticated V); it goes to its target, or to every
//!   other connected validator. Messages are signed end to end, so a router can drop but not
//!   forge or alter them;
//! - answers liveness probes (validators turn the outcomes into state bits);
//! - keeps a live table of compute nodes: round-trip time measured by its own pings (an
//!   exponentially weighted average), and load and capacity from their replies and reports.
//!
//! - serves dApps' AI calls (`api`, issue #14): an HTTP API on `RouterConfig::http_addr`
//!   that authorizes each call, picks a compute node with `emc_edge_core::dispatch` and streams
//!   the call over QUIC (`emc_net` streamed calls); the nodes' signed receipts go back to their
//!   users for countersigning and then, batched, to the validators (`gateway`);
//! - admits those calls against the users' escrow in the market canister and settles the
//!   receipts there once their checkpoint is final (`market`, issue #15).
//! - admits calls made through a computing socket (`sockets`, issue #16): the key's holder must
//!   still hold the socket, unexpired, for the app called.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod client;
pub mod gateway;
pub mod market;
pub mod sockets;

use emc_edge_core::protocol::{
    encode_receipts, CosignedReceipt, Offer, PingReply, RelayEnvelope, KIND_COSIGNED, KIND_LOAD,
    KIND_OFFER, KIND_PING, KIND_RECEIPTS, KIND_RELAY, MAX_RECEIPTS_PER_FRAME,
};
use emc_net::{Event, Network, Role, Roles, StaticAuthorizer};
pub use emc_node_common::config::{FundsSource, RouterConfig};
use emc_node_common::http::{metric, Endpoint};
use emc_node_common::ic::IcHandles;
use emc_node_common::service::Service;
use emc_node_common::status::CallStats;
use emc_node_common::status::Shared;
use emc_types::NodeId;
use gateway::Gateway;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;
use tracing::{debug, info, warn};

/// One compute node as the router sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ComputeEntry {
    /// Smoothed round-trip time, µs (0 until measured).
    pub rtt_us: u64,
    /// Jobs running, as last reported.
    pub load: u32,
    /// Job slots, as last reported.
    pub capacity: u32,
    /// Whether the last ping was answered.
    pub reachable: bool,
    /// Pings answered.
    pub pings_ok: u64,
    /// Pings lost.
    pub pings_lost: u64,
}

/// The router's live state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RouterStatus {
    /// The router's node id (hex).
    pub id: String,
    /// Connected validators.
    pub validators: usize,
    /// Compute nodes, by node id (hex).
    pub compute: BTreeMap<String, ComputeEntry>,
    /// Messages relayed (one per delivered copy).
    pub relayed: u64,
    /// Envelopes refused (origin not the sender, malformed, from a non-validator).
    pub refused: u64,
    /// Probes answered.
    pub probes_answered: u64,
    /// Nodes in the registry view.
    pub registered_nodes: usize,
    /// The dApp API's address, when it is on.
    pub http_addr: Option<String>,
    /// dApp calls per compute node (hex id).
    pub calls: BTreeMap<String, CallStats>,
    /// Calls abandoned by their dApp.
    pub calls_cancelled: u64,
    /// Receipts countersigned by their users.
    pub receipts_countersigned: u64,
    /// Receipts sent to the validators.
    pub receipts_sent: u64,
    /// Streamed request bodies sent whole to a node, as declared.
    pub uploads_streamed: u64,
    /// Their bytes.
    pub upload_bytes: u64,
    /// Streamed request bodies refused at their end: not the declared ones.
    pub uploads_refused: u64,
    /// Admission and settlement through the market (none: the router uses allowances).
    pub market: Option<market::MarketStats>,
}

/// A running router.
#[derive(Debug)]
pub struct RouterHandle {
    /// Its node id.
    pub id: NodeId,
    /// The compute service's state.
    pub gateway: Arc<Gateway>,
    /// The dApp API's bound address, when it is on.
    pub http_addr: Option<std::net::SocketAddr>,
    /// Live status.
    pub status: Shared<RouterStatus>,
    service: Service,
}

impl RouterHandle {
    /// Stops the router and waits for its task.
    pub async fn stop(self) {
        self.service.stop().await;
    }

    /// A receiver that turns true when the router is asked to stop (for companion tasks).
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.service.stop_signal()
    }
}

/// The router's status and metrics endpoint.
#[derive(Clone, Debug)]
pub struct RouterEndpoint(pub Shared<RouterStatus>);

impl Endpoint for RouterEndpoint {
    fn status_json(&self) -> String {
        serde_json::to_string_pretty(&self.0.get()).unwrap_or_default()
    }

    fn metrics_text(&self) -> String {
        let s = self.0.get();
        let mut out = String::new();
        metric(
            &mut out,
            "emc_router_relayed_total",
            "counter",
            "Consensus messages relayed.",
            s.relayed,
        );
        metric(
            &mut out,
            "emc_router_refused_total",
            "counter",
            "Relay envelopes refused.",
            s.refused,
        );
        metric(
            &mut out,
            "emc_router_probes_answered_total",
            "counter",
            "Liveness probes answered.",
            s.probes_answered,
        );
        metric(
            &mut out,
            "emc_router_validators",
            "gauge",
            "Connected validators.",
            s.validators,
        );
        metric(
            &mut out,
            "emc_router_compute_nodes",
            "gauge",
            "Compute nodes in the table.",
            s.compute.len(),
        );
        let reachable = s.compute.values().filter(|c| c.reachable).count();
        metric(
            &mut out,
            "emc_router_compute_reachable",
            "gauge",
            "Compute nodes answering pings.",
            reachable,
        );
        emc_node_common::http::calls_metrics(&mut out, "emc_router", &s.calls);
        metric(
            &mut out,
            "emc_router_calls_cancelled_total",
            "counter",
            "Calls abandoned by their dApp.",
            s.calls_cancelled,
        );
        metric(
            &mut out,
            "emc_router_receipts_sent_total",
            "counter",
            "Countersigned receipts sent to the validators.",
            s.receipts_sent,
        );
        for (name, help, v) in [
            (
                "emc_router_streamed_uploads_total",
                "Streamed request bodies sent whole to a node, as declared.",
                s.uploads_streamed,
            ),
            (
                "emc_router_streamed_upload_bytes_total",
                "Bytes of the streamed request bodies sent whole.",
                s.upload_bytes,
            ),
            (
                "emc_router_streamed_uploads_refused_total",
                "Streamed request bodies refused at their end: not the declared ones.",
                s.uploads_refused,
            ),
        ] {
            metric(&mut out, name, "counter", help, v);
        }
        if let Some(m) = &s.market {
            for (name, help, v) in [
                (
                    "emc_router_settled_receipts_total",
                    "Receipts settled by the market.",
                    m.settled,
                ),
                (
                    "emc_router_settled_e8s_total",
                    "e8s the market paid for this router's receipts.",
                    m.settled_e8s,
                ),
                (
                    "emc_router_settle_refused_total",
                    "Receipts the market refused for good.",
                    m.refused,
                ),
                (
                    "emc_router_settle_expired_total",
                    "Receipts dropped unproven.",
                    m.expired,
                ),
                (
                    "emc_router_settle_batch_errors_total",
                    "settle_batch calls that failed.",
                    m.batch_errors,
                ),
                (
                    "emc_router_escrow_reads_total",
                    "Escrow reads.",
                    m.escrow_reads,
                ),
                (
                    "emc_router_escrow_read_errors_total",
                    "Escrow reads that failed.",
                    m.escrow_read_errors,
                ),
            ] {
                metric(&mut out, name, "counter", help, v);
            }
            metric(
                &mut out,
                "emc_router_settle_held",
                "gauge",
                "Receipts held for settlement.",
                m.held,
            );
            metric(
                &mut out,
                "emc_router_settle_proven",
                "gauge",
                "Held receipts with a proof.",
                m.proven,
            );
        }
        out
    }
}

enum Internal {
    Ping {
        node: NodeId,
        rtt: Option<Duration>,
        reply: Option<PingReply>,
    },
    Registry(Vec<(NodeId, Roles)>),
    Height(u64),
}

/// Starts a router on a network bound with role router and `authorizer` as its authorizer.
pub fn start_router(
    cfg: RouterConfig,
    net: Network,
    mut events: mpsc::Receiver<Event>,
    authorizer: Arc<StaticAuthorizer>,
    ic: Option<IcHandles>,
) -> RouterHandle {
    let id = net.node_id();
    let status = Shared::new(RouterStatus {
        id: hex::encode(id.0),
        ..RouterStatus::default()
    });
    let market = match (
        cfg.funds,
        ic.as_ref().and_then(|ic| ic.market.map(|m| (ic, m))),
    ) {
        (FundsSource::Allowances, _) => None,
        (FundsSource::Market, Some((ic, m))) => Some(market::Market::new(
            ic.epochs.client().clone(),
            m,
            ic.epochs.canister_id(),
            cfg.clone(),
        )),
        (FundsSource::Market, None) => {
            tracing::error!(
                "router.funds = \"market\" but ic.market is not set: every call is refused \
                 (402); set ic.market, or router.funds = \"allowances\""
            );
            None
        }
    };
    let gw = match &market {
        Some(m) => Gateway::new(cfg.clone(), net.clone(), m.funds()).with_market(m.clone()),
        None if cfg.funds == FundsSource::Market => Gateway::new(
            cfg.clone(),
            net.clone(),
            Box::new(emc_edge_core::compute::Allowances::default()),
        ),
        None => Gateway::new(
            cfg.clone(),
            net.clone(),
            Box::new(gateway::allowances(&cfg)),
        ),
    };
    if let Some((ic, m, s)) = ic
        .as_ref()
        .and_then(|ic| Some((ic, ic.market?, ic.sockets?)))
    {
        gw.sockets
            .set_directory(Arc::new(sockets::IcSocketDirectory::new(
                ic.epochs.client().clone(),
                m,
                s,
            )));
    }
    let gw = Arc::new(gw);
    let (http_stop_tx, http_stop) = watch::channel(false);
    let http_addr = cfg
        .http_addr
        .and_then(|addr| match api::serve(gw.clone(), addr, http_stop) {
            Ok(a) => {
                info!(addr = %a, "dApp API listening");
                Some(a)
            }
            Err(e) => {
                warn!(%addr, error = %e, "dApp API could not bind: calls are off");
                None
            }
        });
    status.update(|s| s.http_addr = http_addr.map(|a| a.to_string()));
    let st = status.clone();
    let g = gw.clone();
    let service = Service::spawn(move |mut stop| {
        let gw = g;
        async move {
        let _http_stop = http_stop_tx;
        if let Some(m) = market.clone() {
            tokio::spawn(settle_loop(m, net.clone(), st.clone(), cfg.clone(), stop.clone()).in_current_span());
        }
        let mut flush = tokio::time::interval(cfg.receipt_flush);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (tx, mut rx) = mpsc::channel::<Internal>(1024);
        let mut ping = tokio::time::interval(cfg.ping_interval);
        let mut refresh = tokio::time::interval(cfg.registry_refresh);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut compute: BTreeMap<NodeId, ComputeEntry> = BTreeMap::new();
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                ev = events.recv() => match ev {
                    Some(ev) => on_event(&net, &st, &gw, market.as_deref(), &mut compute, ev),
                    None => break,
                },
                Some(msg) = rx.recv() => match msg {
                    Internal::Ping { node, rtt, reply } => {
                        gw.on_reachable(&node, rtt.is_some());
                        if let Some(r) = reply {
                            gw.on_load(&node, r.load, r.capacity);
                        }
                        if let Some(e) = compute.get_mut(&node) {
                            match rtt {
                                Some(rtt) => {
                                    let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
                                    e.rtt_us = if e.rtt_us == 0 { us } else { (e.rtt_us * 7 + us) / 8 };
                                    e.reachable = true;
                                    e.pings_ok += 1;
                                }
                                None => {
                                    e.reachable = false;
                                    e.pings_lost += 1;
                                }
                            }
                            if let Some(r) = reply {
                                e.load = r.load;
                                e.capacity = r.capacity;
                            }
                        }
                        publish(&st, &compute);
                    }
                    Internal::Height(h) => gw.on_height(h, cfg.epoch_length),
                    Internal::Registry(nodes) => {
                        let n = nodes.len();
                        authorizer.replace_all(nodes);
                        st.update(|s| s.registered_nodes = n);
                    }
                },
                _ = flush.tick() => {
                    // The receipts of the calls served since the last flush.
                    gw.book_in_background();
                    let ready = gw.take_ready();
                    if let Some(m) = &market {
                        m.hold(&ready, |r| gw.take_cosignatures(r));
                    }
                    for chunk in ready.chunks(MAX_RECEIPTS_PER_FRAME) {
                        let payload = encode_receipts(chunk);
                        let n = net
                            .broadcast(KIND_RECEIPTS, payload, Roles::from(Role::Validator))
                            .unwrap_or(0);
                        if n > 0 {
                            gw.count_sent(chunk.len() as u64);
                        }
                    }
                    let (calls, totals) = gw.stats();
                    st.update(|s| {
                        s.calls = calls.into_iter().map(|(k, v)| (hex::encode(k.0), v)).collect();
                        s.calls_cancelled = totals.cancelled;
                        s.receipts_countersigned = totals.receipts_countersigned;
                        s.receipts_sent = totals.receipts_sent;
                        s.uploads_streamed = totals.uploads_streamed;
                        s.upload_bytes = totals.upload_bytes;
                        s.uploads_refused = totals.uploads_refused;
                    });
                }
                _ = ping.tick() => {
                    for p in net.peers().into_iter().filter(|p| p.role == Role::Validator) {
                        let (net, tx, timeout) = (net.clone(), tx.clone(), cfg.ping_timeout);
                        tokio::spawn(async move {
                            if let Ok(b) = net.request(&p.node, KIND_PING, Vec::new(), timeout).await {
                                if let Ok(r) = PingReply::decode(&b) {
                                    let _ = tx.send(Internal::Height(r.height)).await;
                                }
                            }
                        }.in_current_span());
                    }
                    for node in compute.keys().copied() {
                        let (net, tx, timeout) = (net.clone(), tx.clone(), cfg.ping_timeout);
                        tokio::spawn(async move {
                            let t0 = Instant::now();
                            let r = net.request(&node, KIND_PING, Vec::new(), timeout).await;
                            let rtt = r.is_ok().then(|| t0.elapsed());
                            let reply = r.ok().and_then(|b| PingReply::decode(&b).ok());
                            let _ = tx.send(Internal::Ping { node, rtt, reply }).await;
                        }.in_current_span());
                    }
                }
                _ = refresh.tick(), if ic.is_some() => {
                    if let Some(ic) = ic.clone() {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            match ic.chain_view(0).await {
                                Ok(view) => {
                                    let nodes = emc_node_common::ic::authorized(&view);
                                    let _ = tx.send(Internal::Registry(nodes)).await;
                                }
                                Err(e) => warn!(error = %e, "registry refresh failed"),
                            }
                        }.in_current_span());
                    }
                }
            }
        }
        info!("router stopped");
    }.in_current_span()
    });
    RouterHandle {
        id,
        gateway: gw,
        http_addr,
        status,
        service,
    }
}

/// The market's background work: escrow refreshes of active users, and settlement rounds.
async fn settle_loop(
    m: Arc<market::Market>,
    net: Network,
    st: Shared<RouterStatus>,
    cfg: RouterConfig,
    mut stop: watch::Receiver<bool>,
) {
    let mut refresh = tokio::time::interval(cfg.escrow_refresh.max(Duration::from_millis(100)));
    let mut settle = tokio::time::interval(cfg.settle_interval.max(Duration::from_millis(100)));
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    settle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = refresh.tick() => m.refresh().await,
            _ = settle.tick() => {
                m.settle(&net).await;
                let stats = m.stats();
                st.update(|s| s.market = Some(stats));
            }
        }
    }
}

fn publish(st: &Shared<RouterStatus>, compute: &BTreeMap<NodeId, ComputeEntry>) {
    st.update(|s| {
        s.compute = compute
            .iter()
            .map(|(k, v)| (hex::encode(k.0), v.clone()))
            .collect();
    });
}

fn on_event(
    net: &Network,
    st: &Shared<RouterStatus>,
    gw: &Gateway,
    market: Option<&market::Market>,
    compute: &mut BTreeMap<NodeId, ComputeEntry>,
    ev: Event,
) {
    match ev {
        // A pool's entry node sends a receipt's co-signatures after the call: to the held
        // receipt when the user already countersigned it, else kept until it is held (the
        // flush that holds receipts runs on this same task). Without a market nothing settles.
        Event::Frame {
            peer,
            role: Role::Compute,
            kind: KIND_COSIGNED,
            payload,
        } => match (CosignedReceipt::decode(&payload), market) {
            (Ok(c), Some(m)) => {
                let lane = (c.user, peer, c.epoch);
                if !m.attach_cosignatures(&lane, c.nonce, &c.body_hash, &c.cosignatures) {
                    gw.note_cosignatures(c.body_hash, c.cosignatures);
                }
            }
            (Ok(_), None) => {}
            (Err(e), _) => debug!(?peer, error = %e, "bad co-signed receipt"),
        },
        Event::Frame {
            peer,
            role,
            kind: KIND_RELAY,
            payload,
        } => {
            let env = match RelayEnvelope::decode(&payload) {
                Ok(env) if role == Role::Validator && env.origin == peer => env,
                Ok(_) | Err(_) => {
                    debug!(?peer, "relay envelope refused");
                    st.update(|s| s.refused += 1);
                    return;
                }
            };
            let mut sent = 0u64;
            match env.target {
                Some(t) => {
                    if net.send(&t, KIND_RELAY, payload.clone()).is_ok() {
                        sent += 1;
                    }
                }
                None => {
                    for p in net.peers() {
                        if p.role == Role::Validator
                            && p.node != env.origin
                            && net.send(&p.node, KIND_RELAY, payload.clone()).is_ok()
                        {
                            sent += 1;
                        }
                    }
                }
            }
            st.update(|s| s.relayed += sent);
        }
        Event::Frame {
            peer,
            role: Role::Compute,
            kind: KIND_LOAD,
            payload,
        } => {
            if let Ok(r) = PingReply::decode(&payload) {
                gw.on_load(&peer, r.load, r.capacity);
            }
            if let (Ok(r), Some(e)) = (PingReply::decode(&payload), compute.get_mut(&peer)) {
                e.load = r.load;
                e.capacity = r.capacity;
                publish(st, compute);
            }
        }
        Event::Frame {
            peer,
            role: Role::Compute,
            kind: KIND_OFFER,
            payload,
        } => match Offer::decode(&payload) {
            Ok(offer) => gw.on_offer(peer, offer),
            Err(e) => debug!(?peer, error = %e, "bad offer"),
        },
        Event::Frame { peer, kind, .. } => debug!(?peer, kind, "unexpected frame"),
        // Routers serve no calls over QUIC: dropping it resets the stream.
        Event::Call { .. } => {}
        Event::Request {
            kind: KIND_PING,
            responder,
            ..
        } => {
            let _ = responder.respond(PingReply::default().encode());
            st.update(|s| s.probes_answered += 1);
        }
        Event::Request { .. } => {}
        Event::PeerUp { peer, role, .. } => {
            if role == Role::Compute {
                compute.entry(peer).or_default();
                publish(st, compute);
            }
            let v = net
                .peers()
                .iter()
                .filter(|p| p.role == Role::Validator)
                .count();
            st.update(|s| s.validators = v);
        }
        Event::PeerDown { peer } => {
            gw.on_node_down(&peer);
            if compute.remove(&peer).is_some() {
                publish(st, compute);
            }
            let v = net
                .peers()
                .iter()
                .filter(|p| p.role == Role::Validator)
                .count();
            st.update(|s| s.validators = v);
        }
    }
}
