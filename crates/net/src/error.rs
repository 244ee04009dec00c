//! Errors and the application close codes of the protocol.

use crate::frame::FrameError;
use emc_types::NodeId;

/// QUIC application close codes this transport uses (`CONNECTION_CLOSE` with an application
/// error code); a refused dialer sees them as [`NetError::Refused`].
pub mod close_code {
    /// Normal shutdown ([`Network::close`](crate::Network::close)) or removal.
    pub const NORMAL: u32 = 0;
    /// Another connection to the same peer was kept (the one dialed by the smaller node id).
    pub const DUPLICATE: u32 = 1;
    /// The key is not registered for the role claimed in the hello.
    pub const ROLE_NOT_AUTHORIZED: u32 = 2;
    /// The hello's protocol version is not ours.
    pub const VERSION_MISMATCH: u32 = 3;
    /// The hello was malformed, missing or late.
    pub const BAD_HELLO: u32 = 4;
    /// A frame was malformed or over the cap, or a reserved kind was used after the hello.
    pub const PROTOCOL_VIOLATION: u32 = 5;
    /// The authorizer no longer lists the key for its role
    /// ([`Network::revalidate`](crate::Network::revalidate)).
    pub const NOT_AUTHORIZED: u32 = 6;
}

/// Stream reset code for a request that got no answer (the application dropped the
/// [`Responder`](crate::Responder), or the request was malformed).
pub const RESET_NO_RESPONSE: u32 = 1;

/// Stream reset (and stop-sending) code of an abandoned streamed call: its sender was dropped
/// before finishing, or its receiver before the end (the dApp went away, a timeout).
pub const RESET_CANCELLED: u32 = 2;

/// Errors of the transport.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The identity (key, certificate) could not be built.
    #[error("identity: {0}")]
    Identity(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// `Network::bind` was called outside a tokio runtime.
    #[error("no tokio runtime: the network must be bound inside one")]
    NoRuntime,
    /// The UDP socket could not be bound.
    #[error("bind: {0}")]
    Bind(std::io::Error),
    /// No live connection to the peer.
    #[error("not connected to {0:?}")]
    NotConnected(NodeId),
    /// The frame is invalid (over the cap: the local one or the peer's).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Applications may not use kinds at or above `frame::FIRST_RESERVED_KIND`.
    #[error("frame kind {0:#04x} is reserved by the transport")]
    ReservedKind(u8),
    /// The operation did not finish in time.
    #[error("timed out")]
    Timeout,
    /// The peer closed the connection with an application code (see [`close_code`]).
    #[error("refused by the peer (code {code}: {reason})")]
    Refused {
        /// The close code.
        code: u64,
        /// The peer's reason.
        reason: String,
    },
    /// The connection failed (TLS refusal, timeout, reset, ...).
    #[error("connection: {0}")]
    Connection(quinn::ConnectionError),
    /// The dial could not start.
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// A stream failed.
    #[error("stream: {0}")]
    Stream(String),
    /// The peer answered the request with nothing (or reset the stream).
    #[error("the peer did not answer the request")]
    NoResponse,
    /// The peer broke the hello protocol, or we refused it.
    #[error("handshake: {0}")]
    Handshake(String),
    /// A connection to the peer already exists and is preferred over this one.
    #[error("duplicate connection to {0:?}: the other one is kept")]
    Duplicate(NodeId),
    /// The network is closed.
    #[error("the network is closed")]
    Closed,
}

impl From<quinn::ConnectionError> for NetError {
    fn from(e: quinn::ConnectionError) -> NetError {
        match e {
            quinn::ConnectionError::ApplicationClosed(c) => NetError::Refused {
                code: c.error_code.into_inner(),
                reason: String::from_utf8_lossy(&c.reason).into_owned(),
            },
            e => NetError::Connection(e),
        }
    }
}
