//! The one role enum of the network: what a node registers as in the registry, what the epochs
//! canister pays, and what the transport admits.

use candid::CandidType;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The role a node plays (protocol section 1).
///
/// Two stable byte encodings exist and must never change: [`Role::code`] (0, 1, 2) in the
/// registry's index keys and registration message, and [`Role::to_wire`] (1, 2, 3) in the
/// transport's hello. Candid and serde use the variant names.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, CandidType, Serialize, Deserialize,
)]
pub enum Role {
    /// Runs consensus and signs checkpoints.
    Validator,
    /// Smart router: relays consensus traffic, routes dApp calls to compute nodes.
    Router,
    /// Compute node: serves AI apps, proves its power with proof of computing.
    Compute,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Validator, Role::Router, Role::Compute];

    /// The registry's code (index keys, registration message): 0, 1, 2.
    pub fn code(self) -> u8 {
        match self {
            Role::Validator => 0,
            Role::Router => 1,
            Role::Compute => 2,
        }
    }

    /// Inverse of [`Role::code`].
    pub fn from_code(c: u8) -> Option<Role> {
        match c {
            0 => Some(Role::Validator),
            1 => Some(Role::Router),
            2 => Some(Role::Compute),
            _ => None,
        }
    }

    /// The transport's byte (hello): 1, 2, 3.
    pub fn to_wire(self) -> u8 {
        self.code() + 1
    }

    /// Inverse of [`Role::to_wire`].
    pub fn from_wire(b: u8) -> Option<Role> {
        b.checked_sub(1).and_then(Role::from_code)
    }

    /// The lower-case name (`validator`, `router`, `compute`), as in config files and logs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Validator => "validator",
            Role::Router => "router",
            Role::Compute => "compute",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (validator, router or compute)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    /// Parses the lower-case name (case-insensitive).
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Serde by lower-case name (`#[serde(with = "emc_types::role_name")]`), for config files.
pub mod role_name {
    use super::Role;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Writes the lower-case name.
    pub fn serialize<S: Serializer>(r: &Role, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(r.name())
    }

    /// Reads a name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_invert() {
        assert_eq!(Role::ALL.map(Role::code), [0, 1, 2]);
        assert_eq!(Role::ALL.map(Role::to_wire), [1, 2, 3]);
        for r in Role::ALL {
            assert_eq!(Role::from_code(r.code()), Some(r));
            assert_eq!(Role::from_wire(r.to_wire()), Some(r));
            assert_eq!(r.name().parse::<Role>(), Ok(r));
            assert_eq!(r.to_string(), r.name());
        }
        assert_eq!(Role::from_code(3), None);
        assert_eq!(Role::from_wire(0), None);
        assert_eq!(Role::from_wire(4), None);
        assert_eq!("COMPUTE".parse::<Role>(), Ok(Role::Compute));
        assert!("gpu".parse::<Role>().is_err());
    }
}
