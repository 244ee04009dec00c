//! The compute service's rules, pure (issue #14): how a dApp's call is authorized, limited,
//! paid for and metered, and how a compute node numbers its receipts. The router's and the
//! compute node's shells feed these with bytes and `now_ns` and carry out the answers.
//!
//! - **Authorization.** A call names an account (the user's ed25519 key), a nonce and a
//!   signature over [`request_hash`]: `SHA-256("emc-call-v1" || account || nonce_be64 ||
//!   len_be16 || method || len_be16 || path || SHA-256(body))`, where `path` is the router URL
//!   path with its query. The router checks it ([`verify_request`]) and so does the compute
//!   node, so a router cannot make up work for a user.
//! - **Streamed bodies.** A body may stream through the router instead of being read whole:
//!   the client then declares its SHA-256 and length up front ([`BODY_HASH_HEADER`],
//!   `content-length`), the signature covers the declared hash, and the router and the node
//!   each check the bytes against it as they pass ([`BodyCheck`]). The call is authorized and
//!   admitted before its first byte moves; a body that turns out different is refused at its
//!   end (the node never lets its app answer it).
//! - **Replay.** [`NonceWindow`]: per account, the highest nonce seen and a 128-bit window
//!   below it (IPsec's anti-replay window, RFC 4303 section 3.4.3): a nonce is accepted once,
//!   and only if it is above the window's floor. Clients use a counter (or a timestamp in µs).
//! - **Rate limits.** [`RateLimiter`]: a token bucket per account (`rate` calls per second,
//!   `burst` at once).
//! - **Funds.** [`Funds`] is where a router checks and charges a user: the market's escrow
//!   ([`crate::settle::EscrowBook`]) when the router has a market, else [`Allowances`], a
//!   per-account credit from the router's configuration. A call is
//!   admitted only while the account has credit left, and charged once, after it was served
//!   in full (its trailer arrived): failed attempts, refused and abandoned calls are never
//!   charged. A call admitted with little credit may overdraw by its own amount: the charge is
//!   capped at what is left and the shortfall is reported.
//! - **Metering.** [`Meter`] counts a response's units by the app's declared unit: tokens
//!   from the app's OpenAI `usage.total_tokens` (in the last bytes of the body), else counted
//!   (one per SSE `data:` event, or a quarter of the body's bytes); image steps from the
//!   request's `"steps"` (default 1); seconds, rounded up, at least one.
//! - **Receipts.** [`Lanes`]: the compute node's per-(user, epoch) lane counters, so each
//!   served call gets the next nonce and the new cumulative amount (`emc_types::receipt`).

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use emc_types::{sha256, ComputeReceipt, Hash, MeterUnit, NodeId, Signature};
use std::collections::BTreeMap;

/// Domain tag of a call's request hash.
pub const REQUEST_DOMAIN: &[u8] = b"emc-call-v1";

/// The request hash a user signs (module docs).
pub fn request_hash(
    account: &NodeId,
    nonce: u64,
    method: &str,
    path: &str,
    body_hash: &Hash,
) -> Hash {
    let m = method.as_bytes();
    let p = path.as_bytes();
    let ml = (m.len().min(usize::from(u16::MAX)) as u16).to_be_bytes();
    let pl = (p.len().min(usize::from(u16::MAX)) as u16).to_be_bytes();
    sha256(&[
        REQUEST_DOMAIN,
        &account.0,
        &nonce.to_be_bytes(),
        &ml,
        m,
        &pl,
        p,
        &body_hash.0,
    ])
}

/// Signs a request as `key`'s account (the client's side).
pub fn sign_request(
    key: &SigningKey,
    nonce: u64,
    method: &str,
    path: &str,
    body: &[u8],
) -> Signature {
    sign_request_hashed(key, nonce, method, path, &sha256(&[body]))
}

/// [`sign_request`] for a body known by its SHA-256 (a body the client streams: it sends
/// the same hash as [`BODY_HASH_HEADER`]).
pub fn sign_request_hashed(
    key: &SigningKey,
    nonce: u64,
    method: &str,
    path: &str,
    body_hash: &Hash,
) -> Signature {
    let account = NodeId(key.verifying_key().to_bytes());
    let h = request_hash(&account, nonce, method, path, body_hash);
    sign(key, &h.0)
}

/// The request header declaring the body's SHA-256 (64 hex digits) before the body: the
/// router may then stream the body to the node instead of reading it whole first.
pub const BODY_HASH_HEADER: &str = "x-emc-body-sha256";

