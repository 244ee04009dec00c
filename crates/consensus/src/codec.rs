//! Wire encoding of [`Message`]s: a versioned, length-checked binary layout.
//!
//! Layout: `version(1) = 1 || tag(1) || fields`. Integers are big-endian; hashes, node ids and
//! signatures are raw fixed-size byte strings; `Option` is `0` or `1 || value`; `bool` is `0`
//! or `1`; lists are `count_be32 || items`; byte strings are `len_be32 || bytes`. State bits
//! use their canonical layout ([`StateBit::encode_canonical`]) so that a decoded block hashes
//! the same as the original. The decoder is total: any input gives `Ok` or a [`DecodeError`],
//! never a panic, and it never allocates more than the input's size (counts are checked
//! against the bytes left before anything is reserved). Trailing bytes are an error, so each
//! message has exactly one encoding.

use crate::message::{
    CommittedBlock, Message, PreparedCertificate, RoundChange, Seal, SignedRoundChange, SignedVote,
    Vote,
};
use crate::node::{ChainState, WalRecord};
use emc_types::merkle::MerkleFrontier;
use emc_types::{
    Block, BlockHeader, Checkpoint, CheckpointSignature, ComputeReceipt, DispatchRecord, Hash,
    LivenessObservation, MeterUnit, NodeId, ParentCommit, PocResult, Signature, SignedCheckpoint,
    StateBit, SummaryAccumulator, ValidatorSet, CHECKPOINT_DOMAIN,
};

/// The wire format version this code writes and reads (2: blocks carry parent commits and
/// checkpoint certificates; the log's chain state the certified checkpoint).
pub const WIRE_VERSION: u8 = 2;
/// Default cap on an encoded message (4 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

const TAG_PROPOSAL: u8 = 1;
const TAG_PREPARE: u8 = 2;
const TAG_COMMIT: u8 = 3;
const TAG_ROUND_CHANGE: u8 = 4;
const TAG_CHECKPOINT: u8 = 5;
const TAG_DECIDED: u8 = 6;
const TAG_SYNC_REQUEST: u8 = 7;

/// Why bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Over the size cap.
    #[error("message of {len} bytes is over the cap of {max}")]
    TooLarge {
        /// Input size.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Empty input.
    #[error("empty message")]
    Empty,
    /// Unknown version.
    #[error("unsupported wire version {0}")]
    Version(u8),
    /// Input ends inside a field.
    #[error("truncated message")]
    Truncated,
    /// Unknown tag for a sum type.
    #[error("unknown {what} tag {tag}")]
    Tag {
        /// Which sum type.
        what: &'static str,
        /// The tag byte.
        tag: u8,
    },
    /// A count larger than the bytes left could hold.
    #[error("{what}: count {count} does not fit in the message")]
    Count {
        /// Which list.
        what: &'static str,
        /// The count read.
        count: u32,
    },
    /// Bytes after the end of the message.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// Encodes a message.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut w = Vec::with_capacity(256);
    w.push(WIRE_VERSION);
    match msg {
        Message::Proposal {
            proposal,
            block,
            round_changes,
            prepares,
        } => {
            w.push(TAG_PROPOSAL);
            put_signed_vote(&mut w, proposal);
            put_block(&mut w, block);
            put_count(&mut w, round_changes.len());
            for rc in round_changes {
                put_signed_rc(&mut w, rc);
            }
            put_votes(&mut w, prepares);
        }
        Message::Prepare(v) => {
            w.push(TAG_PREPARE);
            put_signed_vote(&mut w, v);
        }
        Message::Commit(v) => {
            w.push(TAG_COMMIT);
            put_signed_vote(&mut w, v);
        }
        Message::RoundChange {
            round_change,
            prepared_block,
            prepares,
        } => {
            w.push(TAG_ROUND_CHANGE);
            put_signed_rc(&mut w, round_change);
            match prepared_block {
                None => w.push(0),
                Some(b) => {
                    w.push(1);
                    put_block(&mut w, b);
                }
            }
            put_votes(&mut w, prepares);
        }
        Message::Checkpoint {
            height,
            checkpoint_hash,
            signature,
        } => {
            w.push(TAG_CHECKPOINT);
            w.extend_from_slice(&height.to_be_bytes());
            w.extend_from_slice(&checkpoint_hash.0);
            w.extend_from_slice(&signature.signer.0);
            w.extend_from_slice(&signature.signature.0);
        }
        Message::Decided(cb) => {
            w.push(TAG_DECIDED);
            put_committed(&mut w, cb);
        }
        Message::SyncRequest { from_height } => {
            w.push(TAG_SYNC_REQUEST);
            w.extend_from_slice(&from_height.to_be_bytes());
        }
    }
    w
}

