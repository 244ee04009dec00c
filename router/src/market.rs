//! The router's side of the compute market (issue #15): it admits calls against the users'
//! escrow in the market canister and settles its receipts there. The rules are pure
//! (`emc_edge_core::settle`); this module reads the canisters, asks validators for proofs and
//! carries out what the rules decide.
//!
//! - **Admission.** [`Market::funds`] is the gateway's [`Funds`]: an
//!   [`EscrowBook`] shared with this module. A call from a user whose escrow was read more than
//!   `escrow_max_age` ago waits for one read ([`Market::ensure_read`]); active users are read
//!   again every `escrow_refresh` in the background. One read is one query,
//!   `admission_lanes(user, lanes)`: the escrow available and what the market has paid on each
//!   lane the router holds receipts of, at one instant.
//! - **Settlement.** Every countersigned receipt is held ([`Market::hold`]). Every
//!   `settle_interval` the router asks one validator (in turn) for the proofs of unproven
//!   receipts (`KIND_RECEIPT_PROOFS`), asks the epochs canister which of the proofs'
//!   checkpoints are final (`final_receipts_root`; a proof that does not give the final root
//!   is dropped), and sends each lane's highest final receipt to the market's `settle_batch`.

use crate::gateway::lock;
use candid::Principal;
use emc_edge_core::compute::{Funds, FundsError};
use emc_edge_core::protocol::{
    decode_proofs, encode_leaves, KIND_RECEIPT_PROOFS, MAX_PROOFS_ASKED,
};
use emc_edge_core::settle::{EscrowBook, EscrowSnapshot, SettleOutcome, Settler, SettlerStats};
use emc_epochs::ReceiptsRoot;
use emc_ic_client::{IcClient, IcClientExt as _, IcError};
use emc_market::{AdmissionLanes, LaneRef, MarketError, ReceiptProof, Trade};
use emc_net::{Network, Role};
use emc_node_common::config::duration_ns as ns;
use emc_node_common::config::RouterConfig;
use emc_types::{ComputeReceipt, NodeId};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Users idle this long (and owing nothing) leave the escrow book.
const ACTIVE_NS: u64 = 600 * 1_000_000_000;
/// Escrow reads in flight at once in a background refresh.
const READS_AT_ONCE: usize = 16;
/// Checkpoints asked about per settlement round.
const HEIGHTS_PER_ROUND: usize = 32;
/// How long a validator has to answer a proof request.
const PROOF_TIMEOUT: Duration = Duration::from_secs(5);

/// The router's market counters (published in its status and metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MarketStats {
    /// Escrow reads done.
    pub escrow_reads: u64,
    /// Escrow reads that failed (the call then waits for the next, or is refused).
    pub escrow_read_errors: u64,
    /// Receipts held for settlement.
    pub held: usize,
    /// Held receipts with a proof.
    pub proven: usize,
    /// Receipts settled by the market (each pays its lane up to it).
    pub settled: u64,
    /// e8s the market paid for this router's settlements.
    pub settled_e8s: u64,
    /// Receipts refused for good.
    pub refused: u64,
    /// Receipts dropped unproven.
    pub expired: u64,
    /// `settle_batch` calls that failed as a whole.
    pub batch_errors: u64,
}

/// The gateway's [`Funds`] over the shared [`EscrowBook`].
struct SharedBook {
    book: Arc<Mutex<EscrowBook>>,
    clock: Instant,
}

impl Funds for SharedBook {
    fn available(&self, account: &NodeId) -> Result<u64, FundsError> {
        lock(&self.book).available(account)
    }

    fn charge(&mut self, r: &ComputeReceipt, e8s: u64) -> u64 {
        let mut b = lock(&self.book);
        b.set_now(ns(self.clock.elapsed()));
        b.charge(r, e8s)
    }
}

/// The router's link to the market (module docs).
pub struct Market {
    client: Arc<dyn IcClient>,
    market: Principal,
    epochs: Principal,
    cfg: RouterConfig,
    book: Arc<Mutex<EscrowBook>>,
    settler: Mutex<Settler>,
    stats: Mutex<MarketStats>,
    clock: Instant,
    next_validator: AtomicUsize,
}

/// What the market answered for one receipt, as the settler sees it.
fn outcome(r: &Result<Trade, MarketError>) -> SettleOutcome {
    match r {
        Ok(_) | Err(MarketError::Replayed { .. }) => SettleOutcome::Settled,
        // Not final yet, or the ledger or a canister call failed: the next round tries again.
        Err(
            MarketError::CheckpointNotFinal(_)
            | MarketError::Ledger(_)
            | MarketError::CallFailed(_)
            | MarketError::Storage(_),
        ) => SettleOutcome::NotYet,
        Err(_) => SettleOutcome::Refused,
    }
}

