//! A dApp's call, router to compute node, on one streamed call of `emc-net`
//! (`Network::open_call` with kind [`KIND_CALL`]).
//!
//! ```text
//! router                                   compute node
//!   open_call(KIND_CALL, CallHead)  ──▶
//!   FRAME_BODY* , finish            ──▶   (request body, at most head.body_len bytes)
//!                                   ◀──   FRAME_REFUSED(CallRefusal) and finish   (nothing served)
//!                                   ◀──   FRAME_RESPONSE(ResponseHead)            (first byte)
//!                                   ◀──   FRAME_DATA*                             (the app's body)
//!                                   ◀──   FRAME_TRAILER(CallTrailer) and finish   (units, receipt)
//! ```
//! A compute pool's entry node asks the pool's other members to co-sign each receipt once its
//! trailer went out (a request of kind [`KIND_COSIGN`]: [`CosignRequest`] to
//! [`CosignAnswer`]), then sends the router the co-signatures it got in a frame of kind
//! [`KIND_COSIGNED`] ([`CosignedReceipt`]): co-signing never delays the dApp's response.
//! A response without its trailer (reset, lost connection, timeout) was not served in full:
//! nothing is billed. Every payload here is versioned ([`CALL_VERSION`]) and decoded totally:
//! exact lengths, UTF-8 strings, bounded counts; no input panics.

use super::ProtocolError;
use emc_types::pool::MAX_COSIGNATURES;
use emc_types::{ComputeReceipt, Cosignature, Hash, MeterUnit, NodeId, Signature};

/// The net kind of a streamed compute call.
pub const KIND_CALL: u8 = 40;
/// Frame: a compute node's offer to its routers ([`Offer`]).
pub const KIND_OFFER: u8 = 41;
/// Frame: countersigned receipts, a router to validators ([`encode_receipts`]).
pub const KIND_RECEIPTS: u8 = 42;
/// Request: a compute pool's entry node asks a member to co-sign a receipt
/// ([`CosignRequest`]); the answer is a [`CosignAnswer`].
pub const KIND_COSIGN: u8 = 45;
/// Frame: a compute pool's entry node hands its router the co-signatures of a receipt it
/// served through it ([`CosignedReceipt`]).
pub const KIND_COSIGNED: u8 = 46;

/// Router → node: request body bytes.
pub const FRAME_BODY: u8 = 1;
/// Node → router: the app's response head ([`ResponseHead`]), the call's first byte.
pub const FRAME_RESPONSE: u8 = 2;
/// Node → router: response body bytes, as the app streamed them.
pub const FRAME_DATA: u8 = 3;
/// Node → router: the end of a served call ([`CallTrailer`]).
pub const FRAME_TRAILER: u8 = 4;
/// Node → router: the call was not served ([`CallRefusal`]); the router may retry elsewhere.
pub const FRAME_REFUSED: u8 = 5;

/// The version byte every call payload starts with.
pub const CALL_VERSION: u8 = 1;
/// Request headers passed to the app (lower case); others are dropped.
pub const FORWARDED_HEADERS: &[&str] = &["content-type", "accept"];
/// Longest path, with its query.
pub const MAX_PATH: usize = 4096;
/// Longest app, model or method name.
pub const MAX_NAME: usize = 128;
/// Most headers in a head.
pub const MAX_HEADERS: usize = 16;
/// Longest header value.
pub const MAX_HEADER_VALUE: usize = 1024;

/// What a call asks of a compute node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallHead {
    /// The app (`llm`, `sd`, ...), as the node's offer names it.
    pub app: String,
    /// The model ("" when the app has none).
    pub model: String,
    /// HTTP method.
    pub method: String,
    /// The path the user called on the router, with its query (what the user signed).
    pub url_path: String,
    /// The path on the node's app: `url_path`, or `url_path` without its `/{app}` prefix.
    pub app_path: String,
    /// Forwarded request headers ([`FORWARDED_HEADERS`]), names lower case.
    pub headers: Vec<(String, String)>,
    /// The paying user (its ed25519 key).
    pub user: NodeId,
    /// The user's nonce for this request.
    pub nonce: u64,
    /// SHA-256 of the request body.
    pub body_hash: Hash,
    /// The request body's length.
    pub body_len: u64,
    /// The user's signature over the request hash (`compute::request_hash`).
    pub signature: Signature,
    /// The epoch of the receipt's lane.
    pub epoch: u64,
    /// The most response body bytes the router takes.
    pub max_response_bytes: u64,
    /// How long the node may take, first byte to last, ms.
    pub timeout_ms: u32,
}

