//! The router's compute-call state, shared by the HTTP API's tasks and the router's event
//! loop: the dispatcher (`emc_edge_core::dispatch`), the nodes' offers, the [`Funds`] seam,
//! nonce windows, rate limits, per-node counters and the receipts on their way to the
//! validators. Every rule lives in `emc_edge_core`; this holds the state behind short locks.

use emc_edge_core::compute::{
    node_signature_valid, node_signatures_valid, user_signatures_valid, verify_request_with,
    Allowances, Funds, FundsError, KeyCache, NonceError, NonceWindow, RateLimiter,
};
use emc_edge_core::dispatch::{CallPlan, DispatchConfig, Dispatcher, Ticket};
use emc_edge_core::protocol::Offer;
use emc_net::Network;
use emc_node_common::config::RouterConfig;
use emc_node_common::status::{CallStats, Latencies};
use emc_types::{ComputeReceipt, Cosignature, Hash, NodeId, Signature};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tracing::warn;

/// Receipts awaiting a user's countersignature, per user, at most.
const PENDING_PER_USER: usize = 1024;
/// Countersigned receipts waiting for the next flush, at most (oldest dropped).
const READY_MAX: usize = 100_000;
/// Pool receipts whose co-signatures are kept while they wait for their countersignature
/// (they are taken at the next receipt flush, so this is many seconds of pool calls).
const COSIGNED_MAX: usize = 10_000;

/// Co-signatures by receipt body hash, and the hashes in the order they came (to drop the
/// oldest).
type CosignedBook = (HashMap<Hash, Vec<Cosignature>>, VecDeque<Hash>);
/// Served calls whose receipts wait for a check, at most, before a blocking task books them
/// (otherwise they are booked every `receipt_flush`).
const BOOK_BATCH: usize = 1024;
/// Users' decoded keys kept ([`KeyCache`]).
const KEYS_CACHED: usize = 16_384;

/// Locks `m`, taking the data over from a panicked holder (the state stays usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Per-node and total call counters.
#[derive(Clone, Debug, Default)]
pub struct GatewayStats {
    /// Per compute node.
    pub nodes: BTreeMap<NodeId, (CallStats, Latencies)>,
    /// Calls the dApp abandoned.
    pub cancelled: u64,
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
}

/// Served calls whose receipts are not booked yet, and per user the sum of their amounts
/// (held against the user's funds until they are booked).
#[derive(Default)]
struct Unchecked {
    calls: Vec<Served>,
    held: BTreeMap<NodeId, u64>,
}

/// A served call whose receipt is not booked yet.
struct Served {
    node: NodeId,
    receipt: ComputeReceipt,
    /// Its latency, µs.
    us: u64,
}

