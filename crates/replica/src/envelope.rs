//! Request envelopes of the IC's HTTP interface, verified as the IC verifies them. Pure: no IO,
//! no clock (the time comes in as an argument).
//!
//! An envelope is a CBOR map `{content, sender_pubkey?, sender_sig?, sender_delegation?}`.
//! [`authenticate`] decodes it (see [`crate::cbor`]: total and bounded), computes the request id
//! (the representation-independent hash of `content`, over the fields as they were sent, so a
//! field this code does not know is still covered), and checks, in the IC's order:
//! the ingress expiry window, that `sender` is the anonymous principal (then no key, no
//! signature, no delegation) or the self-authenticating principal of `sender_pubkey`, every
//! delegation in the chain (signature, expiry, targets), and the sender signature over
//! `"\x0Aic-request" ‖ request_id`. Keys: Ed25519, ECDSA secp256k1 and P-256 (DER
//! SubjectPublicKeyInfo, `r ‖ s` signatures over SHA-256). Canister signatures (Internet
//! Identity) and WebAuthn keys are refused with a clear error: verifying them needs a
//! certificate tree this replica does not keep.

use crate::cbor::{self, CborError, Value};
use candid::Principal;
use sha2::{Digest, Sha256};

/// A request id: the representation-independent hash of the request's content.
pub type RequestId = [u8; 32];

/// How far past now an ingress expiry may lie: the IC's `MAX_INGRESS_TTL` (5 min) plus its
/// `PERMITTED_DRIFT_AT_VALIDATOR` (30 s).
pub const MAX_INGRESS_AHEAD_NS: u64 = (5 * 60 + 30) * 1_000_000_000;

/// Longest delegation chain the IC accepts.
pub const MAX_DELEGATIONS: usize = 20;

/// Most delegation targets the IC accepts in one request.
pub const MAX_DELEGATION_TARGETS: usize = 1_000;

/// Most paths (and labels per path) a read_state request may name.
pub const MAX_READ_STATE_PATHS: usize = 1_000;

const ED25519_DER_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// OID 1.2.840.10045.2.1 (id-ecPublicKey), DER-encoded.
const EC_PUBLIC_KEY_OID: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// OID 1.3.6.1.4.1.56387.1.2 (IC canister signature), DER-encoded.
const CANISTER_SIG_OID: [u8; 12] = [
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x02,
];
/// OID 1.3.6.1.4.1.56387.1.1 (COSE key, WebAuthn), DER-encoded.
const COSE_OID: [u8; 12] = [
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x01,
];

const REQUEST_DOMAIN: &[u8] = b"\x0Aic-request";
const DELEGATION_DOMAIN: &[u8] = b"\x1Aic-request-auth-delegation";

/// Why a request is refused before it reaches a canister. The HTTP layer answers all of these
/// with 400 Bad Request and the message as text, as the IC does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("Could not parse body as read request: {0}")]
    Cbor(#[from] CborError),
    #[error("Malformed request: {0}")]
    Malformed(String),
    #[error("Invalid request expiry: Specified ingress_expiry not within expected range: Minimum allowed expiry: {min}, Maximum allowed expiry: {max}, Provided expiry: {provided}")]
    Expiry { min: u64, max: u64, provided: u64 },
    #[error("Invalid signature: {0}")]
    Signature(String),
    #[error("Invalid delegation: {0}")]
    Delegation(String),
    #[error("Sender {sender} does not match the principal {derived} of the sender public key")]
    SenderMismatch { sender: String, derived: String },
}

/// The kind of request, from the envelope's `content.request_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestType {
    Call,
    Query,
    ReadState,
}

/// A call or query: which method of which canister, with what argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanisterCall {
    pub canister_id: Principal,
    pub method_name: String,
    pub arg: Vec<u8>,
}

/// What the request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Call(CanisterCall),
    Query(CanisterCall),
    ReadState { paths: Vec<Vec<Vec<u8>>> },
}

/// An authenticated request: its id, who sent it, and what it asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub request_id: RequestId,
    pub sender: Principal,
    pub ingress_expiry: u64,
    pub body: Body,
}

impl Request {
    pub fn request_type(&self) -> RequestType {
        match self.body {
            Body::Call(_) => RequestType::Call,
            Body::Query(_) => RequestType::Query,
            Body::ReadState { .. } => RequestType::ReadState,
        }
    }
}

