//! A deterministic, seeded simulation of a validator network running [`Node`]s.
//!
//! Everything random comes from one `ChaCha8Rng` seeded with [`SimConfig::seed`], and events
//! are ordered by `(virtual time, sequence number)`, so a seed replays exactly. The network
//! delays, drops, duplicates and reorders messages and can be partitioned; honest nodes crash
//! (possibly in the middle of carrying out a step's effects) and restart from their
//! write-ahead log; up to F nodes are Byzantine. At `heal_at_ns` the faults stop (Byzantine
//! nodes stay Byzantine) and every crashed node restarts.
//!
//! Byzantine nodes either misbehave each on its own ([`Byzantine`]) or collude
//! ([`FaultMix::Colluding`] with a [`Collusion`] strategy): the colluders share their keys and
//! everything any of them receives, and act on one plan (half the seeds also crash and restart
//! honest nodes):
//! - [`Collusion::Amnesia`] (lock breaking): at each height, the colluders prepare the first
//!   value proposed, in round r, towards a group A of honest nodes only, and hold back their
//!   commits; amnesiac ROUND-CHANGEs (reporting nothing prepared) pull the other group B into
//!   round r+1, where a colluding proposer (justified by the amnesiac round changes and B's)
//!   or B's honest proposer brings another value, which the colluders prepare and commit
//!   towards B, and towards any node of A that reported nothing prepared; then the rest of A
//!   gets the held commits. Their round changes never report a prepared value. When the run
//!   crashes honest nodes, some attacks also crash a node of A just after it prepared (the
//!   worst moment for a node that would forget it across the restart).
//! - [`Collusion::TargetedEquivocation`]: a colluding proposer sends one block to group A and
//!   a conflicting one to group B (with F+1 colluders each group plus the colluders is a
//!   quorum; with F, group A is), and every colluder prepares and commits each block towards
//!   its group.
//! - [`Collusion::ForgedRoundChange`]: for every round above 0, the colluders' ROUND-CHANGEs
//!   carry forged prepared certificates (too few prepares, made-up or outsiders' signatures,
//!   duplicated signers, prepares of another round or height, a real certificate beside
//!   another block or claimed for another value, "prepared" in the new round itself, a value
//!   never proposed), and a colluding proposer proposes an unprepared value with a forged
//!   justification (a higher forged claim, hidden prepared round changes padded with others,
//!   another value's certificate, too few round changes, round changes of another height),
//!   then the colluders vote for it.
//!
//! Colluders never sign as an honest node, even with the forgeable
//! [`SimCrypto::FastInsecure`]. With at most F colluders every run must be clean; the sanity
//! runs with F+1 ([`SimConfig::colluders`]) must fork (amnesia and targeted equivocation do,
//! on almost every seed), which shows that the checker sees forks.
//!
//! Checked on every run ([`SimReport::violations`]): agreement (no two honest nodes commit
//! different blocks at one height, nor sign different checkpoints), validity (every honest
//! commit carries a quorum of valid seals and a payload the application accepts), no honest
//! node signs two different votes of one kind for one height and round (across restarts
//! too), and liveness after the heal ([`SimReport::live`]).

use crate::crypto::{Ed25519Signer, Ed25519Verifier, Signer, Verifier};
use crate::message::{verify_committed, Message, SignedVote, Vote, VoteKind};
use crate::node::{Application, Effect, Input, Node, Timer, WalRecord};
use crate::{codec, crypto, Config};
use emc_types::{
    Block, Checkpoint, CheckpointSignature, Hash, LivenessObservation, NodeId, PocResult,
    Signature, StateBit, ValidatorSet, ZERO_HASH,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt;
use std::rc::Rc;

mod collusion;

const MS: u64 = 1_000_000;

/// What a Byzantine node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// As proposer, sends a different block to each half of the network (sometimes one the
    /// application rejects), or one stamped `u64::MAX - 1` to everyone.
    EquivocatingProposer,
    /// Sends each prepare and commit to half the network and a vote for another digest to
    /// the other half.
    DoubleVote,
    /// Sends nothing.
    Silent,
    /// Sends its messages with corrupted signatures.
    BadSignatures,
    /// Sends its messages, plus random bytes and mutated copies.
    Garbage,
}

impl Byzantine {
    /// All kinds (each node on its own; [`Collusion`] has the coordinated strategies).
    pub const ALL: [Byzantine; 5] = [
        Byzantine::EquivocatingProposer,
        Byzantine::DoubleVote,
        Byzantine::Silent,
        Byzantine::BadSignatures,
        Byzantine::Garbage,
    ];
}

/// A coordinated strategy: the Byzantine nodes collude. They share their keys and everything
/// any of them receives, pick their moves together and craft messages directly (their own
/// [`Node`]s still run, and what those send is rewritten or withheld to fit the plan). See
/// the module docs for each strategy's moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collusion {
    /// Lock breaking: the colluders prepare a value in round r for one group of honest
    /// nodes, then forget it: amnesiac ROUND-CHANGEs (nothing prepared) pull the other group
    /// into round r+1, where they vote for a different value.
    Amnesia,
    /// A colluding proposer sends one block to one group of honest nodes and a conflicting
    /// one to the other; every colluder prepares and commits each block towards its group.
    TargetedEquivocation,
    /// ROUND-CHANGEs and proposals for rounds above 0 with forged or mismatched prepared
    /// certificates (too few, badly signed, duplicated or outside prepares; prepares of
    /// other rounds or heights; a certificate of one block beside another block; a value
    /// never proposed), then votes for the value they push.
    ForgedRoundChange,
}