/// The shared state of the compute service.
pub struct Gateway {
    pub(crate) cfg: RouterConfig,
    pub(crate) net: Network,
    me: NodeId,
    dispatch: Mutex<Dispatcher>,
    offers: Mutex<BTreeMap<NodeId, Offer>>,
    funds: Mutex<Box<dyn Funds>>,
    /// The market, when calls are paid from its escrow.
    pub(crate) market: Option<Arc<crate::market::Market>>,
    nonces: Mutex<BTreeMap<NodeId, NonceWindow>>,
    /// Users' decoded keys.
    keys: Mutex<KeyCache>,
    /// Per user, calls whose response ended for the dApp (a body of known length ends with its
    /// last byte) but whose trailer is not taken yet ([`TrailerWait`]).
    trailing: Mutex<BTreeMap<NodeId, u32>>,
    /// Woken whenever a trailer awaited that way is taken.
    trailed: tokio::sync::Notify,
    limiter: Mutex<RateLimiter>,
    stats: Mutex<GatewayStats>,
    /// Per user, receipts awaiting the countersignature, with their body hashes.
    pending: Mutex<BTreeMap<NodeId, VecDeque<(Hash, ComputeReceipt)>>>,
    /// Served calls whose receipts are not checked and booked yet ([`Gateway::served`]).
    unchecked: Mutex<Unchecked>,
    /// Whether a blocking task is booking `unchecked`.
    booking_task: AtomicBool,
    /// Held while a batch of `unchecked` is being booked (one batch at a time, so whoever
    /// books next sees every earlier receipt booked).
    booking: Mutex<()>,
    ready: Mutex<VecDeque<ComputeReceipt>>,
    /// Co-signatures of compute pools' receipts that came before their receipts were held
    /// for settlement, by receipt body hash (oldest dropped past [`COSIGNED_MAX`]).
    cosigned: Mutex<CosignedBook>,
    epoch: AtomicU64,
    clock: Instant,
    rng: AtomicU64,
    /// Socket admission (issue #16).
    pub sockets: crate::sockets::SocketGate,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// The accounts of `cfg.allowances` (hex keys; bad entries are logged and skipped).
pub fn allowances(cfg: &RouterConfig) -> Allowances {
    Allowances::new(cfg.allowances.iter().filter_map(|(k, v)| {
        match hex::decode(k)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        {
            Some(a) => Some((NodeId(a), *v)),
            None => {
                warn!(account = %k, "router.allowances: not a hex ed25519 key; skipped");
                None
            }
        }
    }))
}

impl Gateway {
    /// The state of a router on `net`, charging `funds`.
    pub fn new(cfg: RouterConfig, net: Network, funds: Box<dyn Funds>) -> Gateway {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9);
        Gateway {
            me: net.node_id(),
            limiter: Mutex::new(RateLimiter::new(f64::from(cfg.rate_per_s), cfg.rate_burst)),
            cfg,
            net,
            dispatch: Mutex::new(Dispatcher::new(DispatchConfig::default())),
            offers: Mutex::new(BTreeMap::new()),
            funds: Mutex::new(funds),
            market: None,
            nonces: Mutex::new(BTreeMap::new()),
            keys: Mutex::new(KeyCache::new(KEYS_CACHED)),
            trailing: Mutex::new(BTreeMap::new()),
            trailed: tokio::sync::Notify::new(),
            stats: Mutex::new(GatewayStats::default()),
            pending: Mutex::new(BTreeMap::new()),
            unchecked: Mutex::new(Unchecked::default()),
            booking_task: AtomicBool::new(false),
            booking: Mutex::new(()),
            cosigned: Mutex::new((HashMap::new(), VecDeque::new())),
            ready: Mutex::new(VecDeque::new()),
            epoch: AtomicU64::new(0),
            clock: Instant::now(),
            rng: AtomicU64::new(seed),
            sockets: crate::sockets::SocketGate::new(),
        }
    }

    /// Admits calls through `market` (its escrow book becomes the gateway's funds).
    pub fn with_market(mut self, market: Arc<crate::market::Market>) -> Gateway {
        self.funds = Mutex::new(market.funds());
        self.market = Some(market);
        self
    }

    /// The market, when calls are paid from its escrow.
    pub fn market(&self) -> Option<&Arc<crate::market::Market>> {
        self.market.as_ref()
    }

