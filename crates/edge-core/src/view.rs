//! The live registry view of the edge network: who may connect (and as what), and whom to
//! dial. It is built from the registry's node lists; it decides **connections only**. What an
//! epoch pays is decided by the registry's immutable snapshot of that epoch
//! ([`crate::app::EdgeApp::set_snapshot`]), never by this view, so two validators whose views
//! were read at different moments still agree on every checkpoint.

use emc_registry::{Node, NodeState};
use emc_types::{NodeId, Role, ValidatorSet};
use std::collections::{BTreeMap, BTreeSet};
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

    /// The live nodes a validator works with (dials, probes, challenges): the members of the
    /// known validator sets and the nodes of the current epoch's snapshot (`snapshot`:
    /// staked validators and routers, admitted compute nodes and the few candidates the
    /// registry lists), or every live node while no snapshot is known (bootstrap, or an epoch
    /// the registry has none of). Registering is free, so any other live node costs a
    /// validator nothing: it is neither dialed nor probed, though it may still connect in.
    pub fn work_nodes(&self, snapshot: Option<&BTreeSet<NodeId>>) -> BTreeSet<NodeId> {
        let Some(snapshot) = snapshot else {
            return self.nodes.keys().copied().collect();
        };
        let members = self.sets.iter().flat_map(|s| s.members.iter());
        members
            .chain(snapshot.iter())
            .filter(|n| self.nodes.contains_key(n))
            .copied()
            .collect()
    }

    /// Who may connect: every live node with its role.
    pub fn authorized(&self) -> impl Iterator<Item = (NodeId, Role)> + '_ {
        self.nodes.values().map(|n| (n.id, n.role))
    }

    /// Who may connect to a compute node: every live validator and router, and of the live
    /// compute nodes only those in `pool_links` (the other members of its pool,
    /// `PoolPeers::links`): compute-to-compute links exist only inside a pool.
    pub fn authorized_for_compute<'a>(
        &'a self,
        pool_links: &'a [NodeId],
    ) -> impl Iterator<Item = (NodeId, Role)> + 'a {
        self.authorized()
            .filter(move |(id, role)| *role != Role::Compute || pool_links.contains(id))
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

    /// Issue #21, finding 4: free registrations cost a validator no dials or probes. It works
    /// with the sets' members and the epoch snapshot's nodes only (every live node while it
    /// knows no snapshot).
    #[test]
    fn a_validator_works_only_with_set_members_and_the_epoch_snapshot() {
        let id = |i: u8| NodeId([i; 32]);
        let mut nodes = vec![
            node(1, Role::Validator, NodeState::Live, false, "127.0.0.1:1"),
            node(2, Role::Router, NodeState::Live, false, "127.0.0.1:2"),
            node(3, Role::Compute, NodeState::Live, false, "127.0.0.1:3"),
        ];
        // Hundreds of free registrations, all pointing at one host.
        for i in 10..=255u8 {
            nodes.push(node(
                i,
                Role::Compute,
                NodeState::Live,
                false,
                "127.0.0.1:9",
            ));
        }
        let set = ValidatorSet::new(0, vec![id(1)]).unwrap();
        let view = ChainView::from_registry(nodes, vec![set]);
        // The snapshot lists the router, the admitted compute node, and a node that retired
        // since (not live: not worked with).
        let snapshot = BTreeSet::from([id(2), id(3), id(4)]);
        let work = view.work_nodes(Some(&snapshot));
        assert_eq!(work, BTreeSet::from([id(1), id(2), id(3)]));
        let wanted = view.addresses(|n| work.contains(&n.id));
        assert_eq!(wanted.len(), 3);
        // Bootstrap: no snapshot known yet, every live node.
        assert_eq!(view.work_nodes(None).len(), view.nodes.len());
    }

    #[test]
    fn compute_nodes_admit_other_compute_nodes_only_from_their_pool() {
        let view = ChainView::from_registry(
            [
                node(1, Role::Validator, NodeState::Live, false, "127.0.0.1:1"),
                node(2, Role::Router, NodeState::Live, false, "127.0.0.1:2"),
                node(3, Role::Compute, NodeState::Live, false, "127.0.0.1:3"),
                node(4, Role::Compute, NodeState::Live, false, "127.0.0.1:4"),
                node(5, Role::Compute, NodeState::Live, true, "127.0.0.1:5"),
            ],
            vec![],
        );
        let ids = |links: &[NodeId]| -> Vec<u8> {
            view.authorized_for_compute(links)
                .map(|(id, _)| id.0[0])
                .collect()
        };
        assert_eq!(ids(&[]), vec![1, 2]);
        assert_eq!(ids(&[NodeId([4; 32])]), vec![1, 2, 4]);
        // A pool member the registry no longer lists live is not admitted either.
        assert_eq!(ids(&[NodeId([5; 32])]), vec![1, 2]);
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
