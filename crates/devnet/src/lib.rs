//! The local devnet: an embedded IC with EMC's canisters installed and initialized with devnet
//! accounts, driven by the wall clock. The `emc-devnet` binary runs it; tests and the later
//! edge-network devnet build on [`Devnet`].

use anyhow::{anyhow, Context, Result};
use candid::{Decode, Encode, Nat, Principal};
use emc_embedded_ic::{user_principal, EmbeddedIc};
use emc_ledger::{InitArgs, LedgerArg};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use icrc_ledger_types::icrc3::blocks::{GetBlocksRequest, GetBlocksResult};
use std::time::Duration;

/// 1 EMC in e8s.
pub const E8S: u64 = 100_000_000;
/// The devnet's transfer fee: 0.0001 EMC.
pub const DEVNET_FEE: u64 = 10_000;
/// How many operator accounts get a genesis balance.
pub const OPERATORS: u64 = 8;
/// Genesis balance of each operator: enough to stake a validator (1,000,000 EMC) and more.
pub const OPERATOR_GENESIS: u64 = 2_000_000 * E8S;

/// The well-known devnet principals.
#[derive(Clone, Debug)]
pub struct Principals {
    /// Controls every canister and plays governance.
    pub admin: Principal,
    /// The minting account's owner until the epochs canister takes that role.
    pub minter: Principal,
    /// The treasury (fees and penalties).
    pub treasury: Principal,
    /// Node operators with genesis balances.
    pub operators: Vec<Principal>,
}

impl Principals {
    pub fn devnet() -> Self {
        Principals {
            admin: user_principal(0),
            minter: user_principal(1),
            treasury: user_principal(2),
            operators: (0..OPERATORS).map(|i| user_principal(100 + i)).collect(),
        }
    }
}

/// What `status` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub time_ns: u64,
    pub ledger_blocks: u64,
    pub total_supply_e8s: u128,
    pub registered_nodes: u64,
    pub registry_epoch: u64,
}

/// The embedded IC with EMC's canisters.
pub struct Devnet {
    pub ic: EmbeddedIc,
    pub principals: Principals,
    pub ledger: Principal,
    pub registry: Principal,
}

fn nat_u128(n: &Nat) -> Result<u128> {
    u128::try_from(n.0.clone()).map_err(|_| anyhow!("{n} does not fit in u128"))
}

impl Devnet {
    /// Creates the embedded IC and installs the canisters from `target/canisters/`.
    pub fn start() -> Result<Self> {
        let principals = Principals::devnet();
        let mut ic = EmbeddedIc::new();
        let ledger_wasm = std::fs::read(emc_test_env::canister_dir().join("ledger.wasm"))
            .context("target/canisters/ledger.wasm (run scripts/build-canisters.sh)")?;
        let init = LedgerArg::Init(InitArgs {
            fee_collector_account: Some(Account::from(principals.treasury)),
            ..InitArgs::emc(
                Account::from(principals.minter),
                principals.admin,
                DEVNET_FEE,
                principals
                    .operators
                    .iter()
                    .map(|p| (Account::from(*p), OPERATOR_GENESIS))
                    .collect(),
            )
        });
        let ledger = ic
            .install_canister(&ledger_wasm, Encode!(&init)?, vec![principals.admin])
            .map_err(|e| anyhow!("installing the ledger: {e}"))?;
        let registry_wasm = std::fs::read(emc_test_env::canister_dir().join("registry.wasm"))
            .context("target/canisters/registry.wasm (run scripts/build-canisters.sh)")?;
        let init = emc_registry::RegistryArg::Init(emc_registry::InitArgs {
            ledger,
            governance: principals.admin,
            treasury: Account::from(principals.treasury),
            epochs_canister: None,
            ledger_fee_e8s: Some(DEVNET_FEE),
            params: None,
            genesis_time: None,
        });
        let registry = ic
            .install_canister(&registry_wasm, Encode!(&init)?, vec![principals.admin])
            .map_err(|e| anyhow!("installing the registry: {e}"))?;
        Ok(Devnet {
            ic,
            principals,
            ledger,
            registry,
        })
    }

    /// Moves the clock forward by `by` and runs a round.
    pub fn advance(&mut self, by: Duration) {
        self.ic.advance_time(by);
        self.ic.tick();
    }

    /// A transfer of `amount_e8s` between two accounts, as `from`.
    pub fn transfer(&mut self, from: Principal, to: Principal, amount_e8s: u64) -> Result<u64> {
        let arg = TransferArg {
            from_subaccount: None,
            to: Account::from(to),
            fee: None,
            created_at_time: None,
            memo: None,
            amount: Nat::from(amount_e8s),
        };
        let reply = self
            .ic
            .update_call(self.ledger, from, "icrc1_transfer", Encode!(&arg)?)
            .map_err(|e| anyhow!("icrc1_transfer: {e}"))?;
        let result = Decode!(&reply, Result<Nat, TransferError>)?;
        let block = result.map_err(|e| anyhow!("icrc1_transfer refused: {e:?}"))?;
        u64::try_from(block.0).map_err(|_| anyhow!("block index overflows u64"))
    }

    pub fn status(&mut self) -> Result<Status> {
        let anon = Principal::anonymous();
        let supply = self
            .ic
            .query_call(self.ledger, anon, "icrc1_total_supply", Encode!()?)
            .map_err(|e| anyhow!("icrc1_total_supply: {e}"))?;
        let request = vec![GetBlocksRequest {
            start: Nat::from(0u64),
            length: Nat::from(0u64),
        }];
        let blocks = self
            .ic
            .query_call(self.ledger, anon, "icrc3_get_blocks", Encode!(&request)?)
            .map_err(|e| anyhow!("icrc3_get_blocks: {e}"))?;
        let blocks = Decode!(&blocks, GetBlocksResult)?;
        let stats = self
            .ic
            .query_call(self.registry, anon, "stats", Encode!()?)
            .map_err(|e| anyhow!("registry stats: {e}"))?;
        let stats = Decode!(&stats, emc_registry::Stats)?;
        let epoch = self
            .ic
            .query_call(self.registry, anon, "current_epoch", Encode!()?)
            .map_err(|e| anyhow!("registry current_epoch: {e}"))?;
        Ok(Status {
            time_ns: self.ic.time(),
            ledger_blocks: u64::try_from(nat_u128(&blocks.log_length)?)?,
            total_supply_e8s: nat_u128(&Decode!(&supply, Nat)?)?,
            registered_nodes: stats.nodes,
            registry_epoch: Decode!(&epoch, emc_registry::EpochInfo)?.epoch,
        })
    }
}
