//! Suite `market`: the compute market canister on the embedded IC with the real ledger,
//! registry (4 staked validators, one compute node) and epochs canister (a quorum-signed,
//! final checkpoint whose receipts root holds the receipts):
//!
//! * `deposit_instructions`: a buyer's `deposit` (its whole call context in the market: the
//!   journal entry, the ledger's `icrc2_transfer_from` callback, the credit);
//! * `settle_receipt_instructions`: one receipt with its inclusion proof (a 2,001-leaf period,
//!   11 siblings), the checkpoint's root and the node's owner already cached, the user signature
//!   verified: the whole call context;
//! * `settle_batch_instructions_per_receipt_1000`: one `settle_batch` of 1,000 receipts (100
//!   user keys, 10 lanes each) of a fresh checkpoint (its root fetched from the epochs
//!   canister in the same call), divided by 1,000;
//! * `settle_batch_instructions_per_receipt_1000_pool_of_4`: the same batch shape for receipts
//!   of a compute pool's entry node (a pool of 4: each receipt carries 3 co-signatures,
//!   verified in one batch with the user signatures; income split among 4 owners);
//! * `wash_trader_best_gain_e8s`: the pure core over a year (365 epochs from the market's
//!   opening): one person owning the buyer and the provider trades with itself with each
//!   strategy of a small search (trade size, trades per epoch, one account or two); the best
//!   net gain over everything it put in, e8s (negative: every strategy loses).

use anyhow::{anyhow, Result};
use candid::{Decode, Encode, Nat, Principal};
use ed25519_dalek::{Signer, SigningKey};
use emc_embedded_ic::{user_principal, EmbeddedIc, InstallMode};
use emc_market::market::pools::{Pool, PoolOfferArgs};
use emc_market::market::{bind_message, receipt_leaf};
use emc_market::{
    BindKeyArgs, EscrowView, MarketArg, MarketError, NodeFacts, Offer, OfferArgs, ReceiptProof,
    Trade, TransferOutcome,
};
use emc_registry as reg;
use emc_types::merkle::{inclusion_proof, merkle_root};
use emc_types::pool::cosign_message;
use emc_types::Cosignature;
use emc_types::{
    Checkpoint, CheckpointSignature, ComputeReceipt, Hash, MeterUnit, NodeId, Signature, ZERO_HASH,
};
use ic_stable_structures::VectorMemory;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use serde_bytes::ByteBuf;
use serde_json::{json, Value};
use std::time::Duration;

const FEE: u64 = 10_000;
const E8S: u64 = 100_000_000;
const L: u64 = 43_200;
const DAY: Duration = Duration::from_secs(86_400);

fn acct(p: Principal) -> Account {
    Account {
        owner: p,
        subaccount: None,
    }
}

fn sk(seed: u8, i: u8) -> SigningKey {
    let mut b = [seed; 32];
    b[31] = i;
    SigningKey::from_bytes(&b)
}

fn id_of(k: &SigningKey) -> NodeId {
    NodeId(k.verifying_key().to_bytes())
}

fn receipt(user: &SigningKey, node: &SigningKey, epoch: u64, cumulative: u64) -> ComputeReceipt {
    let mut r = ComputeReceipt {
        user: id_of(user),
        node: id_of(node),
        router: NodeId([9; 32]),
        epoch,
        nonce: 1,
        request_hash: Hash([1; 32]),
        response_hash: Hash([2; 32]),
        unit: MeterUnit::Tokens,
        units: cumulative,
        price_e8s: 1,
        cumulative_e8s: cumulative,
        node_signature: Signature([0; 64]),
        user_signature: Signature([0; 64]),
    };
    let body = r.body_hash();
    r.node_signature = Signature(node.sign(&body.0).to_bytes());
    r.user_signature = Signature(user.sign(&body.0).to_bytes());
    r
}

/// Proofs of `receipts` in a tree of them plus `filler` other leaves (dispatch records).
fn proofs(height: u64, receipts: &[ComputeReceipt], filler: usize) -> (Hash, Vec<ReceiptProof>) {
    let mut leaves: Vec<Hash> = receipts.iter().map(receipt_leaf).collect();
    leaves.extend((0..filler).map(|i| emc_types::merkle::leaf_hash(&(i as u64).to_be_bytes())));
    let root = merkle_root(&leaves);
    let ps = receipts
        .iter()
        .enumerate()
        .map(|(i, r)| ReceiptProof {
            receipt: r.clone(),
            checkpoint_height: height,
            leaf_index: i as u64,
            leaf_count: leaves.len() as u64,
            proof: inclusion_proof(&leaves, i),
            cosignatures: None,
        })
        .collect();
    (root, ps)
}

