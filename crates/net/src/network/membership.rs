//! One live connection per peer: installing a new connection (with the duplicate rule) and
//! removing an ended one, each with its PeerUp/PeerDown event in order.

use super::queue::SendQueue;
use super::streams::drive;
use super::{code, lock, Event, Inner, Live, PeerSlot};
use crate::error::{close_code, NetError};
use crate::metrics::{add, inc};
use emc_types::NodeId;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;
use tracing::{debug, info};

/// Bounds on how long a replaced duplicate connection stays open to deliver frames in flight.
const RETIRE_GRACE_MIN: Duration = Duration::from_millis(50);
const RETIRE_GRACE_MAX: Duration = Duration::from_secs(1);

/// Which side dialed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialer {
    /// We dialed it (outbound).
    Us,
    /// The peer dialed it (inbound).
    Peer,
}

/// Which of two connections to one peer survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The connection already installed; the new one is closed.
    Existing,
    /// The new connection; the existing one retires (after a grace period).
    New,
}

/// The duplicate-connection rule, between us (`me`) and `peer`, for an `existing` connection
/// and a `new` one (by who dialed each). Both sides of a pair apply it to the same two
/// connections and keep the same one:
/// - both dialed by the same side: the newer wins (the older is likely dead: the other end
///   restarted, or lost it without noticing yet);
/// - otherwise the one dialed by the smaller node id wins.
pub(crate) fn keep_which(me: &NodeId, peer: &NodeId, existing: Dialer, new: Dialer) -> Keep {
    if existing == new {
        return Keep::New;
    }
    // The new one was dialed by the smaller id. (Equal ids, our own key at both ends, which
    // `add_peer` refuses to dial: the inbound one wins, deterministically.)
    let smaller_dialed_new = (new == Dialer::Us) == (me < peer);
    if smaller_dialed_new {
        Keep::New
    } else {
        Keep::Existing
    }
}

impl Inner {
    /// Makes `live` the peer's connection unless a preferred one exists ([`keep_which`]),
    /// emits PeerUp when the peer was down, and starts the connection's tasks.
    pub(super) async fn install(
        self: &Arc<Self>,
        peer: NodeId,
        live: Live,
    ) -> Result<(), NetError> {
        enum Outcome {
            Up { reconnect: bool },
            Replaced(Live),
            Rejected,
        }
        let _membership = self.membership.lock().await;
        let outcome = {
            let mut st = lock(&self.state);
            if st.closed {
                None
            } else {
                let cap = self.config.peer_queue_len;
                let slot = st.peers.entry(peer).or_insert_with(|| PeerSlot {
                    live: None,
                    queue: Arc::new(SendQueue::new(cap)),
                    ever_up: false,
                });
                Some(match slot.live.take() {
                    None => {
                        let reconnect = slot.ever_up;
                        slot.ever_up = true;
                        slot.live = Some(live.clone());
                        Outcome::Up { reconnect }
                    }
                    Some(old) => {
                        match keep_which(&self.node_id, &peer, old.dialer(), live.dialer()) {
                            Keep::New => {
                                slot.live = Some(live.clone());
                                Outcome::Replaced(old)
                            }
                            Keep::Existing => {
                                slot.live = Some(old);
                                Outcome::Rejected
                            }
                        }
                    }
                })
            }
        };
        match outcome {
            None => {
                live.conn.close(code(close_code::NORMAL), b"shutdown");
                return Err(NetError::Closed);
            }
            Some(Outcome::Rejected) => {
                inc(&self.metrics.duplicates_closed);
                debug!(
                    ?peer,
                    outbound = live.outbound,
                    "duplicate connection closed"
                );
                live.conn
                    .close(code(close_code::DUPLICATE), b"duplicate connection");
                return Err(NetError::Duplicate(peer));
            }
            Some(Outcome::Replaced(old)) => {
                inc(&self.metrics.duplicates_closed);
                debug!(
                    ?peer,
                    outbound = live.outbound,
                    "connection replaces a duplicate"
                );
                // The old connection stops taking frames from the queue now (its writer sees
                // it is no longer current), but stays open briefly so that frames already in
                // flight on it in either direction are still read.
                let grace = (old.conn.rtt() * 3).clamp(RETIRE_GRACE_MIN, RETIRE_GRACE_MAX);
                self.runtime.spawn(
                    async move {
                        tokio::time::sleep(grace).await;
                        old.conn
                            .close(code(close_code::DUPLICATE), b"duplicate connection");
                    }
                    .in_current_span(),
                );
            }
            Some(Outcome::Up { reconnect }) => {
                inc(&self.metrics.connects);
                if reconnect {
                    inc(&self.metrics.reconnects);
                }
                info!(?peer, role = %live.role, addr = %live.addr, outbound = live.outbound, "peer up");
                self.emit(Event::PeerUp {
                    peer,
                    role: live.role,
                    addr: live.addr,
                })
                .await;
            }
        }
        self.runtime
            .spawn(drive(self.clone(), peer, live).in_current_span());
        Ok(())
    }

