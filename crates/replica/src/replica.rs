//! The replica's core: the embedded IC, the replica's keys, and the request statuses, with the
//! IC HTTP interface's operations as plain methods. No IO and no clock: the shell
//! ([`crate::server`]) sets the time, feeds authenticated requests in and writes the bytes out.
//!
//! Calls are certified in batches, as the IC certifies a block's worth of messages with one
//! signature: the shell submits every call that arrived ([`Replica::submit`]), runs rounds
//! until they completed ([`Replica::execute`]), and certifies them together
//! ([`Replica::batch_tree`], then [`CertifiedBatch::sign`], on another thread): one state tree
//! with `/time` and each request's `/request_status/<id>`, one BLS signature, and per request a
//! witness that prunes the others' statuses away (same root hash, so the same signature
//! verifies).

use crate::cbor::Value;
use crate::envelope::{hash_of_map, Body, CanisterCall, Request, RequestId};
use crate::keys::Keys;
use crate::management;
use candid::Principal;
use emc_embedded_ic::certificate::{certificate_cbor, forest, leb128, HashTree};
use emc_embedded_ic::{canister_id, EmbeddedIc, MessageId, Reject, RejectCode};
use std::borrow::BorrowMut;
use std::collections::{BTreeSet, HashMap};

/// Rounds one batch of calls may take before the shell answers 202 Accepted and lets the
/// client poll (an update that awaits something that never comes).
pub const MAX_ROUNDS_PER_BATCH: u32 = 1_000;

/// How long a request's status stays readable after its ingress expiry (the IC keeps it until
/// the expiry; a little more lets a slow poller see it).
pub const STATUS_GRACE_NS: u64 = 60 * 1_000_000_000;

/// The largest canister index this subnet's range covers: `/subnet/<id>/canister_ranges` is
/// `[[canister_id(0), canister_id(CANISTER_RANGE_END)]]`, every canister id (so a
/// `specified_id` from any deployment is this subnet's).
pub const CANISTER_RANGE_END: u64 = u64::MAX;

/// A reject as the HTTP interface carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectInfo {
    pub code: u32,
    pub message: String,
    pub error_code: Option<String>,
}

impl RejectInfo {
    fn from_reject(r: &Reject) -> Self {
        RejectInfo {
            code: r.code as u32,
            message: r.message.clone(),
            error_code: error_code(r).map(str::to_owned),
        }
    }

    fn management(r: management::ManagementReject) -> Self {
        RejectInfo {
            code: r.reject.code as u32,
            message: r.reject.message,
            error_code: Some(r.error_code.to_owned()),
        }
    }
}

/// The IC error code for a reject of the embedded IC, from its kind and message (the embedded
/// IC's rejects carry the IC's messages but no error codes). `None` when unsure.
pub fn error_code(r: &Reject) -> Option<&'static str> {
    let m = r.message.as_str();
    Some(match r.code {
        RejectCode::DestinationInvalid if m.contains("not found") => "IC0301",
        RejectCode::DestinationInvalid if m.contains("no wasm module") => "IC0304",
        RejectCode::CanisterError if m.contains("is stopped") => "IC0508",
        RejectCode::CanisterError if m.contains("has no update method") => "IC0536",
        RejectCode::CanisterError if m.contains("has no query method") => "IC0536",
        RejectCode::CanisterError if m.contains("did not produce a response") => "IC0506",
        RejectCode::CanisterError if m.starts_with("Error from Canister") => "IC0503",
        RejectCode::CanisterReject if m.contains("inspect_message") => "IC0516",
        RejectCode::CanisterReject => "IC0406",
        _ => return None,
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    Processing,
    Replied(Vec<u8>),
    Rejected(RejectInfo),
}

#[derive(Clone, Debug)]
struct Entry {
    sender: Principal,
    status: Status,
}

/// What became of a submitted call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// Queued (or, for the management canister, done): certify it with the batch.
    Accepted,
    /// The same request id was seen before: answer with its current status.
    Duplicate,
    /// Refused before execution (unknown or stopped canister, no such method, refused by
    /// `canister_inspect_message`): nothing changed.
    Rejected(RejectInfo),
}