struct B {
    ic: EmbeddedIc,
    ledger: Principal,
    registry: Principal,
    epochs: Principal,
    market: Principal,
    prev: Hash,
}

impl B {
    fn update(&mut self, c: Principal, who: Principal, m: &str, arg: Vec<u8>) -> Result<Vec<u8>> {
        self.ic
            .update_call(c, who, m, arg)
            .map_err(|e| anyhow!("{m}: {e:?}"))
    }

    /// An update to the market; the reply and its whole call context's instructions.
    fn market_call(&mut self, who: Principal, m: &str, arg: Vec<u8>) -> Result<(Vec<u8>, u64)> {
        let id = self
            .ic
            .submit_update(self.market, who, m, arg)
            .map_err(|e| anyhow!("{m}: {e:?}"))?;
        let r = self
            .ic
            .await_update(id)
            .map_err(|e| anyhow!("{m}: {e}"))?
            .map_err(|e| anyhow!("{m}: {e:?}"))?;
        Ok((r, self.ic.message_instructions(id).unwrap_or(0)))
    }

    fn approve(&mut self, who: Principal, spender: Principal, amount: u64) -> Result<()> {
        let a = ApproveArgs {
            from_subaccount: None,
            spender: acct(spender),
            amount: Nat::from(amount),
            expected_allowance: None,
            expires_at: None,
            fee: None,
            memo: None,
            created_at_time: None,
        };
        let r = self.update(self.ledger, who, "icrc2_approve", Encode!(&a)?)?;
        Decode!(&r, Result<Nat, ApproveError>)?.map_err(|e| anyhow!("approve: {e:?}"))?;
        Ok(())
    }

    fn register(&mut self, who: Principal, k: &SigningKey, role: reg::Role) -> Result<()> {
        let r = self.update(self.registry, who, "registration_nonce", Encode!()?)?;
        let nonce = Decode!(&r, Result<ByteBuf, reg::RegistryError>)?
            .map_err(|e| anyhow!("nonce: {e:?}"))?;
        let nonce: [u8; 32] = nonce
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("nonce length"))?;
        let ra = reg::RegisterArgs {
            role,
            public_key: ByteBuf::from(k.verifying_key().to_bytes().to_vec()),
            network_address: "10.0.0.1:4000".into(),
            region: "eu".into(),
            hardware: "bench".into(),
            signature: ByteBuf::from(
                k.sign(&reg::rules::registration_message(&who, &nonce, role))
                    .to_bytes()
                    .to_vec(),
            ),
        };
        let r = self.update(self.registry, who, "register", Encode!(&ra)?)?;
        Decode!(&r, Result<reg::Node, reg::RegistryError>)?
            .map_err(|e| anyhow!("register: {e:?}"))?;
        Ok(())
    }

    /// Accepts a checkpoint at `epoch * L + 450 * k` with `root`, 3 of 4 validators signing,
    /// and waits out its challenge window.
    fn final_checkpoint(
        &mut self,
        keys: &[SigningKey],
        epoch: u64,
        k: u64,
        root: Hash,
    ) -> Result<u64> {
        let r = self
            .ic
            .query_call(
                self.registry,
                user_principal(1),
                "validator_set",
                Encode!(&epoch)?,
            )
            .map_err(|e| anyhow!("validator_set: {e:?}"))?;
        let set = Decode!(&r, Option<reg::ValidatorSetSnapshot>)?
            .ok_or_else(|| anyhow!("no validator set for epoch {epoch}"))?
            .set;
        let height = epoch * L + 450 * k;
        let c = Checkpoint {
            height,
            epoch,
            state_root: Hash([1; 32]),
            prev_checkpoint_hash: self.prev,
            validator_set_id: set.id(),
            timestamp_ns: self.ic.time(),
            poc_root: Hash([3; 32]),
            liveness_root: Hash([4; 32]),
            receipts_root: root,
        };
        let msg = c.signing_bytes();
        let signers: Vec<&SigningKey> = set
            .members
            .iter()
            .filter_map(|m| keys.iter().find(|k| k.verifying_key().to_bytes() == m.0))
            .take(3)
            .collect();
        let sigs: Vec<CheckpointSignature> = signers
            .iter()
            .map(|k| CheckpointSignature {
                signer: id_of(k),
                signature: Signature(k.sign(&msg).to_bytes()),
            })
            .collect();
        let r = self.update(
            self.epochs,
            user_principal(7),
            "submit_checkpoint",
            Encode!(&c, &sigs)?,
        )?;
        let stored = Decode!(&r, Result<emc_epochs::StoredCheckpoint, emc_epochs::EpochsError>)?
            .map_err(|e| anyhow!("checkpoint: {e:?}"))?;
        self.prev = stored.hash;
        self.ic.advance_time(DAY + Duration::from_secs(1));
        self.ic.tick();
        Ok(height)
    }
}

