//! The live registry view of the edge network: who may connect (and as what), and whom to
//! dial. It is built from the registry's node lists; it decides **connections only**. What an
//! epoch pays is decided by the registry's immutable snapshot of that epoch
//! ([`crate::app::EdgeApp::set_snapshot`]), never by this view, so two validators whose views
//! were read at different moments still agree on every checkpoint.

use emc_registry::{Node, NodeState};
use emc_types::{NodeId, Role, ValidatorSet};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A live node: registered, live and not suspended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveNode {
    /// The node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// The address it registered, when it parses as a socket address.
    pub addr: Option<SocketAddr>,
}

/// The registry as an edge node sees it between refreshes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainView {
    /// Live, unsuspended nodes, by id.
    pub nodes: BTreeMap<NodeId, LiveNode>,
    /// Validator sets known for the epochs around the node's height.
    pub sets: Vec<ValidatorSet>,
}

impl ChainView {
    /// The view of `nodes` (any order, any state): nodes that are not live, or suspended, are
    /// left out; an address that does not parse is kept as `None` (the node may still dial
    /// in).
    pub fn from_registry(nodes: impl IntoIterator<Item = Node>, sets: Vec<ValidatorSet>) -> Self {
        let nodes = nodes
            .into_iter()
            .filter(|n| n.state == NodeState::Live && !n.suspended)
            .map(|n| {
                let live = LiveNode {
                    id: n.id,
                    role: n.role,
                    addr: n.network_address.parse().ok(),
                };
                (n.id, live)
            })
            .collect();
        ChainView { nodes, sets }
    }

    /// The addresses of the live nodes `keep` selects (nodes without an address left out).
    pub fn addresses(
        &self,
        mut keep: impl FnMut(&LiveNode) -> bool,
    ) -> BTreeMap<NodeId, SocketAddr> {
        self.nodes
            .values()
            .filter(|n| keep(n))
            .filter_map(|n| n.addr.map(|a| (n.id, a)))
            .collect()
    }

    /// Who may connect: every live node with its role.
    pub fn authorized(&self) -> impl Iterator<Item = (NodeId, Role)> + '_ {
        self.nodes.values().map(|n| (n.id, n.role))
    }
}

/// The peers to add (new, or with a changed address) and to remove so that a node dialing
/// `dialed` dials exactly `wanted`.
pub fn dial_changes(
    dialed: &BTreeMap<NodeId, SocketAddr>,
    wanted: &BTreeMap<NodeId, SocketAddr>,
) -> (Vec<(NodeId, SocketAddr)>, Vec<NodeId>) {
    let add = wanted
        .iter()
        .filter(|(id, addr)| dialed.get(id) != Some(addr))
        .map(|(id, addr)| (*id, *addr))
        .collect();
    let remove = dialed
        .keys()
        .filter(|id| !wanted.contains_key(id))
        .copied()
        .collect();
    (add, remove)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candid::Principal;

    fn node(i: u8, role: Role, state: NodeState, suspended: bool, addr: &str) -> Node {
        Node {
            id: NodeId([i; 32]),
            role,
            owner: Principal::anonymous(),
            network_address: addr.into(),
            region: String::new(),
            hardware: String::new(),
            registered_at: 0,
            state,
            suspended,
            term: None,
            stake_e8s: 0,
            penalty_due_e8s: 0,
            pending_movement: None,
            poc_e: 0,
        }
    }

    #[test]
    fn only_live_unsuspended_nodes_are_authorized_and_dialed_by_their_address() {
        let view = ChainView::from_registry(
            [
                node(1, Role::Validator, NodeState::Live, false, "127.0.0.1:1"),
                node(2, Role::Router, NodeState::Live, false, "not an address"),
                node(3, Role::Compute, NodeState::Live, true, "127.0.0.1:3"),
                node(
                    4,
                    Role::Compute,
                    NodeState::Retired { at: 1 },
                    false,
                    "127.0.0.1:4",
                ),
                node(5, Role::Compute, NodeState::Live, false, "127.0.0.1:5"),
            ],
            vec![],
        );
        let auth: Vec<(NodeId, Role)> = view.authorized().collect();
        assert_eq!(
            auth,
            vec![
                (NodeId([1; 32]), Role::Validator),
                (NodeId([2; 32]), Role::Router),
                (NodeId([5; 32]), Role::Compute),
            ]
        );
        let all = view.addresses(|_| true);
        assert_eq!(
            all.keys().copied().collect::<Vec<_>>(),
            vec![NodeId([1; 32]), NodeId([5; 32])]
        );
        let routers = view.addresses(|n| n.role == Role::Router);
        assert!(routers.is_empty(), "the router's address does not parse");
    }

    #[test]
    fn dial_changes_add_new_and_moved_peers_and_remove_gone_ones() {
        let a = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let id = |i: u8| NodeId([i; 32]);
        let dialed = BTreeMap::from([(id(1), a(1)), (id(2), a(2)), (id(3), a(3))]);
        let wanted = BTreeMap::from([(id(1), a(1)), (id(2), a(20)), (id(4), a(4))]);
        let (add, remove) = dial_changes(&dialed, &wanted);
        assert_eq!(add, vec![(id(2), a(20)), (id(4), a(4))]);
        assert_eq!(remove, vec![id(3)]);
        assert_eq!(dial_changes(&wanted, &wanted), (vec![], vec![]));
    }
}