/// The app's response status and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// HTTP status.
    pub status: u16,
    /// Response headers kept (content-type), names lower case.
    pub headers: Vec<(String, String)>,
}

/// How a served call ended: what it metered and the node's receipt.
///
/// Encoding: `version || 0` (no receipt) or `version || 1 || receipt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallTrailer {
    /// The node's receipt, signed by the node (`user_signature` all zero until the user
    /// countersigns); `None` when the call is not billable (the app answered an error).
    pub receipt: Option<ComputeReceipt>,
}

/// Why a node did not serve a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalCode {
    /// The head or body is malformed, or the user's signature does not verify.
    BadRequest = 1,
    /// Every slot is busy.
    Busy = 2,
    /// The node does not serve this app.
    NotServed = 3,
    /// The app could not be reached or failed before answering.
    AppFailed = 4,
    /// The app did not answer in time.
    Timeout = 5,
    /// The request body is larger than the node takes.
    TooLarge = 6,
}

impl RefusalCode {
    fn from_u8(b: u8) -> Option<RefusalCode> {
        Some(match b {
            1 => RefusalCode::BadRequest,
            2 => RefusalCode::Busy,
            3 => RefusalCode::NotServed,
            4 => RefusalCode::AppFailed,
            5 => RefusalCode::Timeout,
            6 => RefusalCode::TooLarge,
            _ => return None,
        })
    }

    /// Whether another node might serve the call (the fault is this node's, not the call's).
    pub fn retryable(self) -> bool {
        matches!(
            self,
            RefusalCode::Busy | RefusalCode::NotServed | RefusalCode::AppFailed
        )
    }
}

/// A node's refusal of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRefusal {
    /// Why.
    pub code: RefusalCode,
    /// For the logs and the dApp.
    pub message: String,
}

/// What a compute node serves, sent to each router when they connect and when it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The app's name.
    pub app: String,
    /// Its models (at least one entry; "" for an app without models).
    pub models: Vec<String>,
    /// The app's meter.
    pub unit: MeterUnit,
    /// Price of one unit, e8s.
    pub price_e8s: u64,
    /// Job slots.
    pub capacity: u32,
}

/// Most models in an offer.
pub const MAX_MODELS: usize = 64;
/// Most receipts in one [`KIND_RECEIPTS`] frame.
pub const MAX_RECEIPTS_PER_FRAME: usize = 4096;

struct W(Vec<u8>);

impl W {
    fn new() -> W {
        W(vec![CALL_VERSION])
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    /// A string with a u16 length; callers keep strings within their caps, so the length
    /// always fits (longer input is cut at the cap, which the decoder then refuses nothing of).
    fn str(&mut self, s: &str) {
        let b = s.as_bytes();
        let n = b.len().min(usize::from(u16::MAX));
        self.u16(n as u16);
        self.0.extend_from_slice(&b[..n]);
    }
}

struct R<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> R<'a> {
    fn new(b: &'a [u8], what: &'static str) -> Result<R<'a>, ProtocolError> {
        let mut r = R { b, what };
        if r.u8()? != CALL_VERSION {
            return Err(ProtocolError::Version(what));
        }
        Ok(r)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if self.b.len() < n {
            return Err(ProtocolError::Truncated(self.what));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.arr::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_be_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_be_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_be_bytes(self.arr()?))
    }
    fn str(&mut self, max: usize) -> Result<String, ProtocolError> {
        let n = usize::from(self.u16()?);
        if n > max {
            return Err(ProtocolError::Invalid(self.what));
        }
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| ProtocolError::Invalid(self.what))
    }
    fn end(self) -> Result<(), ProtocolError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::Trailing(self.what))
        }
    }
}

fn put_headers(w: &mut W, headers: &[(String, String)]) {
    let n = headers.len().min(MAX_HEADERS);
    w.u8(n as u8);
    for (k, v) in &headers[..n] {
        w.str(k);
        w.str(v);
    }
}

fn get_headers(r: &mut R<'_>) -> Result<Vec<(String, String)>, ProtocolError> {
    let n = usize::from(r.u8()?);
    if n > MAX_HEADERS {
        return Err(ProtocolError::Invalid(r.what));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push((r.str(MAX_NAME)?, r.str(MAX_HEADER_VALUE)?));
    }
    Ok(out)
}

