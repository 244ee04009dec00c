//! The EMC DAO's generic nervous system functions: the one list of (id, target method,
//! validator method) that `docs/governance.md`, `scripts/sns-register-functions.sh`, the
//! stand-in SNS governance, the SDK's `emc gov` and the tests use (a test checks the document
//! and the script against it and every method against the `.did` files).

/// Which EMC canister a function targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmcCanister {
    /// `canisters/registry`.
    Registry,
    /// `canisters/epochs`.
    Epochs,
    /// `canisters/market`.
    Market,
    /// `canisters/dao`.
    Dao,
}

impl EmcCanister {
    /// The name in `dfx.json` and `candid/<name>.did`.
    pub fn name(self) -> &'static str {
        match self {
            EmcCanister::Registry => "registry",
            EmcCanister::Epochs => "epochs",
            EmcCanister::Market => "market",
            EmcCanister::Dao => "dao",
        }
    }
}

/// One generic function: id, name, canister, and the method suffix (`execute_<m>` is the
/// target, `validate_<m>` the validator, both on the same canister).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmcFunction {
    /// SNS function id (>= 1000).
    pub id: u64,
    /// Name shown to voters.
    pub name: &'static str,
    /// Canister.
    pub canister: EmcCanister,
    /// `set_params`, `set_governance`, ...
    pub method: &'static str,
    /// The candid payload type (as in the canister's `.did`).
    pub payload: &'static str,
    /// The SNS topic the function is registered under (the real SNS requires one).
    pub topic: &'static str,
}

impl EmcFunction {
    /// `execute_<method>`.
    pub fn target_method(&self) -> String {
        format!("execute_{}", self.method)
    }
    /// `validate_<method>`.
    pub fn validator_method(&self) -> String {
        format!("validate_{}", self.method)
    }
}

/// Every governance-only method of the EMC canisters, as SNS generic functions.
#[rustfmt::skip]
pub const EMC_FUNCTIONS: &[EmcFunction] = &[
    f(1000, "Registry parameters", EmcCanister::Registry, "set_params", "Params", "ApplicationBusinessLogic"),
    f(1001, "Registry treasury account", EmcCanister::Registry, "set_treasury", "Account", "CriticalDappOperations"),
    f(1002, "Registry's epochs canister", EmcCanister::Registry, "set_epochs_canister", "opt principal", "CriticalDappOperations"),
    f(1003, "Settle a stuck stake movement", EmcCanister::Registry, "resolve_movement", "ResolveMovementArgs", "ApplicationBusinessLogic"),
    f(1004, "Epochs parameters", EmcCanister::Epochs, "set_params", "Params", "ApplicationBusinessLogic"),
    f(1005, "The market allowed to mint trading rewards", EmcCanister::Epochs, "set_market", "opt principal", "CriticalDappOperations"),
    f(1006, "Settle a stuck reward payout", EmcCanister::Epochs, "resolve_payout", "ResolvePayoutArgs", "ApplicationBusinessLogic"),
    f(1007, "Market parameters", EmcCanister::Market, "set_params", "Params", "ApplicationBusinessLogic"),
    f(1008, "Settle a stuck market transfer", EmcCanister::Market, "resolve_transfer", "ResolveTransferArgs", "ApplicationBusinessLogic"),
    f(1009, "Registry governance principal", EmcCanister::Registry, "set_governance", "principal", "CriticalDappOperations"),
    f(1010, "Epochs governance principal", EmcCanister::Epochs, "set_governance", "principal", "CriticalDappOperations"),
    f(1011, "Market governance principal", EmcCanister::Market, "set_governance", "principal", "CriticalDappOperations"),
    f(1012, "The DAO canister allowed to mint grants and the airdrop", EmcCanister::Epochs, "set_dao", "opt principal", "CriticalDappOperations"),
    f(1013, "Developer grant", EmcCanister::Dao, "grant", "GrantArgs", "TreasuryAssetManagement"),
    f(1014, "DAO airdrop batch", EmcCanister::Dao, "create_airdrop_batch", "AirdropBatchArgs", "TreasuryAssetManagement"),
    f(1015, "DAO canister governance principal", EmcCanister::Dao, "set_governance", "principal", "CriticalDappOperations"),
    f(1016, "Settle a stuck grant or airdrop payment", EmcCanister::Dao, "resolve_payment", "ResolvePaymentArgs", "ApplicationBusinessLogic"),
    f(1017, "The sockets canister the market mints computing sockets in", EmcCanister::Market, "set_sockets", "opt principal", "CriticalDappOperations"),
];

const fn f(
    id: u64,
    name: &'static str,
    canister: EmcCanister,
    method: &'static str,
    payload: &'static str,
    topic: &'static str,
) -> EmcFunction {
    EmcFunction {
        id,
        name,
        canister,
        method,
        payload,
        topic,
    }
}
