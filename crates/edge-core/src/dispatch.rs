//! The router's dispatch policy: which compute node gets a dApp's AI call (issue #14). Pure:
//! time comes in as `now_ns` (the shell's monotonic clock), randomness as one `u64` per pick
//! from a source the shell owns, and nothing here does IO.
//!
//! # The policy
//!
//! 1. **Filter.** A node is *eligible* for a call when it serves the call's `(app, model)`, is
//!    reachable (the shell's pings and connections, [`Dispatcher::set_reachable`]), is not
//!    ejected (below), has room (`max(in-flight, reported load) < capacity`) and was not
//!    already tried by this call ([`CallPlan`]).
//! 2. **Cost.** `cost = peak_ewma × (load + 1)^bias`, where `load = max(in-flight, reported
//!    load)`: the calls this router has open on the node, or what the node last reported (its
//!    load report counts other routers' calls too), whichever is larger. This is Finagle's and
//!    Linkerd's "peak EWMA" load metric (also tower's `PeakEwma` and Envoy's contrib
//!    `peak_ewma` policy) with Envoy's `active_request_bias` as the exponent,
//!    [`DispatchConfig::load_bias`] = 0.25: a compute node serves its `capacity` calls in
//!    parallel slots, and the slowdown concurrent calls do cause shows up in the estimate
//!    itself, so the load term only has to spread calls among nodes of about equal speed, not
//!    push them to nodes twice as slow (with bias 1, a fast node with three calls open lost
//!    the next call to an idle node at half its speed, and p99 landed on the slow nodes).
//! 3. **Peak EWMA** of the time to first byte (or, when a call completes without a first byte,
//!    its whole time). A sample above the estimate replaces it at once (a spike is seen
//!    immediately); a sample below moves it toward the sample with weight `1 - e^(-Δt/τ)`,
//!    where Δt is the time since the last update. **τ = [`DispatchConfig::decay_ns`] = 10 s**
//!    (Finagle's `decayTime` and tower's example default). Between samples the estimate is
//!    held: a node once slow and then left idle is not taken for fast (an earlier version
//!    decayed idle estimates toward 0 with τ, which sent ~1.6 % of calls to the slowest nodes
//!    as unplanned probes and put the p99 there); it is *probed* instead (4). A failure
//!    before the first byte only ever raises the estimate (peak only), so a node that fails
//!    fast never looks cheap; the ejection below handles it.
//! 4. **Unsampled nodes** cost the median estimate of the sampled eligible nodes (or
//!    [`DispatchConfig::default_rtt_ns`] = 500 ms when none is sampled; tower and Envoy's
//!    peak EWMA use 1 s) times the load term, so one pick raises a new node's cost before its
//!    first sample arrives. **Exploration:** a call without affinity goes, with probability
//!    [`DispatchConfig::explore_ppm`] = 5 % (Livepeer keeps 10–30 % random; we only explore
//!    nodes we know too little about), to a *stale* eligible node chosen uniformly: one with no
//!    sample yet, or none for [`DispatchConfig::probe_after_ns`] = 30 s. One probe refreshes
//!    its estimate, so a slow node costs at most about one call per 30 s, and a node that got
//!    faster (or came back from a spike) is seen again within that time.
//! 5. **Power of d choices** (Mitzenmacher, "The Power of Two Choices in Randomized Load
//!    Balancing", 2001): [`DispatchConfig::choices`] = 3 distinct eligible nodes drawn at
//!    random, the cheapest one wins (Envoy's `LEAST_REQUEST` `choice_count`, default 2; a
//!    larger value moves toward "least cost of all", `usize::MAX` scans every node; with 2,
//!    two nodes of the slower half drawn together give one of them the call one time in six
//!    on the simulation's fleet, and the p99 ratio was 1.65 instead of 1.03). The draw
//!    is among the eligible nodes whose estimate is at most [`DispatchConfig::slow_factor`] =
//!    2 × the fastest eligible node's (the prior art's "minimum score" filter, as Livepeer's
//!    `MinPerfScore`): without it, two slow nodes drawn together give one of them the call
//!    however idle the fast ones are, and the seeded simulation's p99 suffers (module `sim`).
//!    A slow node still gets calls when every faster node is full, and exploration probes it
//!    once stale.
//! 6. **Session affinity** (optional key, e.g. a hash of an `X-Session-ID` header, see
//!    [`affinity_key`]): rendezvous hashing (highest random weight) over the eligible nodes
//!    names the sticky node; it gets the call unless its cost exceeds
//!    [`DispatchConfig::affinity_factor`] = 2 × the P2C choice's cost. A full, ejected or
//!    unreachable sticky node is not eligible, so the key falls to its next node in rendezvous
//!    order (the same for every call with that key), and comes back when the node does.
//! 7. **Health** (Envoy's outlier detection, `consecutive_5xx`): after
//!    [`DispatchConfig::eject_after`] = 5 consecutive failures a node is ejected for
//!    `base × k` (base [`DispatchConfig::base_ejection_ns`] = 30 s, capped at
//!    [`DispatchConfig::max_ejection_ns`] = 300 s, Envoy's defaults), where `k` counts its
//!    ejections, less one for every `base` it stayed healthy since the last one. It is
//!    re-admitted when the time is up; a success resets the consecutive count.
//! 8. **Retries** ([`CallPlan`]): a call that fails retryably *before its first byte* goes to
//!    another node (never one it tried), at most [`DispatchConfig::max_attempts`] = 3 attempts
//!    in all; after the first byte there is no retry. Only the attempt that succeeds is
//!    billable ([`CallPlan::on_success`] names its node); failed attempts are never charged.
//!
//! # Tickets: how the shell keeps in-flight counts exact
//!
//! [`Dispatcher::pick`] counts the call in flight on its node and returns a [`Ticket`]. The shell
//! must end every ticket exactly once: [`Dispatcher::on_success`], [`Dispatcher::on_failure`]
//! (the node failed: transport error, timeout, 5xx), or [`Dispatcher::cancel`] (the client went
//! away: no latency sample, no health change). [`Dispatcher::on_first_byte`] records the
//! latency sample in between. Tickets are values (the core holds no callbacks), so the shell
//! wraps each in a guard whose `Drop` cancels it if the request task ends without completing
//! it (a dropped future, a panic), e.g. by sending `cancel(id)` to the task that owns the
//! dispatcher. As a safety net, [`Dispatcher::expire`] reclaims tickets older than
//! [`DispatchConfig::ticket_timeout_ns`] as cancelled and returns how many (a shell bug to log).
//! A completion for a ticket already reclaimed, or for a removed node, changes nothing.
//!
//! # Errors and HTTP
//!
//! [`NoNode`] says why no node is eligible; [`NoNodeReason::http_status`] maps it: no node
//! serves the model → 404, every serving node is at capacity → 503 with `Retry-After` (the
//! network is full, not this client over its quota: 429 stays for the caller's own rate
//! limits, which dispatch does not see), every serving node is unreachable or ejected → 503,
//! every serving node was tried by this call → 502. [`CallError`] adds the retry plan's ends.

