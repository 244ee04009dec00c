//! Suite `epochs`: instructions of the epochs canister on the embedded IC, with the real ledger
//! (the epochs canister is its minting account) and the real registry (13 staked validators):
//! checkpoint verification with 9 of 13 signatures, and the payout cost per node for epochs of
//! 1,000, 10,000 and 100,000 nodes (one 1,000-node batch measured in the middle of the epoch:
//! the planning message plus every mint callback), with the largest single message seen
//! (chunk upload of 2,000 records, payout planning, close).
//!
//! The checkpoint interval is set to one per epoch (43,200 blocks) through the init
//! parameters, so that one quorum-signed checkpoint closes each measured epoch: epoch `e`'s
//! closing checkpoint is at height `(e + 1) * 43,200` and carries epoch `e` (emc-consensus
//! numbering: height `h >= 1` is in epoch `(h - 1) / 43,200`).
//!
//! `verify_checkpoint_instructions_67_of_100` is one checkpoint signed by 67 of 100 staked
//! validators; the BLS12-381 alternative beside it is `checkpoint_bls`.

use anyhow::{anyhow, Context, Result};
use candid::{Decode, Encode, Nat, Principal};
use ed25519_dalek::{Signer, SigningKey};
use emc_embedded_ic::{user_principal, EmbeddedIc, InstallMode};
use emc_epochs::data::{build_chunks, header_hash};
use emc_epochs::{
    EpochSummary, EpochsArg, EpochsError, InitArgs, NodeRecord, Params, Role, StoredCheckpoint,
};
use emc_ledger::{InitArgs as LedgerInit, LedgerArg};
use emc_registry as reg;
use emc_types::{
    Checkpoint, CheckpointSignature, Hash, NodeId, Signature, ValidatorSet, ZERO_HASH,
};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use serde_bytes::ByteBuf;
use serde_json::{json, Value};
use std::time::Duration;

const FEE: u64 = 10_000;
const E8S: u64 = 100_000_000;
const BLOCKS: u64 = 43_200;
const SIZES: [(u64, &str); 3] = [(1_000, "1k"), (10_000, "10k"), (100_000, "100k")];
const BATCH: u32 = 1_000;
const PER_CHUNK: usize = 2_000;

fn acct(p: Principal) -> Account {
    Account {
        owner: p,
        subaccount: None,
    }
}

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[40 + i; 32])
}

struct B {
    ic: EmbeddedIc,
    registry: Principal,
    epochs: Principal,
    max_message: u64,
}

impl B {
    fn update(&mut self, c: Principal, who: Principal, m: &str, arg: Vec<u8>) -> Result<Vec<u8>> {
        self.ic
            .update_call(c, who, m, arg)
            .map_err(|e| anyhow!("{m}: {e}"))
    }

    /// An update to the epochs canister; returns the reply and the instructions of its whole
    /// call context; the largest single execution is tracked.
    fn epochs_call(&mut self, m: &str, arg: Vec<u8>) -> Result<(Vec<u8>, u64)> {
        let id = self
            .ic
            .submit_update(self.epochs, user_principal(9), m, arg)
            .map_err(|e| anyhow!("{m}: {e:?}"))?;
        let r = self
            .ic
            .await_update(id)
            .map_err(|e| anyhow!("{m}: {e}"))?
            .map_err(|e| anyhow!("{m}: {e:?}"))?;
        self.max_message = self.max_message.max(self.ic.last_instructions());
        let total = self.ic.message_instructions(id).unwrap_or(0);
        Ok((r, total))
    }

    fn set(&mut self, epoch: u64) -> Result<ValidatorSet> {
        let r = self
            .ic
            .query_call(
                self.registry,
                user_principal(1),
                "validator_set",
                Encode!(&epoch)?,
            )
            .map_err(|e| anyhow!("validator_set: {e:?}"))?;
        Decode!(&r, Option<reg::ValidatorSetSnapshot>)?
            .map(|s| s.set)
            .ok_or_else(|| anyhow!("no validator set for epoch {epoch}"))
    }
}

