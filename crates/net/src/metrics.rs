//! Transport counters.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Live counters, shared by the network's tasks and the TLS verifiers.
        #[derive(Debug, Default)]
        pub(crate) struct Metrics {
            $( pub(crate) $name: AtomicU64, )*
        }

        /// A snapshot of the transport's counters (all monotonic since [`bind`](crate::Network::bind)).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct MetricsSnapshot {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl Metrics {
            pub(crate) fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot { $( $name: self.$name.load(Ordering::Relaxed), )* }
            }
        }
    };
}

counters! {
    /// Frames written to peers.
    frames_out,
    /// Frames read from peers and delivered as events.
    frames_in,
    /// Bytes of frames written (headers included).
    bytes_out,
    /// Bytes of frames read and delivered (headers included).
    bytes_in,
    /// Requests sent.
    requests_out,
    /// Requests received and delivered as events.
    requests_in,
    /// Requests that got no answer in time.
    request_timeouts,
    /// Queued frames dropped because a peer's send queue was full (the oldest is dropped).
    dropped_queue_full,
    /// Frames and requests dropped by [`set_blocked`](crate::Network::set_blocked), both ways.
    dropped_blocked,
    /// Queued frames dropped because their connection went down before they were written.
    dropped_disconnected,
    /// Incoming frames refused as malformed or over the cap (the connection is closed).
    frames_refused_in,
    /// Incoming frames and requests refused because their connection's streams together
    /// would hold more than `max_connection_buffer_bytes` (request stream reset, or frame
    /// stream's connection closed).
    frames_over_budget,
    /// Handshakes refused: the peer's key is not known to the authorizer.
    refused_unknown_key,
    /// Handshakes refused: the server's key is not the one the dialer expected.
    refused_wrong_node_id,
    /// Handshakes refused: the peer's certificate is not a single ed25519 certificate.
    refused_bad_certificate,
    /// Hellos refused: the key is not registered for the claimed role.
    refused_role,
    /// Hellos refused: another protocol version.
    refused_version,
    /// Hellos refused: malformed, missing or late.
    refused_bad_hello,
    /// Handshakes (TLS or hello) that did not finish within the handshake timeout.
    handshake_timeouts,
    /// Connections established (after the hello), both directions.
    connects,
    /// Connections established to a peer that had been connected before.
    reconnects,
    /// Dial attempts that failed.
    dial_failures,
    /// Connections closed because another connection to the same peer was kept.
    duplicates_closed,
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}