/// Why a body is not the one its call announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// More bytes than announced.
    #[error("the body is longer than the announced {announced} bytes")]
    TooLong {
        /// The announced length.
        announced: u64,
    },
    /// The body ended early.
    #[error("the body ended after {got} of its announced {announced} bytes")]
    Short {
        /// The announced length.
        announced: u64,
        /// Bytes that came.
        got: u64,
    },
    /// The right length, other bytes.
    #[error("the body does not match its announced SHA-256")]
    HashMismatch,
}

/// A request body checked as it streams past: at most its announced length, and at its end
/// exactly that length with the announced SHA-256. Feed the chunks in order, then
/// [`BodyCheck::finish`]. Pure.
#[derive(Clone, Debug)]
pub struct BodyCheck {
    len: u64,
    hash: Hash,
    seen: u64,
    hasher: sha2::Sha256,
}

impl BodyCheck {
    /// A check of a body announced as `len` bytes hashing to `hash`.
    pub fn new(len: u64, hash: Hash) -> BodyCheck {
        use sha2::Digest;
        BodyCheck {
            len,
            hash,
            seen: 0,
            hasher: sha2::Sha256::new(),
        }
    }

    /// The next chunk; an error once the body passes its length (the chunk is not counted).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        use sha2::Digest;
        let seen = self.seen.saturating_add(chunk.len() as u64);
        if seen > self.len {
            return Err(BodyError::TooLong {
                announced: self.len,
            });
        }
        self.seen = seen;
        self.hasher.update(chunk);
        Ok(())
    }

    /// Bytes fed so far.
    pub fn received(&self) -> u64 {
        self.seen
    }

    /// The body ended: is it the announced one?
    pub fn finish(self) -> Result<(), BodyError> {
        use sha2::Digest;
        if self.seen != self.len {
            return Err(BodyError::Short {
                announced: self.len,
                got: self.seen,
            });
        }
        if Hash(self.hasher.finalize().into()) != self.hash {
            return Err(BodyError::HashMismatch);
        }
        Ok(())
    }
}

/// Whether `sig` is `account`'s signature over `hash` (`verify_strict`).
pub fn verify_request(account: &NodeId, hash: &Hash, sig: &Signature) -> bool {
    signature_valid(account, &hash.0, sig)
}

/// [`verify_request`] with `account`'s key already decoded ([`KeyCache`]): the same rule.
pub fn verify_request_with(key: &VerifyingKey, hash: &Hash, sig: &Signature) -> bool {
    strictly_valid(key, &hash.0, sig)
}

/// Accounts' decoded ed25519 keys, bounded. Decoding a key (point decompression, a field
/// square root) is about a tenth of a signature check, and a router or node checks the
/// same few accounts' calls again and again. Two generations: a key found is kept in the
/// young one; when the young one holds half the bound it becomes the old one (the previous
/// old one is dropped), so at most `bound` keys are held and those used since the last
/// turn survive it (a least-recently-used approximation with O(1) steps and no list).
/// Keys that do not decode are never kept.
#[derive(Clone, Debug)]
pub struct KeyCache {
    half: usize,
    young: std::collections::HashMap<NodeId, VerifyingKey>,
    old: std::collections::HashMap<NodeId, VerifyingKey>,
}

impl KeyCache {
    /// A cache of at most `bound` keys (at least 2).
    pub fn new(bound: usize) -> KeyCache {
        KeyCache {
            half: (bound / 2).max(1),
            young: std::collections::HashMap::new(),
            old: std::collections::HashMap::new(),
        }
    }