fn install(ic: &mut EmbeddedIc, id: Principal, name: &str, arg: Vec<u8>) -> Result<()> {
    ic.install_code(
        id,
        InstallMode::Install,
        &crate::canister_wasm(name)?,
        arg,
        user_principal(1),
    )
    .map_err(|e| anyhow!("install {name}: {e}"))
}

fn setup(validators: &[SigningKey], buyers: u64) -> Result<B> {
    let admin = user_principal(1);
    let gov = user_principal(2);
    let mut ic = EmbeddedIc::new();
    let ledger = ic.create_canister(vec![admin]);
    let registry = ic.create_canister(vec![admin]);
    let epochs = ic.create_canister(vec![admin]);
    let market = ic.create_canister(vec![admin]);
    let mut balances: Vec<(Account, Nat)> = (0..validators.len() as u64)
        .map(|i| (acct(user_principal(100 + i)), Nat::from(2_000_000 * E8S)))
        .collect();
    balances
        .extend((0..buyers).map(|b| (acct(user_principal(1_000 + b)), Nat::from(1_000_000 * E8S))));
    let init = emc_ledger::InitArgs {
        token_name: "EdgeMatrix Computing".into(),
        token_symbol: "EMC".into(),
        decimals: None,
        transfer_fee: Nat::from(FEE),
        minting_account: acct(epochs),
        initial_balances: balances,
        fee_collector_account: None,
        max_memo_length: None,
        governance: gov,
        supply_cap: None,
        metadata: None,
    };
    install(
        &mut ic,
        ledger,
        "ledger",
        Encode!(&emc_ledger::LedgerArg::Init(init))?,
    )?;
    let args = reg::RegistryArg::Init(reg::InitArgs {
        ledger,
        governance: gov,
        treasury: acct(user_principal(4)),
        epochs_canister: Some(epochs),
        ledger_fee_e8s: Some(FEE),
        params: None,
        genesis_time: None,
    });
    install(&mut ic, registry, "registry", Encode!(&args)?)?;
    let args = emc_epochs::EpochsArg::Init(emc_epochs::InitArgs {
        ledger,
        registry,
        governance: gov,
        params: None,
    });
    install(&mut ic, epochs, "epochs", Encode!(&args)?)?;
    let args = MarketArg::Init(emc_market::InitArgs {
        ledger,
        epochs,
        registry,
        governance: gov,
        treasury: acct(user_principal(4)),
        market_open_epoch: 0,
        params: None,
    });
    install(&mut ic, market, "market", Encode!(&args)?)?;
    ic.update_call(epochs, gov, "execute_set_market", Encode!(&Some(market))?)
        .map_err(|e| anyhow!("set_market: {e:?}"))?;
    let mut b = B {
        ic,
        ledger,
        registry,
        epochs,
        market,
        prev: ZERO_HASH,
    };
    for (i, k) in validators.iter().enumerate() {
        let owner = user_principal(100 + i as u64);
        b.register(owner, k, reg::Role::Validator)?;
        b.approve(owner, registry, 1_000_000 * E8S + FEE)?;
        let sa = reg::StakeArgs {
            node_id: id_of(k),
            amount_e8s: 1_000_000 * E8S,
            term_days: 360,
        };
        let r = b.update(registry, owner, "stake", Encode!(&sa)?)?;
        Decode!(&r, Result<reg::StakeInfo, reg::RegistryError>)?
            .map_err(|e| anyhow!("stake: {e:?}"))?;
    }
    Ok(b)
}

