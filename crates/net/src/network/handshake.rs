//! Connection setup: the TLS handshake (the verifiers check the key against the authorizer
//! and, when dialing, against the id dialed), then the dialer's hello and the acceptor's ack,
//! each checked against the authorizer for the role claimed. Refusals close with a
//! [`close_code`].

use super::{code, stream_error, wait_shutdown, Inner, Live};
use crate::auth::Role;
use crate::error::{close_code, NetError};
use crate::frame::{
    encode_header, read_frame, ByteBudget, ReadError, ABSOLUTE_MAX_FRAME_BYTES, HEADER_LEN,
    KIND_HELLO, KIND_HELLO_ACK,
};
use crate::hello::{Hello, HelloError};
use crate::identity::node_id_of_certificate;
use crate::metrics::inc;
use crate::tls::{self, ALPN, SERVER_NAME};
use bytes::Bytes;
use emc_types::NodeId;
use quinn::crypto::rustls::{HandshakeData, QuicClientConfig};
use quinn::{Connection, RecvStream};
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::time::Instant;
use tracing::debug;
use tracing::Instrument as _;

/// Largest hello payload read (a version-1 hello is 7 bytes).
const HELLO_MAX: usize = 64;
/// Incoming handshakes processed at once; more are refused until some finish.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// The authenticated peer of a connection (the verifiers already checked its key), after
/// checking that `emc/1` was negotiated.
pub(super) fn peer_of(conn: &Connection) -> Result<NodeId, NetError> {
    let protocol = conn
        .handshake_data()
        .and_then(|d| d.downcast::<HandshakeData>().ok())
        .and_then(|d| d.protocol);
    if protocol.as_deref() != Some(ALPN) {
        return Err(NetError::Handshake(
            "the peer did not negotiate emc/1".into(),
        ));
    }
    let certs = conn
        .peer_identity()
        .and_then(|i| i.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or_else(|| NetError::Handshake("no peer certificate".into()))?;
    let cert = certs
        .first()
        .ok_or_else(|| NetError::Handshake("no peer certificate".into()))?;
    node_id_of_certificate(cert).map_err(|e| NetError::Handshake(e.to_string()))
}

impl Inner {
    /// Validates a hello from `peer`: version, shape, and that the authorizer lists the key
    /// for the claimed role. On refusal, the close code to use.
    pub(super) fn check_hello(
        &self,
        peer: &NodeId,
        payload: &[u8],
    ) -> Result<Hello, (u32, NetError)> {
        match Hello::decode(payload) {
            Err(HelloError::Version(v)) => {
                inc(&self.metrics.refused_version);
                Err((
                    close_code::VERSION_MISMATCH,
                    NetError::Handshake(HelloError::Version(v).to_string()),
                ))
            }
            Err(e) => {
                inc(&self.metrics.refused_bad_hello);
                Err((close_code::BAD_HELLO, NetError::Handshake(e.to_string())))
            }
            Ok(h) if !self.authorizer.roles_of(peer).contains(h.role) => {
                inc(&self.metrics.refused_role);
                Err((
                    close_code::ROLE_NOT_AUTHORIZED,
                    NetError::Handshake(format!("{peer:?} is not registered as {}", h.role)),
                ))
            }
            Ok(h) => Ok(h),
        }
    }

    /// Reads the hello (or ack) of `expected_kind` from `recv` and checks it.
    pub(super) async fn read_hello(
        &self,
        conn: &Connection,
        peer: &NodeId,
        recv: &mut RecvStream,
        expected_kind: u8,
    ) -> Result<Hello, (u32, NetError)> {
        match read_frame(recv, HELLO_MAX).await {
            Ok(Some(f)) if f.kind == expected_kind => self.check_hello(peer, &f.payload),
            Ok(_) | Err(ReadError::Frame(_)) => {
                inc(&self.metrics.refused_bad_hello);
                Err((
                    close_code::BAD_HELLO,
                    NetError::Handshake("expected a hello frame".into()),
                ))
            }
            Err(ReadError::Io(e)) => Err((close_code::BAD_HELLO, stream_error(conn, e))),
        }
    }

    pub(super) fn hello_frame(&self, kind: u8) -> Bytes {
        let hello = Hello::new(self.role, self.config.max_frame_bytes).encode();
        let mut out = Vec::with_capacity(HEADER_LEN + hello.len());
        // A 7-byte payload is always under the absolute cap.
        if let Ok(h) = encode_header(kind, hello.len(), ABSOLUTE_MAX_FRAME_BYTES) {
            out.extend_from_slice(&h);
        }
        out.extend_from_slice(&hello);
        out.into()
    }

    /// Dials `peer` once: TLS (the verifier pins the key), hello, ack, install.
    pub(super) async fn dial(
        self: &Arc<Self>,
        peer: NodeId,
        addr: SocketAddr,
    ) -> Result<Role, NetError> {
        let hs = self.config.handshake_timeout;
        let tls = tls::client_config(
            &self.identity,
            self.authorizer.clone(),
            Some(peer),
            self.metrics.clone(),
        )?;
        let quic = QuicClientConfig::try_from(tls)
            .map_err(|e| NetError::Config(format!("QUIC TLS: {e}")))?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic));
        client.transport_config(self.transport.clone());
        let connecting = self.endpoint.connect_with(client, addr, SERVER_NAME)?;
        let conn = match tokio::time::timeout(hs, connecting).await {
            Err(_) => {
                inc(&self.metrics.handshake_timeouts);
                return Err(NetError::Timeout);
            }
            Ok(r) => r?,
        };
        match peer_of(&conn) {
            Ok(got) if got == peer => {}
            Ok(_) => {
                conn.close(code(close_code::BAD_HELLO), b"unexpected key");
                return Err(NetError::Handshake(
                    "the peer's key is not the one dialed".into(),
                ));
            }
            Err(e) => {
                conn.close(code(close_code::BAD_HELLO), b"bad handshake");
                return Err(e);
            }
        }
        let exchange = async {
            let (mut send, mut recv) = conn
                .open_bi()
                .await
                .map_err(|e| (close_code::BAD_HELLO, NetError::from(e)))?;
            send.write_chunk(self.hello_frame(KIND_HELLO))
                .await
                .map_err(|e| (close_code::BAD_HELLO, stream_error(&conn, e)))?;
            let _ = send.finish();
            self.read_hello(&conn, &peer, &mut recv, KIND_HELLO_ACK)
                .await
        };
        let hello = match tokio::time::timeout(hs, exchange).await {
            Err(_) => {
                inc(&self.metrics.handshake_timeouts);
                conn.close(code(close_code::BAD_HELLO), b"no hello ack in time");
                return Err(NetError::Timeout);
            }
            Ok(Err((c, e))) => {
                conn.close(code(c), e.to_string().as_bytes());
                return Err(e);
            }
            Ok(Ok(h)) => h,
        };
        let live = Live {
            addr: conn.remote_address(),
            conn,
            role: hello.role,
            outbound: true,
            peer_max_frame: hello.max_frame as usize,
            since: Instant::now(),
            budget: ByteBudget::new(self.config.max_connection_buffer_bytes),
        };
        self.install(peer, live).await?;
        Ok(hello.role)
    }

    /// Accepts one incoming connection: TLS (the verifier checks the key), hello, install,
    /// ack.
    pub(super) async fn accept(
        self: &Arc<Self>,
        incoming: quinn::Incoming,
    ) -> Result<(), NetError> {
        let hs = self.config.handshake_timeout;
        let connecting = incoming.accept()?;
        let conn = match tokio::time::timeout(hs, connecting).await {
            Err(_) => {
                inc(&self.metrics.handshake_timeouts);
                return Err(NetError::Timeout);
            }
            Ok(r) => r?,
        };
        let peer = match peer_of(&conn) {
            Ok(p) => p,
            Err(e) => {
                conn.close(code(close_code::BAD_HELLO), b"bad handshake");
                return Err(e);
            }
        };
        let exchange = async {
            let (send, mut recv) = conn
                .accept_bi()
                .await
                .map_err(|e| (close_code::BAD_HELLO, NetError::from(e)))?;
            let hello = self.read_hello(&conn, &peer, &mut recv, KIND_HELLO).await?;
            Ok::<_, (u32, NetError)>((hello, send))
        };
        let (hello, mut send) = match tokio::time::timeout(hs, exchange).await {
            Err(_) => {
                inc(&self.metrics.handshake_timeouts);
                inc(&self.metrics.refused_bad_hello);
                conn.close(code(close_code::BAD_HELLO), b"no hello in time");
                return Err(NetError::Timeout);
            }
            Ok(Err((c, e))) => {
                debug!(?peer, "refusing hello: {e}");
                conn.close(code(c), e.to_string().as_bytes());
                return Err(e);
            }
            Ok(Ok(x)) => x,
        };
        let live = Live {
            addr: conn.remote_address(),
            conn: conn.clone(),
            role: hello.role,
            outbound: false,
            peer_max_frame: hello.max_frame as usize,
            since: Instant::now(),
            budget: ByteBudget::new(self.config.max_connection_buffer_bytes),
        };
        self.install(peer, live).await?;
        if let Err(e) = send.write_chunk(self.hello_frame(KIND_HELLO_ACK)).await {
            debug!(?peer, "sending the hello ack failed: {e}");
        }
        let _ = send.finish();
        Ok(())
    }
}

pub(super) async fn accept_loop(inner: Arc<Inner>) {
    let mut shutdown = inner.shutdown.subscribe();
    let pending = Arc::new(AtomicUsize::new(0));
    loop {
        let incoming = tokio::select! {
            i = inner.endpoint.accept() => i,
            _ = wait_shutdown(&mut shutdown) => None,
        };
        let Some(incoming) = incoming else { break };
        let remote = incoming.remote_address();
        if pending.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING_HANDSHAKES {
            pending.fetch_sub(1, Ordering::AcqRel);
            debug!(%remote, "too many handshakes in progress: refusing");
            incoming.refuse();
            continue;
        }
        let task_inner = inner.clone();
        let task_pending = pending.clone();
        let mut task_shutdown = inner.shutdown.subscribe();
        inner.runtime.spawn(
            async move {
                tokio::select! {
                    r = task_inner.accept(incoming) => {
                        if let Err(e) = r {
                            debug!(%remote, "incoming connection refused: {e}");
                        }
                    }
                    _ = wait_shutdown(&mut task_shutdown) => {}
                }
                task_pending.fetch_sub(1, Ordering::AcqRel);
            }
            .in_current_span(),
        );
    }
}