impl CallHead {
    /// Encodes the head.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::new();
        w.str(&self.app);
        w.str(&self.model);
        w.str(&self.method);
        w.str(&self.url_path);
        w.str(&self.app_path);
        put_headers(&mut w, &self.headers);
        w.bytes(&self.user.0);
        w.u64(self.nonce);
        w.bytes(&self.body_hash.0);
        w.u64(self.body_len);
        w.bytes(&self.signature.0);
        w.u64(self.epoch);
        w.u64(self.max_response_bytes);
        w.u32(self.timeout_ms);
        w.0
    }

    /// Decodes untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<CallHead, ProtocolError> {
        let mut r = R::new(b, "call head")?;
        let head = CallHead {
            app: r.str(MAX_NAME)?,
            model: r.str(MAX_NAME)?,
            method: r.str(MAX_NAME)?,
            url_path: r.str(MAX_PATH)?,
            app_path: r.str(MAX_PATH)?,
            headers: get_headers(&mut r)?,
            user: NodeId(r.arr()?),
            nonce: r.u64()?,
            body_hash: Hash(r.arr()?),
            body_len: r.u64()?,
            signature: Signature(r.arr()?),
            epoch: r.u64()?,
            max_response_bytes: r.u64()?,
            timeout_ms: r.u32()?,
        };
        r.end()?;
        Ok(head)
    }
}

impl ResponseHead {
    /// Encodes the head.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::new();
        w.u16(self.status);
        put_headers(&mut w, &self.headers);
        w.0
    }

    /// Decodes untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<ResponseHead, ProtocolError> {
        let mut r = R::new(b, "response head")?;
        let head = ResponseHead {
            status: r.u16()?,
            headers: get_headers(&mut r)?,
        };
        r.end()?;
        if !(100..=599).contains(&head.status) {
            return Err(ProtocolError::Invalid("response head"));
        }
        Ok(head)
    }
}

fn put_receipt(w: &mut W, rc: &ComputeReceipt) {
    let mut fields = Vec::with_capacity(ComputeReceipt::BODY_LEN);
    rc.put_fields(&mut fields);
    w.bytes(&fields);
    w.bytes(&rc.node_signature.0);
    w.bytes(&rc.user_signature.0);
}

fn get_receipt(r: &mut R<'_>) -> Result<ComputeReceipt, ProtocolError> {
    Ok(ComputeReceipt {
        user: NodeId(r.arr()?),
        node: NodeId(r.arr()?),
        router: NodeId(r.arr()?),
        epoch: r.u64()?,
        nonce: r.u64()?,
        request_hash: Hash(r.arr()?),
        response_hash: Hash(r.arr()?),
        unit: MeterUnit::from_code(r.u8()?).ok_or(ProtocolError::Invalid(r.what))?,
        units: r.u64()?,
        price_e8s: r.u64()?,
        cumulative_e8s: r.u64()?,
        node_signature: Signature(r.arr()?),
        user_signature: Signature(r.arr()?),
    })
}

/// Encodes one receipt (the canonical fields, then both signatures), versioned.
pub fn encode_receipt(rc: &ComputeReceipt) -> Vec<u8> {
    let mut w = W::new();
    put_receipt(&mut w, rc);
    w.0
}

/// Decodes one receipt from untrusted bytes.
pub fn decode_receipt(b: &[u8]) -> Result<ComputeReceipt, ProtocolError> {
    let mut r = R::new(b, "receipt")?;
    let rc = get_receipt(&mut r)?;
    r.end()?;
    Ok(rc)
}

/// Encodes a batch of receipts ([`KIND_RECEIPTS`]): `version || count_be32 || receipt*`.
pub fn encode_receipts(rs: &[ComputeReceipt]) -> Vec<u8> {
    let mut w = W::new();
    let n = rs.len().min(MAX_RECEIPTS_PER_FRAME);
    w.u32(n as u32);
    for rc in &rs[..n] {
        put_receipt(&mut w, rc);
    }
    w.0
}

/// Decodes a batch of receipts from untrusted bytes.
pub fn decode_receipts(b: &[u8]) -> Result<Vec<ComputeReceipt>, ProtocolError> {
    let mut r = R::new(b, "receipts")?;
    let n = r.u32()? as usize;
    if n > MAX_RECEIPTS_PER_FRAME {
        return Err(ProtocolError::Invalid("receipts"));
    }
    let mut out = Vec::with_capacity(n.min(r.b.len() / ComputeReceipt::CANONICAL_LEN));
    for _ in 0..n {
        out.push(get_receipt(&mut r)?);
    }
    r.end()?;
    Ok(out)
}

