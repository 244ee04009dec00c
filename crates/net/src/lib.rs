//! The EMC edge network's transport: QUIC (quinn) with mutual TLS 1.3 (rustls, ring
//! provider) between nodes identified by their ed25519 keys.
//!
//! * **Identity.** A node is its ed25519 key ([`NodeId`] = the raw public key). [`Identity`]
//!   wraps the key in a self-signed X.509 certificate over the same key. Both sides present
//!   one (mutual TLS, TLS 1.3 only, ALPN [`ALPN`] = `emc/1`, no session resumption).
//! * **Admission.** A handshake completes only if the peer's certificate holds an ed25519 key
//!   that the [`Authorizer`] lists (any role), the TLS 1.3 handshake signature verifies with
//!   that key, and, when dialing, the key is the [`NodeId`] dialed. Then the dialer sends a
//!   hello (protocol version, claimed [`Role`], frame cap); the acceptor admits it only if the
//!   authorizer lists the key for that role, and answers with its own hello, which the dialer
//!   checks the same way. Refusals close the connection with a [`close_code`].
//! * **Frames** ([`frame`]): `u32 BE length | u8 version | u8 kind | payload`, payload capped
//!   (default 8 MiB; each side announces its cap in the hello and senders respect the
//!   smaller one); decoders are total and check the cap before allocating.
//! * **Peers** ([`Network`]): at most one live connection per peer (with two, both sides keep
//!   the one dialed by the smaller node id); listed peers are dialed and redialed with
//!   exponential backoff and jitter; authorized peers that dial us are accepted too. Frames go
//!   on one long-lived unidirectional stream per direction (ordered, at most once);
//!   requests each take a bidirectional stream. QUIC keep-alives detect dead peers.
//! * **Streamed calls** ([`Network::open_call`], [`Event::Call`]): one bidirectional stream
//!   per call, frames both ways until each side finishes; dropping a half cancels it (stream
//!   reset / stop-sending with [`RESET_CANCELLED`]).
//!
//! Invariants: nothing a peer sends can panic the node or make it allocate past the frame
//! cap; no event precedes a peer's `PeerUp` or follows its `PeerDown`; frames from one peer
//! are delivered in the order sent; an unauthorized key never reaches the application.
//! Crypto is ring only (no aws-lc).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod auth;
mod config;
mod error;
pub mod frame;
mod hello;
mod identity;
mod metrics;
mod network;
mod tls;

pub use auth::{Authorizer, Role, Roles, StaticAuthorizer};
pub use config::NetConfig;
pub use emc_types::NodeId;
pub use error::{close_code, NetError, RESET_CANCELLED, RESET_NO_RESPONSE};
pub use frame::{FrameError, DEFAULT_MAX_FRAME_BYTES};
pub use hello::PROTOCOL_VERSION;
pub use identity::{node_id_of_certificate, CertError, Identity};
pub use metrics::MetricsSnapshot;
pub use network::{Call, CallReceiver, CallSender, Event, Network, PeerInfo, Responder, KIND_CALL};
pub use tls::ALPN;