use emc_types::NodeId;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[cfg(any(test, feature = "sim"))]
pub mod sim;

const SEC: u64 = 1_000_000_000;

/// The policy's constants (module docs: what each does and where its default comes from).
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchConfig {
    /// The peak EWMA's time constant τ, ns (10 s): the weight of a lower sample.
    pub decay_ns: u64,
    /// The estimate of an unsampled node when no eligible node has a sample, ns (500 ms).
    pub default_rtt_ns: u64,
    /// The probability, per million, that a call without affinity goes to an unsampled or
    /// stale node (50,000 = 5 %).
    pub explore_ppm: u32,
    /// A node whose last latency sample is this old is *stale*: exploration may probe it
    /// again (30 s).
    pub probe_after_ns: u64,
    /// Nodes drawn per pick; the cheapest wins (3; 2 is the classic power of two choices).
    pub choices: usize,
    /// The load's exponent in the cost, `peak_ewma × (load + 1)^bias` (0.25; Envoy's
    /// `active_request_bias`, 1.0 there): 0 ignores load below capacity.
    pub load_bias: f64,
    /// Only nodes whose estimate is at most this × the fastest eligible node's take part in
    /// the draw (2.0; `f64::INFINITY`: all): a slow node gets calls when the faster ones are
    /// full, or when exploration probes it once stale.
    pub slow_factor: f64,
    /// The sticky node keeps the call while its cost ≤ this × the P2C choice's cost (2.0).
    pub affinity_factor: f64,
    /// Consecutive failures that eject a node (5).
    pub eject_after: u32,
    /// The first ejection's length, ns (30 s); the k-th lasts k × this.
    pub base_ejection_ns: u64,
    /// The longest ejection, ns (300 s).
    pub max_ejection_ns: u64,
    /// Attempts per call, the first included (3).
    pub max_attempts: u8,
    /// A ticket open this long is reclaimed by [`Dispatcher::expire`], ns (600 s).
    pub ticket_timeout_ns: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            decay_ns: 10 * SEC,
            default_rtt_ns: SEC / 2,
            explore_ppm: 50_000,
            probe_after_ns: 30 * SEC,
            choices: 3,
            load_bias: 0.25,
            slow_factor: 2.0,
            affinity_factor: 2.0,
            eject_after: 5,
            base_ejection_ns: 30 * SEC,
            max_ejection_ns: 300 * SEC,
            max_attempts: 3,
            ticket_timeout_ns: 600 * SEC,
        }
    }
}