    /// Monotonic ns since the gateway started (the dispatcher's clock).
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A fresh random word for a pick (splitmix64 over a time-seeded counter).
    pub fn random(&self) -> u64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The dispatcher, locked.
    pub fn dispatcher(&self) -> MutexGuard<'_, Dispatcher> {
        lock(&self.dispatch)
    }

    /// The epoch receipts are issued in (from the validators' heights).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// A validator reported committed height `height`.
    pub fn on_height(&self, height: u64, epoch_length: u64) {
        if let Some(e) = height.checked_div(epoch_length) {
            self.epoch.fetch_max(e, Ordering::Relaxed);
        }
    }

    /// A compute node's offer.
    pub fn on_offer(&self, node: NodeId, offer: Offer) {
        let serves = offer
            .models
            .iter()
            .map(|m| (offer.app.clone(), m.clone()))
            .collect();
        self.dispatcher().upsert_node(node, serves, offer.capacity);
        lock(&self.offers).insert(node, offer);
    }

    /// A compute node left (connection down).
    pub fn on_node_down(&self, node: &NodeId) {
        self.dispatcher().remove_node(node);
        lock(&self.offers).remove(node);
    }

    /// A compute node's load report.
    pub fn on_load(&self, node: &NodeId, load: u32, capacity: u32) {
        self.dispatcher().report_load(node, load, capacity);
    }

    /// The outcome of a ping to a compute node.
    pub fn on_reachable(&self, node: &NodeId, reachable: bool) {
        self.dispatcher().set_reachable(node, reachable);
    }

    /// Whether `account` may call.
    /// Receipts of served calls not booked yet count against it ([`Self::served`]).
    pub fn funds_available(&self, account: &NodeId) -> Result<u64, FundsError> {
        let held = lock(&self.unchecked)
            .held
            .get(account)
            .copied()
            .unwrap_or(0);
        let left = lock(&self.funds).available(account)?;
        match left.saturating_sub(held) {
            0 => Err(FundsError::Exhausted),
            left => Ok(left),
        }
    }

    /// Whether `sig` is `account`'s signature over a call's request hash
    /// (`compute::verify_request`, with the account's key decoded once and cached).
    pub fn request_signed(&self, account: &NodeId, hash: &Hash, sig: &Signature) -> bool {
        let key = lock(&self.keys).key(account);
        key.is_some_and(|k| verify_request_with(&k, hash, sig))
    }

    /// Records `nonce` for `account`, once.
    pub fn accept_nonce(&self, account: &NodeId, nonce: u64) -> Result<(), NonceError> {
        lock(&self.nonces)
            .entry(*account)
            .or_default()
            .accept(nonce)
    }

    /// Takes one call from `account`'s rate.
    pub fn rate_limit(&self, account: &NodeId) -> Result<(), u64> {
        let now = self.now_ns();
        lock(&self.limiter).take(account, now)
    }

    /// `GET /v1/models`: every (app, model) of the live nodes with price, unit, nodes and
    /// capacity.
    pub fn models_json(&self) -> Value {
        let offers = lock(&self.offers).clone();
        struct Entry {
            lo: u64,
            hi: u64,
            nodes: u32,
            capacity: u32,
            unit: &'static str,
        }
        let mut by: BTreeMap<(String, String), Entry> = BTreeMap::new();
        for o in offers.values() {
            for m in &o.models {
                let e = by.entry((o.app.clone(), m.clone())).or_insert(Entry {
                    lo: u64::MAX,
                    hi: 0,
                    nodes: 0,
                    capacity: 0,
                    unit: unit_name(o.unit),
                });
                e.lo = e.lo.min(o.price_e8s);
                e.hi = e.hi.max(o.price_e8s);
                e.nodes += 1;
                e.capacity = e.capacity.saturating_add(o.capacity);
            }
        }
        let data: Vec<Value> = by
            .into_iter()
            .map(|((app, model), e)| {
                json!({
                    "id": model, "object": "model", "owned_by": app,
                    "emc": {"app": app, "unit": e.unit, "price_e8s_min": e.lo,
                            "price_e8s_max": e.hi, "nodes": e.nodes, "capacity": e.capacity}
                })
            })
            .collect();
        json!({"object": "list", "data": data})
    }

    /// Keeps the co-signatures a pool's entry node sent for the receipt whose body hash is
    /// `body` before the user's countersignature put it in the settler, for
    /// [`Self::take_cosignatures`] (the oldest are dropped past [`COSIGNED_MAX`]).
    pub fn note_cosignatures(&self, body: Hash, cosignatures: Vec<Cosignature>) {
        if cosignatures.is_empty() {
            return;
        }
        let mut g = lock(&self.cosigned);
        let (map, order) = &mut *g;
        if map.insert(body, cosignatures).is_none() {
            order.push_back(body);
        }
        while order.len() > COSIGNED_MAX {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// The co-signatures that came with `r` (empty for a receipt that had none), forgotten
    /// here: the settler keeps them from now on.
    pub fn take_cosignatures(&self, r: &ComputeReceipt) -> Vec<Cosignature> {
        let mut g = lock(&self.cosigned);
        if g.0.is_empty() {
            return Vec::new();
        }
        g.0.remove(&r.body_hash()).unwrap_or_default()
    }

    /// A served call's receipt from `node`: kept for the user's countersignature and charged
    /// once, if it is the node's, for this router, signed by the node. Returns it when kept.
    pub fn on_receipt(&self, node: NodeId, r: ComputeReceipt) -> Option<ComputeReceipt> {
        // Calls that ended earlier first, so a lane's receipts are kept in the order served
        // (validators' proposals take a lane's receipts in the order they were handed over).
        self.book_served();
        if !node_signature_valid(&r) {
            warn!(?node, "a receipt without the node's signature: not billed");
            return None;
        }
        self.book(node, r)
    }

    /// A call served in full whose response has gone to the dApp, with the node's receipt:
    /// counted, and the receipt checked and booked as [`Self::on_receipt`] does, but in
    /// batches ([`Self::book_served`]): by a blocking task once [`BOOK_BATCH`] wait, else at
    /// the next `receipt_flush`, and by whoever reads or settles the pending receipts first
    /// (so a receipt is never missing once its call's response has ended). Until then its
    /// amount is held against the user's funds ([`Self::funds_available`]). So no signature
    /// is checked on the way of a dApp's bytes, and the router checks receipts' node
    /// signatures with one batch equation per batch.
    pub fn served(
        self: &Arc<Self>,
        node: NodeId,
        receipt: Option<ComputeReceipt>,
        started: Instant,
    ) {
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let Some(receipt) = receipt else {
            self.record_served(node, 0, us);
            return;
        };
        let waiting = {
            let mut u = lock(&self.unchecked);
            let amount = receipt.amount_e8s().unwrap_or(u64::MAX);
            let held = u.held.entry(receipt.user).or_default();
            *held = held.saturating_add(amount);
            u.calls.push(Served { node, receipt, us });
            u.calls.len()
        };
        if waiting >= BOOK_BATCH {
            self.book_in_background();
        }
    }

    /// Books the served calls' receipts on a blocking task (unless one is at it already).
    pub fn book_in_background(self: &Arc<Self>) {
        if self.booking_task.swap(true, Ordering::AcqRel) {
            return; // the running task takes them
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let gw = self.clone();
                rt.spawn_blocking(move || gw.book_until_empty());
            }
            Err(_) => self.book_until_empty(),
        }
    }

    /// The blocking task: books batches until none is left.
    fn book_until_empty(&self) {
        loop {
            self.book_served();
            self.booking_task.store(false, Ordering::Release);
            // Calls queued after the last batch, whose callers saw the task running.
            if lock(&self.unchecked).calls.is_empty()
                || self.booking_task.swap(true, Ordering::AcqRel)
            {
                return;
            }
        }
    }

    /// Checks and books every receipt [`Self::served`] queued so far: their node signatures
    /// in one batch, then each valid one as [`Self::on_receipt`] does; their holds end once
    /// they are charged (or refused).
    pub fn book_served(&self) {
        let _one_at_a_time = lock(&self.booking);
        let batch = std::mem::take(&mut lock(&self.unchecked).calls);
        if batch.is_empty() {
            return;
        }
        let refs: Vec<&ComputeReceipt> = batch.iter().map(|s| &s.receipt).collect();
        let valid = node_signatures_valid(&refs);
        let mut booked: BTreeMap<NodeId, u64> = BTreeMap::new();
        for (s, ok) in batch.into_iter().zip(valid) {
            let user = s.receipt.user;
            let amount = s.receipt.amount_e8s().unwrap_or(u64::MAX);
            let units = if ok {
                self.book(s.node, s.receipt).map_or(0, |r| r.units)
            } else {
                warn!(node = ?s.node, "a receipt without the node's signature: not billed");
                0
            };
            let b = booked.entry(user).or_default();
            *b = b.saturating_add(amount);
            self.record_served(s.node, units, s.us);
        }
        let mut u = lock(&self.unchecked);
        for (user, amount) in booked {
            if let Some(held) = u.held.get_mut(&user) {
                *held = held.saturating_sub(amount);
                if *held == 0 {
                    u.held.remove(&user);
                }
            }
        }
    }

    /// Charges and keeps a receipt whose node signature verified, if it is `node`'s and for
    /// this router.
    fn book(&self, node: NodeId, r: ComputeReceipt) -> Option<ComputeReceipt> {
        if r.node != node || r.router != self.me {
            warn!(?node, "a receipt that is not the node's own: not billed");
            return None;
        }
        let amount = r.amount_e8s().unwrap_or(u64::MAX);
        let covered = lock(&self.funds).charge(&r, amount);
        if covered < amount {
            warn!(user = ?r.user, amount, covered, "the call overdrew the account");
        }
        let mut pending = lock(&self.pending);
        let q = pending.entry(r.user).or_default();
        if q.len() >= PENDING_PER_USER {
            q.pop_front();
        }
        // A lane's receipts stay in nonce order even when their calls' trailers were taken out
        // of order (validators refuse a lane's receipt below one they already have).
        let later =
            |p: &ComputeReceipt| p.node == r.node && p.epoch == r.epoch && p.nonce > r.nonce;
        let at = q.iter().rposition(|(_, p)| !later(p)).map_or(0, |i| i + 1);
        q.insert(at, (r.body_hash(), r.clone()));
        Some(r)
    }

    /// Waits (at most `within`) until every call of `user` whose response has ended has had
    /// its trailer taken, so [`Self::pending_receipts`] holds their receipts.
    pub async fn trailers_taken(&self, user: &NodeId, within: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let taken = self.trailed.notified();
            tokio::pin!(taken);
            taken.as_mut().enable();
            if !lock(&self.trailing).contains_key(user) {
                return;
            }
            if tokio::time::timeout_at(deadline, taken).await.is_err() {
                return;
            }
        }
    }

    /// Receipts awaiting `user`'s countersignature.
    pub fn pending_receipts(&self, user: &NodeId) -> Vec<ComputeReceipt> {
        self.book_served();
        lock(&self.pending)
            .get(user)
            .map(|q| q.iter().map(|(_, r)| r.clone()).collect())
            .unwrap_or_default()
    }

    /// Countersigned receipts back from their users, as `(accepted, refused)`. A receipt is
    /// accepted when it is one of its user's pending receipts (same body and node signature,
    /// which [`Self::on_receipt`] verified) and its user's signature verifies (the whole lot
    /// verified together: `compute::user_signatures_valid`); accepted ones leave the pending
    /// receipts (a second copy is refused) and are queued for the validators.
    pub fn countersigned(&self, rs: Vec<ComputeReceipt>) -> (u64, u64) {
        self.book_served();
        let is_pending = |q: &VecDeque<(Hash, ComputeReceipt)>, body: &Hash, r: &ComputeReceipt| {
            q.iter()
                .position(|(h, p)| h == body && p.node_signature == r.node_signature)
        };
        let bodies: Vec<Hash> = rs.iter().map(ComputeReceipt::body_hash).collect();
        let candidates: Vec<usize> = {
            let pending = lock(&self.pending);
            (0..rs.len())
                .filter(|&i| {
                    pending
                        .get(&rs[i].user)
                        .is_some_and(|q| is_pending(q, &bodies[i], &rs[i]).is_some())
                })
                .collect()
        };
        let signed = {
            let refs: Vec<&ComputeReceipt> = candidates.iter().map(|&i| &rs[i]).collect();
            user_signatures_valid(&refs)
        };
        let mut accepted = Vec::new();
        {
            let mut pending = lock(&self.pending);
            for (&i, ok) in candidates.iter().zip(signed) {
                let Some(q) = pending.get_mut(&rs[i].user).filter(|_| ok) else {
                    continue;
                };
                if let Some(at) = is_pending(q, &bodies[i], &rs[i]) {
                    q.remove(at);
                    accepted.push(i);
                }
            }
        }
        let n = accepted.len() as u64;
        let refused = rs.len() as u64 - n;
        let mut rs: Vec<Option<ComputeReceipt>> = rs.into_iter().map(Some).collect();
        let mut ready = lock(&self.ready);
        for i in accepted {
            if ready.len() >= READY_MAX {
                ready.pop_front();
            }
            if let Some(r) = rs[i].take() {
                ready.push_back(r);
            }
        }
        drop(ready);
        lock(&self.stats).receipts_countersigned += n;
        (n, refused)
    }

    /// The countersigned receipts to send now.
    pub fn take_ready(&self) -> Vec<ComputeReceipt> {
        lock(&self.ready).drain(..).collect()
    }

    /// Counts receipts sent to validators.
    pub fn count_sent(&self, n: u64) {
        lock(&self.stats).receipts_sent += n;
    }

    /// A served call.
    pub fn count_served(&self, node: NodeId, units: u64, started: Instant) {
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.record_served(node, units, us);
    }

    /// A served call that took `us` µs.
    fn record_served(&self, node: NodeId, units: u64, us: u64) {
        let mut s = lock(&self.stats);
        let e = s.nodes.entry(node).or_default();
        e.0.calls += 1;
        e.0.units = e.0.units.saturating_add(units);
        e.1.record(us);
    }

    /// A failed attempt or call.
    pub fn count_error(&self, node: NodeId) {
        lock(&self.stats).nodes.entry(node).or_default().0.errors += 1;
    }

    /// A call its dApp abandoned.
    pub fn count_cancelled(&self, node: NodeId) {
        let mut s = lock(&self.stats);
        s.cancelled += 1;
        s.nodes.entry(node).or_default().0.errors += 1;
    }

    /// A streamed request body of `bytes` sent whole to a node (`Some`), or refused as not
    /// the declared one (`None`).
    pub fn count_upload(&self, bytes: Option<u64>) {
        let mut s = lock(&self.stats);
        match bytes {
            Some(b) => {
                s.uploads_streamed += 1;
                s.upload_bytes = s.upload_bytes.saturating_add(b);
            }
            None => s.uploads_refused += 1,
        }
    }

    /// Per-node counters with quantiles, and the totals.
    pub fn stats(&self) -> (BTreeMap<NodeId, CallStats>, GatewayStats) {
        let s = lock(&self.stats).clone();
        let nodes = s
            .nodes
            .iter()
            .map(|(n, (c, l))| {
                let mut c = c.clone();
                l.publish(&mut c);
                (*n, c)
            })
            .collect();
        (nodes, s)
    }

    /// Dispatch tickets still open (0 when no call is in progress: none leaked).
    pub fn open_tickets(&self) -> usize {
        self.dispatcher().open_tickets()
    }
}