/// The wash-trading search (pure core): the best gain of any strategy over a year, e8s.
fn wash_trader_best_gain() -> Result<(i128, Value)> {
    let me = Principal::from_slice(&[9, 9]);
    let gov = Principal::from_slice(&[2]);
    let sizes = [E8S, 1_000 * E8S, 56_000 * E8S, 1_000_000 * E8S];
    let per_epoch = [1u64, 5];
    let mut best: Option<(i128, Value)> = None;
    for &size in &sizes {
        for &k in &per_epoch {
            for two_accounts in [false, true] {
                let m_args = emc_market::InitArgs {
                    ledger: me,
                    epochs: me,
                    registry: me,
                    governance: gov,
                    treasury: acct(Principal::from_slice(&[4])),
                    market_open_epoch: 0,
                    params: None,
                };
                let mut m = emc_market::Market::init(VectorMemory::default(), &m_args)
                    .map_err(|e| anyhow!("{e}"))?;
                let buyer = Principal::from_slice(&[1, 0, 1]);
                let provider = if two_accounts {
                    Principal::from_slice(&[1, 0, 2])
                } else {
                    buyer
                };
                let (user, node) = (sk(1, 0), sk(2, 0));
                m.bind_key(
                    buyer,
                    &BindKeyArgs {
                        key: id_of(&user),
                        signature: Signature(user.sign(&bind_message(&buyer)).to_bytes()),
                    },
                    0,
                )
                .map_err(|e| anyhow!("{e}"))?;
                m.post_offer(
                    provider,
                    &OfferArgs {
                        node: id_of(&node),
                        app: "wash".into(),
                        unit: MeterUnit::Tokens,
                        price_e8s: 1,
                        capacity: 1,
                    },
                    &NodeFacts {
                        owner: provider,
                        compute: true,
                        live: true,
                        e_fixed: 0,
                    },
                    0,
                )
                .map_err(|e| anyhow!("{e}"))?;
                let mut put_in: i128 = 0;
                let mut back: i128 = 0;
                let mut height = 0;
                for epoch in 0..365u64 {
                    // Deposit what the epoch's trades need (the ledger fee of the pull too).
                    let need = (size + 2 * FEE) * k;
                    let t = m
                        .begin_deposit(buyer, need, me, 0)
                        .map_err(|e| anyhow!("{e}"))?;
                    m.record_transfer(t.id, &TransferOutcome::Done(0), 0)
                        .map_err(|e| anyhow!("{e}"))?;
                    put_in += i128::from(need) + i128::from(FEE);
                    let rs: Vec<ComputeReceipt> = (1..=k)
                        .map(|j| receipt(&user, &node, epoch, j * size))
                        .collect();
                    height += 450;
                    let (root, ps) = proofs(height, &rs, 0);
                    m.cache_root(height, root);
                    // One settlement per trade (the worst case for the ledger fees is not
                    // the point here: each trade pays its own 20% fee).
                    for p in &ps {
                        m.settle_receipt(p, 0).map_err(|e| anyhow!("{e}"))?;
                    }
                    for t in m.plan_transfers(0, 10_000) {
                        if t.to.owner == buyer || t.to.owner == provider {
                            back += i128::from(t.amount_e8s);
                        }
                        m.record_transfer(t.id, &TransferOutcome::Done(0), 0)
                            .map_err(|e| anyhow!("{e}"))?;
                    }
                }
                // What is left in escrow comes back too (less one withdrawal fee).
                let left = m.escrow(&buyer).map_or(0, |e| e.balance_e8s);
                back += i128::from(left.saturating_sub(FEE));
                let gain = back - put_in;
                let desc = json!({
                    "trade_e8s": size, "trades_per_epoch": k, "two_accounts": two_accounts,
                    "gain_e8s": gain.to_string(), "put_in_e8s": put_in.to_string(),
                });
                if best.as_ref().is_none_or(|(g, _)| gain > *g) {
                    best = Some((gain, desc));
                }
            }
        }
    }
    best.ok_or_else(|| anyhow!("no strategy"))
}

