//! Transport configuration.

use crate::error::NetError;
use crate::frame::{ABSOLUTE_MAX_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// Transport settings. Durations are written as humantime strings in TOML/JSON (`"1s"`,
/// `"50ms"`). Checked once by [`NetConfig::validate`] (which [`Network::bind`](crate::Network::bind)
/// calls).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// UDP address to listen on (port 0: any free port).
    pub listen_addr: SocketAddr,
    /// How often an idle connection sends a keep-alive (QUIC PING).
    #[serde(with = "duration")]
    pub keep_alive_interval: Duration,
    /// A connection with no traffic (keep-alives included) for this long is dropped.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Time allowed for the TLS handshake, and then again for the hello exchange.
    #[serde(with = "duration")]
    pub handshake_timeout: Duration,
    /// Largest frame payload this node sends or accepts (default 8 MiB).
    pub max_frame_bytes: usize,
    /// Bytes the incoming frames of one connection may hold together, across its frame and
    /// request streams (default 32 MiB; at least `max_frame_bytes`). A frame that would pass
    /// it is refused: its request stream is reset, or its frame stream's connection closed.
    pub max_connection_buffer_bytes: usize,
    /// First redial delay after a failed dial or a lost connection.
    #[serde(with = "duration")]
    pub backoff_min: Duration,
    /// The delay doubles after each failure up to this.
    #[serde(with = "duration")]
    pub backoff_max: Duration,
    /// Frames queued per peer before the oldest is dropped.
    pub peer_queue_len: usize,
    /// Events buffered before the network waits for the application (and QUIC flow control
    /// slows the peers down).
    pub event_queue_len: usize,
    /// UDP generic segmentation offload. Turn it off where the NIC, driver or a tunnel
    /// mishandles GSO.
    pub gso: bool,
}

impl Default for NetConfig {
    fn default() -> NetConfig {
        NetConfig {
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 7400)),
            keep_alive_interval: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_connection_buffer_bytes: 4 * DEFAULT_MAX_FRAME_BYTES,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            peer_queue_len: 1024,
            event_queue_len: 4096,
            gso: true,
        }
    }
}

impl NetConfig {
    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), NetError> {
        let bad = |msg: &str| Err(NetError::Config(msg.to_string()));
        if self.keep_alive_interval.is_zero() || self.keep_alive_interval >= self.idle_timeout {
            return bad("keep_alive_interval must be positive and below idle_timeout");
        }
        if self.idle_timeout > Duration::from_secs(24 * 3600) {
            return bad("idle_timeout must be at most a day");
        }
        if self.handshake_timeout.is_zero() {
            return bad("handshake_timeout must be positive");
        }
        if self.max_frame_bytes == 0 || self.max_frame_bytes > ABSOLUTE_MAX_FRAME_BYTES {
            return bad("max_frame_bytes must be between 1 and 2^32 - 3");
        }
        if self.max_connection_buffer_bytes < self.max_frame_bytes {
            return bad("max_connection_buffer_bytes must be at least max_frame_bytes");
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            return bad("backoff_min must be positive and at most backoff_max");
        }
        if self.backoff_max > Duration::from_secs(3600) {
            return bad("backoff_max must be at most an hour");
        }
        if self.peer_queue_len == 0 || self.event_queue_len == 0 {
            return bad("peer_queue_len and event_queue_len must be positive");
        }
        Ok(())
    }
}

mod duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_toml_round_trips() {
        let c = NetConfig::default();
        c.validate().unwrap();
        let text = toml::to_string(&c).unwrap();
        let back: NetConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
        let partial: NetConfig =
            toml::from_str("keep_alive_interval = \"500ms\"\ngso = false\n").unwrap();
        assert_eq!(partial.keep_alive_interval, Duration::from_millis(500));
        assert!(!partial.gso);
        assert!(toml::from_str::<NetConfig>("nope = 1").is_err());
    }

    #[test]
    fn invalid_settings_are_refused() {
        let mut c = NetConfig {
            keep_alive_interval: Duration::from_secs(20),
            ..NetConfig::default()
        };
        assert!(c.validate().is_err());
        c = NetConfig {
            max_frame_bytes: 0,
            ..NetConfig::default()
        };
        assert!(c.validate().is_err());
        c = NetConfig {
            max_connection_buffer_bytes: DEFAULT_MAX_FRAME_BYTES - 1,
            ..NetConfig::default()
        };
        assert!(c.validate().is_err());
        c = NetConfig {
            backoff_min: Duration::from_secs(10),
            ..NetConfig::default()
        };
        assert!(c.validate().is_err());
        c = NetConfig {
            peer_queue_len: 0,
            ..NetConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