impl CallTrailer {
    /// Encodes the trailer.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::new();
        match &self.receipt {
            None => w.u8(0),
            Some(rc) => {
                w.u8(1);
                put_receipt(&mut w, rc);
            }
        }
        w.0
    }

    /// Decodes untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<CallTrailer, ProtocolError> {
        let mut r = R::new(b, "call trailer")?;
        let receipt = match r.u8()? {
            0 => None,
            1 => Some(get_receipt(&mut r)?),
            _ => return Err(ProtocolError::Flag("call trailer")),
        };
        r.end()?;
        Ok(CallTrailer { receipt })
    }
}

/// The co-signatures of one pool receipt, its entry node to the router it served the call
/// through ([`KIND_COSIGNED`]): `version || user || epoch_be64 || nonce_be64 || body_hash ||
/// count_u8 || (node || signature)*`, 1 to [`MAX_COSIGNATURES`] co-signatures. The receipt is
/// the sender's on lane (`user`, sender, `epoch`) at `nonce`; `body_hash` tells it from
/// another the router may hold there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignedReceipt {
    /// The receipt's user.
    pub user: NodeId,
    /// Its epoch.
    pub epoch: u64,
    /// Its nonce.
    pub nonce: u64,
    /// Its body hash (what the user countersigns and the members co-sign).
    pub body_hash: Hash,
    /// The members' co-signatures.
    pub cosignatures: Vec<Cosignature>,
}

impl CosignedReceipt {
    /// The message for receipt `r` with `cosignatures` (at most [`MAX_COSIGNATURES`] are
    /// encoded).
    pub fn of(r: &ComputeReceipt, cosignatures: Vec<Cosignature>) -> CosignedReceipt {
        CosignedReceipt {
            user: r.user,
            epoch: r.epoch,
            nonce: r.nonce,
            body_hash: r.body_hash(),
            cosignatures,
        }
    }

    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::new();
        w.bytes(&self.user.0);
        w.u64(self.epoch);
        w.u64(self.nonce);
        w.bytes(&self.body_hash.0);
        let n = self.cosignatures.len().min(MAX_COSIGNATURES);
        w.u8(n as u8);
        for c in &self.cosignatures[..n] {
            w.bytes(&c.node.0);
            w.bytes(&c.signature.0);
        }
        w.0
    }

    /// Decodes untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<CosignedReceipt, ProtocolError> {
        let mut r = R::new(b, "co-signed receipt")?;
        let (user, epoch, nonce, body_hash) =
            (NodeId(r.arr()?), r.u64()?, r.u64()?, Hash(r.arr()?));
        let n = usize::from(r.u8()?);
        if n == 0 || n > MAX_COSIGNATURES {
            return Err(ProtocolError::Invalid("co-signed receipt"));
        }
        let mut cosignatures = Vec::with_capacity(n);
        for _ in 0..n {
            cosignatures.push(Cosignature {
                node: NodeId(r.arr()?),
                signature: Signature(r.arr()?),
            });
        }
        r.end()?;
        Ok(CosignedReceipt {
            user,
            epoch,
            nonce,
            body_hash,
            cosignatures,
        })
    }
}

/// A pool's entry node asks a member to co-sign a receipt ([`KIND_COSIGN`]):
/// `version || pool_id_be64 || receipt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignRequest {
    /// The pool (its offer id in the market).
    pub pool_id: u64,
    /// The receipt the entry node signed (its `node` is the entry; the user signature is
    /// not there yet).
    pub receipt: ComputeReceipt,
}

impl CosignRequest {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::new();
        w.u64(self.pool_id);
        put_receipt(&mut w, &self.receipt);
        w.0
    }

    /// Decodes untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<CosignRequest, ProtocolError> {
        let mut r = R::new(b, "co-sign request")?;
        let req = CosignRequest {
            pool_id: r.u64()?,
            receipt: get_receipt(&mut r)?,
        };
        r.end()?;
        Ok(req)
    }
}

/// Why a member did not co-sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CosignRefusal {
    /// This node is in no pool, or in another one.
    #[error("not a member of this pool")]
    NotMember,
    /// The asking peer is not the pool's entry node, or the receipt is not the entry's.
    #[error("not the pool's entry node or not its receipt")]
    NotEntry,
    /// The receipt's node signature does not verify.
    #[error("the entry's signature does not verify")]
    BadReceipt,
    /// The request does not decode.
    #[error("malformed request")]
    Malformed,
}

impl CosignRefusal {
    fn code(self) -> u8 {
        match self {
            CosignRefusal::NotMember => 1,
            CosignRefusal::NotEntry => 2,
            CosignRefusal::BadReceipt => 3,
            CosignRefusal::Malformed => 4,
        }
    }