fn sign(c: &Checkpoint, keys: &[SigningKey]) -> Vec<CheckpointSignature> {
    let msg = c.signing_bytes();
    keys.iter()
        .map(|k| CheckpointSignature {
            signer: NodeId(k.verifying_key().to_bytes()),
            signature: Signature(k.sign(&msg).to_bytes()),
        })
        .collect()
}

fn records(n: u64) -> Vec<NodeRecord> {
    let mut v: Vec<NodeRecord> = (0..n)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
            NodeRecord {
                node: NodeId(id),
                owner: user_principal(10_000 + i % 5_000),
                role: Role::Compute,
                stake_e8s: 0,
                active_blocks: 0,
                poc_e: 5_000 + (i % 37) * 731,
                multiplier: 27_000,
                penalty_minutes: 0,
            }
        })
        .collect();
    v.sort_by_key(|r| r.node);
    v
}

fn setup(n: u8) -> Result<(B, Vec<SigningKey>)> {
    let mut ic = EmbeddedIc::new();
    let admin = user_principal(1);
    let ledger = ic.create_canister(vec![admin]);
    let registry = ic.create_canister(vec![admin]);
    let epochs = ic.create_canister(vec![admin]);
    let owner = |i: u8| user_principal(100 + u64::from(i));
    let init = LedgerInit {
        token_name: "EdgeMatrix Computing".into(),
        token_symbol: "EMC".into(),
        decimals: None,
        transfer_fee: Nat::from(FEE),
        minting_account: acct(epochs),
        initial_balances: (0..n)
            .map(|i| (acct(owner(i)), Nat::from(2_000_000 * E8S)))
            .collect(),
        fee_collector_account: None,
        max_memo_length: None,
        governance: user_principal(2),
        supply_cap: None,
        metadata: None,
    };
    ic.install_code(
        ledger,
        InstallMode::Install,
        &crate::canister_wasm("ledger")?,
        Encode!(&LedgerArg::Init(init))?,
        admin,
    )
    .map_err(|e| anyhow!("ledger install: {e}"))?;
    let args = reg::RegistryArg::Init(reg::InitArgs {
        ledger,
        governance: user_principal(2),
        treasury: acct(user_principal(4)),
        epochs_canister: Some(epochs),
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: None,
    });
    ic.install_code(
        registry,
        InstallMode::Install,
        &crate::canister_wasm("registry")?,
        Encode!(&args)?,
        admin,
    )
    .map_err(|e| anyhow!("registry install: {e}"))?;
    let params = Params {
        epoch_length_blocks: BLOCKS,
        checkpoint_interval_blocks: BLOCKS,
        payout_batch: BATCH,
        ..Params::default()
    };
    let args = EpochsArg::Init(InitArgs {
        ledger,
        registry,
        governance: user_principal(2),
        params: Some(params),
    });
    ic.install_code(
        epochs,
        InstallMode::Install,
        &crate::canister_wasm("epochs")?,
        Encode!(&args)?,
        admin,
    )
    .map_err(|e| anyhow!("epochs install: {e}"))?;
    let mut b = B {
        ic,
        registry,
        epochs,
        max_message: 0,
    };
    for i in 0..n {
        let who = owner(i);
        let r = b.update(registry, who, "registration_nonce", Encode!()?)?;
        let nonce =
            Decode!(&r, Result<ByteBuf, reg::RegistryError>)?.map_err(|e| anyhow!("{e}"))?;
        let nonce: [u8; 32] = nonce.as_slice().try_into()?;
        let k = key(i);
        let ra = reg::RegisterArgs {
            role: reg::Role::Validator,
            public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
            network_address: format!("10.1.0.{i}:4000"),
            region: "eu-central".into(),
            hardware: "validator".into(),
            signature: ByteBuf::from(
                k.sign(&reg::rules::registration_message(
                    &who,
                    &nonce,
                    reg::Role::Validator,
                ))
                .to_bytes()
                .to_vec(),
            ),
        };
        let r = b.update(registry, who, "register", Encode!(&ra)?)?;
        Decode!(&r, Result<reg::Node, reg::RegistryError>)?.map_err(|e| anyhow!("{e}"))?;
        let a = ApproveArgs {
            from_subaccount: None,
            spender: acct(registry),
            amount: Nat::from(1_000_000 * E8S + FEE),
            expected_allowance: None,
            expires_at: None,
            fee: None,
            memo: None,
            created_at_time: None,
        };
        let r = b.update(ledger, who, "icrc2_approve", Encode!(&a)?)?;
        Decode!(&r, Result<Nat, ApproveError>)?.map_err(|e| anyhow!("{e:?}"))?;
        let sa = reg::StakeArgs {
            node_id: NodeId(k.verifying_key().to_bytes()),
            amount_e8s: 1_000_000 * E8S,
            term_days: 360,
        };
        let r = b.update(registry, who, "stake", Encode!(&sa)?)?;
        Decode!(&r, Result<reg::StakeInfo, reg::RegistryError>)?.map_err(|e| anyhow!("{e}"))?;
    }
    let keys = (0..n).map(key).collect();
    Ok((b, keys))
}