    /// `account`'s decoded key, `None` when the bytes are not a valid key.
    pub fn key(&mut self, account: &NodeId) -> Option<VerifyingKey> {
        if let Some(k) = self.young.get(account) {
            return Some(*k);
        }
        let k = match self.old.remove(account) {
            Some(k) => k,
            None => VerifyingKey::from_bytes(&account.0).ok()?,
        };
        if self.young.len() >= self.half {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(*account, k);
        Some(k)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `key`'s signature over `msg`: what users, nodes and pool members sign (requests, receipts'
/// body hashes, co-sign messages).
pub fn sign(key: &SigningKey, msg: &[u8]) -> Signature {
    Signature(key.sign(msg).to_bytes())
}

/// Whether `sig` is `key`'s signature over `msg`, checked alone (`verify_strict`).
pub fn signature_valid(key: &NodeId, msg: &[u8], sig: &Signature) -> bool {
    VerifyingKey::from_bytes(&key.0).is_ok_and(|k| strictly_valid(&k, msg, sig))
}

fn strictly_valid(key: &VerifyingKey, msg: &[u8], sig: &Signature) -> bool {
    key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig.0))
        .is_ok()
}

/// A receipt's signature by `key` over its body hash.
pub fn sign_receipt(key: &SigningKey, receipt: &ComputeReceipt) -> Signature {
    sign(key, &receipt.body_hash().0)
}

/// The user's countersignature: sets `user_signature` if `key` is the receipt's user and the
/// node's signature verifies; false (nothing changed) otherwise.
pub fn countersign(key: &SigningKey, receipt: &mut ComputeReceipt) -> bool {
    if key.verifying_key().to_bytes() != receipt.user.0 || !node_signature_valid(receipt) {
        return false;
    }
    receipt.user_signature = sign_receipt(key, receipt);
    true
}

/// Whether the node's signature over the receipt verifies.
pub fn node_signature_valid(receipt: &ComputeReceipt) -> bool {
    signature_valid(
        &receipt.node,
        &receipt.body_hash().0,
        &receipt.node_signature,
    )
}

/// Whether the user's signature over the receipt verifies.
pub fn user_signature_valid(receipt: &ComputeReceipt) -> bool {
    signature_valid(
        &receipt.user,
        &receipt.body_hash().0,
        &receipt.user_signature,
    )
}

/// For each receipt, whether its user's signature verifies: all verified together, under the
/// rule validators apply to receipts (`crate::receipts`: one batch equation, the bad ones
/// found by halving). What a router checks on a user's batch of countersigned receipts.
pub fn user_signatures_valid(receipts: &[&ComputeReceipt]) -> Vec<bool> {
    signatures_valid(receipts, |r| (r.user, r.user_signature))
}

/// For each receipt, whether its node's signature verifies, all verified together (the rule
/// of [`user_signatures_valid`]). What a router checks on the receipts of served calls.
pub fn node_signatures_valid(receipts: &[&ComputeReceipt]) -> Vec<bool> {
    signatures_valid(receipts, |r| (r.node, r.node_signature))
}

/// [`countersign`] of each receipt, the node signatures verified together (the rule of
/// [`user_signatures_valid`]); returns which were countersigned (the others are unchanged).
pub fn countersign_all(key: &SigningKey, receipts: &mut [ComputeReceipt]) -> Vec<bool> {
    let me = key.verifying_key().to_bytes();
    let refs: Vec<&ComputeReceipt> = receipts.iter().collect();
    let node_ok = node_signatures_valid(&refs);
    receipts
        .iter_mut()
        .zip(node_ok)
        .map(|(r, ok)| {
            let mine = ok && r.user.0 == me;
            if mine {
                r.user_signature = sign_receipt(key, r);
            }
            mine
        })
        .collect()
}

/// Whether the signature `which` picks (signer and signature) of each receipt holds over its
/// body, in one batch.
fn signatures_valid(
    receipts: &[&ComputeReceipt],
    which: impl Fn(&ComputeReceipt) -> (NodeId, Signature),
) -> Vec<bool> {
    use emc_consensus::{Ed25519Verifier, SigItem, Verifier as _};
    let items: Vec<SigItem> = receipts
        .iter()
        .map(|r| {
            let (signer, sig) = which(r);
            SigItem {
                signer,
                msg: r.body_hash().0.to_vec(),
                sig,
            }
        })
        .collect();
    Ed25519Verifier::new().verify_votes(&items)
}

/// Why a nonce is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// Seen before.
    #[error("nonce already used")]
    Replayed,
    /// Below the window: too old to tell.
    #[error("nonce too old")]
    TooOld,
}

/// Anti-replay window of one account (module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonceWindow {
    top: Option<u64>,
    /// Bit `i` set: nonce `top - i` was seen.
    seen: u128,
}

impl NonceWindow {
    /// Width of the window below the highest nonce.
    pub const WIDTH: u64 = 128;

    /// Accepts `nonce` once (and records it), or says why not.
    pub fn accept(&mut self, nonce: u64) -> Result<(), NonceError> {
        let Some(top) = self.top else {
            self.top = Some(nonce);
            self.seen = 1;
            return Ok(());
        };
        if nonce > top {
            let shift = nonce - top;
            self.seen = if shift >= Self::WIDTH {
                1
            } else {
                (self.seen << shift) | 1
            };
            self.top = Some(nonce);
            return Ok(());
        }
        let back = top - nonce;
        if back >= Self::WIDTH {
            return Err(NonceError::TooOld);
        }
        let bit = 1u128 << back;
        if self.seen & bit != 0 {
            return Err(NonceError::Replayed);
        }
        self.seen |= bit;
        Ok(())
    }
}

/// A token bucket per account.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    per_s: f64,
    burst: f64,
    buckets: BTreeMap<NodeId, (f64, u64)>,
}

impl RateLimiter {
    /// `per_s` calls per second, `burst` at once (0 `per_s`: no limit).
    pub fn new(per_s: f64, burst: u32) -> RateLimiter {
        RateLimiter {
            per_s,
            burst: f64::from(burst.max(1)),
            buckets: BTreeMap::new(),
        }
    }