impl Collusion {
    /// All coordinated strategies.
    pub const ALL: [Collusion; 3] = [
        Collusion::Amnesia,
        Collusion::TargetedEquivocation,
        Collusion::ForgedRoundChange,
    ];

    /// A short name (for reports).
    pub fn name(self) -> &'static str {
        match self {
            Collusion::Amnesia => "amnesia",
            Collusion::TargetedEquivocation => "targeted_equivocation",
            Collusion::ForgedRoundChange => "forged_round_change",
        }
    }
}

/// The faults of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultMix {
    /// No faults: fixed small delays only.
    Clean,
    /// Random delays (reordering), drops and duplicates until the heal.
    Lossy,
    /// A network partition into two groups until the heal, plus mild loss.
    Partition,
    /// Honest nodes crash (sometimes halfway through a step's effects) and restart from
    /// their log; mild loss.
    CrashRestart,
    /// F Byzantine nodes of one kind, mild loss.
    Byzantine(Byzantine),
    /// Everything at once: F Byzantine nodes of random kinds, loss, a partition, crashes.
    Chaos,
    /// F colluding Byzantine nodes (or [`SimConfig::colluders`]) following one coordinated
    /// strategy, mild loss.
    Colluding(Collusion),
}

impl FaultMix {
    /// Every mix, Byzantine kinds included.
    pub fn all() -> Vec<FaultMix> {
        let mut v = vec![
            FaultMix::Clean,
            FaultMix::Lossy,
            FaultMix::Partition,
            FaultMix::CrashRestart,
        ];
        v.extend(Byzantine::ALL.iter().map(|b| FaultMix::Byzantine(*b)));
        v.push(FaultMix::Chaos);
        v.extend(FaultMix::colluding());
        v
    }

    /// The coordinated strategies, one mix each.
    pub fn colluding() -> Vec<FaultMix> {
        Collusion::ALL
            .iter()
            .map(|c| FaultMix::Colluding(*c))
            .collect()
    }
}

/// Which signature scheme the simulated nodes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimCrypto {
    /// Real ed25519 (ed25519-dalek).
    Ed25519,
    /// A keyed hash that anyone who knows the public key can forge: only for runs that
    /// measure the protocol rather than the cryptography (it still rejects corrupted
    /// signatures, so every code path stays exercised).
    FastInsecure,
}

/// Parameters of one run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed: the same seed and config replay the same run.
    pub seed: u64,
    /// Number of validators.
    pub n: usize,
    /// The faults.
    pub faults: FaultMix,
    /// Signature scheme.
    pub crypto: SimCrypto,
    /// Faults stop at this virtual time.
    pub heal_at_ns: u64,
    /// After the heal, every honest node must commit this many more blocks than the highest
    /// honest height at the heal...
    pub blocks_after_heal: u64,
    /// ...within this much virtual time.
    pub liveness_bound_ns: u64,
    /// Blocks per epoch (the validator set's order rotates every epoch).
    pub epoch_length: u64,
    /// Checkpoint interval.
    pub checkpoint_interval: u64,
    /// How many nodes collude under [`FaultMix::Colluding`]; `None` is F, the most QBFT
    /// tolerates. More than F is only for sanity runs that check that the checker does see
    /// forks: such runs may (and should) report violations.
    pub colluders: Option<usize>,
}