/// Instructions of one `submit_checkpoint` signed by a quorum (67) of 100 validators (100
/// staked validators in the registry; the set is fetched and cached by an under-signed
/// submission first, as in [`run`]), and the checkpoint's signing bytes.
fn verify_67_of_100() -> Result<(u64, Vec<u8>)> {
    let (mut b, all_keys) = setup(100)?;
    b.ic.advance_time(Duration::from_secs(86_400));
    b.ic.tick();
    b.ic.advance_time(Duration::from_secs(61));
    b.ic.tick();
    let set = b.set(1)?;
    anyhow::ensure!(set.len() == 100, "the set has {} members", set.len());
    let keys: Vec<SigningKey> = set
        .members
        .iter()
        .filter_map(|m| {
            all_keys
                .iter()
                .find(|k| k.verifying_key().to_bytes() == m.0)
                .cloned()
        })
        .collect();
    let c = Checkpoint {
        height: 2 * BLOCKS,
        epoch: 1,
        state_root: Hash([2; 32]),
        prev_checkpoint_hash: ZERO_HASH,
        validator_set_id: set.id(),
        timestamp_ns: b.ic.time(),
        poc_root: Hash([3; 32]),
        liveness_root: Hash([4; 32]),
        receipts_root: Hash([5; 32]),
    };
    let q = set.quorum();
    let (r, _) = b.epochs_call("submit_checkpoint", Encode!(&c, &sign(&c, &keys[..q - 1]))?)?;
    let refused = Decode!(&r, Result<StoredCheckpoint, EpochsError>)?;
    anyhow::ensure!(refused.is_err(), "an under-signed checkpoint was accepted");
    let (r, instr) = b.epochs_call("submit_checkpoint", Encode!(&c, &sign(&c, &keys[..q]))?)?;
    Decode!(&r, Result<StoredCheckpoint, EpochsError>)?
        .map_err(|e| anyhow!("checkpoint refused: {e}"))?;
    Ok((instr, c.signing_bytes()))
}