impl Market {
    /// The market canister `market` and the epochs canister `epochs`, through `client`.
    pub fn new(
        client: Arc<dyn IcClient>,
        market: Principal,
        epochs: Principal,
        cfg: RouterConfig,
    ) -> Arc<Market> {
        Arc::new(Market {
            client,
            market,
            epochs,
            settler: Mutex::new(Settler::new(cfg.settle_cap)),
            cfg,
            book: Arc::new(Mutex::new(EscrowBook::new())),
            stats: Mutex::new(MarketStats::default()),
            clock: Instant::now(),
            next_validator: AtomicUsize::new(0),
        })
    }

    fn now_ns(&self) -> u64 {
        ns(self.clock.elapsed())
    }

    /// The gateway's funds: this market's escrow book.
    pub fn funds(&self) -> Box<dyn Funds> {
        Box::new(SharedBook {
            book: self.book.clone(),
            clock: self.clock,
        })
    }

    /// Reads `user`'s escrow if the book's copy is older than `escrow_max_age` (a call waits
    /// for this before its admission).
    pub async fn ensure_read(&self, user: &NodeId) {
        let stale = lock(&self.book).needs_read(user, self.now_ns(), ns(self.cfg.escrow_max_age));
        if stale {
            if let Err(e) = self.read(*user).await {
                debug!(user = ?user, error = %e, "escrow read failed");
            }
        }
    }

    async fn read(&self, user: NodeId) -> Result<(), IcError> {
        let lanes = lock(&self.book).lanes_to_ask(&user);
        let ask: Vec<LaneRef> = lanes
            .iter()
            .map(|(node, epoch)| LaneRef {
                node: *node,
                epoch: *epoch,
            })
            .collect();
        let r: Result<Option<AdmissionLanes>, IcError> = self
            .client
            .query_candid(self.market, "admission_lanes", (user, ask))
            .await;
        let mut s = lock(&self.stats);
        match r {
            Ok(a) => {
                s.escrow_reads += 1;
                drop(s);
                let snap = a.map(|a| EscrowSnapshot {
                    available_e8s: a.admission.available_e8s,
                    paid_e8s: a.paid_e8s,
                });
                lock(&self.book).observe(user, &lanes, snap, self.now_ns());
                Ok(())
            }
            Err(e) => {
                s.escrow_read_errors += 1;
                Err(e)
            }
        }
    }

    /// Reads again every active user whose copy is older than `escrow_refresh`.
    pub async fn refresh(&self) {
        let users =
            lock(&self.book).to_refresh(self.now_ns(), ns(self.cfg.escrow_refresh), ACTIVE_NS);
        for chunk in users.chunks(READS_AT_ONCE) {
            let reads = chunk.iter().map(|u| self.read(*u));
            for r in futures::future::join_all(reads).await {
                if let Err(e) = r {
                    debug!(error = %e, "escrow refresh failed");
                }
            }
        }
    }

    /// Gives a held receipt the co-signatures its pool's entry node sent after it (see
    /// [`Settler::attach_cosignatures`]); false when it is not held.
    pub fn attach_cosignatures(
        &self,
        lane: &emc_edge_core::settle::LaneKey,
        nonce: u64,
        body: &emc_types::Hash,
        cosignatures: &[emc_types::Cosignature],
    ) -> bool {
        lock(&self.settler).attach_cosignatures(lane, nonce, body, cosignatures)
    }

    /// Countersigned receipts, on their way to the validators: held until settled, each
    /// with the co-signatures `cosignatures` gives for it (a pool receipt's).
    pub fn hold(
        &self,
        receipts: &[ComputeReceipt],
        mut cosignatures: impl FnMut(&ComputeReceipt) -> Vec<emc_types::Cosignature>,
    ) {
        let now = self.now_ns();
        let cs: Vec<_> = receipts.iter().map(&mut cosignatures).collect();
        let mut s = lock(&self.settler);
        for (r, c) in receipts.iter().zip(cs) {
            s.add_cosigned(r.clone(), c, now);
        }
    }

    /// One settlement round (module docs).
    pub async fn settle(&self, net: &Network) {
        self.ask_proofs(net).await;
        let finals = self.final_heights().await;
        if !finals.is_empty() {
            self.submit(&finals).await;
        }
        let st: SettlerStats = lock(&self.settler).stats();
        let mut s = lock(&self.stats);
        s.held = st.held;
        s.proven = st.proven;
        s.settled = st.settled;
        s.refused = st.refused;
        s.expired = st.expired;
    }

