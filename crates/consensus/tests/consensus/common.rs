//! A harness around one node under test with four ed25519 validators.

use emc_consensus::codec::{decode, encode};
use emc_consensus::crypto::{round_change_signing_bytes, vote_signing_bytes};
use emc_consensus::{
    Application, Config, Ed25519Signer, Ed25519Verifier, Effect, Input, Message, Node,
    PreparedCertificate, RoundChange, SignedRoundChange, SignedVote, Signer, TimerKind, Vote,
    VoteKind, WalRecord,
};
use emc_types::{Block, Hash, NodeId, ParentCommit, PocResult, Seal, StateBit, ValidatorSet};

pub const MS: u64 = 1_000_000;
/// Largest E the test application accepts.
pub const MAX_E: u64 = 1_000_000;

#[derive(Clone, Debug, Default)]
pub struct TestApp;

impl Application for TestApp {
    fn propose(&mut self, height: u64, _now: u64) -> Vec<StateBit> {
        vec![poc(height)]
    }
    fn validate(&self, block: &Block) -> Result<(), String> {
        match block
            .bits
            .iter()
            .any(|b| matches!(b, StateBit::Poc(p) if p.e_fixed > MAX_E))
        {
            true => Err("E out of range".into()),
            false => Ok(()),
        }
    }
}

pub fn poc(e: u64) -> StateBit {
    StateBit::Poc(PocResult {
        node: NodeId([9; 32]),
        e_fixed: e,
        passed: true,
        validator: NodeId([8; 32]),
    })
}

pub fn key(i: usize) -> Ed25519Signer {
    Ed25519Signer::from_seed([i as u8 + 1; 32])
}

pub fn set4() -> ValidatorSet {
    ValidatorSet::new(0, (0..4).map(|i| key(i).node_id()).collect()).unwrap()
}

pub fn config() -> Config {
    let mut c = Config::new(set4());
    c.block_interval_ns = 100 * MS;
    c.round_timeout_base_ns = 1_000 * MS;
    c.round_timeout_cap_ns = 8_000 * MS;
    c
}

pub type TestNode = Node<TestApp, Ed25519Signer, Ed25519Verifier>;

pub struct Harness {
    pub node: TestNode,
    pub now: u64,
    pub log: Vec<WalRecord>,
}

impl Harness {
    /// Node `me` of four, started.
    pub fn new(me: usize) -> Self {
        Self::with_config(me, config())
    }

    pub fn with_config(me: usize, cfg: Config) -> Self {
        let node = Node::new(cfg, TestApp, key(me), Ed25519Verifier::new()).unwrap();
        let mut h = Harness {
            node,
            now: 1_000 * MS,
            log: Vec::new(),
        };
        h.step(Input::Start);
        h
    }

    pub fn id(i: usize) -> NodeId {
        key(i).node_id()
    }

    /// Steps and returns the effects, also keeping the log.
    pub fn raw(&mut self, input: Input<'_>) -> Vec<Effect> {
        let is_start = matches!(input, Input::Start);
        let effects = self.node.step(input, self.now);
        for e in &effects {
            if let Effect::Persist(r) = e {
                self.log.push(r.clone());
            }
        }
        if !is_start {
            // On start, votes restored from the log are re-sent: they were persisted before.
            check_persist_before_send(&effects);
        }
        effects
    }

    pub fn step(&mut self, input: Input<'_>) -> Vec<String> {
        let e = self.raw(input);
        summarize(&e)
    }

    pub fn deliver(&mut self, from: usize, msg: &Message) -> Vec<String> {
        let bytes = encode(msg);
        self.step(Input::Message {
            from: Self::id(from),
            bytes: &bytes,
        })
    }

    pub fn timeout(&mut self, round: u32, kind: TimerKind) -> Vec<String> {
        let height = self.node.height();
        self.step(Input::Timeout(emc_consensus::Timer {
            height,
            round,
            kind,
        }))
    }

    /// A valid block at the node's current height.
    /// The next block by `proposer`, with one PoC bit carrying `e`; above height 1 it
    /// starts with a parent commit signed by nodes 0, 1 and 2 (round 0).
    pub fn block(&self, proposer: usize, e: u64) -> Block {
        let c = self.node.chain();
        let mut bits = Vec::new();
        if c.height >= 1 {
            bits.push(parent_commit(c.height, 0, c.last_hash));
        }
        bits.push(poc(e));
        Block::new(
            c.height + 1,
            c.last_hash,
            Self::id(proposer),
            c.last_timestamp_ns + 1,
            bits,
        )
    }
}

/// The parent commit of a block at `height + 1`: seals of nodes 0, 1 and 2 for the block
/// `digest` decided at `height` in `round`.
pub fn parent_commit(height: u64, round: u32, digest: Hash) -> StateBit {
    let seals = (0..3)
        .map(|i| {
            let v = vote(i, VoteKind::Commit, height, round, digest);
            Seal {
                signer: v.signer,
                signature: v.signature,
            }
        })
        .collect();
    StateBit::ParentCommit(ParentCommit { round, seals })
}

pub fn vote(i: usize, kind: VoteKind, height: u64, round: u32, digest: Hash) -> SignedVote {
    let v = Vote {
        height,
        round,
        digest,
    };
    SignedVote {
        vote: v,
        signer: key(i).node_id(),
        signature: key(i).sign(&vote_signing_bytes(kind, &v)),
    }
}