impl SimConfig {
    /// Defaults for a seed, size and fault mix.
    pub fn new(seed: u64, n: usize, faults: FaultMix) -> Self {
        SimConfig {
            seed,
            n,
            faults,
            crypto: SimCrypto::Ed25519,
            heal_at_ns: 4_000 * MS,
            blocks_after_heal: 4,
            liveness_bound_ns: 120_000 * MS,
            epoch_length: 12,
            checkpoint_interval: 5,
            colluders: None,
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct SimReport {
    /// Safety or validity violations (empty on a correct run).
    pub violations: Vec<String>,
    /// Whether every honest node reached the target height after the heal.
    pub live: bool,
    /// Lowest final height among honest nodes (last committed).
    pub min_height: u64,
    /// Highest final height among honest nodes.
    pub max_height: u64,
    /// Network messages sent (a broadcast counts once per recipient).
    pub messages: u64,
    /// Calls to [`Node::step`].
    pub steps: u64,
    /// Checkpoints that reached a quorum, counted once per (node, height).
    pub checkpoints_ready: u64,
    /// Virtual time at the end, ns.
    pub end_ns: u64,
    /// Description of the faults used, for failure messages.
    pub fault_desc: String,
    /// Each node's final height, round and counters (for failure messages).
    pub node_states: Vec<String>,
    /// Messages the colluders crafted and sent (per recipient), under
    /// [`FaultMix::Colluding`].
    pub colluder_messages: u64,
    /// Messages honest nodes dropped as invalid, badly signed or signed by a non-member
    /// (summed over the honest nodes still up at the end).
    pub honest_rejected: u64,
}

// ----- crypto -----------------------------------------------------------------------------

/// A simulated node's key.
#[allow(clippy::large_enum_variant)] // a handful per run
pub enum SimSigner {
    /// ed25519.
    Ed25519(Ed25519Signer),
    /// The insecure keyed hash ([`SimCrypto::FastInsecure`]).
    Fast(NodeId),
}

fn fast_sig(id: &NodeId, msg: &[u8]) -> Signature {
    let a = emc_types::sha256(&[b"sim-sig-a", &id.0, msg]);
    let b = emc_types::sha256(&[b"sim-sig-b", &id.0, msg]);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&a.0);
    out[32..].copy_from_slice(&b.0);
    Signature(out)
}

impl Signer for SimSigner {
    fn node_id(&self) -> NodeId {
        match self {
            SimSigner::Ed25519(s) => s.node_id(),
            SimSigner::Fast(id) => *id,
        }
    }
    fn sign(&self, msg: &[u8]) -> Signature {
        match self {
            SimSigner::Ed25519(s) => s.sign(msg),
            SimSigner::Fast(id) => fast_sig(id, msg),
        }
    }
}

/// Verifier matching [`SimSigner`].
#[derive(Clone, Debug)]
pub struct SimVerifier {
    crypto: SimCrypto,
    ed25519: Ed25519Verifier,
}

impl SimVerifier {
    /// A verifier for `crypto`.
    pub fn new(crypto: SimCrypto) -> Self {
        SimVerifier {
            crypto,
            ed25519: Ed25519Verifier::new(),
        }
    }
}

impl Verifier for SimVerifier {
    fn verify(&self, signer: &NodeId, msg: &[u8], sig: &Signature) -> bool {
        match self.crypto {
            SimCrypto::Ed25519 => self.ed25519.verify(signer, msg, sig),
            SimCrypto::FastInsecure => fast_sig(signer, msg) == *sig,
        }
    }
    fn verify_vote(&self, signer: &NodeId, msg: &[u8], sig: &Signature) -> bool {
        match self.crypto {
            SimCrypto::Ed25519 => self.ed25519.verify_vote(signer, msg, sig),
            SimCrypto::FastInsecure => fast_sig(signer, msg) == *sig,
        }
    }
    fn verify_votes(&self, items: &[crypto::SigItem]) -> Vec<bool> {
        match self.crypto {
            SimCrypto::Ed25519 => self.ed25519.verify_votes(items),
            // The trait's default: one by one.
            SimCrypto::FastInsecure => items
                .iter()
                .map(|i| fast_sig(&i.signer, &i.msg) == i.sig)
                .collect(),
        }
    }
}

// ----- application ------------------------------------------------------------------------

/// Largest E the simulated application accepts (fixed point): 1000.0.
pub const SIM_MAX_E: u64 = 1000 * emc_types::E_SCALE;

/// The simulated application: each block carries a PoC result and a liveness observation
/// derived from the height; a PoC E above [`SIM_MAX_E`] makes a block invalid.
#[derive(Clone, Debug)]
pub struct SimApp {
    me: NodeId,
}

impl SimApp {
    /// The application of node `me`.
    pub fn new(me: NodeId) -> Self {
        SimApp { me }
    }
}

impl Application for SimApp {
    fn propose(&mut self, height: u64, _now_ns: u64) -> Vec<StateBit> {
        vec![
            StateBit::Poc(PocResult {
                node: NodeId([(height % 251) as u8; 32]),
                e_fixed: 10_000 + height % 50_000,
                passed: height % 7 != 0,
                validator: self.me,
            }),
            StateBit::Liveness(LivenessObservation {
                observer: self.me,
                subject: NodeId([(height % 13) as u8; 32]),
                online: height % 5 != 0,
            }),
        ]
    }

    fn validate(&self, block: &Block) -> Result<(), String> {
        for bit in &block.bits {
            if let StateBit::Poc(p) = bit {
                if p.e_fixed > SIM_MAX_E {
                    return Err(format!("E {} out of range", p.e_fixed));
                }
            }
        }
        Ok(())
    }
}

// ----- the world --------------------------------------------------------------------------

type SimNode = Node<SimApp, SimSigner, SimVerifier>;

enum Event {
    Deliver {
        to: usize,
        from: usize,
        bytes: Rc<Vec<u8>>,
    },
    Timer {
        node: usize,
        incarnation: u64,
        timer: Timer,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    ValidatorSet {
        node: usize,
        epoch: u64,
    },
}

struct Queued {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

struct SimPeer {
    seed: [u8; 32],
    id: NodeId,
    node: Option<SimNode>,
    log: Vec<WalRecord>,
    incarnation: u64,
    byzantine: Option<Byzantine>,
    /// One of the colluders (under [`FaultMix::Colluding`]).
    colluding: bool,
    /// Crash in the middle of the next step's effects.
    crash_mid_step: bool,
    /// Height → hash of every block this node committed (across restarts).
    committed: BTreeMap<u64, Hash>,
    last_committed: u64,
    /// Checkpoint heights for which this node emitted `CheckpointReady`.
    checkpoints_ready: Vec<u64>,
}

struct NetParams {
    delay_min: u64,
    delay_max: u64,
    drop: f64,
    dup: f64,
}

/// One simulation run.
pub struct Sim {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<Queued>>,
    peers: Vec<SimPeer>,
    node_cfg: Config,
    sets: Vec<ValidatorSet>,
    /// Highest epoch whose set the "registry" has published.
    published_epoch: u64,
    partition: Option<(u64, u64, Vec<bool>)>,
    /// Honest nodes crash and restart in this run (before the heal).
    crashes: bool,
    faulty_net: NetParams,
    healed_net: NetParams,
    report: SimReport,
    /// (signer, height, round, kind) → digest, for honest signers.
    honest_votes: HashMap<(NodeId, u64, u32, u8), Hash>,
    /// height → first honest commit (hash, node).
    agreed: BTreeMap<u64, (Hash, usize)>,
    checkpoints: BTreeMap<u64, Hash>,
    /// The colluders' shared state, under [`FaultMix::Colluding`].
    coalition: Option<collusion::Coalition>,
}

impl Sim {
    /// Builds the world for `cfg`.
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let n = cfg.n.max(1);
        let mut peers = Vec::with_capacity(n);
        for i in 0..n {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
            seed[8] = 0xe3;
            let id = Ed25519Signer::from_seed(seed).node_id();
            peers.push(SimPeer {
                seed,
                id,
                node: None,
                log: Vec::new(),
                incarnation: 0,
                byzantine: None,
                colluding: false,
                crash_mid_step: false,
                committed: BTreeMap::new(),
                last_committed: 0,
                checkpoints_ready: Vec::new(),
            });
        }
        let ids: Vec<NodeId> = peers.iter().map(|p| p.id).collect();
        // Epoch sets: the same members, order rotated by the epoch.
        let sets: Vec<ValidatorSet> = (0..64u64)
            .map(|e| {
                let mut m = ids.clone();
                m.rotate_left((e as usize) % n);
                ValidatorSet {
                    epoch: e,
                    members: m,
                }
            })
            .collect();
        let mut node_cfg = Config::new(sets[0].clone());
        node_cfg.block_interval_ns = 50 * MS;
        node_cfg.round_timeout_base_ns = 250 * MS;
        node_cfg.round_timeout_cap_ns = 4_000 * MS;
        node_cfg.epoch_length = cfg.epoch_length.max(1);
        node_cfg.checkpoint_interval = cfg.checkpoint_interval.max(1);
        node_cfg.sync_batch = 8;
        // Every node reads the one virtual clock, so an honest proposal (stamped with its
        // proposer's `now`) is never ahead of a receiver's clock: well within the drift.
        node_cfg.max_future_drift_ns = 500 * MS;

        let f = (n - 1) / 3;
        let mut desc = format!("n={n} f={f} mix={:?}", cfg.faults);
        let clean = NetParams {
            delay_min: 2 * MS,
            delay_max: 8 * MS,
            drop: 0.0,
            dup: 0.0,
        };
        let healed = NetParams {
            delay_min: MS,
            delay_max: 20 * MS,
            drop: 0.0,
            dup: 0.02,
        };
        let mild = NetParams {
            delay_min: MS,
            delay_max: 40 * MS,
            drop: 0.05,
            dup: 0.05,
        };
        let (faulty_net, healed_net) = match cfg.faults {
            FaultMix::Clean => (
                clean,
                NetParams {
                    delay_min: 2 * MS,
                    delay_max: 8 * MS,
                    drop: 0.0,
                    dup: 0.0,
                },
            ),
            FaultMix::Lossy | FaultMix::Chaos => {
                let drop = rng.gen_range(0.05..0.35);
                let dup = rng.gen_range(0.0..0.2);
                let delay_max = rng.gen_range(20..300) * MS;
                desc.push_str(&format!(
                    " drop={drop:.2} dup={dup:.2} delay_max_ms={}",
                    delay_max / MS
                ));
                (
                    NetParams {
                        delay_min: MS,
                        delay_max,
                        drop,
                        dup,
                    },
                    healed,
                )
            }
            _ => (mild, healed),
        };
        let mut sim = Sim {
            rng,
            now: 0,
            seq: 0,
            events: BinaryHeap::new(),
            peers,
            node_cfg,
            sets,
            published_epoch: 0,
            partition: None,
            crashes: false,
            faulty_net,
            healed_net,
            report: SimReport::default(),
            honest_votes: HashMap::new(),
            agreed: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            coalition: None,
            cfg,
        };
        // Byzantine nodes.
        let byz_kinds: Vec<Byzantine> = match sim.cfg.faults {
            FaultMix::Byzantine(k) => vec![k; f],
            FaultMix::Chaos => (0..f)
                .map(|_| Byzantine::ALL[sim.rng.gen_range(0..Byzantine::ALL.len())])
                .collect(),
            _ => Vec::new(),
        };
        let mut order: Vec<usize> = (0..n).collect();
        shuffle(&mut sim.rng, &mut order);
        for (k, &i) in byz_kinds.iter().zip(order.iter()) {
            sim.peers[i].byzantine = Some(*k);
            desc.push_str(&format!(" byz[{i}]={k:?}"));
        }
        if let FaultMix::Colluding(strategy) = sim.cfg.faults {
            let k = sim.cfg.colluders.unwrap_or(f).min(n);
            let members: Vec<usize> = order.iter().copied().take(k).collect();
            for &i in &members {
                sim.peers[i].colluding = true;
            }
            desc.push_str(&format!(" colluders{members:?}"));
            if k > f {
                desc.push_str(" (more than f: beyond what QBFT tolerates)");
            }
            if !members.is_empty() {
                let signers = members.iter().map(|&i| sim.byz_signer(i)).collect();
                sim.coalition = Some(collusion::Coalition::new(strategy, members, signers));
            }
        }
        // Partition.
        if matches!(sim.cfg.faults, FaultMix::Partition | FaultMix::Chaos) {
            let start = sim.rng.gen_range(0..sim.cfg.heal_at_ns / 2);
            let end = sim.rng.gen_range(start..sim.cfg.heal_at_ns);
            let groups: Vec<bool> = (0..n).map(|_| sim.rng.gen_bool(0.5)).collect();
            desc.push_str(&format!(
                " partition {}..{}ms {:?}",
                start / MS,
                end / MS,
                groups.iter().map(|g| u8::from(*g)).collect::<Vec<_>>()
            ));
            sim.partition = Some((start, end, groups));
        }
        // Crashes of honest nodes.
        // Under collusion, half the seeds also crash honest nodes: a node that forgot what it
        // prepared across a restart is what the amnesia strategy would exploit.
        let crashes = match sim.cfg.faults {
            FaultMix::CrashRestart | FaultMix::Chaos => true,
            FaultMix::Colluding(_) => sim.rng.gen_bool(0.5),
            _ => false,
        };
        sim.crashes = crashes;
        if crashes {
            let crashes = sim.rng.gen_range(1..=n.max(2));
            for _ in 0..crashes {
                let node = sim.rng.gen_range(0..n);
                if !sim.honest(node) {
                    continue;
                }
                let at = sim.rng.gen_range(0..sim.cfg.heal_at_ns);
                let back = sim.rng.gen_range(at..sim.cfg.heal_at_ns + 1);
                desc.push_str(&format!(" crash[{node}]@{}-{}ms", at / MS, back / MS));
                sim.push(at, Event::Crash { node });
                sim.push(back, Event::Restart { node });
            }
        }
        sim.report.fault_desc = desc;
        sim
    }

    fn push(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.events.push(Reverse(Queued {
            at,
            seq: self.seq,
            event,
        }));
    }

    fn make_node(&self, i: usize) -> Option<SimNode> {
        let p = &self.peers[i];
        let signer = match self.cfg.crypto {
            SimCrypto::Ed25519 => SimSigner::Ed25519(Ed25519Signer::from_seed(p.seed)),
            SimCrypto::FastInsecure => SimSigner::Fast(p.id),
        };
        Node::restore(
            self.node_cfg.clone(),
            SimApp::new(p.id),
            signer,
            SimVerifier::new(self.cfg.crypto),
            &p.log,
        )
        .ok()
    }

    fn honest(&self, i: usize) -> bool {
        self.peers[i].byzantine.is_none() && !self.peers[i].colluding
    }

    /// Runs to completion and returns the report.
    pub fn run(mut self) -> SimReport {
        for i in 0..self.peers.len() {
            self.start_node(i);
        }
        let deadline = self.cfg.heal_at_ns + self.cfg.liveness_bound_ns;
        let mut target: Option<u64> = None;
        while let Some(Reverse(q)) = self.events.pop() {
            if q.at > deadline {
                break;
            }
            self.now = q.at;
            if target.is_none() && self.now >= self.cfg.heal_at_ns {
                self.heal();
                let top = self.honest_heights().into_iter().max().unwrap_or(0);
                target = Some(top + self.cfg.blocks_after_heal);
            }
            self.handle_event(q.event);
            if let Some(t) = target {
                if self.honest_heights().into_iter().min().unwrap_or(0) >= t {
                    break;
                }
            }
        }
        if target.is_none() {
            self.heal();
        }
        let heights = self.honest_heights();
        self.report.min_height = heights.iter().copied().min().unwrap_or(0);
        self.report.max_height = heights.iter().copied().max().unwrap_or(0);
        self.report.live = target.is_some_and(|t| self.report.min_height >= t);
        if self.cfg.faults == FaultMix::Clean {
            // Without faults every checkpoint gathers its signatures at every node (allow
            // the last interval to be in flight).
            let every = self.node_cfg.checkpoint_interval;
            for (i, p) in self.peers.iter().enumerate() {
                let want: Vec<u64> = (1..)
                    .map(|k| k * every)
                    .take_while(|h| h + every <= p.last_committed)
                    .collect();
                if want.iter().any(|h| !p.checkpoints_ready.contains(h)) {
                    self.report.live = false;
                    self.report.node_states.push(format!(
                        "node {i}: checkpoints ready {:?}",
                        p.checkpoints_ready
                    ));
                }
            }
        }
        self.report.end_ns = self.now;
        let mut states: Vec<String> = self
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| match &p.node {
                Some(n) => format!(
                    "node {i}{}: h={} r={} {:?}",
                    match (p.byzantine, p.colluding) {
                        (Some(b), _) => format!(" ({b:?})"),
                        (None, true) => " (colluding)".to_string(),
                        (None, false) => String::new(),
                    },
                    n.height(),
                    n.round(),
                    n.metrics()
                ),
                None => format!("node {i}: down"),
            })
            .collect();
        self.report.node_states.append(&mut states);
        for i in 0..self.peers.len() {
            if let (true, Some(n)) = (self.honest(i), &self.peers[i].node) {
                let m = n.metrics();
                self.report.honest_rejected += m.invalid + m.bad_signature + m.not_validator;
            }
        }
        self.report
    }

    fn honest_heights(&self) -> Vec<u64> {
        (0..self.peers.len())
            .filter(|i| self.honest(*i))
            .map(|i| self.peers[i].last_committed)
            .collect()
    }

    fn heal(&mut self) {
        self.partition = None;
        for i in 0..self.peers.len() {
            if self.peers[i].crash_mid_step {
                self.crash(i);
            }
            if self.peers[i].node.is_none() {
                self.start_node(i);
            }
        }
    }

    fn start_node(&mut self, i: usize) {
        let Some(node) = self.make_node(i) else {
            self.report
                .violations
                .push(format!("node {i} failed to restore"));
            return;
        };
        // Like a real shell, apply the blocks the log says are committed but the application
        // never saw (a crash between persisting and applying).
        let missed: Vec<crate::CommittedBlock> = self.peers[i]
            .log
            .iter()
            .filter_map(|r| match r {
                WalRecord::Committed { block, chain }
                    if chain.height > self.peers[i].last_committed =>
                {
                    Some(block.clone())
                }
                _ => None,
            })
            .collect();
        for cb in missed {
            self.on_commit(i, cb);
        }
        self.peers[i].node = Some(node);
        self.peers[i].incarnation += 1;
        self.peers[i].crash_mid_step = false;
        self.step(i, Input::Start);
        // The registry is always reachable: give the node every published set.
        for e in 1..=self.published_epoch {
            if let Some(set) = self.sets.get(e as usize).cloned() {
                self.step(i, Input::ValidatorSet(set));
            }
        }
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::Deliver { to, from, bytes } => {
                if self.peers[to].colluding {
                    self.coalition_observe(from, &bytes);
                }
                if self.peers[to].node.is_some() {
                    let from = self.peers[from].id;
                    self.step(
                        to,
                        Input::Message {
                            from,
                            bytes: &bytes,
                        },
                    );
                }
            }
            Event::Timer {
                node,
                incarnation,
                timer,
            } => {
                if self.peers[node].incarnation == incarnation && self.peers[node].node.is_some() {
                    self.step(node, Input::Timeout(timer));
                }
            }
            Event::Crash { node } => {
                if self.now < self.cfg.heal_at_ns && self.peers[node].node.is_some() {
                    if self.rng.gen_bool(0.5) {
                        self.peers[node].crash_mid_step = true;
                    } else {
                        self.crash(node);
                    }
                }
            }
            Event::Restart { node } => {
                if self.peers[node].crash_mid_step {
                    // The crash is still pending (no step since): crash now.
                    self.crash(node);
                }
                if self.peers[node].node.is_none() {
                    self.start_node(node);
                }
            }
            Event::ValidatorSet { node, epoch } => {
                if self.peers[node].node.is_some() {
                    if let Some(set) = self.sets.get(epoch as usize).cloned() {
                        self.step(node, Input::ValidatorSet(set));
                    }
                }
            }
        }
    }

    fn crash(&mut self, i: usize) {
        self.peers[i].node = None;
        self.peers[i].incarnation += 1;
        self.peers[i].crash_mid_step = false;
    }

    fn step(&mut self, i: usize, input: Input<'_>) {
        let now = self.now;
        let Some(node) = self.peers[i].node.as_mut() else {
            return;
        };
        self.report.steps += 1;
        let mut effects = node.step(input, now);
        if self.peers[i].crash_mid_step {
            let keep = self.rng.gen_range(0..=effects.len());
            effects.truncate(keep);
            for e in effects {
                self.apply_effect(i, e);
            }
            self.crash(i);
            return;
        }
        for e in effects {
            self.apply_effect(i, e);
        }
    }

    fn apply_effect(&mut self, i: usize, effect: Effect) {
        match effect {
            Effect::Persist(rec) => self.persist(i, rec),
            Effect::Send { to, bytes } => {
                if let Some(j) = self.peers.iter().position(|p| p.id == to) {
                    self.send_out(i, &[j], bytes);
                }
            }
            Effect::Broadcast { bytes } => {
                let to: Vec<usize> = (0..self.peers.len()).filter(|j| *j != i).collect();
                self.send_out(i, &to, bytes);
            }
            Effect::ScheduleTimeout { timer, at_ns } => {
                let incarnation = self.peers[i].incarnation;
                self.push(
                    at_ns.max(self.now),
                    Event::Timer {
                        node: i,
                        incarnation,
                        timer,
                    },
                );
            }
            Effect::CommitBlock(cb) => self.on_commit(i, cb),
            Effect::CheckpointReady {
                checkpoint,
                signatures,
            } => self.on_checkpoint(i, checkpoint, signatures),
        }
    }

    fn persist(&mut self, i: usize, rec: WalRecord) {
        let log = &mut self.peers[i].log;
        if let WalRecord::Committed { chain, .. } = &rec {
            // Prune: votes of decided heights, and all but the last 16 committed blocks.
            let h = chain.height;
            log.retain(|r| match r {
                WalRecord::Sent(_) | WalRecord::Prepared { .. } => {
                    r.height().is_some_and(|x| x > h)
                }
                WalRecord::Committed { chain, .. } => chain.height + 16 > h,
                WalRecord::ValidatorSet(_) => true,
            });
        }
        log.push(rec);
    }

    fn on_commit(&mut self, i: usize, cb: crate::CommittedBlock) {
        let h = cb.block.header.height;
        let hash = cb.block.hash();
        if !self.honest(i) {
            return;
        }
        let peer = &mut self.peers[i];
        if h != peer.last_committed + 1 {
            self.report.violations.push(format!(
                "node {i} committed height {h} after {}",
                peer.last_committed
            ));
        }
        if let Some(prev) = peer.committed.insert(h, hash) {
            if prev != hash {
                self.report
                    .violations
                    .push(format!("node {i} committed two blocks at height {h}"));
            }
        }
        peer.last_committed = h;
        match self.agreed.get(&h) {
            Some((other, j)) if *other != hash => self.report.violations.push(format!(
                "AGREEMENT: nodes {j} and {i} committed different blocks at height {h}"
            )),
            Some(_) => {}
            None => {
                self.agreed.insert(h, (hash, i));
            }
        }
        // Validity: seals, payload, proposer.
        let epoch = self.node_cfg.epoch_of(h);
        let Some(set) = self.sets.get(epoch as usize) else {
            return;
        };
        if let Err(e) = verify_committed(&cb, set, &SimVerifier::new(self.cfg.crypto)) {
            self.report
                .violations
                .push(format!("VALIDITY: node {i} height {h}: {e}"));
        }
        if let Err(e) = SimApp::new(self.peers[i].id).validate(&cb.block) {
            self.report
                .violations
                .push(format!("VALIDITY: node {i} height {h}: {e}"));
        }
        if !set.contains(&cb.block.header.proposer) {
            self.report.violations.push(format!(
                "VALIDITY: node {i} height {h}: proposer not a validator"
            ));
        }
        // Block time follows the (shared, virtual) clock: no committed block is stamped
        // beyond now plus the allowed drift (the equivocating proposer tries u64::MAX - 1).
        let ts = cb.block.header.timestamp_ns;
        if ts > self.now.saturating_add(self.node_cfg.max_future_drift_ns) {
            self.report.violations.push(format!(
                "VALIDITY: node {i} height {h}: timestamp {ts} is beyond now {} + drift",
                self.now
            ));
        }
        // The registry publishes the next epoch's set halfway through an epoch.
        let len = self.node_cfg.epoch_length;
        if h % len == len / 2 && epoch + 1 > self.published_epoch {
            self.published_epoch = epoch + 1;
            for j in 0..self.peers.len() {
                let at = self.now + self.rng.gen_range(0..300 * MS);
                self.push(
                    at,
                    Event::ValidatorSet {
                        node: j,
                        epoch: epoch + 1,
                    },
                );
            }
        }
    }

    fn on_checkpoint(&mut self, i: usize, cp: Checkpoint, sigs: Vec<CheckpointSignature>) {
        if !self.honest(i) {
            return;
        }
        self.report.checkpoints_ready += 1;
        self.peers[i].checkpoints_ready.push(cp.height);
        let hash = cp.hash();
        // Checkpoints chain only to certified ones: the previous hash is the genesis's or
        // that of a checkpoint certified (ready) before, at a lower height.
        let linked = cp.prev_checkpoint_hash == ZERO_HASH
            || self
                .checkpoints
                .range(..cp.height)
                .any(|(_, h)| *h == cp.prev_checkpoint_hash);
        if !linked {
            self.report.violations.push(format!(
                "CHAIN: checkpoint {} links to no certified checkpoint (node {i})",
                cp.height
            ));
        }
        if let Some(prev) = self.checkpoints.insert(cp.height, hash) {
            if prev != hash {
                self.report.violations.push(format!(
                    "AGREEMENT: two checkpoints at height {} (node {i})",
                    cp.height
                ));
            }
        }
        let Some(set) = self.sets.get(self.node_cfg.epoch_of(cp.height) as usize) else {
            return;
        };
        let bytes = cp.signing_bytes();
        let verifier = SimVerifier::new(self.cfg.crypto);
        let mut signers: Vec<NodeId> = sigs.iter().map(|s| s.signer).collect();
        signers.sort();
        signers.dedup();
        let ok = signers.len() == sigs.len()
            && sigs.len() >= set.quorum()
            && sigs.iter().all(|s| {
                set.contains(&s.signer) && verifier.verify(&s.signer, &bytes, &s.signature)
            });
        if !ok || cp.validator_set_id != set.id() {
            self.report.violations.push(format!(
                "checkpoint {} from node {i} does not verify",
                cp.height
            ));
        }
    }

    /// Checks honest votes for equivocation, applies Byzantine behaviour, then hands the
    /// messages to the network.
    fn send_out(&mut self, i: usize, to: &[usize], bytes: Vec<u8>) {
        if self.peers[i].colluding {
            self.coalition_send(i, to, bytes);
            return;
        }
        match self.peers[i].byzantine {
            None => {
                self.check_honest_vote(i, &bytes);
                for &j in to {
                    self.transmit(i, j, Rc::new(bytes.clone()));
                }
            }
            Some(kind) => self.byzantine_send(i, kind, to, bytes),
        }
    }

    fn check_honest_vote(&mut self, i: usize, bytes: &[u8]) {
        let Ok(msg) = codec::decode(bytes, usize::MAX) else {
            self.report
                .violations
                .push(format!("node {i} sent bytes that do not decode"));
            return;
        };
        let record = |kind: u8, signer: NodeId, h: u64, r: u32, d: Hash, this: &mut Self| {
            if let Some(prev) = this.honest_votes.insert((signer, h, r, kind), d) {
                if prev != d {
                    this.report.violations.push(format!(
                        "EQUIVOCATION: honest node {i} signed two values (kind {kind}) at height {h} round {r}"
                    ));
                }
            }
        };
        match &msg {
            Message::Proposal { proposal: v, .. } => record(
                0,
                v.signer,
                v.vote.height,
                v.vote.round,
                v.vote.digest,
                self,
            ),
            Message::Prepare(v) => record(
                1,
                v.signer,
                v.vote.height,
                v.vote.round,
                v.vote.digest,
                self,
            ),
            Message::Commit(v) => record(
                2,
                v.signer,
                v.vote.height,
                v.vote.round,
                v.vote.digest,
                self,
            ),
            Message::RoundChange { round_change, .. } => {
                let b = &round_change.body;
                let d = emc_types::sha256(&[&crypto::round_change_signing_bytes(b)]);
                record(3, round_change.signer, b.height, b.round, d, self)
            }
            _ => {}
        }
    }

    fn byz_signer(&self, i: usize) -> SimSigner {
        match self.cfg.crypto {
            SimCrypto::Ed25519 => SimSigner::Ed25519(Ed25519Signer::from_seed(self.peers[i].seed)),
            SimCrypto::FastInsecure => SimSigner::Fast(self.peers[i].id),
        }
    }

    fn byzantine_send(&mut self, i: usize, kind: Byzantine, to: &[usize], bytes: Vec<u8>) {
        let msg = codec::decode(&bytes, usize::MAX).ok();
        let half = to.len() / 2;
        match kind {
            Byzantine::Silent => {}
            Byzantine::BadSignatures => {
                let mut b = bytes;
                // The last 64 bytes of votes are a signature; corrupt a byte near the end.
                let len = b.len();
                if len > 10 {
                    let k = len - 1 - self.rng.gen_range(0..10);
                    b[k] ^= 0x5a;
                }
                for &j in to {
                    self.transmit(i, j, Rc::new(b.clone()));
                }
            }
            Byzantine::Garbage => {
                for &j in to {
                    self.transmit(i, j, Rc::new(bytes.clone()));
                    let mut g = bytes.clone();
                    match self.rng.gen_range(0..3) {
                        0 => {
                            let cut = self.rng.gen_range(0..g.len().max(1));
                            g.truncate(cut);
                        }
                        1 => {
                            if !g.is_empty() {
                                let k = self.rng.gen_range(0..g.len());
                                g[k] = self.rng.gen();
                            }
                        }
                        _ => {
                            let len = self.rng.gen_range(0..300);
                            g = (0..len).map(|_| self.rng.gen()).collect();
                        }
                    }
                    self.transmit(i, j, Rc::new(g));
                }
            }
            Byzantine::DoubleVote => {
                let alt = match &msg {
                    Some(Message::Prepare(v)) => {
                        Some(Message::Prepare(self.alt_vote(i, VoteKind::Prepare, v)))
                    }
                    Some(Message::Commit(v)) => {
                        Some(Message::Commit(self.alt_vote(i, VoteKind::Commit, v)))
                    }
                    _ => None,
                };
                match alt {
                    Some(alt) => {
                        let alt = Rc::new(codec::encode(&alt));
                        let orig = Rc::new(bytes);
                        for (k, &j) in to.iter().enumerate() {
                            let b = if k < half { orig.clone() } else { alt.clone() };
                            self.transmit(i, j, b);
                        }
                    }
                    None => {
                        for &j in to {
                            self.transmit(i, j, Rc::new(bytes.clone()));
                        }
                    }
                }
            }
            Byzantine::EquivocatingProposer => {
                let alt = match &msg {
                    Some(Message::Proposal {
                        proposal,
                        block,
                        round_changes,
                        prepares,
                    }) => {
                        let mut bits = block.bits.clone();
                        let invalid = self.rng.gen_bool(0.3);
                        bits.push(StateBit::Poc(PocResult {
                            node: NodeId([0xbb; 32]),
                            e_fixed: if invalid { SIM_MAX_E + 1 } else { 1 },
                            passed: true,
                            validator: self.peers[i].id,
                        }));
                        let h = &block.header;
                        // At odd heights a valid alternative tries to freeze block time instead
                        // (issue #21): stamped u64::MAX - 1 and sent to everyone, so without the
                        // drift rule it would be decided.
                        let future = !invalid && h.height % 2 == 1;
                        let ts = if future {
                            u64::MAX - 1
                        } else {
                            h.timestamp_ns + 1
                        };
                        let b2 = Block::new(h.height, h.parent_hash, self.peers[i].id, ts, bits);
                        let vote = Vote {
                            digest: b2.hash(),
                            ..proposal.vote
                        };
                        let signer = self.byz_signer(i);
                        let p2 = SignedVote {
                            vote,
                            signer: proposal.signer,
                            signature: signer
                                .sign(&crypto::vote_signing_bytes(VoteKind::Proposal, &vote)),
                        };
                        let alt = Message::Proposal {
                            proposal: p2,
                            block: b2,
                            round_changes: round_changes.clone(),
                            prepares: prepares.clone(),
                        };
                        Some((alt, future))
                    }
                    _ => None,
                };
                match alt {
                    Some((alt, future)) => {
                        let alt = Rc::new(codec::encode(&alt));
                        let orig = Rc::new(bytes);
                        for (k, &j) in to.iter().enumerate() {
                            let b = if k < half && !future {
                                orig.clone()
                            } else {
                                alt.clone()
                            };
                            self.transmit(i, j, b);
                        }
                    }
                    None => {
                        for &j in to {
                            self.transmit(i, j, Rc::new(bytes.clone()));
                        }
                    }
                }
            }
        }
    }

    fn alt_vote(&mut self, i: usize, kind: VoteKind, v: &SignedVote) -> SignedVote {
        let mut digest = [0u8; 32];
        self.rng.fill(&mut digest);
        let vote = Vote {
            digest: Hash(digest),
            ..v.vote
        };
        let signer = self.byz_signer(i);
        SignedVote {
            vote,
            signer: v.signer,
            signature: signer.sign(&crypto::vote_signing_bytes(kind, &vote)),
        }
    }

    fn transmit(&mut self, from: usize, to: usize, bytes: Rc<Vec<u8>>) {
        let faulty = self.now < self.cfg.heal_at_ns;
        let net = if faulty {
            &self.faulty_net
        } else {
            &self.healed_net
        };
        let (dmin, dmax, p_drop, p_dup) = (net.delay_min, net.delay_max, net.drop, net.dup);
        self.report.messages += 1;
        if faulty {
            if let Some((start, end, groups)) = &self.partition {
                if self.now >= *start && self.now < *end && groups[from] != groups[to] {
                    return;
                }
            }
            if p_drop > 0.0 && self.rng.gen_bool(p_drop) {
                return;
            }
        }
        let copies = if p_dup > 0.0 && self.rng.gen_bool(p_dup) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = self.now + self.rng.gen_range(dmin..=dmax);
            self.push(
                at,
                Event::Deliver {
                    to,
                    from,
                    bytes: bytes.clone(),
                },
            );
        }
    }
}

fn shuffle(rng: &mut ChaCha8Rng, v: &mut [usize]) {
    for k in (1..v.len()).rev() {
        let j = rng.gen_range(0..=k);
        v.swap(k, j);
    }
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] live={} heights={}..={} messages={} steps={} checkpoints={} end={}ms violations={:?}",
            self.fault_desc,
            self.live,
            self.min_height,
            self.max_height,
            self.messages,
            self.steps,
            self.checkpoints_ready,
            self.end_ns / MS,
            self.violations
        )
    }
}

/// Runs one seed and returns its report (convenience for tests and the benchmark).
pub fn run(cfg: SimConfig) -> SimReport {
    Sim::new(cfg).run()
}