/// A call whose response ended for the dApp before its trailer came: counted for its user
/// until dropped (once the trailer is taken, or the call failed), so the user's next look at
/// its pending receipts waits for it ([`Gateway::trailers_taken`]).
pub struct TrailerWait {
    gw: Arc<Gateway>,
    user: NodeId,
}

impl TrailerWait {
    /// Counts a call of `user` whose trailer is awaited.
    pub fn new(gw: Arc<Gateway>, user: NodeId) -> TrailerWait {
        *lock(&gw.trailing).entry(user).or_default() += 1;
        TrailerWait { gw, user }
    }
}

impl Drop for TrailerWait {
    fn drop(&mut self) {
        let mut t = lock(&self.gw.trailing);
        if let Some(n) = t.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.remove(&self.user);
            }
        }
        drop(t);
        self.gw.trailed.notify_waiters();
    }
}

/// An attempt's ticket, ended exactly once: explicitly, or cancelled when dropped (a
/// request task that ends early: the dApp went away, a panic).
pub struct TicketGuard {
    gw: Arc<Gateway>,
    ticket: Option<Ticket>,
}

impl TicketGuard {
    /// Guards `ticket`.
    pub fn new(gw: Arc<Gateway>, ticket: Ticket) -> TicketGuard {
        TicketGuard {
            gw,
            ticket: Some(ticket),
        }
    }

