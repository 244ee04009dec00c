//! Suite `registry`: instructions per registry call (register, stake, validator_set) on the
//! embedded IC with 1,000, 10,000 and 100,000 registered nodes, to show that per-call cost
//! stays flat as the registry grows.
//!
//! Seeding 100,000 nodes through signed `register` calls would take too long interpreted, so
//! the suite builds a separate wasm with the `bench` feature of emc-registry (it adds
//! `bench_seed_nodes`, never present in the production wasm) into
//! `target/canisters/registry-bench.wasm`, seeds synthetic nodes with it, and then measures
//! real signed registrations, real ICRC-2 stakes against the real ledger, the
//! `validator_set` query of an epoch with 13 validators, the epoch roll that takes an epoch's
//! validator set and node snapshot (every registered node is a member), and one full
//! `epoch_nodes` page (2,000 nodes) of that snapshot.

use anyhow::{anyhow, Result};
use candid::{Decode, Encode, Nat, Principal};
use ed25519_dalek::{Signer, SigningKey};
use emc_embedded_ic::{user_principal, EmbeddedIc};
use emc_ledger::{InitArgs as LedgerInit, LedgerArg};
use emc_registry::rules::registration_message;
use emc_registry::{
    EpochInfo, EpochNodesArgs, EpochNodesPage, InitArgs, Node, RegisterArgs, RegistryArg,
    RegistryError, Role, StakeArgs, StakeInfo, ValidatorSetSnapshot, E8S,
};
use emc_types::NodeId;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use serde_bytes::ByteBuf;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

const FEE: u64 = 10_000;
const SIZES: [(u64, &str); 3] = [(1_000, "1k"), (10_000, "10k"), (100_000, "100k")];
const SEED_CHUNK: u64 = 2_000;
const VALIDATORS: u8 = 13;
const SAMPLES: u8 = 3;

struct Bench {
    ic: EmbeddedIc,
    ledger: Principal,
    registry: Principal,
    admin: Principal,
    next_seed: u32,
}

fn key(seed: u32) -> SigningKey {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&seed.to_be_bytes());
    b[4] = 0xbe;
    SigningKey::from_bytes(&b)
}