/// Decodes untrusted bytes into a message, refusing inputs over `max_len` bytes.
pub fn decode(bytes: &[u8], max_len: usize) -> Result<Message, DecodeError> {
    if bytes.len() > max_len {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let mut r = Reader { buf: bytes };
    let version = r.u8().map_err(|_| DecodeError::Empty)?;
    if version != WIRE_VERSION {
        return Err(DecodeError::Version(version));
    }
    let msg = match r.u8()? {
        TAG_PROPOSAL => {
            let proposal = r.signed_vote()?;
            let block = r.block()?;
            let n = r.count("round changes", MIN_SIGNED_RC)?;
            let mut round_changes = Vec::with_capacity(n);
            for _ in 0..n {
                round_changes.push(r.signed_rc()?);
            }
            let prepares = r.votes()?;
            Message::Proposal {
                proposal,
                block,
                round_changes,
                prepares,
            }
        }
        TAG_PREPARE => Message::Prepare(r.signed_vote()?),
        TAG_COMMIT => Message::Commit(r.signed_vote()?),
        TAG_ROUND_CHANGE => {
            let round_change = r.signed_rc()?;
            let prepared_block = match r.u8()? {
                0 => None,
                1 => Some(r.block()?),
                tag => {
                    return Err(DecodeError::Tag {
                        what: "option",
                        tag,
                    })
                }
            };
            let prepares = r.votes()?;
            Message::RoundChange {
                round_change,
                prepared_block,
                prepares,
            }
        }
        TAG_CHECKPOINT => Message::Checkpoint {
            height: r.u64()?,
            checkpoint_hash: Hash(r.array()?),
            signature: CheckpointSignature {
                signer: NodeId(r.array()?),
                signature: Signature(r.array()?),
            },
        },
        TAG_DECIDED => Message::Decided(r.committed()?),
        TAG_SYNC_REQUEST => Message::SyncRequest {
            from_height: r.u64()?,
        },
        tag => {
            return Err(DecodeError::Tag {
                what: "message",
                tag,
            })
        }
    };
    if !r.buf.is_empty() {
        return Err(DecodeError::Trailing(r.buf.len()));
    }
    Ok(msg)
}

const WAL_SENT: u8 = 1;
const WAL_PREPARED: u8 = 2;
const WAL_COMMITTED: u8 = 3;
const WAL_VALIDATOR_SET: u8 = 4;

/// Encodes a write-ahead log record: `version(1) || tag(1) || fields`, with the message,
/// block and vote layouts of the wire format.
pub fn encode_wal(record: &WalRecord) -> Vec<u8> {
    let mut w = Vec::with_capacity(256);
    w.push(WIRE_VERSION);
    match record {
        WalRecord::Sent(msg) => {
            w.push(WAL_SENT);
            put_bytes(&mut w, &encode(msg));
        }
        WalRecord::Prepared { height, cert } => {
            w.push(WAL_PREPARED);
            w.extend_from_slice(&height.to_be_bytes());
            w.extend_from_slice(&cert.round.to_be_bytes());
            put_block(&mut w, &cert.block);
            put_votes(&mut w, &cert.prepares);
        }
        WalRecord::Committed { block, chain } => {
            w.push(WAL_COMMITTED);
            put_committed(&mut w, block);
            w.extend_from_slice(&chain.height.to_be_bytes());
            w.extend_from_slice(&chain.last_hash.0);
            w.extend_from_slice(&chain.last_timestamp_ns.to_be_bytes());
            w.extend_from_slice(&chain.summary.poc.0);
            w.extend_from_slice(&chain.summary.liveness.0);
            let receipts = &chain.summary.receipts;
            w.extend_from_slice(&receipts.count.to_be_bytes());
            for h in receipts.levels.iter().flatten() {
                w.extend_from_slice(&h.0);
            }
            for c in [&chain.last_checkpoint, &chain.certified] {
                match c {
                    None => w.push(0),
                    Some(c) => {
                        w.push(1);
                        put_checkpoint(&mut w, c);
                    }
                }
            }
        }
        WalRecord::ValidatorSet(set) => {
            w.push(WAL_VALIDATOR_SET);
            put_validator_set(&mut w, set);
        }
    }
    w
}

/// Decodes a write-ahead log record (total, like [`decode`]: a torn or corrupted record is
/// an error, never a panic).
pub fn decode_wal(bytes: &[u8], max_len: usize) -> Result<WalRecord, DecodeError> {
    if bytes.len() > max_len {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let mut r = Reader { buf: bytes };
    let version = r.u8().map_err(|_| DecodeError::Empty)?;
    if version != WIRE_VERSION {
        return Err(DecodeError::Version(version));
    }
    let record = match r.u8()? {
        WAL_SENT => {
            let inner = r.bytes()?;
            WalRecord::Sent(decode(&inner, max_len)?)
        }
        WAL_PREPARED => {
            let height = r.u64()?;
            let round = r.u32()?;
            let block = r.block()?;
            let prepares = r.votes()?;
            WalRecord::Prepared {
                height,
                cert: PreparedCertificate {
                    round,
                    block,
                    prepares,
                },
            }
        }
        WAL_COMMITTED => {
            let block = r.committed()?;
            let chain = ChainState {
                height: r.u64()?,
                last_hash: Hash(r.array()?),
                last_timestamp_ns: r.u64()?,
                summary: SummaryAccumulator {
                    poc: Hash(r.array()?),
                    liveness: Hash(r.array()?),
                    receipts: r.frontier()?,
                },
                last_checkpoint: r.opt_checkpoint()?,
                certified: r.opt_checkpoint()?,
            };
            WalRecord::Committed { block, chain }
        }
        WAL_VALIDATOR_SET => {
            let epoch = r.u64()?;
            let n = r.count("members", 32)?;
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                members.push(NodeId(r.array()?));
            }
            WalRecord::ValidatorSet(ValidatorSet { epoch, members })
        }
        tag => {
            return Err(DecodeError::Tag {
                what: "wal record",
                tag,
            })
        }
    };
    if !r.buf.is_empty() {
        return Err(DecodeError::Trailing(r.buf.len()));
    }
    Ok(record)
}

fn put_bytes(w: &mut Vec<u8>, bytes: &[u8]) {
    put_count(w, bytes.len());
    w.extend_from_slice(bytes);
}

fn put_checkpoint(w: &mut Vec<u8>, c: &Checkpoint) {
    w.extend_from_slice(&c.height.to_be_bytes());
    w.extend_from_slice(&c.epoch.to_be_bytes());
    w.extend_from_slice(&c.state_root.0);
    w.extend_from_slice(&c.prev_checkpoint_hash.0);
    w.extend_from_slice(&c.validator_set_id.0);
    w.extend_from_slice(&c.timestamp_ns.to_be_bytes());
    w.extend_from_slice(&c.poc_root.0);
    w.extend_from_slice(&c.liveness_root.0);
    w.extend_from_slice(&c.receipts_root.0);
}

fn put_validator_set(w: &mut Vec<u8>, set: &ValidatorSet) {
    w.extend_from_slice(&set.epoch.to_be_bytes());
    put_count(w, set.members.len());
    for m in &set.members {
        w.extend_from_slice(&m.0);
    }
}

// Smallest encodings, to check counts against the bytes left.
const MIN_SIGNED_VOTE: usize = 8 + 4 + 32 + 32 + 64;
const MIN_SIGNED_RC: usize = 8 + 4 + 1 + 32 + 64;
const MIN_SEAL: usize = 32 + 64;
const MIN_STATE_BIT: usize = 1 + 4;

fn put_count(w: &mut Vec<u8>, n: usize) {
    w.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_signed_vote(w: &mut Vec<u8>, v: &SignedVote) {
    w.extend_from_slice(&v.vote.height.to_be_bytes());
    w.extend_from_slice(&v.vote.round.to_be_bytes());
    w.extend_from_slice(&v.vote.digest.0);
    w.extend_from_slice(&v.signer.0);
    w.extend_from_slice(&v.signature.0);
}

fn put_votes(w: &mut Vec<u8>, votes: &[SignedVote]) {
    put_count(w, votes.len());
    for v in votes {
        put_signed_vote(w, v);
    }
}

fn put_signed_rc(w: &mut Vec<u8>, rc: &SignedRoundChange) {
    w.extend_from_slice(&rc.body.height.to_be_bytes());
    w.extend_from_slice(&rc.body.round.to_be_bytes());
    match &rc.body.prepared {
        None => w.push(0),
        Some((round, digest)) => {
            w.push(1);
            w.extend_from_slice(&round.to_be_bytes());
            w.extend_from_slice(&digest.0);
        }
    }
    w.extend_from_slice(&rc.signer.0);
    w.extend_from_slice(&rc.signature.0);
}

fn put_block(w: &mut Vec<u8>, b: &Block) {
    let h = &b.header;
    w.extend_from_slice(&h.height.to_be_bytes());
    w.extend_from_slice(&h.parent_hash.0);
    w.extend_from_slice(&h.proposer.0);
    w.extend_from_slice(&h.timestamp_ns.to_be_bytes());
    w.extend_from_slice(&h.payload_root.0);
    put_count(w, b.bits.len());
    for bit in &b.bits {
        bit.encode_canonical(w);
    }
}

fn put_committed(w: &mut Vec<u8>, cb: &CommittedBlock) {
    put_block(w, &cb.block);
    w.extend_from_slice(&cb.round.to_be_bytes());
    put_count(w, cb.seals.len());
    for s in &cb.seals {
        w.extend_from_slice(&s.signer.0);
        w.extend_from_slice(&s.signature.0);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::Tag { what: "bool", tag }),
        }
    }

    /// A list count, checked against the bytes left given each item's smallest size.
    fn count(&mut self, what: &'static str, min_item: usize) -> Result<usize, DecodeError> {
        let count = self.u32()?;
        let n = usize::try_from(count).map_err(|_| DecodeError::Count { what, count })?;
        if n.saturating_mul(min_item) > self.buf.len() {
            return Err(DecodeError::Count { what, count });
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.count("bytes", 1)?;
        Ok(self.take(n)?.to_vec())
    }

    fn signed_vote(&mut self) -> Result<SignedVote, DecodeError> {
        Ok(SignedVote {
            vote: Vote {
                height: self.u64()?,
                round: self.u32()?,
                digest: Hash(self.array()?),
            },
            signer: NodeId(self.array()?),
            signature: Signature(self.array()?),
        })
    }

    fn votes(&mut self) -> Result<Vec<SignedVote>, DecodeError> {
        let n = self.count("votes", MIN_SIGNED_VOTE)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.signed_vote()?);
        }
        Ok(out)
    }

    fn signed_rc(&mut self) -> Result<SignedRoundChange, DecodeError> {
        let height = self.u64()?;
        let round = self.u32()?;
        let prepared = match self.u8()? {
            0 => None,
            1 => Some((self.u32()?, Hash(self.array()?))),
            tag => {
                return Err(DecodeError::Tag {
                    what: "option",
                    tag,
                })
            }
        };
        Ok(SignedRoundChange {
            body: RoundChange {
                height,
                round,
                prepared,
            },
            signer: NodeId(self.array()?),
            signature: Signature(self.array()?),
        })
    }

    fn state_bit(&mut self) -> Result<StateBit, DecodeError> {
        Ok(match self.u8()? {
            StateBit::TAG_POC => StateBit::Poc(PocResult {
                node: NodeId(self.array()?),
                e_fixed: self.u64()?,
                passed: self.bool()?,
                validator: NodeId(self.array()?),
            }),
            StateBit::TAG_LIVENESS => StateBit::Liveness(LivenessObservation {
                observer: NodeId(self.array()?),
                subject: NodeId(self.array()?),
                online: self.bool()?,
            }),
            StateBit::TAG_DISPATCH => StateBit::Dispatch(DispatchRecord {
                bytes: self.bytes()?,
            }),
            StateBit::TAG_RECEIPT => StateBit::Receipt(ComputeReceipt {
                user: NodeId(self.array()?),
                node: NodeId(self.array()?),
                router: NodeId(self.array()?),
                epoch: self.u64()?,
                nonce: self.u64()?,
                request_hash: Hash(self.array()?),
                response_hash: Hash(self.array()?),
                unit: {
                    let code = self.u8()?;
                    MeterUnit::from_code(code).ok_or(DecodeError::Tag {
                        what: "meter unit",
                        tag: code,
                    })?
                },
                units: self.u64()?,
                price_e8s: self.u64()?,
                cumulative_e8s: self.u64()?,
                node_signature: Signature(self.array()?),
                user_signature: Signature(self.array()?),
            }),
            StateBit::TAG_PARENT_COMMIT => StateBit::ParentCommit(ParentCommit {
                round: self.u32()?,
                seals: self.seals()?,
            }),
            StateBit::TAG_CHECKPOINT_CERT => {
                if self.take(CHECKPOINT_DOMAIN.len())? != CHECKPOINT_DOMAIN {
                    return Err(DecodeError::Tag {
                        what: "checkpoint domain",
                        tag: 0,
                    });
                }
                let checkpoint = self.checkpoint()?;
                let signatures = self
                    .seals()?
                    .into_iter()
                    .map(|s| CheckpointSignature {
                        signer: s.signer,
                        signature: s.signature,
                    })
                    .collect();
                StateBit::CheckpointCert(SignedCheckpoint {
                    checkpoint,
                    signatures,
                })
            }
            tag => {
                return Err(DecodeError::Tag {
                    what: "state bit",
                    tag,
                })
            }
        })
    }

    /// A Merkle frontier: the leaf count, then one hash per set bit of it, smallest level
    /// first.
    fn frontier(&mut self) -> Result<MerkleFrontier, DecodeError> {
        let count = self.u64()?;
        let len = 64 - count.leading_zeros() as usize;
        let mut levels = Vec::with_capacity(len);
        for level in 0..len {
            levels.push(if count >> level & 1 == 1 {
                Some(Hash(self.array()?))
            } else {
                None
            });
        }
        Ok(MerkleFrontier { count, levels })
    }

    fn opt_checkpoint(&mut self) -> Result<Option<Checkpoint>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.checkpoint()?)),
            tag => Err(DecodeError::Tag {
                what: "option",
                tag,
            }),
        }
    }

    fn checkpoint(&mut self) -> Result<Checkpoint, DecodeError> {
        Ok(Checkpoint {
            height: self.u64()?,
            epoch: self.u64()?,
            state_root: Hash(self.array()?),
            prev_checkpoint_hash: Hash(self.array()?),
            validator_set_id: Hash(self.array()?),
            timestamp_ns: self.u64()?,
            poc_root: Hash(self.array()?),
            liveness_root: Hash(self.array()?),
            receipts_root: Hash(self.array()?),
        })
    }

    fn block(&mut self) -> Result<Block, DecodeError> {
        let header = BlockHeader {
            height: self.u64()?,
            parent_hash: Hash(self.array()?),
            proposer: NodeId(self.array()?),
            timestamp_ns: self.u64()?,
            payload_root: Hash(self.array()?),
        };
        let n = self.count("state bits", MIN_STATE_BIT)?;
        let mut bits = Vec::with_capacity(n);
        for _ in 0..n {
            bits.push(self.state_bit()?);
        }
        Ok(Block { header, bits })
    }

    fn seals(&mut self) -> Result<Vec<Seal>, DecodeError> {
        let n = self.count("seals", MIN_SEAL)?;
        let mut seals = Vec::with_capacity(n);
        for _ in 0..n {
            seals.push(Seal {
                signer: NodeId(self.array()?),
                signature: Signature(self.array()?),
            });
        }
        Ok(seals)
    }

    fn committed(&mut self) -> Result<CommittedBlock, DecodeError> {
        let block = self.block()?;
        let round = self.u32()?;
        let seals = self.seals()?;
        Ok(CommittedBlock {
            block,
            round,
            seals,
        })
    }
}