    /// Takes one call for `account` at `now_ns`; `Err(wait_ms)` when over the limit.
    pub fn take(&mut self, account: &NodeId, now_ns: u64) -> Result<(), u64> {
        if self.per_s <= 0.0 {
            return Ok(());
        }
        let (tokens, at) = self.buckets.entry(*account).or_insert((self.burst, now_ns));
        let dt = now_ns.saturating_sub(*at) as f64 / 1e9;
        *tokens = (*tokens + dt * self.per_s).min(self.burst);
        *at = (*at).max(now_ns);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - *tokens) / self.per_s) * 1e3).ceil() as u64)
        }
    }
}

/// Why an account may not spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FundsError {
    /// No such account.
    #[error("unknown account")]
    Unknown,
    /// Nothing left to spend.
    #[error("the account has no funds left")]
    Exhausted,
}

/// Where a router checks and charges a user's funds: the market's escrow
/// ([`crate::settle::EscrowBook`]), or a fixed credit ([`Allowances`]).
pub trait Funds: Send {
    /// e8s the account may still spend; an error when it may not call at all.
    fn available(&self, account: &NodeId) -> Result<u64, FundsError>;
    /// Charges a served call, `e8s` for receipt `r` (the user's account is `r.user`); returns
    /// the e8s covered (less than `e8s` when it overdrew).
    fn charge(&mut self, r: &ComputeReceipt, e8s: u64) -> u64;
}

/// A fixed credit per account (the router's configuration), spent by charges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowances {
    accounts: BTreeMap<NodeId, (u64, u64)>,
}

impl Allowances {
    /// Accounts and their credit, e8s.
    pub fn new(credits: impl IntoIterator<Item = (NodeId, u64)>) -> Allowances {
        Allowances {
            accounts: credits.into_iter().map(|(a, c)| (a, (c, 0))).collect(),
        }
    }

    /// e8s charged to `account` so far.
    pub fn spent(&self, account: &NodeId) -> u64 {
        self.accounts.get(account).map_or(0, |a| a.1)
    }
}

impl Funds for Allowances {
    fn available(&self, account: &NodeId) -> Result<u64, FundsError> {
        let (credit, spent) = self.accounts.get(account).ok_or(FundsError::Unknown)?;
        match credit.saturating_sub(*spent) {
            0 => Err(FundsError::Exhausted),
            left => Ok(left),
        }
    }

    fn charge(&mut self, r: &ComputeReceipt, e8s: u64) -> u64 {
        let Some((credit, spent)) = self.accounts.get_mut(&r.user) else {
            return 0;
        };
        let covered = e8s.min(credit.saturating_sub(*spent));
        *spent += covered;
        covered
    }
}

/// Bytes of a response's end kept to find its `usage`.
const TAIL: usize = 8 * 1024;
/// Bytes of a line kept to tell an SSE `data:` line (`data: [DONE]` is 12).
const LINE_PREFIX: usize = 12;

/// Counts one response's units (module docs).
#[derive(Clone, Debug)]
pub struct Meter {
    unit: MeterUnit,
    steps: u64,
    bytes: u64,
    events: u64,
    /// The last bytes of the body (for `usage`).
    tail: Vec<u8>,
    /// The current line's first bytes (for `data:`).
    line: Vec<u8>,
    response_hash: sha2::Sha256,
}

impl Meter {
    /// A meter for `unit`, given the request body (for image steps).
    pub fn new(unit: MeterUnit, request_body: &[u8]) -> Meter {
        use sha2::Digest;
        let steps = if unit == MeterUnit::ImageSteps {
            json_number_after(request_body, b"\"steps\"").unwrap_or(1)
        } else {
            0
        };
        Meter {
            unit,
            steps,
            bytes: 0,
            events: 0,
            tail: Vec::new(),
            line: Vec::with_capacity(LINE_PREFIX),
            response_hash: sha2::Sha256::new(),
        }
    }

    /// One chunk of the response body, in order.
    pub fn feed(&mut self, chunk: &[u8]) {
        use sha2::Digest;
        self.response_hash.update(chunk);
        self.bytes += chunk.len() as u64;
        // SSE events: lines starting with `data:` (not `data: [DONE]`).
        for b in chunk {
            if *b == b'\n' {
                self.end_line();
            } else if self.line.len() < LINE_PREFIX {
                self.line.push(*b);
            }
        }
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > 2 * TAIL {
            let cut = self.tail.len() - TAIL;
            self.tail.drain(..cut);
        }
    }

    fn end_line(&mut self) {
        if self.line.starts_with(b"data:") && !self.line.starts_with(b"data: [DONE]") {
            self.events += 1;
        }
        self.line.clear();
    }