/// Decodes and verifies a request envelope at time `now_ns` (nanoseconds since the epoch).
pub fn authenticate(bytes: &[u8], now_ns: u64) -> Result<Request, EnvelopeError> {
    let envelope = cbor::decode(bytes)?;
    let malformed = |m: &str| EnvelopeError::Malformed(m.to_owned());
    if !matches!(envelope.untagged(), Value::Map(_)) {
        return Err(malformed("the envelope is not a CBOR map"));
    }
    let content = envelope
        .get("content")
        .ok_or_else(|| malformed("the envelope has no content"))?;
    let request_id = hash_of_map(content)?;

    let sender = principal(field(content, "sender")?, "sender")?;
    let ingress_expiry = uint(field(content, "ingress_expiry")?, "ingress_expiry")?;
    let body = match text(field(content, "request_type")?, "request_type")? {
        "call" => Body::Call(canister_call(content)?),
        "query" => Body::Query(canister_call(content)?),
        "read_state" => Body::ReadState {
            paths: read_state_paths(field(content, "paths")?)?,
        },
        other => {
            return Err(EnvelopeError::Malformed(format!(
                "unknown request_type {other:?}"
            )))
        }
    };

    let max = now_ns.saturating_add(MAX_INGRESS_AHEAD_NS);
    if ingress_expiry < now_ns || ingress_expiry > max {
        return Err(EnvelopeError::Expiry {
            min: now_ns,
            max,
            provided: ingress_expiry,
        });
    }

    let pubkey = optional_bytes(&envelope, "sender_pubkey")?;
    let sig = optional_bytes(&envelope, "sender_sig")?;
    let delegations = match envelope.get("sender_delegation").map(Value::untagged) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(_) => return Err(malformed("sender_delegation is not an array")),
    };

    if sender == Principal::anonymous() {
        if pubkey.is_some() || sig.is_some() || !delegations.is_empty() {
            return Err(EnvelopeError::Signature(
                "an anonymous request carries no key, signature or delegation".into(),
            ));
        }
    } else {
        let pubkey =
            pubkey.ok_or_else(|| EnvelopeError::Signature("missing sender_pubkey".into()))?;
        let sig = sig.ok_or_else(|| EnvelopeError::Signature("missing sender_sig".into()))?;
        let derived = Principal::self_authenticating(pubkey);
        if derived != sender {
            return Err(EnvelopeError::SenderMismatch {
                sender: sender.to_text(),
                derived: derived.to_text(),
            });
        }
        let signing_key = verify_delegations(pubkey, &delegations, now_ns, &body)?;
        let mut msg = REQUEST_DOMAIN.to_vec();
        msg.extend_from_slice(&request_id);
        verify_signature(signing_key, &msg, sig).map_err(EnvelopeError::Signature)?;
    }
    Ok(Request {
        request_id,
        sender,
        ingress_expiry,
        body,
    })
}

/// Checks the delegation chain from `pubkey`; returns the key that must sign the request.
fn verify_delegations<'a>(
    pubkey: &'a [u8],
    chain: &[&'a Value],
    now_ns: u64,
    body: &Body,
) -> Result<&'a [u8], EnvelopeError> {
    let bad = |m: String| EnvelopeError::Delegation(m);
    if chain.len() > MAX_DELEGATIONS {
        return Err(bad(format!(
            "a chain of {} delegations is longer than {MAX_DELEGATIONS}",
            chain.len()
        )));
    }
    let mut key = pubkey;
    let mut targets_total = 0usize;
    for (i, signed) in chain.iter().enumerate() {
        let delegation = signed
            .get("delegation")
            .ok_or_else(|| bad(format!("delegation {i} has no `delegation` field")))?;
        let signature = bytes(field(signed, "signature")?, "signature")?;
        let next = bytes(field(delegation, "pubkey")?, "pubkey")?;
        let expiration = uint(field(delegation, "expiration")?, "expiration")?;
        let mut msg = DELEGATION_DOMAIN.to_vec();
        msg.extend_from_slice(&hash_of_map(delegation)?);
        verify_signature(key, &msg, signature).map_err(|e| bad(format!("delegation {i}: {e}")))?;
        if expiration < now_ns {
            return Err(bad(format!(
                "delegation {i} expired at {expiration} (now {now_ns})"
            )));
        }
        if let Some(targets) = delegation.get("targets") {
            let Value::Array(targets) = targets.untagged() else {
                return Err(bad(format!("delegation {i}: targets is not an array")));
            };
            targets_total += targets.len();
            if targets_total > MAX_DELEGATION_TARGETS {
                return Err(bad(format!(
                    "more than {MAX_DELEGATION_TARGETS} delegation targets"
                )));
            }
            let targets = targets
                .iter()
                .map(|t| principal(t, "target"))
                .collect::<Result<Vec<_>, _>>()?;
            if let Body::Call(c) | Body::Query(c) = body {
                if !targets.contains(&c.canister_id) {
                    return Err(bad(format!(
                        "canister {} is not a target of delegation {i}",
                        c.canister_id
                    )));
                }
            }
        }
        key = next;
    }
    Ok(key)
}

