//! The canister's Candid interface, built from the Rust types the shell uses.
//! `candid/test-sns-governance.did` is this text (`UPDATE_DID=1 cargo test -p emc-test-sns-governance
//! --test it interface::` rewrites it).

use crate::types::*;
use emc_candid_service::ServiceBuilder;

type R<T> = Result<T, GovernanceError>;

/// The `.did` text of the stand-in governance canister.
pub fn service_did() -> String {
    let mut s = ServiceBuilder::new();
    macro_rules! m {
        ($($t:tt)*) => { emc_candid_service::method!(s, $($t)*) };
    }
    m!("make_proposal", false, (u64, ProposalInput) -> (R<u64>));
    m!("register_vote", false, (u64, u64, bool) -> (R<ProposalStatus>));
    m!("process_deadlines", false, () -> (u64));
    m!("get_proposal", true, (u64) -> (Option<Proposal>));
    m!("list_proposals", true, (u64, u32) -> (Vec<Proposal>));
    m!("list_nervous_system_functions", true, () -> (Vec<NervousSystemFunction>));
    m!("list_neurons", true, () -> (Vec<Neuron>));
    s.did::<InitArgs>()
}