    fn from_code(b: u8) -> Option<CosignRefusal> {
        Some(match b {
            1 => CosignRefusal::NotMember,
            2 => CosignRefusal::NotEntry,
            3 => CosignRefusal::BadReceipt,
            4 => CosignRefusal::Malformed,
            _ => return None,
        })
    }
}

/// A member's answer to a [`CosignRequest`]: `version || 1 || signature` or
/// `version || 0 || refusal code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CosignAnswer(pub Result<Signature, CosignRefusal>);

impl CosignAnswer {
    /// Encodes the answer.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::new();
        match self.0 {
            Ok(sig) => {
                w.u8(1);
                w.bytes(&sig.0);
            }
            Err(why) => {
                w.u8(0);
                w.u8(why.code());
            }
        }
        w.0
    }

    /// Decodes untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<CosignAnswer, ProtocolError> {
        let mut r = R::new(b, "co-sign answer")?;
        let a = match r.u8()? {
            1 => Ok(Signature(r.arr()?)),
            0 => Err(CosignRefusal::from_code(r.u8()?)
                .ok_or(ProtocolError::Invalid("co-sign answer"))?),
            _ => return Err(ProtocolError::Flag("co-sign answer")),
        };
        r.end()?;
        Ok(CosignAnswer(a))
    }
}

impl CallRefusal {
    /// Encodes the refusal.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::new();
        w.u8(self.code as u8);
        let mut m = self.message.as_str();
        while m.len() > MAX_HEADER_VALUE {
            // Cut on a character boundary.
            let mut at = MAX_HEADER_VALUE;
            while !m.is_char_boundary(at) {
                at -= 1;
            }
            m = &m[..at];
        }
        w.str(m);
        w.0
    }

    /// Decodes untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<CallRefusal, ProtocolError> {
        let mut r = R::new(b, "call refusal")?;
        let code = RefusalCode::from_u8(r.u8()?).ok_or(ProtocolError::Invalid("call refusal"))?;
        let message = r.str(MAX_HEADER_VALUE)?;
        r.end()?;
        Ok(CallRefusal { code, message })
    }
}

impl Offer {
    /// Encodes the offer.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::new();
        w.str(&self.app);
        let n = self.models.len().min(MAX_MODELS);
        w.u8(n as u8);
        for m in &self.models[..n] {
            w.str(m);
        }
        w.u8(self.unit.code());
        w.u64(self.price_e8s);
        w.u32(self.capacity);
        w.0
    }

    /// Decodes untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<Offer, ProtocolError> {
        let mut r = R::new(b, "offer")?;
        let app = r.str(MAX_NAME)?;
        let n = usize::from(r.u8()?);
        if n == 0 || n > MAX_MODELS {
            return Err(ProtocolError::Invalid("offer"));
        }
        let mut models = Vec::with_capacity(n);
        for _ in 0..n {
            models.push(r.str(MAX_NAME)?);
        }
        let unit = MeterUnit::from_code(r.u8()?).ok_or(ProtocolError::Invalid("offer"))?;
        let offer = Offer {
            app,
            models,
            unit,
            price_e8s: r.u64()?,
            capacity: r.u32()?,
        };
        r.end()?;
        Ok(offer)
    }
}

/// Request: a router asks a validator for the inclusion proofs of receipts it countersigned,
/// named by their leaf hashes (`emc_types::merkle::leaf_hash` of the receipt's state bit):
/// `version || count_be16 || leaf*`. The answer has the proofs of those in a certified
/// checkpoint period the validator still keeps: [`encode_proofs`].
pub const KIND_RECEIPT_PROOFS: u8 = 43;
/// Most leaves asked in one [`KIND_RECEIPT_PROOFS`] request.
pub const MAX_PROOFS_ASKED: usize = 1024;
/// Most sibling hashes in one proof (a tree of at most 2^64 leaves).
pub const MAX_PROOF_LEN: usize = 64;

/// One receipt's inclusion proof in a certified checkpoint period (what the market's
/// `settle_batch` takes with the receipt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafProof {
    /// The receipt's leaf hash.
    pub leaf: Hash,
    /// The checkpoint whose period holds it.
    pub checkpoint_height: u64,
    /// Its index among the period's leaves.
    pub leaf_index: u64,
    /// Leaves in the period.
    pub leaf_count: u64,
    /// Sibling hashes from the leaf up.
    pub proof: Vec<Hash>,
}