/// Why a read_state request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadStateError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
}

/// Where a read_state request was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStateTarget {
    Canister(Principal),
    Subnet(Principal),
}

/// One certification: a signed state tree covering a batch of request statuses.
pub struct CertifiedBatch {
    tree: HashTree,
    signature: Vec<u8>,
}

impl CertifiedBatch {
    /// Signs `tree` (one BLS signature for the whole batch).
    pub fn sign(tree: HashTree, keys: &Keys) -> Self {
        let signature = keys.sign_root_hash(&tree.root_hash());
        CertifiedBatch { tree, signature }
    }

    /// The certificate for one request of the batch: its status and the time, nothing else.
    pub fn certificate_for(&self, id: &RequestId) -> Vec<u8> {
        let witness = self.tree.witness(&[
            vec![b"request_status".to_vec(), id.to_vec()],
            vec![b"time".to_vec()],
        ]);
        certificate_cbor(&witness, &self.signature)
    }
}

/// The replica's state: the embedded IC, its keys, and recent request statuses.
///
/// `I` is how the IC is held: owned (`Replica`, the standalone replica), or borrowed
/// (`Replica<&mut EmbeddedIc>`, a [`ReplicaRef`]) when another thread owns the IC (the devnet's
/// embedded host) and the replica's bookkeeping ([`ReplicaParts`]) is attached to it for one
/// batch at a time.
pub struct Replica<I = EmbeddedIc> {
    ic: I,
    parts: ReplicaParts,
}

/// A replica over a borrowed IC.
pub type ReplicaRef<'a> = Replica<&'a mut EmbeddedIc>;

/// Everything a replica keeps besides the IC: its keys and recent request statuses.
pub struct ReplicaParts {
    keys: Keys,
    requests: HashMap<RequestId, Entry>,
    /// (expiry, id) of every entry, to forget them in order.
    expiries: BTreeSet<(u64, RequestId)>,
    in_flight: HashMap<RequestId, MessageId>,
}