    /// The units of the whole response, `elapsed_ns` after the call started, and the
    /// SHA-256 of the body (rolled over its chunks).
    pub fn finish(mut self, elapsed_ns: u64) -> (u64, Hash) {
        use sha2::Digest;
        self.end_line();
        let units = match self.unit {
            MeterUnit::Tokens => {
                json_number_after(&self.tail, b"\"total_tokens\"").unwrap_or(if self.events > 0 {
                    self.events
                } else {
                    self.bytes.div_ceil(4)
                })
            }
            MeterUnit::ImageSteps => self.steps,
            MeterUnit::Seconds => elapsed_ns.div_ceil(1_000_000_000).max(1),
        };
        (units, Hash(self.response_hash.finalize().into()))
    }
}

/// The number after the last `key` in `bytes` (`"key": 123`), if any.
fn json_number_after(bytes: &[u8], key: &[u8]) -> Option<u64> {
    let at = bytes.windows(key.len()).rposition(|w| w == key)? + key.len();
    let rest = bytes.get(at..)?;
    let rest = rest
        .iter()
        .position(|b| !matches!(b, b' ' | b':' | b'\t'))
        .and_then(|i| rest.get(i..))?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The compute node's receipt lanes: per (user, epoch), the last nonce and the cumulative
/// amount. Lanes of epochs older than the previous one are dropped.
#[derive(Clone, Debug, Default)]
pub struct Lanes {
    lanes: BTreeMap<(u64, NodeId), (u64, u64)>,
}

/// Nonces a resumed lane skips ([`Lanes::resume`]).
pub const RESUME_NONCE_GAP: u64 = 1 << 16;

impl Lanes {
    /// The next receipt of `user`'s lane in `epoch` for `amount_e8s`: `(nonce, cumulative)`.
    /// The cumulative amount saturates at `u64::MAX`.
    pub fn next(&mut self, user: NodeId, epoch: u64, amount_e8s: u64) -> (u64, u64) {
        let floor = epoch.saturating_sub(1);
        while let Some((&(e, u), _)) = self.lanes.first_key_value() {
            if e >= floor {
                break;
            }
            self.lanes.remove(&(e, u));
        }
        let lane = self.lanes.entry((epoch, user)).or_insert((0, 0));
        lane.0 = lane.0.saturating_add(1);
        lane.1 = lane.1.saturating_add(amount_e8s);
        *lane
    }

    /// Whether this process has a lane of `user` in `epoch` (a restarted node has none: it
    /// asks a validator first, [`Lanes::resume`]).
    pub fn has(&self, user: &NodeId, epoch: u64) -> bool {
        self.lanes.contains_key(&(epoch, *user))
    }

    /// Starts `user`'s lane in `epoch` where the agreed state has it (`agreed`: the latest
    /// receipt's nonce and cumulative amount a validator knows, committed or pending), so a
    /// restarted node's receipts still move the lane forward. The nonce skips
    /// [`RESUME_NONCE_GAP`] numbers past it, above receipts signed before the restart that no
    /// validator has seen yet. A lane this process already has is left as it is.
    pub fn resume(&mut self, user: NodeId, epoch: u64, agreed: Option<(u64, u64)>) {
        let (nonce, cumulative) = agreed.unwrap_or((0, 0));
        self.lanes
            .entry((epoch, user))
            .or_insert((nonce.saturating_add(RESUME_NONCE_GAP), cumulative));
    }

    /// Lanes held.
    pub fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Whether no lane is held.
    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn id(k: &SigningKey) -> NodeId {
        NodeId(k.verifying_key().to_bytes())
    }

    #[test]
    fn requests_verify_only_as_signed() {
        let k = key(1);
        let body = br#"{"model":"m"}"#;
        let sig = sign_request(&k, 5, "POST", "/v1/completions", body);
        let h = |n, m: &str, p: &str, b: &[u8]| request_hash(&id(&k), n, m, p, &sha256(&[b]));
        assert!(verify_request(
            &id(&k),
            &h(5, "POST", "/v1/completions", body),
            &sig
        ));
        // Any field changed, or another key, fails.
        assert!(!verify_request(
            &id(&k),
            &h(6, "POST", "/v1/completions", body),
            &sig
        ));
        assert!(!verify_request(
            &id(&k),
            &h(5, "GET", "/v1/completions", body),
            &sig
        ));
        assert!(!verify_request(
            &id(&k),
            &h(5, "POST", "/v1/chat/completions", body),
            &sig
        ));
        assert!(!verify_request(
            &id(&k),
            &h(5, "POST", "/v1/completions", b"{}"),
            &sig
        ));
        assert!(!verify_request(
            &id(&key(2)),
            &h(5, "POST", "/v1/completions", body),
            &sig
        ));
        // Method/path boundaries are length-prefixed: "POS" + "T/x" differs from "POST" + "/x".
        assert_ne!(h(1, "POS", "T/x", b""), h(1, "POST", "/x", b""));
        // Not a curve point: refused, no panic.
        assert!(!verify_request(
            &NodeId([0xFF; 32]),
            &h(5, "POST", "/", body),
            &sig
        ));
    }

    /// The cache gives the verdicts of `verify_request`, keeps at most its bound, keeps the
    /// keys in use across a turn of generations, and never keeps a key that does not decode.
    #[test]
    fn cached_keys_verify_alike_and_stay_bounded() {
        let mut cache = KeyCache::new(8);
        let h = |k: &SigningKey, n: u64| request_hash(&id(k), n, "POST", "/x", &sha256(&[b"b"]));
        for round in 0..3u64 {
            for seed in 1..=20u8 {
                let k = key(seed);
                let sig = sign_request(&k, round, "POST", "/x", b"b");
                let vk = cache.key(&id(&k)).unwrap();
                assert!(verify_request_with(&vk, &h(&k, round), &sig));
                assert!(!verify_request_with(&vk, &h(&k, round + 1), &sig));
                let other = cache.key(&id(&key(seed.wrapping_add(100)))).unwrap();
                assert!(!verify_request_with(&other, &h(&k, round), &sig));
                // A key used over and over survives every turn.
                let hot = cache.key(&id(&key(200))).unwrap();
                assert_eq!(hot.to_bytes(), id(&key(200)).0);
                assert!(cache.len() <= 8, "{} keys held", cache.len());
            }
        }
        assert!(cache.young.contains_key(&id(&key(200))));
        let before = cache.len();
        let not_a_key = (0..=255u8)
            .map(|b| NodeId([b; 32]))
            .find(|n| VerifyingKey::from_bytes(&n.0).is_err())
            .unwrap();
        assert!(cache.key(&not_a_key).is_none());
        assert_eq!(cache.len(), before);
    }

    #[test]
    fn the_nonce_window_accepts_each_nonce_once() {
        let mut w = NonceWindow::default();
        assert_eq!(w.accept(10), Ok(()));
        assert_eq!(w.accept(10), Err(NonceError::Replayed));
        assert_eq!(w.accept(8), Ok(()));
        assert_eq!(w.accept(8), Err(NonceError::Replayed));
        assert_eq!(w.accept(12), Ok(()));
        assert_eq!(w.accept(10), Err(NonceError::Replayed));
        assert_eq!(w.accept(11), Ok(()));
        assert_eq!(w.accept(9), Ok(()));
        // Far ahead: the old window is gone, old nonces are too old.
        assert_eq!(w.accept(12 + 500), Ok(()));
        assert_eq!(w.accept(12), Err(NonceError::TooOld));
        assert_eq!(w.accept(512 - 127), Ok(()));
        assert_eq!(w.accept(512 - 128), Err(NonceError::TooOld));
        assert_eq!(w.accept(u64::MAX), Ok(()));
        assert_eq!(w.accept(u64::MAX), Err(NonceError::Replayed));
    }

    #[test]
    fn the_rate_limiter_refills() {
        let a = NodeId([1; 32]);
        let mut r = RateLimiter::new(10.0, 2);
        assert!(r.take(&a, 0).is_ok());
        assert!(r.take(&a, 0).is_ok());
        let wait = r.take(&a, 0).unwrap_err();
        assert_eq!(wait, 100);
        // Another account has its own bucket.
        assert!(r.take(&NodeId([2; 32]), 0).is_ok());
        assert!(r.take(&a, 100_000_000).is_ok());
        assert!(r.take(&a, 100_000_000).is_err());
        assert!(RateLimiter::new(0.0, 0).take(&a, 0).is_ok());
    }

    #[test]
    fn allowances_admit_while_credit_is_left_and_charge_at_most_it() {
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        let mut f = Allowances::new([(a, 100), (b, 0)]);
        assert_eq!(f.available(&a), Ok(100));
        assert_eq!(f.available(&b), Err(FundsError::Exhausted));
        assert_eq!(f.available(&NodeId([3; 32])), Err(FundsError::Unknown));
        let of = |user: NodeId| ComputeReceipt {
            user,
            ..crate::settle::tests::receipt(0, 1, 0, 1, 60)
        };
        assert_eq!(f.charge(&of(a), 60), 60);
        assert_eq!(f.charge(&of(a), 60), 40);
        assert_eq!(f.spent(&a), 100);
        assert_eq!(f.available(&a), Err(FundsError::Exhausted));
        assert_eq!(f.charge(&of(NodeId([3; 32])), 5), 0);
    }

    #[test]
    fn meters_count_by_unit() {
        use sha2::Digest;
        // Tokens from the usage object, whatever the chunking.
        let body = b"data: {\"x\":1}\n\ndata: {\"usage\":{\"prompt_tokens\":3,\"total_tokens\": 17}}\n\ndata: [DONE]\n\n";
        for split in [1usize, 5, 13, body.len()] {
            let mut m = Meter::new(MeterUnit::Tokens, b"");
            for c in body.chunks(split) {
                m.feed(c);
            }
            let (units, hash) = m.finish(0);
            assert_eq!(units, 17);
            assert_eq!(hash, Hash(sha2::Sha256::digest(body).into()));
        }
        // Without usage: SSE events counted (not [DONE]); plain bodies by bytes / 4.
        let mut m = Meter::new(MeterUnit::Tokens, b"");
        m.feed(b"data: a\n\ndata: b\n\nda");
        m.feed(b"ta: c\n\ndata: [DONE]\n\n");
        assert_eq!(m.finish(0).0, 3);
        let mut m = Meter::new(MeterUnit::Tokens, b"");
        m.feed(b"0123456789");
        assert_eq!(m.finish(0).0, 3);
        // Steps from the request; seconds rounded up, at least one.
        let m = Meter::new(MeterUnit::ImageSteps, br#"{"prompt":"x","steps": 30}"#);
        assert_eq!(m.finish(0).0, 30);
        assert_eq!(Meter::new(MeterUnit::ImageSteps, b"{}").finish(0).0, 1);
        assert_eq!(Meter::new(MeterUnit::Seconds, b"").finish(1).0, 1);
        assert_eq!(
            Meter::new(MeterUnit::Seconds, b"").finish(2_000_000_001).0,
            3
        );
        // Garbage never panics.
        assert_eq!(
            json_number_after(b"\"total_tokens\":", b"\"total_tokens\""),
            None
        );
        assert_eq!(
            json_number_after(
                b"\"total_tokens\":99999999999999999999999",
                b"\"total_tokens\""
            ),
            None
        );
    }

    #[test]
    fn lanes_number_receipts_and_forget_old_epochs() {
        let (u, v) = (NodeId([1; 32]), NodeId([2; 32]));
        let mut l = Lanes::default();
        assert_eq!(l.next(u, 5, 10), (1, 10));
        assert_eq!(l.next(u, 5, 7), (2, 17));
        assert_eq!(l.next(v, 5, 1), (1, 1));
        assert_eq!(l.next(u, 6, 3), (1, 3));
        assert_eq!(l.len(), 3);
        // Epoch 7: epoch 5's lanes go.
        assert_eq!(l.next(u, 7, u64::MAX), (1, u64::MAX));
        assert_eq!(l.next(u, 7, 1), (2, u64::MAX));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn a_resumed_lane_continues_past_the_agreed_state() {
        let u = NodeId([1; 32]);
        let mut l = Lanes::default();
        assert!(!l.has(&u, 5));
        // A validator has the lane at nonce 40, 4,000 e8s: the next receipt is above both.
        l.resume(u, 5, Some((40, 4_000)));
        assert!(l.has(&u, 5));
        assert_eq!(l.next(u, 5, 10), (40 + RESUME_NONCE_GAP + 1, 4_010));
        // A lane this process has is not moved back.
        l.resume(u, 5, Some((1, 1)));
        assert_eq!(l.next(u, 5, 1), (40 + RESUME_NONCE_GAP + 2, 4_011));
        // No agreed receipt: the lane starts at the gap.
        l.resume(u, 6, None);
        assert_eq!(l.next(u, 6, 3), (RESUME_NONCE_GAP + 1, 3));
        // Near the top, nonces saturate rather than wrap.
        l.resume(u, 7, Some((u64::MAX - 1, 0)));
        assert_eq!(l.next(u, 7, 1).0, u64::MAX);
    }

    #[test]
    fn receipts_are_countersigned_only_by_their_user_over_a_valid_node_signature() {
        let (user, node) = (key(1), key(2));
        let mut r = ComputeReceipt {
            user: id(&user),
            node: id(&node),
            router: NodeId([3; 32]),
            epoch: 1,
            nonce: 1,
            request_hash: Hash([4; 32]),
            response_hash: Hash([5; 32]),
            unit: MeterUnit::Tokens,
            units: 2,
            price_e8s: 3,
            cumulative_e8s: 6,
            node_signature: Signature([0; 64]),
            user_signature: Signature([0; 64]),
        };
        assert!(!countersign(&user, &mut r), "no node signature yet");
        r.node_signature = sign_receipt(&node, &r);
        assert!(node_signature_valid(&r));
        assert!(!countersign(&key(9), &mut r), "not the receipt's user");
        assert!(countersign(&user, &mut r));
        assert!(user_signature_valid(&r));
        r.units = 3;
        assert!(!node_signature_valid(&r) && !user_signature_valid(&r));
    }

    /// The batch forms answer as the single ones: a bad node signature, a receipt of another
    /// user and a bad user signature among good receipts are exactly the ones refused.
    #[test]
    fn batches_of_receipts_are_countersigned_and_checked_as_one_by_one() {
        let (user, node) = (key(1), key(2));
        let mut rs: Vec<ComputeReceipt> = (1..=12u64)
            .map(|n| {
                let mut r = ComputeReceipt {
                    user: id(&user),
                    node: id(&node),
                    router: NodeId([3; 32]),
                    epoch: 1,
                    nonce: n,
                    request_hash: Hash([4; 32]),
                    response_hash: Hash([5; 32]),
                    unit: MeterUnit::Tokens,
                    units: 2,
                    price_e8s: 3,
                    cumulative_e8s: 6 * n,
                    node_signature: Signature([0; 64]),
                    user_signature: Signature([0; 64]),
                };
                r.node_signature = sign_receipt(&node, &r);
                r
            })
            .collect();
        rs[2].node_signature.0[40] ^= 1;
        rs[5].user = id(&key(7));
        rs[5].node_signature = sign_receipt(&node, &rs[5]);
        let mut one_by_one = rs.clone();
        let singles: Vec<bool> = one_by_one
            .iter_mut()
            .map(|r| countersign(&user, r))
            .collect();
        let got = countersign_all(&user, &mut rs);
        assert_eq!(got, singles);
        assert_eq!(got.iter().filter(|ok| !**ok).count(), 2);
        assert!(!got[2] && !got[5]);
        assert_eq!(rs, one_by_one, "the same countersignatures");
        rs[9].user_signature = sign_receipt(&key(8), &rs[9]);
        let refs: Vec<&ComputeReceipt> = rs.iter().collect();
        let want: Vec<bool> = rs.iter().map(user_signature_valid).collect();
        assert_eq!(user_signatures_valid(&refs), want);
        assert_eq!(want.iter().filter(|ok| !**ok).count(), 3);
        let want: Vec<bool> = rs.iter().map(node_signature_valid).collect();
        assert_eq!(node_signatures_valid(&refs), want);
        assert_eq!(want, (0..12).map(|i| i != 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_streamed_body_passes_only_as_announced() {
        let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let h = sha256(&[&body]);
        // In any chunking, the announced body passes.
        let mut c = BodyCheck::new(body.len() as u64, h);
        for part in body.chunks(777) {
            c.feed(part).unwrap();
        }
        assert_eq!(c.received(), 10_000);
        c.finish().unwrap();
        // Longer: refused at the chunk that passes the length, which is not counted.
        let mut c = BodyCheck::new(9_999, h);
        c.feed(&body[..9_000]).unwrap();
        assert_eq!(
            c.feed(&body[9_000..]),
            Err(BodyError::TooLong { announced: 9_999 })
        );
        assert_eq!(c.received(), 9_000);
        // Shorter, or one byte changed.
        let mut c = BodyCheck::new(10_000, h);
        c.feed(&body[..9_999]).unwrap();
        assert_eq!(
            c.finish(),
            Err(BodyError::Short {
                announced: 10_000,
                got: 9_999
            })
        );
        let mut altered = body.clone();
        altered[5_000] ^= 1;
        let mut c = BodyCheck::new(10_000, h);
        c.feed(&altered).unwrap();
        assert_eq!(c.finish(), Err(BodyError::HashMismatch));
        // The hashed signature is the plain one.
        let k = key(3);
        assert_eq!(
            sign_request_hashed(&k, 9, "PUT", "/sd/x", &h),
            sign_request(&k, 9, "PUT", "/sd/x", &body)
        );
    }

    proptest::proptest! {
        #[test]
        fn body_checks_agree_with_the_whole_hash(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2_000),
            cuts in proptest::collection::vec(0usize..2_000, 0..8),
            flip in proptest::option::of(0usize..2_000),
        ) {
            let announced = sha256(&[&body]);
            let mut sent = body.clone();
            if let (Some(i), false) = (flip, body.is_empty()) {
                sent[i % body.len()] ^= 0x80;
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(sent.len())).collect();
            cuts.sort_unstable();
            let mut c = BodyCheck::new(body.len() as u64, announced);
            let mut at = 0;
            for cut in cuts.into_iter().chain([sent.len()]) {
                c.feed(&sent[at..cut]).unwrap();
                at = cut;
            }
            proptest::prop_assert_eq!(c.finish().is_ok(), sent == body);
        }
    }
}