    async fn ask_proofs(&self, net: &Network) {
        let leaves = lock(&self.settler).to_prove(
            self.now_ns(),
            ns(self.cfg.proof_retry),
            ns(self.cfg.settle_give_up),
            MAX_PROOFS_ASKED,
        );
        if leaves.is_empty() {
            return;
        }
        let validators: Vec<NodeId> = net
            .peers()
            .into_iter()
            .filter(|p| p.role == Role::Validator)
            .map(|p| p.node)
            .collect();
        if validators.is_empty() {
            return;
        }
        let at = self.next_validator.fetch_add(1, Ordering::Relaxed) % validators.len();
        let v = validators[at];
        match net
            .request(
                &v,
                KIND_RECEIPT_PROOFS,
                encode_leaves(&leaves),
                PROOF_TIMEOUT,
            )
            .await
        {
            Ok(b) => match decode_proofs(&b) {
                Ok(proofs) => {
                    let kept = lock(&self.settler).on_proofs(proofs);
                    debug!(validator = ?v, asked = leaves.len(), kept, "receipt proofs");
                }
                Err(e) => warn!(validator = ?v, error = %e, "bad proofs answer"),
            },
            Err(e) => debug!(validator = ?v, error = %e, "proof request failed"),
        }
    }

    async fn final_heights(&self) -> BTreeSet<u64> {
        let heights: Vec<u64> = lock(&self.settler)
            .waiting_heights()
            .into_iter()
            .take(HEIGHTS_PER_ROUND)
            .collect();
        let mut finals = BTreeSet::new();
        for h in heights {
            let r: Result<ReceiptsRoot, IcError> = self
                .client
                .query_candid(self.epochs, "final_receipts_root", (h,))
                .await;
            match r {
                Ok(ReceiptsRoot::Final(root)) => {
                    lock(&self.settler).on_final(h, root);
                    finals.insert(h);
                }
                Ok(_) => {}
                Err(e) => debug!(height = h, error = %e, "finality query failed"),
            }
        }
        finals
    }

    async fn submit(&self, finals: &BTreeSet<u64>) {
        loop {
            let ready = lock(&self.settler).ready(finals, self.cfg.settle_batch.max(1));
            if ready.is_empty() {
                return;
            }
            let items: Vec<ReceiptProof> = ready
                .iter()
                .map(|r| ReceiptProof {
                    receipt: r.receipt.clone(),
                    checkpoint_height: r.proof.checkpoint_height,
                    leaf_index: r.proof.leaf_index,
                    leaf_count: r.proof.leaf_count,
                    proof: r.proof.proof.clone(),
                    cosignatures: (!r.cosignatures.is_empty()).then(|| r.cosignatures.clone()),
                })
                .collect();
            let r: Result<Result<Vec<Result<Trade, MarketError>>, MarketError>, IcError> = self
                .client
                .update_candid(self.market, "settle_batch", (items,))
                .await;
            let results = match r {
                Ok(Ok(results)) => results,
                Ok(Err(e)) => {
                    warn!(error = %e, "settle_batch refused");
                    lock(&self.stats).batch_errors += 1;
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "settle_batch failed");
                    lock(&self.stats).batch_errors += 1;
                    return;
                }
            };
            let mut progress = false;
            let (mut paid, mut n) = (0u64, 0u64);
            {
                let mut s = lock(&self.settler);
                for (item, res) in ready.iter().zip(&results) {
                    let o = outcome(res);
                    progress |= o != SettleOutcome::NotYet;
                    if let Ok(t) = res {
                        paid = paid.saturating_add(t.amount_e8s);
                        n += 1;
                    }
                    if let Err(e) = res {
                        debug!(nonce = item.receipt.nonce, error = %e, "receipt not settled");
                    }
                    s.on_settled(&item.receipt, o);
                }
            }
            if n > 0 {
                info!(receipts = n, paid_e8s = paid, "settled");
                let mut s = lock(&self.stats);
                s.settled_e8s = s.settled_e8s.saturating_add(paid);
            }
            if !progress || results.len() < ready.len() {
                return;
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> MarketStats {
        *lock(&self.stats)
    }

    /// Work served to `user` and not settled yet, as the book knows it, e8s.
    pub fn debt(&self, user: &NodeId) -> u64 {
        lock(&self.book).debt(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_answers_map_to_what_the_settler_does() {
        let trade_like = Err(MarketError::Replayed { paid_e8s: 5 });
        assert_eq!(outcome(&trade_like), SettleOutcome::Settled);
        assert_eq!(
            outcome(&Err(MarketError::CheckpointNotFinal(3))),
            SettleOutcome::NotYet
        );
        assert_eq!(
            outcome(&Err(MarketError::Ledger("down".into()))),
            SettleOutcome::NotYet
        );
        assert_eq!(outcome(&Err(MarketError::BadProof)), SettleOutcome::Refused);
        assert_eq!(
            outcome(&Err(MarketError::UnboundUser)),
            SettleOutcome::Refused
        );
    }
}