/// Why no node can take a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoNodeReason {
    /// No known node serves the app and model.
    NotServed,
    /// Every node serving it that is healthy (and not yet tried) is at capacity.
    AtCapacity,
    /// Every node serving it is unreachable or ejected (or was tried).
    Unhealthy,
    /// Every node serving it was already tried by this call.
    AllTried,
}

impl NoNodeReason {
    /// The HTTP status the router answers with (module docs).
    pub fn http_status(self) -> u16 {
        match self {
            NoNodeReason::NotServed => 404,
            NoNodeReason::AtCapacity | NoNodeReason::Unhealthy => 503,
            NoNodeReason::AllTried => 502,
        }
    }
}

/// No eligible node for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no node can take the call: {reason:?}")]
pub struct NoNode {
    /// Why.
    pub reason: NoNodeReason,
}

/// Why a [`CallPlan`] gives no further attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No eligible node.
    #[error(transparent)]
    NoNode(#[from] NoNode),
    /// The call used all its attempts.
    #[error("all {0} attempts failed")]
    Exhausted(u8),
    /// The call is over: it succeeded, failed after its first byte or failed non-retryably,
    /// or an attempt is still open.
    #[error("no further attempt for this call")]
    Over,
}

impl CallError {
    /// The HTTP status the router answers with when the call ends here (module docs):
    /// exhausted attempts and failures → 502.
    pub fn http_status(self) -> u16 {
        match self {
            CallError::NoNode(n) => n.reason.http_status(),
            CallError::Exhausted(_) | CallError::Over => 502,
        }
    }
}

/// How a pick chose its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The cheapest of the drawn candidates (or the only eligible node).
    Cost,
    /// An unsampled node, explored.
    Explore,
    /// The affinity key's node.
    Sticky,
}

/// One call's attempt on one node, open until the shell ends it (module docs). Not `Clone`:
/// it is ended once.
#[must_use = "end every ticket: on_success, on_failure or cancel"]
#[derive(Debug, PartialEq, Eq)]
pub struct Ticket {
    id: u64,
    node: NodeId,
    started_ns: u64,
    choice: Choice,
}

impl Ticket {
    /// The node the call goes to.
    pub fn node(&self) -> NodeId {
        self.node
    }
    /// The ticket's id (unique per dispatcher), for a shell guard that cancels it on drop.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// How the node was chosen.
    pub fn choice(&self) -> Choice {
        self.choice
    }
    /// When the attempt started (the pick's `now_ns`).
    pub fn started_ns(&self) -> u64 {
        self.started_ns
    }
}

/// A node's state as the dispatcher sees it (for status pages and tests).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    /// Calls this router has open on the node.
    pub in_flight: u32,
    /// The node's last reported load.
    pub reported_load: u32,
    /// Its capacity (max concurrent calls).
    pub capacity: u32,
    /// The peak EWMA at `now`, ns (`None`: no sample yet).
    pub estimate_ns: Option<f64>,
    /// Whether it is reachable and not ejected at `now`.
    pub healthy: bool,
    /// Ejected until this time (0: never ejected).
    pub ejected_until_ns: u64,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// Calls given to it.
    pub picks: u64,
}

#[derive(Clone, Copy, Debug)]
struct Ewma {
    value_ns: f64,
    at_ns: u64,
}

#[derive(Clone, Debug)]
struct Node {
    /// Sorted, deduplicated `(app, model)` pairs.
    serves: Vec<(String, String)>,
    capacity: u32,
    reported_load: u32,
    reachable: bool,
    in_flight: u32,
    ewma: Option<Ewma>,
    consecutive_failures: u32,
    ejections: u32,
    ejected_until_ns: u64,
    picks: u64,
}