impl ReplicaParts {
    /// No requests yet, signing with `keys`.
    pub fn new(keys: Keys) -> Self {
        ReplicaParts {
            keys,
            requests: HashMap::new(),
            expiries: BTreeSet::new(),
            in_flight: HashMap::new(),
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Attaches these parts to `ic` (which must already sign its data certificates with
    /// these keys: [`Keys::certificate_signer`]).
    pub fn attach<I: BorrowMut<EmbeddedIc>>(self, ic: I) -> Replica<I> {
        Replica { ic, parts: self }
    }
}

impl Replica {
    /// A replica over `ic`, signing with `keys` (its data certificates too).
    pub fn new(mut ic: EmbeddedIc, keys: Keys) -> Self {
        ic.set_certificate_signer(keys.certificate_signer());
        ReplicaParts::new(keys).attach(ic)
    }
}

impl<I: BorrowMut<EmbeddedIc>> Replica<I> {
    pub fn ic(&self) -> &EmbeddedIc {
        self.ic.borrow()
    }

    pub fn ic_mut(&mut self) -> &mut EmbeddedIc {
        self.ic.borrow_mut()
    }

    /// Detaches the IC from the bookkeeping.
    pub fn into_parts(self) -> (I, ReplicaParts) {
        (self.ic, self.parts)
    }

    pub fn keys(&self) -> &Keys {
        &self.parts.keys
    }

    /// The IC's time (nanoseconds since the epoch).
    pub fn time(&self) -> u64 {
        self.ic.borrow().time()
    }

    /// Moves the clock to `now` (never backwards) and forgets request statuses that expired.
    pub fn set_time(&mut self, now: u64) {
        self.ic.borrow_mut().set_time(now);
        let now = self.ic.borrow().time();
        while let Some(&(expiry, id)) = self.parts.expiries.first() {
            if expiry.saturating_add(STATUS_GRACE_NS) >= now
                || self.parts.in_flight.contains_key(&id)
            {
                break;
            }
            self.parts.expiries.pop_first();
            self.parts.requests.remove(&id);
        }
    }

    /// The body of `GET /api/v2/status`.
    pub fn status_cbor(&self) -> Vec<u8> {
        status_cbor(&self.parts.keys)
    }

    // --- calls ---------------------------------------------------------------------------------

    /// Submits an authenticated call sent to `effective` (the URL's canister id).
    pub fn submit(&mut self, req: &Request, effective: Principal) -> Submitted {
        let Body::Call(call) = &req.body else {
            return Submitted::Rejected(RejectInfo {
                code: RejectCode::SysFatal as u32,
                message: "not a call".into(),
                error_code: None,
            });
        };
        if let Err(r) = check_effective(call, effective) {
            return Submitted::Rejected(r);
        }
        if self.parts.requests.contains_key(&req.request_id) {
            return Submitted::Duplicate;
        }
        let status = if call.canister_id == Principal::management_canister() {
            let result = management::call(
                self.ic.borrow_mut(),
                req.sender,
                &call.method_name,
                &call.arg,
                &req.request_id,
            );
            match result {
                Ok(reply) => Status::Replied(reply),
                Err(r) => Status::Rejected(RejectInfo::management(r)),
            }
        } else {
            match self.ic.borrow_mut().submit_update(
                call.canister_id,
                req.sender,
                &call.method_name,
                call.arg.clone(),
            ) {
                Ok(message) => {
                    self.parts.in_flight.insert(req.request_id, message);
                    Status::Processing
                }
                Err(r) => return Submitted::Rejected(RejectInfo::from_reject(&r)),
            }
        };
        self.parts.requests.insert(
            req.request_id,
            Entry {
                sender: req.sender,
                status,
            },
        );
        self.parts
            .expiries
            .insert((req.ingress_expiry, req.request_id));
        Submitted::Accepted
    }

    /// Runs rounds until every submitted call completed (at most `max_rounds`), and records
    /// the results of those that did.
    pub fn execute(&mut self, max_rounds: u32) {
        for _ in 0..max_rounds {
            self.collect_results();
            if self.parts.in_flight.is_empty() {
                return;
            }
            self.ic.borrow_mut().tick();
        }
        self.collect_results();
    }

    /// Runs a round if timers are due or messages are queued (the wall clock's heartbeat).
    pub fn tick_if_due(&mut self) {
        if self.ic.borrow().has_pending_work() {
            self.ic.borrow_mut().tick();
            self.collect_results();
        }
    }

    fn collect_results(&mut self) {
        let ic: &EmbeddedIc = self.ic.borrow();
        let done: Vec<(RequestId, Status)> = self
            .parts
            .in_flight
            .iter()
            .filter_map(|(id, m)| {
                ic.ingress_status(*m).map(|r| {
                    let status = match r {
                        Ok(reply) => Status::Replied(reply),
                        Err(reject) => Status::Rejected(RejectInfo::from_reject(&reject)),
                    };
                    (*id, status)
                })
            })
            .collect();
        for (id, status) in done {
            self.parts.in_flight.remove(&id);
            if let Some(e) = self.parts.requests.get_mut(&id) {
                e.status = status;
            }
        }
    }

    /// Whether a request has a final status (replied or rejected).
    pub fn is_done(&self, id: &RequestId) -> bool {
        self.parts
            .requests
            .get(id)
            .is_some_and(|e| e.status != Status::Processing)
    }

    /// The state tree of one certification: `/time` and the statuses of `ids`. Signing it
    /// ([`CertifiedBatch::sign`]) is the expensive part and may run on another thread.
    pub fn batch_tree(&self, ids: &[RequestId]) -> HashTree {
        let statuses = ids
            .iter()
            .filter_map(|id| {
                let e = self.parts.requests.get(id)?;
                Some((id.to_vec(), status_tree(&e.status)))
            })
            .collect();
        forest(vec![
            (b"request_status".to_vec(), forest(statuses)),
            (
                b"time".to_vec(),
                HashTree::Leaf(leb128(self.ic.borrow().time())),
            ),
        ])
    }

    // --- queries -------------------------------------------------------------------------------

    /// Runs a query and returns the response body (CBOR), signed by the node key.
    pub fn query(&mut self, req: &Request, effective: Principal) -> Result<Vec<u8>, String> {
        let Body::Query(call) = &req.body else {
            return Err("not a query".into());
        };
        if call.canister_id != effective {
            return Err(format!(
                "Specified CanisterId {} does not match effective canister id in URL {}",
                call.canister_id, effective
            ));
        }
        let result = if call.canister_id == Principal::management_canister() {
            Err(Reject::new(
                RejectCode::CanisterReject,
                "Query calls to the management canister are not supported by this replica",
            ))
        } else {
            self.ic.borrow_mut().query_call(
                call.canister_id,
                req.sender,
                &call.method_name,
                call.arg.clone(),
            )
        };
        let timestamp = self.ic.borrow().time();
        // The response's fields; the node signs them with the timestamp and the request id.
        let fields: Vec<(&str, Value)> = match result {
            Ok(reply) => vec![
                ("status", Value::text("replied")),
                ("reply", Value::map([("arg", Value::bytes(reply))])),
            ],
            Err(r) => {
                let info = RejectInfo::from_reject(&r);
                let mut fields = vec![
                    ("status", Value::text("rejected")),
                    ("reject_code", Value::Uint(u64::from(info.code))),
                    ("reject_message", Value::text(info.message)),
                ];
                if let Some(code) = info.error_code {
                    fields.push(("error_code", Value::text(code)));
                }
                fields
            }
        };
        let mut signable = fields.clone();
        signable.push(("timestamp", Value::Uint(timestamp)));
        signable.push(("request_id", Value::bytes(req.request_id)));
        let hash = hash_of_map(&Value::map(signable)).map_err(|e| e.to_string())?;
        let msg = [&b"\x0Bic-response"[..], &hash[..]].concat();
        let signature = Value::map([
            ("timestamp", Value::Uint(timestamp)),
            (
                "signature",
                Value::bytes(self.parts.keys.sign_as_node(&msg)),
            ),
            (
                "identity",
                Value::bytes(self.parts.keys.node_id().as_slice()),
            ),
        ]);
        let mut body = fields;
        body.push(("signatures", Value::Array(vec![signature])));
        Ok(Value::map(body).encode_self_described())
    }

    // --- read_state ------------------------------------------------------------------------------

    /// Answers a read_state request: a certificate of the requested paths (plus `/time`).
    pub fn read_state(
        &self,
        req: &Request,
        target: ReadStateTarget,
    ) -> Result<Vec<u8>, ReadStateError> {
        let Body::ReadState { paths } = &req.body else {
            return Err(ReadStateError::BadRequest(
                "not a read_state request".into(),
            ));
        };
        let subnet = self.parts.keys.subnet_id();
        if let ReadStateTarget::Subnet(id) = target {
            if id != subnet {
                return Err(ReadStateError::BadRequest(format!(
                    "Subnet {id} is not this replica's subnet {subnet}"
                )));
            }
        }
        let mut top: Vec<(Vec<u8>, HashTree)> = vec![(
            b"time".to_vec(),
            HashTree::Leaf(leb128(self.ic.borrow().time())),
        )];
        let mut statuses = Vec::new();
        let mut canisters = Vec::new();
        let (mut want_subnet, mut want_ranges) = (false, false);
        for path in paths {
            let Some(first) = path.first() else {
                continue;
            };
            match first.as_slice() {
                b"time" => {}
                b"request_status" => {
                    let Some(id) = path.get(1) else {
                        return Err(ReadStateError::BadRequest(
                            "the whole request_status subtree cannot be read".into(),
                        ));
                    };
                    let Ok(id) = RequestId::try_from(id.as_slice()) else {
                        continue;
                    };
                    if let Some(e) = self.parts.requests.get(&id) {
                        if e.sender != req.sender {
                            return Err(ReadStateError::Forbidden(format!(
                                "Request IDs must be for requests signed by the caller: request {} was sent by {}",
                                hex(&id),
                                e.sender
                            )));
                        }
                        statuses.push((id.to_vec(), status_tree(&e.status)));
                    }
                }
                b"canister" => {
                    let Some(id) = path.get(1) else {
                        return Err(ReadStateError::BadRequest(
                            "the whole canister subtree cannot be read".into(),
                        ));
                    };
                    let id = Principal::try_from_slice(id).map_err(|_| {
                        ReadStateError::BadRequest("a canister id in a path is invalid".into())
                    })?;
                    if let ReadStateTarget::Canister(effective) = target {
                        if id != effective {
                            return Err(ReadStateError::BadRequest(format!(
                                "Effective canister id {effective} does not match the canister {id} in path"
                            )));
                        }
                    }
                    if let Some(tree) = self.canister_tree(id, req.sender, path.get(2), path.get(3))
                    {
                        canisters.push((id.as_slice().to_vec(), tree));
                    }
                }
                b"subnet" => want_subnet = true,
                b"canister_ranges" => want_ranges = true,
                _ => {}
            }
        }
        if !statuses.is_empty() {
            top.push((b"request_status".to_vec(), forest(statuses)));
        }
        if !canisters.is_empty() {
            top.push((b"canister".to_vec(), forest(canisters)));
        }
        let ranges = ranges_cbor();
        if want_subnet {
            let node = forest(vec![(
                self.parts.keys.node_id().as_slice().to_vec(),
                forest(vec![(
                    b"public_key".to_vec(),
                    HashTree::Leaf(self.parts.keys.node_key_der().to_vec()),
                )]),
            )]);
            let this = forest(vec![
                (b"canister_ranges".to_vec(), HashTree::Leaf(ranges.clone())),
                (b"node".to_vec(), node),
                (
                    b"public_key".to_vec(),
                    HashTree::Leaf(self.parts.keys.root_key_der().to_vec()),
                ),
            ]);
            top.push((
                b"subnet".to_vec(),
                forest(vec![(subnet.as_slice().to_vec(), this)]),
            ));
        }
        if want_ranges {
            let shard = canister_id(0).as_slice().to_vec();
            top.push((
                b"canister_ranges".to_vec(),
                forest(vec![(
                    subnet.as_slice().to_vec(),
                    forest(vec![(shard, HashTree::Leaf(ranges))]),
                )]),
            ));
        }
        let tree = forest(top);
        let mut wanted = paths.clone();
        wanted.push(vec![b"time".to_vec()]);
        let witness = tree.witness(&wanted);
        let certificate =
            certificate_cbor(&witness, &self.parts.keys.sign_root_hash(&tree.root_hash()));
        Ok(Value::map([("certificate", Value::bytes(certificate))]).encode_self_described())
    }

    /// `/canister/<id>/…` as `sender` may read it: module hash and controllers (installed
    /// canisters), and the metadata section asked for (public, or private for controllers).
    fn canister_tree(
        &self,
        id: Principal,
        sender: Principal,
        what: Option<&Vec<u8>>,
        name: Option<&Vec<u8>>,
    ) -> Option<HashTree> {
        let controllers = self.ic.borrow().controllers(id)?;
        let mut entries = vec![(
            b"controllers".to_vec(),
            HashTree::Leaf(
                Value::Tag(
                    55799,
                    Box::new(Value::Array(
                        controllers
                            .iter()
                            .map(|c| Value::bytes(c.as_slice()))
                            .collect(),
                    )),
                )
                .encode(),
            ),
        )];
        if let Some(hash) = self.ic.borrow().module_hash(id) {
            entries.push((b"module_hash".to_vec(), HashTree::Leaf(hash.to_vec())));
        }
        if what.map(Vec::as_slice) == Some(b"metadata") {
            if let Some(name) = name.and_then(|n| std::str::from_utf8(n).ok()) {
                if let Some(content) = self.ic.borrow().canister_metadata_as(id, name, sender) {
                    entries.push((
                        b"metadata".to_vec(),
                        forest(vec![(name.as_bytes().to_vec(), HashTree::Leaf(content))]),
                    ));
                }
            }
        }
        Some(forest(entries))
    }

    /// The status of a request for the HTTP layer (tests and tools).
    pub fn request_status(&self, id: &RequestId) -> Option<Result<Vec<u8>, RejectInfo>> {
        match &self.parts.requests.get(id)?.status {
            Status::Processing => None,
            Status::Replied(r) => Some(Ok(r.clone())),
            Status::Rejected(r) => Some(Err(r.clone())),
        }
    }
}

/// The body of `GET /api/v2/status` of a replica signing with `keys`.
pub fn status_cbor(keys: &Keys) -> Vec<u8> {
    Value::map([
        ("impl_version", Value::text(env!("CARGO_PKG_VERSION"))),
        ("impl_source", Value::text("emc-replica")),
        ("replica_health_status", Value::text("healthy")),
        ("root_key", Value::bytes(keys.root_key_der())),
    ])
    .encode_self_described()
}

/// A call's canister must be the URL's, except for the management canister, whose effective
/// canister id is the one its argument names (any for creating canisters).
fn check_effective(call: &CanisterCall, effective: Principal) -> Result<(), RejectInfo> {
    let ok = if call.canister_id == Principal::management_canister() {
        management::target_canister(&call.method_name, &call.arg)
            .is_none_or(|target| target == effective)
    } else {
        call.canister_id == effective
    };
    if ok {
        Ok(())
    } else {
        Err(RejectInfo {
            code: RejectCode::SysFatal as u32,
            message: format!(
                "Specified CanisterId {} does not match effective canister id in URL {effective}",
                call.canister_id
            ),
            error_code: None,
        })
    }
}

fn status_tree(status: &Status) -> HashTree {
    let leaf = |b: &[u8]| HashTree::Leaf(b.to_vec());
    match status {
        Status::Processing => forest(vec![(b"status".to_vec(), leaf(b"processing"))]),
        Status::Replied(reply) => forest(vec![
            (b"status".to_vec(), leaf(b"replied")),
            (b"reply".to_vec(), leaf(reply)),
        ]),
        Status::Rejected(r) => {
            let mut entries = vec![
                (b"status".to_vec(), leaf(b"rejected")),
                (
                    b"reject_code".to_vec(),
                    HashTree::Leaf(leb128(u64::from(r.code))),
                ),
                (b"reject_message".to_vec(), leaf(r.message.as_bytes())),
            ];
            if let Some(code) = &r.error_code {
                entries.push((b"error_code".to_vec(), leaf(code.as_bytes())));
            }
            forest(entries)
        }
    }
}

/// `tagged [[low, high]]`: the one range of canister ids this replica hosts.
fn ranges_cbor() -> Vec<u8> {
    Value::Tag(
        55799,
        Box::new(Value::Array(vec![Value::Array(vec![
            Value::bytes(canister_id(0).as_slice()),
            Value::bytes(canister_id(CANISTER_RANGE_END).as_slice()),
        ])])),
    )
    .encode()
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::BLS_DER_PREFIX;
    use emc_embedded_ic::certificate::{decode_certificate_tree, STATE_ROOT_DOMAIN};
    use emc_embedded_ic::user_principal;

    fn call(id: u8, sender: Principal, canister: Principal, method: &str) -> Request {
        Request {
            request_id: [id; 32],
            sender,
            ingress_expiry: u64::MAX,
            body: Body::Call(CanisterCall {
                canister_id: canister,
                method_name: method.into(),
                arg: candid::encode_args(()).unwrap(),
            }),
        }
    }

    /// A certificate's signature: its last 48 bytes (`certificate_cbor` writes the tree, then
    /// "signature" and the 48-byte BLS signature).
    fn signature_of(cert: &[u8]) -> &[u8] {
        &cert[cert.len() - 48..]
    }

    #[test]
    fn a_batch_is_signed_once_and_each_caller_sees_only_its_own_status() {
        let mut ic = EmbeddedIc::new();
        let canister = ic
            .install_canister(
                &emc_test_env::canister_wasm("test-canister"),
                candid::encode_one(None::<()>).unwrap(),
                vec![Principal::anonymous()],
            )
            .unwrap();
        let keys = Keys::from_seed(&[1; 32]);
        let mut replica = Replica::new(ic, keys.clone());
        let (a, b) = (user_principal(1), user_principal(2));
        let first = call(1, a, canister, "inc");
        let second = call(2, b, canister, "inc");
        assert_eq!(replica.submit(&first, canister), Submitted::Accepted);
        assert_eq!(replica.submit(&second, canister), Submitted::Accepted);
        // The same request id again is not executed again.
        assert_eq!(replica.submit(&first, canister), Submitted::Duplicate);
        replica.execute(MAX_ROUNDS_PER_BATCH);
        assert!(replica.is_done(&first.request_id) && replica.is_done(&second.request_id));
        let tree = replica.batch_tree(&[first.request_id, second.request_id]);
        let batch = CertifiedBatch::sign(tree.clone(), &keys);

        let cert = batch.certificate_for(&first.request_id);
        let seen = decode_certificate_tree(&cert).unwrap();
        assert_eq!(seen.root_hash(), tree.root_hash());
        let msg = [STATE_ROOT_DOMAIN, &tree.root_hash()[..]].concat();
        let key = &keys.root_key_der()[BLS_DER_PREFIX.len()..];
        assert!(
            ic_verify_bls_signature::verify_bls_signature(signature_of(&cert), &msg, key).is_ok()
        );
        let reply = |t: &HashTree, id: &RequestId| {
            t.lookup(&[b"request_status", id, b"reply"])
                .map(<[u8]>::to_vec)
        };
        assert_eq!(
            reply(&seen, &first.request_id),
            Some(candid::encode_one(1u64).unwrap())
        );
        assert_eq!(reply(&seen, &second.request_id), None, "pruned away");
        assert_eq!(
            reply(&tree, &second.request_id),
            Some(candid::encode_one(2u64).unwrap())
        );
        // Both certificates carry the one signature.
        let other = batch.certificate_for(&second.request_id);
        assert_eq!(signature_of(&cert), signature_of(&other));

        // read_state: the sender reads its status, another sender is refused.
        let read = |sender, id: RequestId| Request {
            request_id: [9; 32],
            sender,
            ingress_expiry: u64::MAX,
            body: Body::ReadState {
                paths: vec![vec![b"request_status".to_vec(), id.to_vec()]],
            },
        };
        let target = ReadStateTarget::Canister(canister);
        assert!(replica
            .read_state(&read(a, first.request_id), target)
            .is_ok());
        assert!(matches!(
            replica.read_state(&read(b, first.request_id), target),
            Err(ReadStateError::Forbidden(_))
        ));
        // A read_state at the canister endpoint cannot name another canister.
        let foreign = Request {
            body: Body::ReadState {
                paths: vec![vec![
                    b"canister".to_vec(),
                    canister_id(7).as_slice().to_vec(),
                    b"module_hash".to_vec(),
                ]],
            },
            ..read(a, first.request_id)
        };
        assert!(matches!(
            replica.read_state(&foreign, target),
            Err(ReadStateError::BadRequest(_))
        ));
    }

    #[test]
    fn statuses_are_forgotten_after_their_expiry() {
        let mut ic = EmbeddedIc::new();
        let canister = ic
            .install_canister(
                &emc_test_env::canister_wasm("test-canister"),
                candid::encode_one(None::<()>).unwrap(),
                vec![Principal::anonymous()],
            )
            .unwrap();
        let now = ic.time();
        let mut replica = Replica::new(ic, Keys::from_seed(&[2; 32]));
        let mut req = call(1, user_principal(1), canister, "inc");
        req.ingress_expiry = now + 1_000;
        assert_eq!(replica.submit(&req, canister), Submitted::Accepted);
        replica.execute(MAX_ROUNDS_PER_BATCH);
        replica.set_time(now + 1_000 + STATUS_GRACE_NS);
        assert!(replica.request_status(&req.request_id).is_some());
        replica.set_time(now + 2_000 + STATUS_GRACE_NS);
        assert!(replica.request_status(&req.request_id).is_none());
    }
}
