//! The hello exchange after the TLS handshake: the dialer claims a role, the acceptor answers
//! with its own. Payload: `protocol version u16 BE | role u8 | max frame payload u32 BE`.

use crate::auth::Role;

/// The edge-network protocol version carried in the hello.
pub const PROTOCOL_VERSION: u16 = 1;

/// Encoded length of a version-1 hello.
const LEN: usize = 7;

/// A hello or hello-ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hello {
    pub version: u16,
    pub role: Role,
    /// The largest frame payload the sender accepts.
    pub max_frame: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HelloError {
    #[error("protocol version {0} (we speak {PROTOCOL_VERSION})")]
    Version(u16),
    #[error("malformed hello of {0} bytes")]
    Length(usize),
    #[error("unknown role byte {0}")]
    Role(u8),
}

impl Hello {
    pub fn new(role: Role, max_frame: usize) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            role,
            max_frame: u32::try_from(max_frame).unwrap_or(u32::MAX),
        }
    }

    pub fn encode(&self) -> [u8; LEN] {
        let v = self.version.to_be_bytes();
        let m = self.max_frame.to_be_bytes();
        [v[0], v[1], self.role.to_wire(), m[0], m[1], m[2], m[3]]
    }

    /// The version is checked first, so that a later version with a longer hello gets a
    /// version error rather than a length error.
    pub fn decode(b: &[u8]) -> Result<Hello, HelloError> {
        let (Some(&v0), Some(&v1)) = (b.first(), b.get(1)) else {
            return Err(HelloError::Length(b.len()));
        };
        let version = u16::from_be_bytes([v0, v1]);
        if version != PROTOCOL_VERSION {
            return Err(HelloError::Version(version));
        }
        let Ok(b) = <[u8; LEN]>::try_from(b) else {
            return Err(HelloError::Length(b.len()));
        };
        let role = Role::from_wire(b[2]).ok_or(HelloError::Role(b[2]))?;
        Ok(Hello {
            version,
            role,
            max_frame: u32::from_be_bytes([b[3], b[4], b[5], b[6]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let h = Hello::new(Role::Compute, 1234);
        assert_eq!(Hello::decode(&h.encode()), Ok(h));
        assert_eq!(Hello::decode(&[]), Err(HelloError::Length(0)));
        assert_eq!(Hello::decode(&[0, 2, 1]), Err(HelloError::Version(2)));
        assert_eq!(Hello::decode(&[0, 1, 1]), Err(HelloError::Length(3)));
        assert_eq!(
            Hello::decode(&[0, 1, 9, 0, 0, 0, 0]),
            Err(HelloError::Role(9))
        );
        for len in 0..16 {
            for b in 0..=255u8 {
                let _ = Hello::decode(&vec![b; len]);
            }
        }
    }
}
