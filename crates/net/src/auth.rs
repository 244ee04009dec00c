//! Roles and the authorizer: which keys may connect, and as what.

use emc_types::NodeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

/// The role a node plays in the edge network: the network-wide [`emc_types::Role`]. Its
/// [`Role::to_wire`] byte (1, 2, 3) is what the hello carries; its `Display` is lower-case.
pub use emc_types::Role;

/// The bit of `role` in a [`Roles`] set (bits 0, 1, 2 for wire bytes 1, 2, 3).
fn bit(role: Role) -> u8 {
    1 << (role.to_wire() - 1)
}

/// A set of roles.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Roles(u8);

impl Roles {
    /// No role: the key is unknown.
    pub const NONE: Roles = Roles(0);
    /// Every role.
    pub const ALL: Roles = Roles(0b111);

    /// Whether `role` is in the set.
    pub fn contains(self, role: Role) -> bool {
        self.0 & bit(role) != 0
    }

    /// The set with `role` added.
    pub fn with(self, role: Role) -> Roles {
        Roles(self.0 | bit(role))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles in the set, in [`Role::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl From<Role> for Roles {
    fn from(role: Role) -> Roles {
        Roles(bit(role))
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Roles {
        iter.into_iter().fold(Roles::NONE, Roles::with)
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Who may connect: the roles each key is registered for. Consulted in the TLS handshake (an
/// unknown key is refused before any frame) and for the role a peer claims in its hello.
/// Implementations must be cheap: they run on every handshake.
pub trait Authorizer: Send + Sync + 'static {
    /// The roles `peer` is registered for; [`Roles::NONE`] when the key is unknown.
    fn roles_of(&self, peer: &NodeId) -> Roles;
}

/// An [`Authorizer`] backed by a map that can be updated at run time (the edge node refreshes
/// it from the registry canister). After removing keys or roles, call
/// [`Network::revalidate`](crate::Network::revalidate) to close connections they no longer
/// authorize.
#[derive(Default)]
pub struct StaticAuthorizer {
    map: RwLock<HashMap<NodeId, Roles>>,
}

impl StaticAuthorizer {
    /// An authorizer that knows no key.
    pub fn new() -> StaticAuthorizer {
        StaticAuthorizer::default()
    }

    /// Registers `node` for `roles` (replacing what it had); an empty set removes it.
    pub fn set(&self, node: NodeId, roles: impl Into<Roles>) {
        let roles = roles.into();
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if roles.is_empty() {
            map.remove(&node);
        } else {
            map.insert(node, roles);
        }
    }

    /// Forgets `node`.
    pub fn remove(&self, node: &NodeId) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(node);
    }

    /// Replaces the whole map (a registry refresh).
    pub fn replace_all(&self, entries: impl IntoIterator<Item = (NodeId, Roles)>) {
        let map: HashMap<NodeId, Roles> = entries
            .into_iter()
            .filter(|(_, roles)| !roles.is_empty())
            .collect();
        *self.map.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    /// Number of known keys.
    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no key is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Authorizer for StaticAuthorizer {
    fn roles_of(&self, peer: &NodeId) -> Roles {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(peer)
            .copied()
            .unwrap_or(Roles::NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_wire() {
        for r in Role::ALL {
            assert_eq!(Role::from_wire(r.to_wire()), Some(r));
            assert!(Roles::from(r).contains(r));
        }
        assert_eq!(Role::from_wire(0), None);
        assert_eq!(Role::from_wire(4), None);
        // The hello's bytes and the names in logs and errors.
        assert_eq!(Role::ALL.map(Role::to_wire), [1, 2, 3]);
        assert_eq!(
            Role::ALL.map(|r| r.to_string()),
            ["validator", "router", "compute"]
        );
        assert_eq!(Role::ALL.into_iter().collect::<Roles>(), Roles::ALL);
        assert_eq!(format!("{:?}", Roles::ALL), "{Validator, Router, Compute}");
        let rs: Roles = [Role::Validator, Role::Compute].into_iter().collect();
        assert!(rs.contains(Role::Validator) && !rs.contains(Role::Router));
        assert_eq!(rs.iter().count(), 2);
        assert_eq!(Roles::ALL.iter().count(), 3);
        assert!(Roles::NONE.is_empty());
    }

    #[test]
    fn static_authorizer() {
        let a = StaticAuthorizer::new();
        let n = NodeId([1; 32]);
        assert!(a.roles_of(&n).is_empty());
        a.set(n, Role::Router);
        assert!(a.roles_of(&n).contains(Role::Router));
        a.set(n, Roles::NONE);
        assert!(a.is_empty());
        a.replace_all([(n, Roles::ALL), (NodeId([2; 32]), Roles::NONE)]);
        assert_eq!(a.len(), 1);
        a.remove(&n);
        assert!(a.roles_of(&n).is_empty());
    }
}