/// Verifies `sig` over `msg` with a DER-encoded public key of a supported scheme.
pub fn verify_signature(der: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), String> {
    if let Some(raw) = der.strip_prefix(&ED25519_DER_PREFIX[..]) {
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| "an Ed25519 key has 32 bytes".to_owned())?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map_err(|_| "the Ed25519 public key is not a curve point".to_owned())?;
        let sig = ed25519_dalek::Signature::from_slice(sig)
            .map_err(|_| "an Ed25519 signature has 64 bytes".to_owned())?;
        return key
            .verify_strict(msg, &sig)
            .map_err(|_| "the Ed25519 signature does not verify".to_owned());
    }
    if contains(der, &EC_PUBLIC_KEY_OID) {
        use k256::pkcs8::DecodePublicKey;
        use p256::ecdsa::signature::Verifier;
        if let Ok(key) = k256::ecdsa::VerifyingKey::from_public_key_der(der) {
            let sig = k256::ecdsa::Signature::from_slice(sig)
                .map_err(|_| "a secp256k1 signature is r ‖ s, 64 bytes".to_owned())?;
            return key
                .verify(msg, &sig)
                .map_err(|_| "the secp256k1 signature does not verify".to_owned());
        }
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            let sig = p256::ecdsa::Signature::from_slice(sig)
                .map_err(|_| "a P-256 signature is r ‖ s, 64 bytes".to_owned())?;
            return key
                .verify(msg, &sig)
                .map_err(|_| "the P-256 signature does not verify".to_owned());
        }
        return Err("an ECDSA key on a curve other than secp256k1 and P-256".into());
    }
    if contains(der, &CANISTER_SIG_OID) {
        return Err(
            "canister signatures (Internet Identity) are not supported by this replica".into(),
        );
    }
    if contains(der, &COSE_OID) {
        return Err("WebAuthn (COSE) keys are not supported by this replica".into());
    }
    Err("unsupported public key: expected Ed25519 or ECDSA secp256k1/P-256 in DER".into())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// --- representation-independent hashing --------------------------------------------------------

/// The representation-independent hash of a value (interface specification, "Hash of map"):
/// blobs and text are hashed as their bytes, naturals as unsigned LEB128, arrays as the hash
/// of their elements' hashes concatenated, maps as the hash of their sorted `H(key) ‖ H(value)`
/// pairs. Tags are transparent; other values have no such hash.
pub fn hash_value(value: &Value) -> Result<[u8; 32], EnvelopeError> {
    Ok(match value.untagged() {
        Value::Uint(n) => Sha256::digest(leb128(*n)).into(),
        Value::Bytes(b) => Sha256::digest(b).into(),
        Value::Text(t) => Sha256::digest(t.as_bytes()).into(),
        Value::Array(items) => {
            let mut h = Sha256::new();
            for item in items {
                h.update(hash_value(item)?);
            }
            h.finalize().into()
        }
        Value::Map(_) => hash_of_map(value)?,
        other => {
            return Err(EnvelopeError::Malformed(format!(
                "a value of this kind cannot be hashed: {other}"
            )))
        }
    })
}