pub fn run() -> Result<Value> {
    let validators: Vec<SigningKey> = (0..4).map(|i| sk(40, i)).collect();
    let keys = 100u8;
    let buyers = 10u64;
    let mut b = setup(&validators, buyers)?;
    let provider = user_principal(50);
    let node = sk(2, 0);
    b.register(provider, &node, reg::Role::Compute)?;
    let offer = OfferArgs {
        node: id_of(&node),
        app: "llama-3-8b-instruct".into(),
        unit: MeterUnit::Tokens,
        price_e8s: 1,
        capacity: 1_000,
    };
    let (r, _) = b.market_call(provider, "post_offer", Encode!(&offer)?)?;
    Decode!(&r, Result<Offer, MarketError>)?.map_err(|e| anyhow!("offer: {e:?}"))?;
    // Deposits: the first buyer's is measured (the market's call context).
    let mut deposit_instructions = 0;
    for i in 0..buyers {
        let who = user_principal(1_000 + i);
        let market = b.market;
        b.approve(who, market, 100_000 * E8S + FEE)?;
        let (r, instr) = b.market_call(who, "deposit", Encode!(&(100_000 * E8S))?)?;
        Decode!(&r, Result<EscrowView, MarketError>)?.map_err(|e| anyhow!("deposit: {e:?}"))?;
        if i == 1 {
            deposit_instructions = instr;
        }
    }
    // 100 user keys, 10 per buyer.
    let users: Vec<SigningKey> = (0..keys).map(|i| sk(1, i)).collect();
    for (i, u) in users.iter().enumerate() {
        let who = user_principal(1_000 + i as u64 % buyers);
        let a = BindKeyArgs {
            key: id_of(u),
            signature: Signature(u.sign(&bind_message(&who)).to_bytes()),
        };
        let (r, _) = b.market_call(who, "bind_key", Encode!(&a)?)?;
        Decode!(&r, Result<(), MarketError>)?.map_err(|e| anyhow!("bind: {e:?}"))?;
    }
    b.ic.advance_time(DAY);
    b.ic.tick();
    b.ic.advance_time(Duration::from_secs(61));
    b.ic.tick();
    // Checkpoint 1: 2,001 leaves; two receipts of it settled one by one, the second measured.
    let single: Vec<ComputeReceipt> = (0..2)
        .map(|i| receipt(&users[i], &node, 1, 1_000 + i as u64))
        .collect();
    let (root, ps) = proofs(L + 450, &single, 1_999);
    b.final_checkpoint(&validators, 1, 1, root)?;
    let mut settle_receipt_instructions = 0;
    for p in &ps {
        let (r, instr) = b.market_call(user_principal(9), "settle_receipt", Encode!(p)?)?;
        Decode!(&r, Result<Trade, MarketError>)?.map_err(|e| anyhow!("settle: {e:?}"))?;
        settle_receipt_instructions = instr;
    }
    let proof_len = ps[0].proof.len();
    // Checkpoint 2: 1,000 receipts (100 keys x 10 lanes by epoch), one batch.
    let batch: Vec<ComputeReceipt> = (0..1_000u64)
        .map(|i| {
            receipt(
                &users[(i % u64::from(keys)) as usize],
                &node,
                2 + i / u64::from(keys),
                500 + i,
            )
        })
        .collect();
    let (root, ps) = proofs(L + 900, &batch, 0);
    b.final_checkpoint(&validators, 1, 2, root)?;
    let (r, batch_instr) = b.market_call(user_principal(9), "settle_batch", Encode!(&ps)?)?;
    let out = Decode!(&r, Result<Vec<Result<Trade, MarketError>>, MarketError>)?
        .map_err(|e| anyhow!("batch: {e:?}"))?;
    let settled = out.iter().filter(|r| r.is_ok()).count();
    if settled != 1_000 {
        return Err(anyhow!(
            "the batch settled {settled} of 1,000: {:?}",
            out.iter().find(|r| r.is_err())
        ));
    }
    // The same with the quorum's word alone (governance turns the market's own user-signature
    // check off): checkpoint 3, another 1,000 lanes.
    let p = emc_market::Params {
        verify_user_signatures: false,
        ..emc_market::Params::default()
    };
    b.update(
        b.market,
        user_principal(2),
        "execute_set_params",
        Encode!(&p)?,
    )?;
    let batch: Vec<ComputeReceipt> = (0..1_000u64)
        .map(|i| {
            receipt(
                &users[(i % u64::from(keys)) as usize],
                &node,
                20 + i / u64::from(keys),
                500 + i,
            )
        })
        .collect();
    let (root, ps) = proofs(L + 1_350, &batch, 0);
    b.final_checkpoint(&validators, 1, 3, root)?;
    let (r, quorum_instr) = b.market_call(user_principal(9), "settle_batch", Encode!(&ps)?)?;
    let out = Decode!(&r, Result<Vec<Result<Trade, MarketError>>, MarketError>)?
        .map_err(|e| anyhow!("batch: {e:?}"))?;
    if out.iter().any(|r| r.is_err()) {
        return Err(anyhow!("the quorum-only batch refused a receipt"));
    }
    // Checkpoint 4: 1,000 receipts of a compute pool's entry node (the node above, now the
    // entry of a pool of 4: 3 co-signatures per receipt, batched with the user signatures,
    // which governance turns back on), 100 keys x 10 lanes.
    b.update(
        b.market,
        user_principal(2),
        "execute_set_params",
        Encode!(&emc_market::Params::default())?,
    )?;
    let members: Vec<SigningKey> = (0..3).map(|i| sk(3, i)).collect();
    for (i, m) in members.iter().enumerate() {
        b.register(user_principal(51 + i as u64), m, reg::Role::Compute)?;
    }
    let pool_args = PoolOfferArgs {
        entry: id_of(&node),
        members: std::iter::once(id_of(&node))
            .chain(members.iter().map(id_of))
            .collect(),
        app: "llama-3-70b-sharded".into(),
        unit: MeterUnit::Tokens,
        price_e8s: 1,
        capacity: 1_000,
    };
    let (r, _) = b.market_call(provider, "post_pool_offer", Encode!(&pool_args)?)?;
    let (pool_offer, _) = Decode!(&r, Result<(Offer, Pool), MarketError>)?
        .map_err(|e| anyhow!("pool offer: {e:?}"))?;
    let batch: Vec<ComputeReceipt> = (0..1_000u64)
        .map(|i| {
            receipt(
                &users[(i % u64::from(keys)) as usize],
                &node,
                40 + i / u64::from(keys),
                500 + i,
            )
        })
        .collect();
    let (root, ps) = proofs(L + 1_800, &batch, 0);
    let ps: Vec<ReceiptProof> = ps
        .into_iter()
        .map(|p| {
            let msg = cosign_message(pool_offer.id, &p.receipt.body_hash());
            let cs = members
                .iter()
                .map(|m| Cosignature {
                    node: id_of(m),
                    signature: Signature(m.sign(&msg).to_bytes()),
                })
                .collect();
            ReceiptProof {
                cosignatures: Some(cs),
                ..p
            }
        })
        .collect();
    b.final_checkpoint(&validators, 1, 4, root)?;
    let (r, pool_instr) = b.market_call(user_principal(9), "settle_batch", Encode!(&ps)?)?;
    let out = Decode!(&r, Result<Vec<Result<Trade, MarketError>>, MarketError>)?
        .map_err(|e| anyhow!("pool batch: {e:?}"))?;
    if let Some(e) = out.iter().find(|r| r.is_err()) {
        return Err(anyhow!("the pool batch refused a receipt: {e:?}"));
    }
    let (best_gain, best_strategy) = wash_trader_best_gain()?;
    Ok(json!({
        "suite": "market",
        "settle_receipt_instructions": settle_receipt_instructions,
        "settle_receipt_proof_siblings": proof_len,
        "settle_batch_instructions_per_receipt_1000": batch_instr / 1_000,
        "settle_batch_instructions_1000": batch_instr,
        "settle_batch_instructions_per_receipt_1000_quorum_only": quorum_instr / 1_000,
        "settle_batch_instructions_per_receipt_1000_pool_of_4": pool_instr / 1_000,
        "deposit_instructions": deposit_instructions,
        "wash_trader_best_gain_e8s": best_gain.to_string().parse::<i64>().unwrap_or(i64::MAX),
        "wash_trader_best_strategy": best_strategy,
        "targets": {
            "settle_receipt_instructions": 5_000_000,
            "settle_batch_instructions_per_receipt_1000": 1_000_000,
            "wash_trader_best_gain_e8s": "< 0",
        },
    }))
}