/// Encodes a [`KIND_RECEIPT_PROOFS`] request (at most [`MAX_PROOFS_ASKED`] leaves).
pub fn encode_leaves(leaves: &[Hash]) -> Vec<u8> {
    let mut w = W::new();
    let n = leaves.len().min(MAX_PROOFS_ASKED);
    w.u16(n as u16);
    for l in &leaves[..n] {
        w.bytes(&l.0);
    }
    w.0
}

/// Decodes a [`KIND_RECEIPT_PROOFS`] request from untrusted bytes.
pub fn decode_leaves(b: &[u8]) -> Result<Vec<Hash>, ProtocolError> {
    let mut r = R::new(b, "proof request")?;
    let n = usize::from(r.u16()?);
    if n > MAX_PROOFS_ASKED {
        return Err(ProtocolError::Invalid(r.what));
    }
    let mut out = Vec::with_capacity(n.min(r.b.len() / 32));
    for _ in 0..n {
        out.push(Hash(r.arr()?));
    }
    r.end()?;
    Ok(out)
}

/// Encodes the answer to a [`KIND_RECEIPT_PROOFS`] request: `version || count_be16 ||
/// (leaf || height_be64 || index_be64 || count_be64 || siblings_u8 || sibling*)*`.
pub fn encode_proofs(proofs: &[LeafProof]) -> Vec<u8> {
    let mut w = W::new();
    let ok: Vec<&LeafProof> = proofs
        .iter()
        .filter(|p| p.proof.len() <= MAX_PROOF_LEN)
        .take(MAX_PROOFS_ASKED)
        .collect();
    w.u16(ok.len() as u16);
    for p in ok {
        w.bytes(&p.leaf.0);
        w.u64(p.checkpoint_height);
        w.u64(p.leaf_index);
        w.u64(p.leaf_count);
        w.u8(p.proof.len() as u8);
        for h in &p.proof {
            w.bytes(&h.0);
        }
    }
    w.0
}

/// Decodes an answer to a [`KIND_RECEIPT_PROOFS`] request from untrusted bytes.
pub fn decode_proofs(b: &[u8]) -> Result<Vec<LeafProof>, ProtocolError> {
    let mut r = R::new(b, "proofs")?;
    let n = usize::from(r.u16()?);
    if n > MAX_PROOFS_ASKED {
        return Err(ProtocolError::Invalid(r.what));
    }
    let mut out = Vec::with_capacity(n.min(r.b.len() / 57));
    for _ in 0..n {
        let leaf = Hash(r.arr()?);
        let (checkpoint_height, leaf_index, leaf_count) = (r.u64()?, r.u64()?, r.u64()?);
        let len = usize::from(r.u8()?);
        if len > MAX_PROOF_LEN {
            return Err(ProtocolError::Invalid(r.what));
        }
        let mut proof = Vec::with_capacity(len);
        for _ in 0..len {
            proof.push(Hash(r.arr()?));
        }
        out.push(LeafProof {
            leaf,
            checkpoint_height,
            leaf_index,
            leaf_count,
            proof,
        });
    }
    r.end()?;
    Ok(out)
}

/// Request: a compute node asks a validator where one of its receipt lanes stands in the
/// agreed state (after a restart its own lanes are gone): [`LaneQuery`]; the answer is a
/// [`LaneState`].
pub const KIND_LANE_STATE: u8 = 44;

/// Which lane: the asking node's lane of `user` in `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaneQuery {
    /// The user paying.
    pub user: NodeId,
    /// The lane's epoch.
    pub epoch: u64,
}

/// A lane's latest receipt as a validator knows it (committed or waiting for a block), or
/// none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaneState {
    /// `(nonce, cumulative_e8s)` of the lane's latest receipt.
    pub last: Option<(u64, u64)>,
}

impl LaneQuery {
    /// `version || user || epoch_be64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::new();
        w.bytes(&self.user.0);
        w.u64(self.epoch);
        w.0
    }

    /// Decodes a query from untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<LaneQuery, ProtocolError> {
        let mut r = R::new(b, "lane query")?;
        let q = LaneQuery {
            user: NodeId(r.arr()?),
            epoch: r.u64()?,
        };
        r.end()?;
        Ok(q)
    }
}