impl Node {
    fn serves(&self, app: &str, model: &str) -> bool {
        self.serves
            .binary_search_by(|(a, m)| (a.as_str(), m.as_str()).cmp(&(app, model)))
            .is_ok()
    }
    fn load(&self) -> u32 {
        self.in_flight.max(self.reported_load)
    }
    fn healthy(&self, now_ns: u64) -> bool {
        self.reachable && now_ns >= self.ejected_until_ns
    }
    fn estimate(&self) -> Option<f64> {
        self.ewma.map(|e| e.value_ns)
    }
    /// No sample, or none for `probe_after_ns`: exploration may pick it.
    fn stale(&self, now_ns: u64, probe_after_ns: u64) -> bool {
        self.ewma
            .is_none_or(|e| now_ns.saturating_sub(e.at_ns) >= probe_after_ns)
    }
    /// A latency sample (module docs, 3); `peak_only`: only a rise is taken (failures).
    fn observe(&mut self, sample_ns: u64, now_ns: u64, decay_ns: u64, peak_only: bool) {
        let s = sample_ns as f64;
        match self.ewma {
            None if peak_only => {}
            None => {
                self.ewma = Some(Ewma {
                    value_ns: s,
                    at_ns: now_ns,
                })
            }
            Some(e) => {
                let value_ns = if s > e.value_ns {
                    s
                } else if peak_only {
                    return;
                } else {
                    let dt = now_ns.saturating_sub(e.at_ns) as f64;
                    let w = (-dt / decay_ns.max(1) as f64).exp();
                    e.value_ns * w + s * (1.0 - w)
                };
                self.ewma = Some(Ewma {
                    value_ns,
                    at_ns: now_ns.max(e.at_ns),
                });
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Open {
    node: NodeId,
    started_ns: u64,
    first_byte: bool,
}

/// The dispatcher: every node's offer, load, latency and health, and the open tickets.
#[derive(Clone, Debug)]
pub struct Dispatcher {
    cfg: DispatchConfig,
    nodes: BTreeMap<NodeId, Node>,
    open: BTreeMap<u64, Open>,
    next_id: u64,
}

/// Successive random words from one `u64` (splitmix64), so one argument feeds a whole pick.
struct Bits(u64);

impl Bits {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in `0..n` (n > 0; the bias of `%` is below 2^-32 for the sizes used here).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The affinity key of a session identifier (e.g. the `X-Session-ID` header's bytes).
pub fn affinity_key(session: &[u8]) -> u64 {
    let d = Sha256::digest(session);
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

/// The rendezvous weight of `node` for `key`: the sticky node is the eligible node of the
/// highest weight.
fn rendezvous(key: u64, node: &NodeId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&node.0[..8]);
    mix(key ^ mix(u64::from_le_bytes(b).wrapping_add(0x9E37_79B9_7F4A_7C15)))
}

impl Dispatcher {
    /// An empty dispatcher.
    pub fn new(cfg: DispatchConfig) -> Self {
        Dispatcher {
            cfg,
            nodes: BTreeMap::new(),
            open: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &DispatchConfig {
        &self.cfg
    }

    /// Adds a node, or updates what it serves and its capacity (its latency, load and health
    /// are kept). A node starts reachable.
    pub fn upsert_node(&mut self, id: NodeId, serves: Vec<(String, String)>, capacity: u32) {
        let mut serves = serves;
        serves.sort();
        serves.dedup();
        match self.nodes.get_mut(&id) {
            Some(n) => {
                n.serves = serves;
                n.capacity = capacity;
            }
            None => {
                self.nodes.insert(
                    id,
                    Node {
                        serves,
                        capacity,
                        reported_load: 0,
                        reachable: true,
                        in_flight: 0,
                        ewma: None,
                        consecutive_failures: 0,
                        ejections: 0,
                        ejected_until_ns: 0,
                        picks: 0,
                    },
                );
            }
        }
    }

    /// Forgets a node (it left the registry). Its open tickets still end normally, changing
    /// nothing.
    pub fn remove_node(&mut self, id: &NodeId) {
        self.nodes.remove(id);
    }

    /// A node's load report: jobs running and job slots (the compute node's `PingReply`).
    pub fn report_load(&mut self, id: &NodeId, load: u32, capacity: u32) {
        if let Some(n) = self.nodes.get_mut(id) {
            n.reported_load = load;
            n.capacity = capacity;
        }
    }

    /// Whether the shell can reach the node (pings answered, connection up).
    pub fn set_reachable(&mut self, id: &NodeId, reachable: bool) {
        if let Some(n) = self.nodes.get_mut(id) {
            n.reachable = reachable;
        }
    }

    /// A node's state at `now_ns`.
    pub fn node(&self, id: &NodeId, now_ns: u64) -> Option<NodeView> {
        let n = self.nodes.get(id)?;
        Some(NodeView {
            in_flight: n.in_flight,
            reported_load: n.reported_load,
            capacity: n.capacity,
            estimate_ns: n.estimate(),
            healthy: n.healthy(now_ns),
            ejected_until_ns: n.ejected_until_ns,
            consecutive_failures: n.consecutive_failures,
            picks: n.picks,
        })
    }

    /// Tickets not yet ended.
    pub fn open_tickets(&self) -> usize {
        self.open.len()
    }

    /// Picks a node for a call (module docs) and counts the call in flight there.
    pub fn pick(
        &mut self,
        app: &str,
        model: &str,
        affinity: Option<u64>,
        now_ns: u64,
        random: u64,
    ) -> Result<Ticket, NoNode> {
        self.pick_excluding(app, model, affinity, &[], now_ns, random)
    }

    /// [`Dispatcher::pick`] that skips the nodes in `exclude` (a call's earlier attempts).
    pub fn pick_excluding(
        &mut self,
        app: &str,
        model: &str,
        affinity: Option<u64>,
        exclude: &[NodeId],
        now_ns: u64,
        random: u64,
    ) -> Result<Ticket, NoNode> {
        self.pick_among(app, model, affinity, exclude, None, now_ns, random)
    }

    /// [`Dispatcher::pick_excluding`] among `only` when given (a call bound to one node: a
    /// socket's offer node, a pool's entry). A bound node this router does not know as
    /// serving the app is `Unhealthy` (503), not `NotServed`: the app exists, its node is away.
    #[allow(clippy::too_many_arguments)]
    pub fn pick_among(
        &mut self,
        app: &str,
        model: &str,
        affinity: Option<u64>,
        exclude: &[NodeId],
        only: Option<&NodeId>,
        now_ns: u64,
        random: u64,
    ) -> Result<Ticket, NoNode> {
        let probe_after = self.cfg.probe_after_ns;
        let (mut serving, mut full, mut unhealthy) = (false, false, false);
        // (id, estimate, load, stale)
        let mut eligible: Vec<(NodeId, Option<f64>, u32, bool)> = Vec::new();
        for (id, n) in &self.nodes {
            if !n.serves(app, model) || only.is_some_and(|o| o != id) {
                continue;
            }
            serving = true;
            if exclude.contains(id) {
                continue;
            }
            if !n.healthy(now_ns) {
                unhealthy = true;
            } else if n.load() >= n.capacity {
                full = true;
            } else {
                eligible.push((*id, n.estimate(), n.load(), n.stale(now_ns, probe_after)));
            }
        }
        if eligible.is_empty() {
            let reason = if !serving && only.is_some() {
                NoNodeReason::Unhealthy
            } else if !serving {
                NoNodeReason::NotServed
            } else if full {
                NoNodeReason::AtCapacity
            } else if unhealthy {
                NoNodeReason::Unhealthy
            } else {
                NoNodeReason::AllTried
            };
            return Err(NoNode { reason });
        }
        let mut bits = Bits(random);
        // The estimate of unsampled nodes: the median of the sampled ones, or the default.
        let mut sampled: Vec<f64> = eligible.iter().filter_map(|e| e.1).collect();
        let unsampled_ns = if sampled.is_empty() {
            self.cfg.default_rtt_ns as f64
        } else {
            sampled.sort_by(f64::total_cmp);
            sampled[sampled.len() / 2]
        };
        let bias = self.cfg.load_bias;
        let cost = |e: &(NodeId, Option<f64>, u32, bool)| {
            let load = f64::from(e.2) + 1.0;
            let load = if bias == 1.0 { load } else { load.powf(bias) };
            e.1.unwrap_or(unsampled_ns).max(1.0) * load
        };

        let explore_draw = bits.next() % 1_000_000;
        let (node, choice) = 'choose: {
            if affinity.is_none() && explore_draw < u64::from(self.cfg.explore_ppm) {
                let probe: Vec<NodeId> = eligible.iter().filter(|e| e.3).map(|e| e.0).collect();
                if !probe.is_empty() {
                    break 'choose (probe[bits.below(probe.len())], Choice::Explore);
                }
            }
            // Power of d choices: a partial Fisher-Yates draw of d distinct candidates among
            // the nodes not much slower than the fastest.
            let fastest = eligible
                .iter()
                .map(|e| e.1.unwrap_or(unsampled_ns))
                .fold(f64::INFINITY, f64::min);
            let limit = fastest * self.cfg.slow_factor;
            let mut idx: Vec<usize> = (0..eligible.len())
                .filter(|i| eligible[*i].1.unwrap_or(unsampled_ns) <= limit)
                .collect();
            if idx.is_empty() {
                idx = (0..eligible.len()).collect();
            }
            let d = self.cfg.choices.clamp(1, idx.len());
            let mut best: Option<(usize, f64)> = None;
            for k in 0..d {
                let j = k + bits.below(idx.len() - k);
                idx.swap(k, j);
                let c = cost(&eligible[idx[k]]);
                if best.is_none_or(|(_, bc)| c < bc) {
                    best = Some((idx[k], c));
                }
            }
            let Some((bi, bc)) = best else {
                break 'choose (eligible[0].0, Choice::Cost);
            };
            if let Some(key) = affinity {
                if let Some(s) = eligible.iter().max_by_key(|e| (rendezvous(key, &e.0), e.0)) {
                    if cost(s) <= self.cfg.affinity_factor * bc {
                        break 'choose (s.0, Choice::Sticky);
                    }
                }
            }
            (eligible[bi].0, Choice::Cost)
        };

        if let Some(n) = self.nodes.get_mut(&node) {
            n.in_flight = n.in_flight.saturating_add(1);
            n.picks += 1;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.open.insert(
            id,
            Open {
                node,
                started_ns: now_ns,
                first_byte: false,
            },
        );
        Ok(Ticket {
            id,
            node,
            started_ns: now_ns,
            choice,
        })
    }

    /// The call's first byte arrived: its time to first byte is the node's latency sample.
    pub fn on_first_byte(&mut self, ticket: &Ticket, now_ns: u64) {
        let decay = self.cfg.decay_ns;
        let Some(o) = self.open.get_mut(&ticket.id) else {
            return;
        };
        if o.first_byte {
            return;
        }
        o.first_byte = true;
        if let Some(n) = self.nodes.get_mut(&o.node) {
            n.observe(now_ns.saturating_sub(o.started_ns), now_ns, decay, false);
        }
    }

    /// The call completed (a node's well-formed refusal of a bad request counts as completed:
    /// the node is fine). Without a first byte before, the whole time is the sample.
    pub fn on_success(&mut self, ticket: Ticket, now_ns: u64) {
        let decay = self.cfg.decay_ns;
        let Some((o, n)) = self.end(ticket) else {
            return;
        };
        if !o.first_byte {
            n.observe(now_ns.saturating_sub(o.started_ns), now_ns, decay, false);
        }
        n.consecutive_failures = 0;
    }

    /// The node failed the call (transport error, timeout, 5xx). Counts toward ejection; the
    /// time spent can only raise the latency estimate.
    pub fn on_failure(&mut self, ticket: Ticket, now_ns: u64) {
        let cfg = self.cfg.clone();
        let Some((o, n)) = self.end(ticket) else {
            return;
        };
        if !o.first_byte {
            n.observe(
                now_ns.saturating_sub(o.started_ns),
                now_ns,
                cfg.decay_ns,
                true,
            );
        }
        n.consecutive_failures = n.consecutive_failures.saturating_add(1);
        if n.consecutive_failures >= cfg.eject_after.max(1) && now_ns >= n.ejected_until_ns {
            // One ejection off for every `base` healthy since the last one ended.
            let healthy_for = now_ns.saturating_sub(n.ejected_until_ns);
            let forgiven = healthy_for / cfg.base_ejection_ns.max(1);
            n.ejections = u32::try_from(u64::from(n.ejections).saturating_sub(forgiven))
                .unwrap_or(0)
                .saturating_add(1);
            let length = cfg
                .base_ejection_ns
                .saturating_mul(u64::from(n.ejections))
                .min(cfg.max_ejection_ns);
            n.ejected_until_ns = now_ns.saturating_add(length);
            n.consecutive_failures = 0;
        }
    }

    /// The call was abandoned (the client went away): no sample, no health change.
    pub fn cancel(&mut self, ticket: Ticket) {
        self.end(ticket);
    }

    /// Cancels the open ticket `id` (for a shell guard that holds only the id).
    pub fn cancel_id(&mut self, id: u64) {
        if let Some(o) = self.open.remove(&id) {
            if let Some(n) = self.nodes.get_mut(&o.node) {
                n.in_flight = n.in_flight.saturating_sub(1);
            }
        }
    }

    /// Reclaims tickets open longer than the ticket timeout, as cancelled; returns how many.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        let timeout = self.cfg.ticket_timeout_ns;
        let stale: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, o)| now_ns.saturating_sub(o.started_ns) > timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in &stale {
            self.cancel_id(*id);
        }
        stale.len()
    }

    fn end(&mut self, ticket: Ticket) -> Option<(Open, &mut Node)> {
        let o = self.open.remove(&ticket.id)?;
        let n = self.nodes.get_mut(&o.node)?;
        n.in_flight = n.in_flight.saturating_sub(1);
        Some((o, n))
    }
}

/// One call's attempts (module docs, 8): the next node on a retryable failure before the
/// first byte, never a node twice, at most `max_attempts`; the succeeding attempt's node is
/// the only one to charge.
#[derive(Clone, Debug)]
pub struct CallPlan {
    app: String,
    model: String,
    affinity: Option<u64>,
    only: Option<NodeId>,
    tried: Vec<NodeId>,
    open: bool,
    over: bool,
    first_byte: bool,
}

impl CallPlan {
    /// The plan of a call for `(app, model)`, with an optional affinity key.
    pub fn new(app: &str, model: &str, affinity: Option<u64>) -> Self {
        CallPlan {
            app: app.to_string(),
            model: model.to_string(),
            affinity,
            only: None,
            tried: Vec::new(),
            open: false,
            over: false,
            first_byte: false,
        }
    }

    /// Binds the call to `node` (every attempt goes to it; `None`: any node).
    pub fn only(mut self, node: Option<NodeId>) -> Self {
        self.only = node;
        self
    }

    /// The next attempt's ticket.
    pub fn next(
        &mut self,
        d: &mut Dispatcher,
        now_ns: u64,
        random: u64,
    ) -> Result<Ticket, CallError> {
        if self.over || self.open || self.first_byte {
            return Err(CallError::Over);
        }
        let max = d.config().max_attempts.max(1);
        if self.tried.len() >= usize::from(max) {
            self.over = true;
            return Err(CallError::Exhausted(max));
        }
        let t = d.pick_among(
            &self.app,
            &self.model,
            self.affinity,
            &self.tried,
            self.only.as_ref(),
            now_ns,
            random,
        )?;
        self.tried.push(t.node);
        self.open = true;
        Ok(t)
    }

    /// The attempt's first byte went out toward the caller: no retry from now on.
    pub fn on_first_byte(&mut self, d: &mut Dispatcher, ticket: &Ticket, now_ns: u64) {
        self.first_byte = true;
        d.on_first_byte(ticket, now_ns);
    }

    /// The attempt succeeded: the call is over, and the returned node is the one to charge.
    pub fn on_success(&mut self, d: &mut Dispatcher, ticket: Ticket, now_ns: u64) -> NodeId {
        let node = ticket.node;
        d.on_success(ticket, now_ns);
        self.open = false;
        self.over = true;
        node
    }

    /// The attempt failed (never charged). Returns whether [`CallPlan::next`] may try another
    /// node: only for a retryable failure before the first byte, with attempts left.
    pub fn on_failure(
        &mut self,
        d: &mut Dispatcher,
        ticket: Ticket,
        now_ns: u64,
        retryable: bool,
    ) -> bool {
        d.on_failure(ticket, now_ns);
        self.open = false;
        if !retryable || self.first_byte {
            self.over = true;
        }
        !self.over && self.tried.len() < usize::from(d.config().max_attempts.max(1))
    }

    /// The attempt was abandoned (the client went away): the call is over, nothing charged.
    pub fn cancel(&mut self, d: &mut Dispatcher, ticket: Ticket) {
        d.cancel(ticket);
        self.open = false;
        self.over = true;
    }

    /// The nodes tried so far, in order.
    pub fn tried(&self) -> &[NodeId] {
        &self.tried
    }
}

#[cfg(test)]
mod tests;