impl Bench {
    fn update(
        &mut self,
        who: Principal,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>> {
        self.ic
            .update_call(canister, who, method, arg)
            .map_err(|e| anyhow!("{method}: {e}"))
    }

    fn owner(i: u32) -> Principal {
        user_principal(1_000 + u64::from(i % 50))
    }

    /// A real signed registration; returns (node id, instructions of `register`).
    fn register(&mut self, role: Role) -> Result<(NodeId, u64)> {
        let seed = self.next_seed;
        self.next_seed += 1;
        let who = Self::owner(seed);
        let r = self.update(who, self.registry, "registration_nonce", Encode!()?)?;
        let nonce = Decode!(&r, Result<ByteBuf, RegistryError>)?.map_err(|e| anyhow!("{e}"))?;
        let nonce: [u8; 32] = nonce.as_slice().try_into()?;
        let k = key(seed);
        let args = RegisterArgs {
            role,
            public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
            network_address: format!("10.2.{}.{}:4000", seed >> 8, seed & 0xff),
            region: "eu-central".into(),
            hardware: "1x RTX 4090, 64 GiB".into(),
            signature: ByteBuf::from(
                k.sign(&registration_message(&who, &nonce, role))
                    .to_bytes()
                    .to_vec(),
            ),
        };
        let r = self.update(who, self.registry, "register", Encode!(&args)?)?;
        let instructions = self.ic.last_instructions();
        let node =
            Decode!(&r, Result<Node, RegistryError>)?.map_err(|e| anyhow!("register: {e}"))?;
        Ok((node.id, instructions))
    }

    /// Approve + a real stake (the registry pulls from the ledger); returns the instructions of
    /// the stake call's whole call context in the registry (request and ledger callback).
    fn stake(
        &mut self,
        node: NodeId,
        seed_owner: Principal,
        amount: u64,
        days: u32,
    ) -> Result<u64> {
        let approve = ApproveArgs {
            from_subaccount: None,
            spender: Account {
                owner: self.registry,
                subaccount: None,
            },
            amount: Nat::from(amount + FEE),
            expected_allowance: None,
            expires_at: None,
            fee: None,
            memo: None,
            created_at_time: None,
        };
        let r = self.update(seed_owner, self.ledger, "icrc2_approve", Encode!(&approve)?)?;
        Decode!(&r, Result<Nat, ApproveError>)?.map_err(|e| anyhow!("approve: {e:?}"))?;
        let args = StakeArgs {
            node_id: node,
            amount_e8s: amount,
            term_days: days,
        };
        let id = self
            .ic
            .submit_update(self.registry, seed_owner, "stake", Encode!(&args)?)
            .map_err(|e| anyhow!("stake: {e}"))?;
        let r = self
            .ic
            .await_update(id)
            .map_err(|e| anyhow!("stake: {e}"))?
            .map_err(|e| anyhow!("stake: {e}"))?;
        Decode!(&r, Result<StakeInfo, RegistryError>)?.map_err(|e| anyhow!("stake: {e}"))?;
        self.ic
            .message_instructions(id)
            .ok_or_else(|| anyhow!("no instruction count for stake"))
    }

    fn validator_set_instructions(&mut self) -> Result<(u64, usize)> {
        let r = self
            .ic
            .query_call(self.registry, self.admin, "current_epoch", Encode!()?)
            .map_err(|e| anyhow!("{e}"))?;
        let ep = Decode!(&r, EpochInfo)?;
        let r = self
            .ic
            .query_call(
                self.registry,
                self.admin,
                "validator_set",
                Encode!(&ep.epoch)?,
            )
            .map_err(|e| anyhow!("validator_set: {e}"))?;
        let instructions = self.ic.last_instructions();
        let set =
            Decode!(&r, Option<ValidatorSetSnapshot>)?.ok_or_else(|| anyhow!("no snapshot"))?;
        Ok((instructions, set.set.len()))
    }

    /// Instructions of one `retry_pending` call's own execution (the timer's work: the epoch
    /// roll, expiries, the journal), run before the timer itself sees the new time.
    fn retry_pending_instructions(&mut self) -> Result<u64> {
        let r = self.update(self.admin, self.registry, "retry_pending", Encode!()?)?;
        Decode!(&r, u64)?;
        Ok(self.ic.last_instructions())
    }

    /// Moves to the next epoch: returns the instructions of the call that takes its
    /// snapshots, of the same call without an epoch change, and the new epoch.
    fn epoch_roll_instructions(&mut self) -> Result<(u64, u64, u64)> {
        let idle = self.retry_pending_instructions()?;
        self.ic.advance_time(Duration::from_secs(86_400));
        let roll = self.retry_pending_instructions()?;
        self.ic.tick();
        let r = self
            .ic
            .query_call(self.registry, self.admin, "current_epoch", Encode!()?)
            .map_err(|e| anyhow!("{e}"))?;
        Ok((roll, idle, Decode!(&r, EpochInfo)?.epoch))
    }

    /// Instructions of the `epoch_nodes` query of a full page from the middle of `epoch`'s
    /// snapshot; returns them, the page's length and the snapshot's total.
    fn epoch_nodes_page_instructions(&mut self, epoch: u64) -> Result<(u64, usize, u64)> {
        let args = EpochNodesArgs {
            epoch,
            start_after: Some(NodeId([0x80; 32])),
            limit: 0,
        };
        let r = self
            .ic
            .query_call(self.registry, self.admin, "epoch_nodes", Encode!(&args)?)
            .map_err(|e| anyhow!("epoch_nodes: {e}"))?;
        let instructions = self.ic.last_instructions();
        let page = Decode!(&r, Option<EpochNodesPage>)?
            .ok_or_else(|| anyhow!("no node snapshot of epoch {epoch}"))?;
        Ok((instructions, page.nodes.len(), page.total))
    }
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

pub fn run() -> Result<Value> {
    let ledger_wasm = crate::canister_wasm("ledger")?;
    let registry_wasm = crate::feature_wasm("emc-registry", "bench", "release", "registry-bench")?;
    let admin = user_principal(1);
    let mut ic = EmbeddedIc::new();
    let init = LedgerArg::Init(LedgerInit {
        token_name: "EdgeMatrix Computing".into(),
        token_symbol: "EMC".into(),
        decimals: Some(8),
        transfer_fee: Nat::from(FEE),
        minting_account: Account::from(user_principal(3)),
        initial_balances: (0..50)
            .map(|i| (Account::from(Bench::owner(i)), Nat::from(20_000_000 * E8S)))
            .collect(),
        fee_collector_account: None,
        max_memo_length: None,
        governance: admin,
        supply_cap: None,
        metadata: None,
    });
    let ledger = ic
        .install_canister(&ledger_wasm, Encode!(&init)?, vec![admin])
        .map_err(|e| anyhow!("ledger: {e}"))?;
    let args = RegistryArg::Init(InitArgs {
        ledger,
        governance: admin,
        treasury: Account::from(user_principal(4)),
        epochs_canister: None,
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: None,
    });
    let registry = ic
        .install_canister(&registry_wasm, Encode!(&args)?, vec![admin])
        .map_err(|e| anyhow!("registry: {e}"))?;
    let mut b = Bench {
        ic,
        ledger,
        registry,
        admin,
        next_seed: 0,
    };

    // The first cohort: 13 staked validators, then the epoch-1 snapshot.
    for _ in 0..VALIDATORS {
        let seed = b.next_seed;
        let (id, _) = b.register(Role::Validator)?;
        b.stake(id, Bench::owner(seed), 1_000_000 * E8S, 360)?;
    }
    b.ic.advance_time(Duration::from_secs(86_400 + 61));
    b.ic.tick();

    let mut out = Map::new();
    let mut registered = u64::from(VALIDATORS);
    let seeder = user_principal(9);
    let mut seed_secs = 0.0;
    let mut seed_instr_per_node = 0;
    for (size, label) in SIZES {
        let start = Instant::now();
        while registered < size {
            let n = SEED_CHUNK.min(size - registered);
            let r = b.update(seeder, registry, "bench_seed_nodes", Encode!(&n)?)?;
            let total = Decode!(&r, u64)?;
            seed_instr_per_node = b.ic.last_instructions() / n;
            registered = total;
        }
        seed_secs += start.elapsed().as_secs_f64();
        let mut reg = Vec::new();
        let mut stake = Vec::new();
        for _ in 0..SAMPLES {
            let seed = b.next_seed;
            let (id, instructions) = b.register(Role::Compute)?;
            reg.push(instructions);
            stake.push(b.stake(id, Bench::owner(seed), 1_000 * E8S, 7)?);
            registered += 1;
        }
        let (vs, members) = b.validator_set_instructions()?;
        out.insert(format!("register_instructions_{label}"), json!(median(reg)));
        out.insert(format!("stake_instructions_{label}"), json!(median(stake)));
        out.insert(format!("validator_set_instructions_{label}"), json!(vs));
        out.insert(format!("validator_set_members_{label}"), json!(members));
        let (roll, idle, epoch) = b.epoch_roll_instructions()?;
        let (page, page_len, snapshot_nodes) = b.epoch_nodes_page_instructions(epoch)?;
        out.insert(format!("epoch_roll_instructions_{label}"), json!(roll));
        out.insert(format!("timer_idle_instructions_{label}"), json!(idle));
        out.insert(
            format!("node_snapshot_instructions_per_node_{label}"),
            json!(roll.saturating_sub(idle) / snapshot_nodes.max(1)),
        );
        out.insert(format!("snapshot_nodes_{label}"), json!(snapshot_nodes));
        out.insert(
            format!("epoch_nodes_page_instructions_{label}"),
            json!(page),
        );
        out.insert(format!("epoch_nodes_page_len_{label}"), json!(page_len));
        out.insert(
            format!("epoch_nodes_page_instructions_per_node_{label}"),
            json!(page / (page_len as u64).max(1)),
        );
        out.insert(format!("nodes_{label}"), json!(registered));
    }
    let ratio = |k: &str| -> f64 {
        let a = out[&format!("{k}_1k")].as_u64().unwrap_or(1).max(1) as f64;
        let c = out[&format!("{k}_100k")].as_u64().unwrap_or(0) as f64;
        (c / a * 1000.0).round() / 1000.0
    };
    let flat = json!({
        "register_100k_over_1k": ratio("register_instructions"),
        "stake_100k_over_1k": ratio("stake_instructions"),
        "validator_set_100k_over_1k": ratio("validator_set_instructions"),
        "epoch_nodes_page_per_node_100k_over_1k": ratio("epoch_nodes_page_instructions_per_node"),
        "node_snapshot_per_node_100k_over_1k": ratio("node_snapshot_instructions_per_node"),
    });
    out.insert("growth".into(), flat);
    out.insert(
        "seed_instructions_per_node".into(),
        json!(seed_instr_per_node),
    );
    out.insert(
        "seed_seconds".into(),
        json!((seed_secs * 10.0).round() / 10.0),
    );
    out.insert(
        "note".into(),
        json!("instructions on the embedded IC (IC-style counting); register = the register call with ed25519 verification; stake = the registry's whole call context (journal write, ledger call, confirmation); validator_set = the query of a 13-member epoch snapshot; epoch_roll = the retry_pending execution that takes the next epoch's validator set and node snapshot (every node a member), timer_idle = the same call without an epoch change; epoch_nodes_page = one 2,000-node page query"),
    );
    Ok(Value::Object(out))
}