impl LaneState {
    /// `version || 0` or `version || 1 || nonce_be64 || cumulative_be64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::new();
        match self.last {
            None => w.u8(0),
            Some((n, c)) => {
                w.u8(1);
                w.u64(n);
                w.u64(c);
            }
        }
        w.0
    }

    /// Decodes an answer from untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<LaneState, ProtocolError> {
        let mut r = R::new(b, "lane state")?;
        let last = match r.u8()? {
            0 => None,
            1 => Some((r.u64()?, r.u64()?)),
            _ => return Err(ProtocolError::Flag("lane state")),
        };
        r.end()?;
        Ok(LaneState { last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> CallHead {
        CallHead {
            app: "llm".into(),
            model: "emc-bigram".into(),
            method: "POST".into(),
            url_path: "/v1/chat/completions".into(),
            app_path: "/v1/chat/completions".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            user: NodeId([1; 32]),
            nonce: 7,
            body_hash: Hash([2; 32]),
            body_len: 99,
            signature: Signature([3; 64]),
            epoch: 4,
            max_response_bytes: 1 << 20,
            timeout_ms: 30_000,
        }
    }

    fn receipt() -> ComputeReceipt {
        ComputeReceipt {
            user: NodeId([1; 32]),
            node: NodeId([2; 32]),
            router: NodeId([3; 32]),
            epoch: 4,
            nonce: 5,
            request_hash: Hash([6; 32]),
            response_hash: Hash([7; 32]),
            unit: MeterUnit::Tokens,
            units: 8,
            price_e8s: 9,
            cumulative_e8s: 72,
            node_signature: Signature([10; 64]),
            user_signature: Signature([11; 64]),
        }
    }

    /// Every strict prefix is an error, one byte more is an error, another version is an
    /// error, and pseudo-random bytes never panic.
    fn total<T: std::fmt::Debug + PartialEq>(
        bytes: &[u8],
        value: &T,
        decode: impl Fn(&[u8]) -> Result<T, ProtocolError>,
    ) {
        assert_eq!(&decode(bytes).unwrap(), value);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "prefix {cut} decoded");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode(&longer).is_err());
        let mut other = bytes.to_vec();
        other[0] = CALL_VERSION + 1;
        assert!(matches!(decode(&other), Err(ProtocolError::Version(_))));
        let mut x = 0x2545_f491_u32;
        for len in 0..300usize {
            let mut b: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            if let Some(v) = b.first_mut() {
                *v = CALL_VERSION;
            }
            let _ = decode(&b);
        }
    }

    #[test]
    fn every_call_payload_round_trips_and_decodes_totally() {
        total(&head().encode(), &head(), CallHead::decode);
        let rh = ResponseHead {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
        };
        total(&rh.encode(), &rh, ResponseHead::decode);
        let cosig = |i: u8| Cosignature {
            node: NodeId([i; 32]),
            signature: Signature([i; 64]),
        };
        for t in [
            CallTrailer { receipt: None },
            CallTrailer {
                receipt: Some(receipt()),
            },
        ] {
            total(&t.encode(), &t, CallTrailer::decode);
        }
        let c = CosignedReceipt::of(&receipt(), vec![cosig(1), cosig(2)]);
        assert_eq!(c.body_hash, receipt().body_hash());
        total(&c.encode(), &c, CosignedReceipt::decode);
        let q = CosignRequest {
            pool_id: 9,
            receipt: receipt(),
        };
        total(&q.encode(), &q, CosignRequest::decode);
        for a in [
            CosignAnswer(Ok(Signature([5; 64]))),
            CosignAnswer(Err(CosignRefusal::NotEntry)),
        ] {
            total(&a.encode(), &a, CosignAnswer::decode);
        }
        let f = CallRefusal {
            code: RefusalCode::Busy,
            message: "every slot is busy".into(),
        };
        total(&f.encode(), &f, CallRefusal::decode);
        let o = Offer {
            app: "llm".into(),
            models: vec!["a".into(), "b".into()],
            unit: MeterUnit::Tokens,
            price_e8s: 3,
            capacity: 4,
        };
        total(&o.encode(), &o, Offer::decode);
        total(&encode_receipt(&receipt()), &receipt(), decode_receipt);
        let batch = vec![receipt(), receipt()];
        total(&encode_receipts(&batch), &batch, decode_receipts);
    }

    /// A co-signature list that is empty or over the cap is refused.
    #[test]
    fn cosignature_lists_are_bounded() {
        let cosig = Cosignature {
            node: NodeId([7; 32]),
            signature: Signature([7; 64]),
        };
        let one = CosignedReceipt::of(&receipt(), vec![cosig]).encode();
        let count_at = one.len() - 97;
        let mut empty = one[..=count_at].to_vec();
        empty[count_at] = 0;
        assert_eq!(
            CosignedReceipt::decode(&empty),
            Err(ProtocolError::Invalid("co-signed receipt"))
        );
        let mut over = one[..=count_at].to_vec();
        over[count_at] = (MAX_COSIGNATURES + 1) as u8;
        over.extend(std::iter::repeat_n(7u8, 96 * (MAX_COSIGNATURES + 1)));
        assert_eq!(
            CosignedReceipt::decode(&over),
            Err(ProtocolError::Invalid("co-signed receipt"))
        );
        // The most a receipt can carry is encoded, no more.
        let many = CosignedReceipt::of(&receipt(), vec![cosig; MAX_COSIGNATURES + 3]);
        let back = CosignedReceipt::decode(&many.encode()).unwrap();
        assert_eq!(back.cosignatures.len(), MAX_COSIGNATURES);
        assert_eq!(
            CosignAnswer::decode(&[CALL_VERSION, 0, 9]),
            Err(ProtocolError::Invalid("co-sign answer"))
        );
    }

    #[test]
    fn out_of_range_fields_are_refused() {
        let bad_status = ResponseHead {
            status: 42,
            headers: vec![],
        };
        assert!(ResponseHead::decode(&bad_status.encode()).is_err());
        let no_models = Offer {
            app: "x".into(),
            models: vec![],
            unit: MeterUnit::Seconds,
            price_e8s: 1,
            capacity: 1,
        };
        assert!(Offer::decode(&no_models.encode()).is_err());
        let mut long = head();
        long.app = "a".repeat(MAX_NAME + 1);
        assert!(CallHead::decode(&long.encode()).is_err());
        let mut bad_utf8 = head().encode();
        // The app name's first byte (after version and its u16 length).
        bad_utf8[3] = 0xFF;
        assert!(CallHead::decode(&bad_utf8).is_err());
        let long_message = CallRefusal {
            code: RefusalCode::AppFailed,
            message: "é".repeat(MAX_HEADER_VALUE),
        };
        let back = CallRefusal::decode(&long_message.encode()).unwrap();
        assert!(back.message.len() <= MAX_HEADER_VALUE);
        assert!(RefusalCode::Busy.retryable() && !RefusalCode::BadRequest.retryable());
    }

    #[test]
    fn proof_requests_and_answers_round_trip_and_refuse_bad_bytes() {
        let leaves: Vec<Hash> = (0..5u8).map(|i| Hash([i; 32])).collect();
        let req = encode_leaves(&leaves);
        assert_eq!(decode_leaves(&req).unwrap(), leaves);
        let proofs = vec![
            LeafProof {
                leaf: Hash([1; 32]),
                checkpoint_height: 450,
                leaf_index: 3,
                leaf_count: 9,
                proof: vec![Hash([2; 32]), Hash([3; 32])],
            },
            LeafProof {
                leaf: Hash([4; 32]),
                checkpoint_height: 900,
                leaf_index: 0,
                leaf_count: 1,
                proof: vec![],
            },
        ];
        let ans = encode_proofs(&proofs);
        assert_eq!(decode_proofs(&ans).unwrap(), proofs);
        for cut in 0..ans.len() {
            assert!(decode_proofs(&ans[..cut]).is_err(), "cut at {cut}");
        }
        for cut in 0..req.len() {
            assert!(decode_leaves(&req[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = ans.clone();
        long.push(0);
        assert!(decode_proofs(&long).is_err());
        // A proof longer than any tree's is refused.
        let mut bad = vec![CALL_VERSION, 0, 1];
        bad.extend_from_slice(&[0; 56]);
        bad.push(65);
        bad.extend(std::iter::repeat_n(0u8, 65 * 32));
        assert_eq!(decode_proofs(&bad), Err(ProtocolError::Invalid("proofs")));
    }

    #[test]
    fn lane_queries_and_states_round_trip_and_refuse_bad_bytes() {
        let q = LaneQuery {
            user: NodeId([7; 32]),
            epoch: 12,
        };
        assert_eq!(LaneQuery::decode(&q.encode()), Ok(q));
        for st in [
            LaneState { last: None },
            LaneState {
                last: Some((3, 900)),
            },
        ] {
            let b = st.encode();
            assert_eq!(LaneState::decode(&b), Ok(st));
            for cut in 0..b.len() {
                assert!(LaneState::decode(&b[..cut]).is_err());
            }
        }
        assert!(LaneQuery::decode(&q.encode()[..40]).is_err());
        assert_eq!(
            LaneState::decode(&[CALL_VERSION, 2]),
            Err(ProtocolError::Flag("lane state"))
        );
    }
}