pub fn run() -> Result<Value> {
    let (mut b, all_keys) = setup(13)?;
    let mut out = serde_json::Map::new();
    let mut prev = ZERO_HASH;
    let mut verify = Vec::new();
    for (i, (n, label)) in SIZES.iter().enumerate() {
        let epoch = i as u64 + 1;
        b.ic.advance_time(Duration::from_secs(86_400));
        b.ic.tick();
        b.ic.advance_time(Duration::from_secs(61));
        b.ic.tick();
        let set = b.set(epoch)?;
        let keys: Vec<SigningKey> = set
            .members
            .iter()
            .filter_map(|m| {
                all_keys
                    .iter()
                    .find(|k| k.verifying_key().to_bytes() == m.0)
                    .cloned()
            })
            .collect();
        let recs = records(*n);
        let (header, chunks) = build_chunks(epoch, BLOCKS, &recs, PER_CHUNK);
        let c = Checkpoint {
            // The epoch's last height: its closing checkpoint.
            height: (epoch + 1) * BLOCKS,
            epoch,
            state_root: header_hash(&header),
            prev_checkpoint_hash: prev,
            validator_set_id: set.id(),
            timestamp_ns: b.ic.time(),
            poc_root: Hash([3; 32]),
            liveness_root: Hash([4; 32]),
            receipts_root: Hash([5; 32]),
        };
        // An under-signed submission first: it makes the canister fetch and cache the
        // registry's set, so that the measured call is the verification alone.
        let (r, _) = b.epochs_call("submit_checkpoint", Encode!(&c, &sign(&c, &keys[..8]))?)?;
        let refused = Decode!(&r, Result<StoredCheckpoint, EpochsError>)?;
        anyhow::ensure!(refused.is_err(), "an under-signed checkpoint was accepted");
        let (r, instr) = b.epochs_call("submit_checkpoint", Encode!(&c, &sign(&c, &keys[..9]))?)?;
        let stored = Decode!(&r, Result<StoredCheckpoint, EpochsError>)?
            .map_err(|e| anyhow!("checkpoint refused: {e}"))?;
        prev = stored.hash;
        verify.push(instr);
        let (r, _) = b.epochs_call("declare_epoch_data", Encode!(&header)?)?;
        Decode!(&r, Result<EpochSummary, EpochsError>)?.map_err(|e| anyhow!("{e}"))?;
        for ch in &chunks {
            let (r, _) = b.epochs_call("upload_chunk", Encode!(ch)?)?;
            Decode!(&r, Result<EpochSummary, EpochsError>)?.map_err(|e| anyhow!("{e}"))?;
        }
        b.ic.advance_time(Duration::from_secs(86_400));
        b.ic.tick();
        let (r, _) = b.epochs_call("close_epoch", Encode!(&epoch)?)?;
        Decode!(&r, Result<EpochSummary, EpochsError>)?
            .map_err(|e| anyhow!("close: {e}"))
            .context("closing the epoch")?;
        // Two batches; the second one (cursor inside the epoch) is reported.
        // (The 1k epoch has one batch only.)
        let mut per_node = 0;
        for round in 0..2 {
            let (r, total) = b.epochs_call("run_payouts", Encode!()?)?;
            let paid = Decode!(&r, u64)?;
            if paid == 0 && round > 0 {
                break;
            }
            anyhow::ensure!(paid > 0, "no payouts planned");
            per_node = total / paid;
        }
        out.insert(
            format!("payout_instructions_per_node_{label}"),
            json!(per_node),
        );
    }
    out.insert(
        "verify_checkpoint_instructions".into(),
        json!(verify.iter().max()),
    );
    let (v100, signing_bytes) = verify_67_of_100()?;
    out.insert(
        "verify_checkpoint_instructions_67_of_100".into(),
        json!(v100),
    );
    out.insert(
        "verify_checkpoint_67_of_100_share_of_update_limit".into(),
        json!(v100 as f64 / 40e9),
    );
    if let Value::Object(bls) = crate::checkpoint_bls::run(&signing_bytes)? {
        out.extend(bls);
    }
    out.insert("max_message_instructions".into(), json!(b.max_message));
    out.insert(
        "max_message_share_of_update_limit".into(),
        json!(b.max_message as f64 / 40e9),
    );
    out.insert(
        "notes".into(),
        json!("instructions on the embedded IC (IC-style counting). verify = one submit_checkpoint with 9 of 13 signatures and a cached validator set. payout per node = one run_payouts call context of a 1,000-node batch (planning + 1,000 mint callbacks; the ledger's own instructions excluded) / nodes, measured on the second batch of an epoch of that size. max message = the largest single execution of the epochs canister among checkpoint, chunk uploads (2,000 records), close and payout planning"),
    );
    Ok(Value::Object(out))
}