pub fn prepare(i: usize, height: u64, round: u32, digest: Hash) -> Message {
    Message::Prepare(vote(i, VoteKind::Prepare, height, round, digest))
}

pub fn commit(i: usize, height: u64, round: u32, digest: Hash) -> Message {
    Message::Commit(vote(i, VoteKind::Commit, height, round, digest))
}

pub fn proposal(i: usize, round: u32, block: &Block) -> Message {
    proposal_with(i, round, block, vec![], vec![])
}

pub fn proposal_with(
    i: usize,
    round: u32,
    block: &Block,
    round_changes: Vec<SignedRoundChange>,
    prepares: Vec<SignedVote>,
) -> Message {
    Message::Proposal {
        proposal: vote(
            i,
            VoteKind::Proposal,
            block.header.height,
            round,
            block.hash(),
        ),
        block: block.clone(),
        round_changes,
        prepares,
    }
}

pub fn signed_rc(
    i: usize,
    height: u64,
    round: u32,
    prepared: Option<(u32, Hash)>,
) -> SignedRoundChange {
    let body = RoundChange {
        height,
        round,
        prepared,
    };
    SignedRoundChange {
        signature: key(i).sign(&round_change_signing_bytes(&body)),
        body,
        signer: key(i).node_id(),
    }
}

pub fn round_change(
    i: usize,
    height: u64,
    round: u32,
    cert: Option<&PreparedCertificate>,
) -> Message {
    Message::RoundChange {
        round_change: signed_rc(i, height, round, cert.map(|c| (c.round, c.block.hash()))),
        prepared_block: cert.map(|c| c.block.clone()),
        prepares: cert.map(|c| c.prepares.clone()).unwrap_or_default(),
    }
}

pub fn cert(block: &Block, round: u32, signers: &[usize]) -> PreparedCertificate {
    PreparedCertificate {
        round,
        block: block.clone(),
        prepares: signers
            .iter()
            .map(|i| {
                vote(
                    *i,
                    VoteKind::Prepare,
                    block.header.height,
                    round,
                    block.hash(),
                )
            })
            .collect(),
    }
}

fn kind_of(m: &Message) -> String {
    match m {
        Message::Proposal { proposal, .. } => format!("proposal:r{}", proposal.vote.round),
        Message::Prepare(v) => format!("prepare:r{}", v.vote.round),
        Message::Commit(v) => format!("commit:r{}", v.vote.round),
        Message::RoundChange { round_change, .. } => {
            format!("round-change:r{}", round_change.body.round)
        }
        Message::Checkpoint { height, .. } => format!("checkpoint:h{height}"),
        Message::Decided(cb) => format!("decided:h{}", cb.block.header.height),
        Message::SyncRequest { from_height } => format!("sync-request:h{from_height}"),
    }
}

/// One short string per effect, e.g. `persist:prepare:r0`, `bcast:prepare:r0`,
/// `timer:round:h1:r0`, `commit:h1`, `send:decided:h1`, `ckpt:h5:3`.
pub fn summarize(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .map(|e| match e {
            Effect::Persist(WalRecord::Sent(m)) => format!("persist:{}", kind_of(m)),
            Effect::Persist(WalRecord::Prepared { cert, .. }) => {
                format!("persist:prepared:r{}", cert.round)
            }
            Effect::Persist(WalRecord::Committed { chain, .. }) => {
                format!("persist:committed:h{}", chain.height)
            }
            Effect::Persist(WalRecord::ValidatorSet(s)) => format!("persist:set:e{}", s.epoch),
            Effect::Broadcast { bytes } => match decode(bytes, usize::MAX) {
                Ok(m) => format!("bcast:{}", kind_of(&m)),
                Err(e) => format!("bcast:undecodable:{e}"),
            },
            Effect::Send { bytes, .. } => match decode(bytes, usize::MAX) {
                Ok(m) => format!("send:{}", kind_of(&m)),
                Err(e) => format!("send:undecodable:{e}"),
            },
            Effect::ScheduleTimeout { timer, .. } => format!(
                "timer:{}:h{}:r{}",
                match timer.kind {
                    TimerKind::Propose => "propose",
                    TimerKind::Round => "round",
                },
                timer.height,
                timer.round
            ),
            Effect::CommitBlock(cb) => format!("commit:h{}", cb.block.header.height),
            Effect::CheckpointReady {
                checkpoint,
                signatures,
            } => {
                format!("ckpt:h{}:{}", checkpoint.height, signatures.len())
            }
        })
        .collect()
}

/// Every vote broadcast is preceded, in the same step, by the persisting of that vote.
pub fn check_persist_before_send(effects: &[Effect]) {
    for (k, e) in effects.iter().enumerate() {
        if let Effect::Broadcast { bytes } = e {
            let m = decode(bytes, usize::MAX).unwrap();
            if matches!(
                m,
                Message::Proposal { .. }
                    | Message::Prepare(_)
                    | Message::Commit(_)
                    | Message::RoundChange { .. }
            ) {
                let persisted = effects[..k]
                    .iter()
                    .any(|p| matches!(p, Effect::Persist(WalRecord::Sent(s)) if *s == m));
                assert!(persisted, "vote sent before it was persisted: {m:?}");
            }
        }
    }
}