/// The hash of a map with text keys (a request's content, a delegation, a query response).
pub fn hash_of_map(value: &Value) -> Result<[u8; 32], EnvelopeError> {
    let Value::Map(entries) = value.untagged() else {
        return Err(EnvelopeError::Malformed("expected a map".into()));
    };
    let mut pairs = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let Value::Text(k) = k.untagged() else {
            return Err(EnvelopeError::Malformed("a map key is not text".into()));
        };
        let mut pair = [0u8; 64];
        pair[..32].copy_from_slice(&Sha256::digest(k.as_bytes()));
        pair[32..].copy_from_slice(&hash_value(v)?);
        pairs.push(pair);
    }
    pairs.sort_unstable();
    let mut h = Sha256::new();
    for pair in &pairs {
        h.update(pair);
    }
    Ok(h.finalize().into())
}

/// Unsigned LEB128.
pub fn leb128(mut value: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

// --- field access ------------------------------------------------------------------------------

fn field<'a>(map: &'a Value, name: &str) -> Result<&'a Value, EnvelopeError> {
    map.get(name)
        .ok_or_else(|| EnvelopeError::Malformed(format!("missing field `{name}`")))
}

fn bytes<'a>(v: &'a Value, name: &str) -> Result<&'a [u8], EnvelopeError> {
    match v.untagged() {
        Value::Bytes(b) => Ok(b),
        _ => Err(EnvelopeError::Malformed(format!(
            "field `{name}` is not a byte string"
        ))),
    }
}

fn optional_bytes<'a>(map: &'a Value, name: &str) -> Result<Option<&'a [u8]>, EnvelopeError> {
    match map.get(name).map(Value::untagged) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => bytes(v, name).map(Some),
    }
}

fn text<'a>(v: &'a Value, name: &str) -> Result<&'a str, EnvelopeError> {
    match v.untagged() {
        Value::Text(t) => Ok(t),
        _ => Err(EnvelopeError::Malformed(format!(
            "field `{name}` is not text"
        ))),
    }
}

fn uint(v: &Value, name: &str) -> Result<u64, EnvelopeError> {
    match v.untagged() {
        Value::Uint(n) => Ok(*n),
        _ => Err(EnvelopeError::Malformed(format!(
            "field `{name}` is not a natural number"
        ))),
    }
}

fn principal(v: &Value, name: &str) -> Result<Principal, EnvelopeError> {
    Principal::try_from_slice(bytes(v, name)?)
        .map_err(|e| EnvelopeError::Malformed(format!("field `{name}` is not a principal: {e}")))
}

fn canister_call(content: &Value) -> Result<CanisterCall, EnvelopeError> {
    Ok(CanisterCall {
        canister_id: principal(field(content, "canister_id")?, "canister_id")?,
        method_name: text(field(content, "method_name")?, "method_name")?.to_owned(),
        arg: bytes(field(content, "arg")?, "arg")?.to_vec(),
    })
}

fn read_state_paths(v: &Value) -> Result<Vec<Vec<Vec<u8>>>, EnvelopeError> {
    let too_many = || {
        EnvelopeError::Malformed(format!(
            "more than {MAX_READ_STATE_PATHS} paths or labels in a read_state request"
        ))
    };
    let Value::Array(paths) = v.untagged() else {
        return Err(EnvelopeError::Malformed("paths is not an array".into()));
    };
    if paths.len() > MAX_READ_STATE_PATHS {
        return Err(too_many());
    }
    paths
        .iter()
        .map(|path| {
            let Value::Array(labels) = path.untagged() else {
                return Err(EnvelopeError::Malformed("a path is not an array".into()));
            };
            if labels.len() > MAX_READ_STATE_PATHS {
                return Err(too_many());
            }
            labels
                .iter()
                .map(|l| bytes(l, "path label").map(<[u8]>::to_vec))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_matches_the_interface_spec_example() {
        // Interface specification, "Request ids": the example call and its id.
        let content = Value::map([
            ("request_type", Value::text("call")),
            ("sender", Value::bytes([0x04])),
            ("ingress_expiry", Value::Uint(1_685_570_400_000_000_000)),
            ("canister_id", Value::bytes([0, 0, 0, 0, 0, 0, 0x04, 0xd2])),
            ("method_name", Value::text("hello")),
            ("arg", Value::bytes(b"DIDL\x00\xfd*".to_vec())),
        ]);
        assert_eq!(
            hex(&hash_of_map(&content).unwrap()),
            "1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101"
        );
    }

    #[test]
    fn leb128_known_values() {
        assert_eq!(leb128(624_485), vec![0xe5, 0x8e, 0x26]);
        assert_eq!(leb128(0), vec![0]);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
