//! The canister's Candid interface, built from the same Rust types the shell uses (methods
//! sorted by name, `EpochsArg` as the class argument). `candid/epochs.did` is this text;
//! `tests/candid.rs` keeps them equal (`UPDATE_DID=1 cargo test -p emc-epochs --test candid`
//! rewrites the file) and checks that the wasm exports it.

use crate::types::*;
use candid::types::{internal::TypeContainer, CandidType, FuncMode, Function, Type, TypeInner};
use candid::Principal;
use emc_types::{Checkpoint, CheckpointSignature, NodeId, ValidatorSet};

struct Service {
    env: TypeContainer,
    methods: Vec<(String, Type)>,
}

impl Service {
    fn method(&mut self, name: &str, query: bool, args: Vec<Type>, rets: Vec<Type>) {
        let modes = if query { vec![FuncMode::Query] } else { vec![] };
        self.methods.push((
            name.to_string(),
            TypeInner::Func(Function { modes, args, rets }).into(),
        ));
    }

    fn ty<T: CandidType>(&mut self) -> Type {
        self.env.add::<T>()
    }
}

type R<T> = Result<T, EpochsError>;

/// The `.did` text of the epochs canister.
pub fn service_did() -> String {
    let mut s = Service {
        env: TypeContainer::new(),
        methods: Vec::new(),
    };
    macro_rules! m {
        ($name:literal, $query:expr, ($($a:ty),*) -> ($($r:ty),*)) => {{
            let args = vec![$(s.ty::<$a>()),*];
            let rets = vec![$(s.ty::<$r>()),*];
            s.method($name, $query, args, rets);
        }};
    }
    m!("submit_checkpoint", false, (Checkpoint, Vec<CheckpointSignature>) -> (R<StoredCheckpoint>));
    m!("submit_evidence", false, (EquivocationEvidence) -> (R<EquivocationOutcome>));
    m!("declare_epoch_data", false, (EpochDataHeader) -> (R<EpochSummary>));
    m!("upload_chunk", false, (DataChunk) -> (R<EpochSummary>));
    m!("close_epoch", false, (u64) -> (R<EpochSummary>));
    m!("run_payouts", false, () -> (u64));
    m!("validate_set_params", true, (Params) -> (Result<String, String>));
    m!("execute_set_params", false, (Params) -> ());
    m!("validate_resolve_payout", true, (ResolvePayoutArgs) -> (Result<String, String>));
    m!("execute_resolve_payout", false, (ResolvePayoutArgs) -> ());
    m!("checkpoint", true, (u64) -> (Option<StoredCheckpoint>));
    m!("latest_checkpoint", true, () -> (Option<StoredCheckpoint>));
    m!("epoch_summary", true, (u64) -> (Option<EpochSummary>));
    m!("node_reward", true, (NodeId, u64) -> (Option<Payout>));
    m!("owner_rewards", true, (Principal, u64) -> (Vec<Payout>));
    m!("total_emitted", true, () -> (u64));
    m!("pending_payouts", true, () -> (Vec<Payout>));
    m!("validator_set", true, (u64) -> (Option<ValidatorSet>));
    m!("get_config", true, () -> (Config));
    m!("stats", true, () -> (Stats));
    let init = vec![s.ty::<EpochsArg>()];
    s.methods.sort_unstable_by_key(|(name, _)| name.clone());
    let service: Type = TypeInner::Service(s.methods).into();
    let actor = Some(TypeInner::Class(init, service).into());
    let mut docs = candid::pretty::candid::DocComments::empty();
    docs.extend_types(s.env.docs.clone());
    candid::pretty::candid::compile_with_docs(&s.env.env, &actor, &docs)
}
