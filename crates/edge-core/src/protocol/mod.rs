//! Frame kinds and small payloads the edge node and the router exchange over `emc-net`.
//!
//! Consensus messages are signed end to end by their validators (`emc-consensus`), so a
//! router relaying them can drop them but not forge or alter them: an altered message fails
//! its signature check at the receiving validator.

mod call;

pub use call::*;
use emc_poc::{OpenRequest, WireError};
use emc_types::NodeId;

/// A consensus message (`emc_consensus::codec`), sent directly between validators.
pub const KIND_CONSENSUS: u8 = 16;
/// A consensus message relayed through a router: [`RelayEnvelope`].
pub const KIND_RELAY: u8 = 17;
/// Request: liveness probe; the answer is a [`PingReply`].
pub const KIND_PING: u8 = 32;
/// Request: proof-of-computing challenge, a validator to a compute node. Payload
/// `emc_poc::Challenge::encode`; the answer is `emc_poc::Commitment::encode` (no answer: the
/// node refuses or could not compute).
pub const KIND_POC_CHALLENGE: u8 = 33;
/// Request: proof-of-computing spot check after a commitment: a [`PocOpen`]; the answer is
/// `emc_poc::Opening::encode`.
pub const KIND_POC_OPEN: u8 = 34;
/// Frame: a compute node's load report to its routers: [`PingReply`].
pub const KIND_LOAD: u8 = 35;

/// A relayed consensus message: `origin(32) || target flag(1) [|| target(32)] || message`.
/// The origin is the validator that sent it to the router (the router checks it against the
/// transport-authenticated peer); no target means every validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayEnvelope {
    /// The validator that sent the message to the router.
    pub origin: NodeId,
    /// One validator, or all of them.
    pub target: Option<NodeId>,
    /// The encoded consensus message (untouched by the router).
    pub message: Vec<u8>,
}

/// Why bytes are not a valid envelope or reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Too short.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A flag byte other than 0 or 1.
    #[error("bad flag in {0}")]
    Flag(&'static str),
    /// A version this node does not speak.
    #[error("unsupported version of {0}")]
    Version(&'static str),
    /// A field is out of range (length cap, UTF-8, unknown code).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes after the end.
    #[error("trailing bytes after {0}")]
    Trailing(&'static str),
    /// A proof-of-computing message inside does not decode.
    #[error(transparent)]
    Poc(#[from] WireError),
}

/// A spot check ([`KIND_POC_OPEN`]): `seed(32) || emc_poc::OpenRequest::encode`. The seed
/// names the challenge (with the requesting validator, whom the transport authenticates), so
/// a node holding several results opens the right one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PocOpen {
    /// The seed of the challenge being opened.
    pub seed: [u8; 32],
    /// The rows to open.
    pub request: OpenRequest,
}

impl PocOpen {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let body = self.request.encode();
        let mut out = Vec::with_capacity(32 + body.len());
        out.extend_from_slice(&self.seed);
        out.extend_from_slice(&body);
        out
    }

    /// Decodes untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<PocOpen, ProtocolError> {
        let seed = take32(bytes, 0).ok_or(ProtocolError::Truncated("poc open"))?;
        let request = OpenRequest::decode(bytes.get(32..).unwrap_or_default())?;
        Ok(PocOpen {
            seed: seed.0,
            request,
        })
    }
}

impl RelayEnvelope {
    /// Encodes the envelope.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(65 + self.message.len());
        out.extend_from_slice(&self.origin.0);
        match &self.target {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                out.extend_from_slice(&t.0);
            }
        }
        out.extend_from_slice(&self.message);
        out
    }

    /// Decodes untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<RelayEnvelope, ProtocolError> {
        let what = "relay envelope";
        let origin = take32(bytes, 0).ok_or(ProtocolError::Truncated(what))?;
        let (target, rest) = match bytes.get(32) {
            Some(0) => (None, 33),
            Some(1) => (
                Some(take32(bytes, 33).ok_or(ProtocolError::Truncated(what))?),
                65,
            ),
            Some(_) => return Err(ProtocolError::Flag(what)),
            None => return Err(ProtocolError::Truncated(what)),
        };
        Ok(RelayEnvelope {
            origin,
            target,
            message: bytes.get(rest..).unwrap_or_default().to_vec(),
        })
    }
}

fn take32(bytes: &[u8], at: usize) -> Option<NodeId> {
    let s = bytes.get(at..at.checked_add(32)?)?;
    let mut a = [0u8; 32];
    a.copy_from_slice(s);
    Some(NodeId(a))
}

/// The answer to a probe, and a compute node's load report: `height_be64 || load_be32 ||
/// capacity_be32` (validators: their committed height; compute nodes: jobs running and slots).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PingReply {
    /// The validator's committed height (0 for other roles).
    pub height: u64,
    /// Jobs running (compute nodes).
    pub load: u32,
    /// Job slots (compute nodes).
    pub capacity: u32,
}

impl PingReply {
    /// Encodes the reply (16 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.load.to_be_bytes());
        out.extend_from_slice(&self.capacity.to_be_bytes());
        out
    }

    /// Decodes untrusted bytes (longer replies are accepted: later versions may append).
    pub fn decode(b: &[u8]) -> Result<PingReply, ProtocolError> {
        let what = "ping reply";
        let h = b.get(0..8).ok_or(ProtocolError::Truncated(what))?;
        let l = b.get(8..12).ok_or(ProtocolError::Truncated(what))?;
        let c = b.get(12..16).ok_or(ProtocolError::Truncated(what))?;
        let mut h8 = [0u8; 8];
        h8.copy_from_slice(h);
        let mut l4 = [0u8; 4];
        l4.copy_from_slice(l);
        let mut c4 = [0u8; 4];
        c4.copy_from_slice(c);
        Ok(PingReply {
            height: u64::from_be_bytes(h8),
            load: u32::from_be_bytes(l4),
            capacity: u32::from_be_bytes(c4),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_and_replies_round_trip_and_bad_bytes_are_errors() {
        for target in [None, Some(NodeId([9; 32]))] {
            let e = RelayEnvelope {
                origin: NodeId([1; 32]),
                target,
                message: vec![1, 2, 3],
            };
            let b = e.encode();
            assert_eq!(RelayEnvelope::decode(&b), Ok(e));
            for cut in 0..33 {
                assert!(RelayEnvelope::decode(&b[..cut]).is_err());
            }
        }
        let mut bad = vec![0u8; 40];
        bad[32] = 7;
        assert_eq!(
            RelayEnvelope::decode(&bad),
            Err(ProtocolError::Flag("relay envelope"))
        );
        let p = PingReply {
            height: 7,
            load: 2,
            capacity: 8,
        };
        assert_eq!(PingReply::decode(&p.encode()), Ok(p));
        assert!(PingReply::decode(&[0; 15]).is_err());
    }

    #[test]
    fn poc_open_round_trips_and_bad_bytes_are_errors() {
        let o = PocOpen {
            seed: [3; 32],
            request: OpenRequest {
                rows: vec![1, 5, 200],
            },
        };
        let b = o.encode();
        assert_eq!(PocOpen::decode(&b), Ok(o));
        for cut in 0..b.len() {
            assert!(PocOpen::decode(&b[..cut]).is_err());
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(PocOpen::decode(&longer).is_err());
        // Random bytes never panic.
        let mut x = 0x9e37_79b9_u32;
        for len in 0..500usize {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = PocOpen::decode(&bytes);
        }
    }
}