    /// Called once per connection when its tasks end: if it was the peer's connection, the
    /// peer is down.
    pub(super) async fn connection_ended(&self, peer: NodeId, live: &Live) {
        let _membership = self.membership.lock().await;
        let (down, dropped, wake) = {
            let mut st = lock(&self.state);
            let mut down = false;
            let mut dropped = 0;
            if let Some(slot) = st.peers.get_mut(&peer) {
                let current = slot
                    .live
                    .as_ref()
                    .is_some_and(|l| l.conn.stable_id() == live.conn.stable_id());
                if current {
                    slot.live = None;
                    dropped = slot.queue.clear();
                    down = true;
                }
            }
            (down, dropped, st.dials.get(&peer).map(|d| d.wake.clone()))
        };
        live.conn.close(code(close_code::NORMAL), b"");
        if down {
            add(&self.metrics.dropped_disconnected, dropped as u64);
            info!(?peer, reason = ?live.conn.close_reason(), "peer down");
            self.emit(Event::PeerDown { peer }).await;
            if let Some(wake) = wake {
                wake.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: NodeId = NodeId([1; 32]);
    const LARGE: NodeId = NodeId([2; 32]);

    #[test]
    fn keep_which_every_case() {
        use Dialer::{Peer, Us};
        use Keep::{Existing, New};
        // (me, peer, existing, new, kept)
        let table = [
            // Same side dialed both: the newer wins, whoever we are.
            (SMALL, LARGE, Us, Us, New),
            (SMALL, LARGE, Peer, Peer, New),
            (LARGE, SMALL, Us, Us, New),
            (LARGE, SMALL, Peer, Peer, New),
            // We are the smaller id: the connection we dialed wins.
            (SMALL, LARGE, Peer, Us, New),
            (SMALL, LARGE, Us, Peer, Existing),
            // We are the larger id: the connection the peer dialed wins.
            (LARGE, SMALL, Us, Peer, New),
            (LARGE, SMALL, Peer, Us, Existing),
            // Our own key at both ends (never dialed by `add_peer`): the inbound one wins.
            (SMALL, SMALL, Us, Peer, New),
            (SMALL, SMALL, Peer, Us, Existing),
        ];
        for (me, peer, existing, new, kept) in table {
            assert_eq!(
                keep_which(&me, &peer, existing, new),
                kept,
                "me {:?} peer {:?} existing {existing:?} new {new:?}",
                me.0[0],
                peer.0[0]
            );
        }
    }

    /// Two connections between A and B, one dialed by each: whatever order each side
    /// installed them in, both keep the one the smaller id dialed.
    #[test]
    fn both_sides_keep_the_same_connection() {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Conn {
            BySmall,
            ByLarge,
        }
        let dialer = |me: NodeId, c: Conn| match (c, me == SMALL) {
            (Conn::BySmall, true) | (Conn::ByLarge, false) => Dialer::Us,
            _ => Dialer::Peer,
        };
        let kept = |me: NodeId, peer: NodeId, first: Conn, second: Conn| match keep_which(
            &me,
            &peer,
            dialer(me, first),
            dialer(me, second),
        ) {
            Keep::Existing => first,
            Keep::New => second,
        };
        for (first, second) in [
            (Conn::BySmall, Conn::ByLarge),
            (Conn::ByLarge, Conn::BySmall),
        ] {
            assert_eq!(kept(SMALL, LARGE, first, second), Conn::BySmall);
            assert_eq!(kept(LARGE, SMALL, first, second), Conn::BySmall);
        }
    }
}