    /// The first byte arrived.
    pub fn first_byte(&mut self, plan: &mut CallPlan) {
        if let Some(t) = &self.ticket {
            let now = self.gw.now_ns();
            plan.on_first_byte(&mut self.gw.dispatcher(), t, now);
        }
    }

    /// The attempt succeeded (or the node answered well about a bad call).
    pub fn success(&mut self, plan: &mut CallPlan) {
        if let Some(t) = self.ticket.take() {
            let now = self.gw.now_ns();
            plan.on_success(&mut self.gw.dispatcher(), t, now);
        }
    }

    /// The attempt failed; whether another node may be tried.
    pub fn failure(&mut self, plan: &mut CallPlan, retryable: bool) -> bool {
        match self.ticket.take() {
            Some(t) => {
                let now = self.gw.now_ns();
                plan.on_failure(&mut self.gw.dispatcher(), t, now, retryable)
            }
            None => false,
        }
    }

    /// The dApp went away.
    pub fn cancel(&mut self, plan: &mut CallPlan) {
        if let Some(t) = self.ticket.take() {
            plan.cancel(&mut self.gw.dispatcher(), t);
        }
    }
}

impl Drop for TicketGuard {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.gw.dispatcher().cancel(t);
        }
    }
}

fn unit_name(u: emc_types::MeterUnit) -> &'static str {
    match u {
        emc_types::MeterUnit::Tokens => "tokens",
        emc_types::MeterUnit::ImageSteps => "image_steps",
        emc_types::MeterUnit::Seconds => "seconds",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use emc_edge_core::compute::{countersign, sign_receipt};
    use emc_net::{Identity, NetConfig, Role, StaticAuthorizer};
    use emc_types::MeterUnit;

    fn gateway(router: &SigningKey, user: &SigningKey, credit: u64) -> Arc<Gateway> {
        let cfg = NetConfig {
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            ..NetConfig::default()
        };
        let (net, _events) = Network::bind(
            cfg,
            Identity::from_signing_key(router.clone()).unwrap(),
            Arc::new(StaticAuthorizer::new()),
            Role::Router,
        )
        .unwrap();
        let funds = Allowances::new([(NodeId(user.verifying_key().to_bytes()), credit)]);
        Arc::new(Gateway::new(RouterConfig::default(), net, Box::new(funds)))
    }

    fn receipt(
        router: &SigningKey,
        node: &SigningKey,
        user: &SigningKey,
        n: u64,
    ) -> ComputeReceipt {
        let mut r = ComputeReceipt {
            user: NodeId(user.verifying_key().to_bytes()),
            node: NodeId(node.verifying_key().to_bytes()),
            router: NodeId(router.verifying_key().to_bytes()),
            epoch: 0,
            nonce: n,
            request_hash: Hash([n as u8; 32]),
            response_hash: Hash([7; 32]),
            unit: MeterUnit::Tokens,
            units: 2,
            price_e8s: 5,
            cumulative_e8s: 10 * n,
            node_signature: Signature([0; 64]),
            user_signature: Signature([0; 64]),
        };
        r.node_signature = sign_receipt(node, &r);
        r
    }

    /// Issue #16: a pool receipt's co-signatures that come early are kept by body hash
    /// until the countersigned receipt is held for settlement (the user's countersignature
    /// does not change the body), then taken once; other receipts have none.
    #[tokio::test]
    async fn a_pool_receipts_cosignatures_follow_it_to_settlement() {
        let (rk, nk, uk) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[3; 32]),
        );
        let gw = gateway(&rk, &uk, 1_000);
        let (pool_r, plain_r) = (receipt(&rk, &nk, &uk, 1), receipt(&rk, &nk, &uk, 2));
        let cs = vec![Cosignature {
            node: NodeId([4; 32]),
            signature: Signature([5; 64]),
        }];
        gw.note_cosignatures(pool_r.body_hash(), cs.clone());
        gw.note_cosignatures(plain_r.body_hash(), vec![]);
        let mut signed = pool_r.clone();
        assert!(countersign(&uk, &mut signed));
        assert_eq!(gw.take_cosignatures(&plain_r), vec![]);
        assert_eq!(gw.take_cosignatures(&signed), cs);
        assert_eq!(gw.take_cosignatures(&signed), vec![], "taken once");
    }

    /// Served calls' receipts are held against the user's funds until booked; booking
    /// charges the ones the node signed (one bad among them is not billed nor kept); the
    /// pending receipts are complete as soon as the calls were served; a batch of
    /// countersignatures accepts exactly the good ones, once.
    #[tokio::test]
    async fn served_receipts_are_held_then_booked_in_a_batch_and_countersigned_in_one() {
        let (router, node, user) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[3; 32]),
        );
        let account = NodeId(user.verifying_key().to_bytes());
        let node_id = NodeId(node.verifying_key().to_bytes());
        let gw = gateway(&router, &user, 100);
        let mut rs: Vec<ComputeReceipt> =
            (1..=8).map(|n| receipt(&router, &node, &user, n)).collect();
        rs[3].node_signature.0[9] ^= 1; // forged by the node: never billed
        for r in &rs {
            gw.served(node_id, Some(r.clone()), Instant::now());
        }
        // 8 × 10 e8s held of 100.
        assert_eq!(gw.funds_available(&account), Ok(20));
        let pending = gw.pending_receipts(&account); // books first
        assert_eq!(pending.len(), 7);
        assert!(!pending.contains(&rs[3]));
        assert_eq!(
            gw.funds_available(&account),
            Ok(30),
            "7 charged, no hold left"
        );
        assert_eq!(gw.stats().0[&node_id].calls, 8);
        assert_eq!(gw.stats().0[&node_id].units, 14);

        let mut signed = pending.clone();
        for r in &mut signed {
            assert!(countersign(&user, r));
        }
        signed[5].user_signature = sign_receipt(&node, &signed[5]); // not the user's
        let mut posted = signed.clone();
        posted.push(signed[0].clone()); // twice
        posted.push(rs[3].clone()); // never pending
        assert_eq!(gw.countersigned(posted), (6, 3));
        assert_eq!(gw.take_ready().len(), 6);
        assert_eq!(gw.pending_receipts(&account), vec![pending[5].clone()]);
    }

    /// Receipts whose trailers were taken out of order are kept in their lane's nonce order;
    /// a look at the pending receipts waits for calls whose bodies ended before their
    /// trailers came.
    #[tokio::test]
    async fn late_trailers_are_waited_for_and_lanes_stay_in_order() {
        let (router, node, user) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[3; 32]),
        );
        let node_id = NodeId(node.verifying_key().to_bytes());
        let account = NodeId(user.verifying_key().to_bytes());
        let gw = gateway(&router, &user, 1_000);
        let rs: Vec<ComputeReceipt> = (1..=3).map(|n| receipt(&router, &node, &user, n)).collect();
        gw.served(node_id, Some(rs[1].clone()), Instant::now());
        gw.served(node_id, Some(rs[0].clone()), Instant::now());
        let wait = TrailerWait::new(gw.clone(), account);
        let late = {
            let gw = gw.clone();
            let r = rs[2].clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                gw.served(node_id, Some(r), Instant::now());
                drop(wait);
            })
        };
        let t = Instant::now();
        gw.trailers_taken(&account, std::time::Duration::from_secs(5))
            .await;
        assert!(t.elapsed() >= std::time::Duration::from_millis(40));
        let nonces: Vec<u64> = gw
            .pending_receipts(&account)
            .iter()
            .map(|r| r.nonce)
            .collect();
        assert_eq!(nonces, [1, 2, 3]);
        late.await.unwrap();
        // Nothing awaited: no wait.
        let t = Instant::now();
        gw.trailers_taken(&account, std::time::Duration::from_secs(5))
            .await;
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }

    /// A streamed call's receipt, booked at once, comes after the receipts of calls that
    /// ended before it and wait for their batch: a lane's receipts stay in the order served.
    #[tokio::test]
    async fn a_lane_keeps_its_receipts_in_the_order_served() {
        let (router, node, user) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[3; 32]),
        );
        let node_id = NodeId(node.verifying_key().to_bytes());
        let gw = gateway(&router, &user, 1_000);
        let rs: Vec<ComputeReceipt> = (1..=4).map(|n| receipt(&router, &node, &user, n)).collect();
        for r in &rs[..3] {
            gw.served(node_id, Some(r.clone()), Instant::now());
        }
        assert_eq!(gw.on_receipt(node_id, rs[3].clone()), Some(rs[3].clone()));
        let nonces: Vec<u64> = gw
            .pending_receipts(&NodeId(user.verifying_key().to_bytes()))
            .iter()
            .map(|r| r.nonce)
            .collect();
        assert_eq!(nonces, [1, 2, 3, 4]);
    }
}
