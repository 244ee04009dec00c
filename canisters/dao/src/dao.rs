//! The pure grants and airdrop accounting: applications, grants reserved against the 252M
//! pool, airdrop batches reserved against the 105M pool, claims checked by Merkle proof (each
//! account once per batch) and the payment journal. No ic-cdk: the caller and the clock come in
//! as arguments.

use crate::types::*;
use candid::{CandidType, Principal};
use emc_types::merkle::{inclusion_proof, leaf_hash, merkle_root, root_from_proof};
use emc_types::Hash;
use icrc_ledger_types::icrc1::account::Account;
use serde::Deserialize;
use serde_bytes::ByteBuf;
use std::collections::{BTreeMap, BTreeSet};

/// The account's bytes in a leaf and in the claim set: owner length, owner, subaccount (32
/// zero bytes for none).
fn account_bytes(a: &Account) -> Vec<u8> {
    let owner = a.owner.as_slice();
    let mut v = Vec::with_capacity(1 + owner.len() + 32);
    v.push(owner.len() as u8);
    v.extend_from_slice(owner);
    v.extend_from_slice(&a.subaccount.unwrap_or([0; 32]));
    v
}

/// The airdrop leaf of (account, amount): `leaf_hash("emc-airdrop-v1" || account || amount
/// big-endian)`.
pub fn airdrop_leaf(account: &Account, amount_e8s: u64) -> Hash {
    let mut b = b"emc-airdrop-v1".to_vec();
    b.extend_from_slice(&account_bytes(account));
    b.extend_from_slice(&amount_e8s.to_be_bytes());
    leaf_hash(&b)
}

/// The batch of a list of (account, amount): its [`AirdropBatchArgs`] (with `rule`) and each
/// entry's (leaf index, proof), for the operator who computes a batch from the DAO's rule.
pub fn airdrop_tree(
    rule: &str,
    entries: &[(Account, u64)],
) -> (AirdropBatchArgs, Vec<(u64, Vec<Hash>)>) {
    let leaves: Vec<Hash> = entries.iter().map(|(a, n)| airdrop_leaf(a, *n)).collect();
    let proofs = (0..leaves.len())
        .map(|i| (i as u64, inclusion_proof(&leaves, i)))
        .collect();
    let args = AirdropBatchArgs {
        rule: rule.into(),
        merkle_root: merkle_root(&leaves),
        leaf_count: leaves.len() as u64,
        total_e8s: entries
            .iter()
            .map(|(_, n)| *n)
            .fold(0u64, u64::saturating_add),
    };
    (args, proofs)
}

/// The memo of payment `id` (the ledger deduplicates a retried mint by it and the time).
pub fn payment_memo(id: u64) -> ByteBuf {
    let mut m = b"emc-dao:".to_vec();
    m.extend_from_slice(&id.to_be_bytes());
    ByteBuf::from(m)
}

const APPLICATION: usize = 0;
const BATCH: usize = 1;
const PAYMENT: usize = 2;

/// The whole state (heap; saved to stable memory across upgrades by the shell).
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Dao {
    config: Config,
    applications: BTreeMap<u64, Application>,
    batches: BTreeMap<u64, AirdropBatch>,
    /// Per batch, the accounts (their bytes) that claimed.
    claimed: BTreeMap<u64, BTreeSet<ByteBuf>>,
    payments: BTreeMap<u64, Payment>,
    grants_reserved: u64,
    airdrop_reserved: u64,
    grants_paid: u64,
    airdrop_paid: u64,
    /// Next ids of applications, batches and payments (each its own sequence, from 1).
    next_ids: [u64; 3],
}

fn check_text(what: &str, s: &str, max: usize) -> Result<(), DaoError> {
    if s.trim().is_empty() || s.len() > max {
        return Err(DaoError::InvalidArgument(format!(
            "{what} must be 1 to {max} bytes"
        )));
    }
    Ok(())
}

fn emc(e8s: u64) -> String {
    format!("{}.{:08} EMC", e8s / 100_000_000, e8s % 100_000_000)
}

impl Dao {
    /// A fresh DAO canister.
    pub fn new(args: &InitArgs) -> Result<Self, DaoError> {
        for p in [args.governance, args.epochs] {
            if p == Principal::anonymous() {
                return Err(DaoError::InvalidArgument(
                    "governance and epochs cannot be anonymous".into(),
                ));
            }
        }
        Ok(Dao {
            config: Config {
                governance: args.governance,
                epochs: args.epochs,
            },
            applications: BTreeMap::new(),
            batches: BTreeMap::new(),
            claimed: BTreeMap::new(),
            payments: BTreeMap::new(),
            grants_reserved: 0,
            airdrop_reserved: 0,
            grants_paid: 0,
            airdrop_paid: 0,
            next_ids: [1; 3],
        })
    }

    fn next(&mut self, kind: usize) -> u64 {
        let id = self.next_ids[kind];
        self.next_ids[kind] += 1;
        id
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn only_governance(&self, caller: Principal) -> Result<(), DaoError> {
        if caller != self.config.governance {
            return Err(DaoError::NotGovernance);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ grants

    /// A developer's application (the caller is the applicant).
    pub fn submit_application(
        &mut self,
        caller: Principal,
        mut args: ApplicationArgs,
        now: u64,
    ) -> Result<u64, DaoError> {
        if caller == Principal::anonymous() {
            return Err(DaoError::InvalidArgument(
                "the anonymous principal cannot apply".into(),
            ));
        }
        check_text("the title", &args.title, MAX_TITLE)?;
        check_text("the description", &args.description, MAX_TEXT)?;
        if args.amount_e8s == 0 || args.amount_e8s > DaoPool::DeveloperGrants.cap_e8s() {
            return Err(DaoError::InvalidArgument(
                "the amount must be positive and at most the 252M pool".into(),
            ));
        }
        if args.milestones.len() > MAX_MILESTONES {
            return Err(DaoError::InvalidArgument(format!(
                "at most {MAX_MILESTONES} milestones"
            )));
        }
        if !args.milestones.is_empty() {
            let mut sum: u64 = 0;
            for m in &args.milestones {
                check_text("a milestone", &m.description, MAX_TITLE)?;
                sum = sum.saturating_add(m.amount_e8s);
            }
            if sum != args.amount_e8s {
                return Err(DaoError::InvalidArgument(
                    "the milestones must add up to the amount".into(),
                ));
            }
        }
        if let Some(r) = &args.recipient {
            if r.owner == Principal::anonymous() {
                return Err(DaoError::InvalidArgument(
                    "the recipient cannot be anonymous".into(),
                ));
            }
        }
        let open = self
            .applications
            .values()
            .filter(|a| a.applicant == caller && a.status == ApplicationStatus::Submitted)
            .count();
        if open >= MAX_OPEN_APPLICATIONS {
            return Err(DaoError::InvalidArgument(format!(
                "at most {MAX_OPEN_APPLICATIONS} open applications per applicant"
            )));
        }
        args.recipient = Some(args.recipient.unwrap_or(Account {
            owner: caller,
            subaccount: None,
        }));
        let id = self.next(APPLICATION);
        self.applications.insert(
            id,
            Application {
                id,
                applicant: caller,
                args,
                submitted_at_ns: now,
                status: ApplicationStatus::Submitted,
            },
        );
        Ok(id)
    }

    /// The applicant withdraws an application not granted yet.
    pub fn withdraw_application(&mut self, caller: Principal, id: u64) -> Result<(), DaoError> {
        let a = self.applications.get_mut(&id).ok_or(DaoError::NotFound)?;
        if a.applicant != caller {
            return Err(DaoError::NotApplicant);
        }
        if a.status != ApplicationStatus::Submitted {
            return Err(DaoError::NotOpen);
        }
        a.status = ApplicationStatus::Withdrawn;
        Ok(())
    }

    fn check_grant(&self, g: &GrantArgs) -> Result<&Application, DaoError> {
        let a = self
            .applications
            .get(&g.application_id)
            .ok_or(DaoError::NotFound)?;
        if a.status != ApplicationStatus::Submitted {
            return Err(DaoError::NotOpen);
        }
        if g.amount_e8s == 0 || g.amount_e8s > a.args.amount_e8s {
            return Err(DaoError::InvalidArgument(format!(
                "the granted amount must be positive and at most the requested {}",
                emc(a.args.amount_e8s)
            )));
        }
        if self.grants_reserved.saturating_add(g.amount_e8s) > DaoPool::DeveloperGrants.cap_e8s() {
            return Err(DaoError::PoolExhausted(DaoPool::DeveloperGrants));
        }
        Ok(a)
    }

    /// `validate_grant`: the rendering voters read, or the refusal.
    pub fn validate_grant(&self, g: &GrantArgs) -> Result<String, String> {
        let a = self.check_grant(g).map_err(|e| e.to_string())?;
        let milestones: Vec<String> = a
            .args
            .milestones
            .iter()
            .map(|m| format!("  - {} ({})", m.description, emc(m.amount_e8s)))
            .collect();
        Ok(format!(
            "grant {} of the requested {} to application {} \"{}\" by {}, paid to {}\n\
             developer pool: {} granted of 252,000,000 EMC before this grant\nmilestones:\n{}",
            emc(g.amount_e8s),
            emc(a.args.amount_e8s),
            a.id,
            a.args.title,
            a.applicant,
            a.args.recipient.map(|r| r.to_string()).unwrap_or_default(),
            emc(self.grants_reserved),
            milestones.join("\n")
        ))
    }

    /// `execute_grant` (governance only): reserves the amount in the pool and journals the
    /// payment (paid once: the application is no longer open).
    pub fn execute_grant(
        &mut self,
        caller: Principal,
        g: &GrantArgs,
        now: u64,
    ) -> Result<u64, DaoError> {
        self.only_governance(caller)?;
        let a = self.check_grant(g)?;
        let to = a.args.recipient.unwrap_or(Account {
            owner: a.applicant,
            subaccount: None,
        });
        let pid = self.next(PAYMENT);
        self.payments.insert(
            pid,
            Payment {
                id: pid,
                pool: DaoPool::DeveloperGrants,
                source: PaymentSource::Grant(g.application_id),
                to,
                amount_e8s: g.amount_e8s,
                created_at_time: now,
                status: PaymentStatus::Pending,
            },
        );
        self.grants_reserved += g.amount_e8s;
        if let Some(a) = self.applications.get_mut(&g.application_id) {
            a.status = ApplicationStatus::Granted {
                amount_e8s: g.amount_e8s,
                payment: pid,
            };
        }
        Ok(pid)
    }

    // ------------------------------------------------------------------ airdrop

    fn check_batch(&self, b: &AirdropBatchArgs) -> Result<(), DaoError> {
        check_text("the rule", &b.rule, MAX_TEXT)?;
        if b.leaf_count == 0 || b.total_e8s == 0 {
            return Err(DaoError::InvalidArgument(
                "a batch needs at least one leaf and a positive total".into(),
            ));
        }
        if self
            .batches
            .values()
            .any(|x| x.args.merkle_root == b.merkle_root)
        {
            return Err(DaoError::InvalidArgument(
                "a batch with this Merkle root exists already".into(),
            ));
        }
        if self.airdrop_reserved.saturating_add(b.total_e8s) > DaoPool::Airdrop.cap_e8s() {
            return Err(DaoError::PoolExhausted(DaoPool::Airdrop));
        }
        Ok(())
    }

    /// `validate_create_airdrop_batch`.
    pub fn validate_create_airdrop_batch(&self, b: &AirdropBatchArgs) -> Result<String, String> {
        self.check_batch(b).map_err(|e| e.to_string())?;
        Ok(format!(
            "create airdrop batch: {} to {} accounts, Merkle root {}\n\
             airdrop pool: {} reserved of 105,000,000 EMC before this batch\nrule: {}",
            emc(b.total_e8s),
            b.leaf_count,
            hex(&b.merkle_root.0),
            emc(self.airdrop_reserved),
            b.rule
        ))
    }

    /// `execute_create_airdrop_batch` (governance only): reserves the total in the pool.
    pub fn execute_create_airdrop_batch(
        &mut self,
        caller: Principal,
        b: &AirdropBatchArgs,
        now: u64,
    ) -> Result<u64, DaoError> {
        self.only_governance(caller)?;
        self.check_batch(b)?;
        let id = self.next(BATCH);
        self.airdrop_reserved += b.total_e8s;
        self.batches.insert(
            id,
            AirdropBatch {
                id,
                args: b.clone(),
                claimed_e8s: 0,
                claims: 0,
                created_at_ns: now,
            },
        );
        self.claimed.insert(id, BTreeSet::new());
        Ok(id)
    }

    /// A claim of the caller's account: the proof must lead to the batch's root, the account
    /// must not have claimed from this batch, and the batch's total holds. Journals the payment.
    pub fn claim_airdrop(
        &mut self,
        caller: Principal,
        c: &ClaimArgs,
        now: u64,
    ) -> Result<u64, DaoError> {
        let subaccount = match &c.subaccount {
            None => None,
            Some(s) => Some(
                <[u8; 32]>::try_from(s.as_slice())
                    .map_err(|_| DaoError::InvalidArgument("a subaccount is 32 bytes".into()))?,
            ),
        };
        let account = Account {
            owner: caller,
            subaccount,
        };
        if c.proof.len() > MAX_PROOF || c.amount_e8s == 0 {
            return Err(DaoError::InvalidArgument(
                "a positive amount and at most 64 proof hashes".into(),
            ));
        }
        let batch = self.batches.get(&c.batch_id).ok_or(DaoError::NotFound)?;
        let leaf = airdrop_leaf(&account, c.amount_e8s);
        if root_from_proof(leaf, c.leaf_index, batch.args.leaf_count, &c.proof)
            != Some(batch.args.merkle_root)
        {
            return Err(DaoError::BadProof);
        }
        let key = ByteBuf::from(account_bytes(&account));
        if self
            .claimed
            .get(&c.batch_id)
            .is_some_and(|s| s.contains(&key))
        {
            return Err(DaoError::AlreadyClaimed);
        }
        if batch.claimed_e8s.saturating_add(c.amount_e8s) > batch.args.total_e8s {
            return Err(DaoError::BatchExhausted);
        }
        let pid = self.next(PAYMENT);
        self.claimed.entry(c.batch_id).or_default().insert(key);
        if let Some(b) = self.batches.get_mut(&c.batch_id) {
            b.claimed_e8s += c.amount_e8s;
            b.claims += 1;
        }
        self.payments.insert(
            pid,
            Payment {
                id: pid,
                pool: DaoPool::Airdrop,
                source: PaymentSource::Airdrop(c.batch_id),
                to: account,
                amount_e8s: c.amount_e8s,
                created_at_time: now,
                status: PaymentStatus::Pending,
            },
        );
        Ok(pid)
    }

    // ------------------------------------------------------------------ payments

    /// Marks the payments pending for longer than [`STUCK_AFTER_NS`] as `Stuck`.
    pub fn mark_stuck(&mut self, now: u64) {
        for p in self.payments.values_mut() {
            if p.status == PaymentStatus::Pending
                && now.saturating_sub(p.created_at_time) > STUCK_AFTER_NS
            {
                p.status = PaymentStatus::Stuck;
            }
        }
    }

    /// `validate_resolve_payment`.
    pub fn validate_resolve_payment(&self, a: &ResolvePaymentArgs) -> Result<String, String> {
        let p = self.payments.get(&a.id).ok_or("no such payment")?;
        if p.status != PaymentStatus::Stuck {
            return Err("the payment is not stuck".into());
        }
        Ok(match a.executed_in_block {
            Some(b) => format!(
                "mark payment {} ({} to {}) as minted in block {b}",
                a.id,
                emc(p.amount_e8s),
                p.to
            ),
            None => format!(
                "re-issue payment {} ({} to {}) with a fresh created_at_time",
                a.id,
                emc(p.amount_e8s),
                p.to
            ),
        })
    }

    /// `execute_resolve_payment` (governance only): a stuck payment is either confirmed by
    /// the block that minted it or re-issued (the epochs canister's pool caps still bound it).
    pub fn execute_resolve_payment(
        &mut self,
        caller: Principal,
        a: &ResolvePaymentArgs,
        now: u64,
    ) -> Result<(), DaoError> {
        self.only_governance(caller)?;
        self.validate_resolve_payment(a)
            .map_err(DaoError::InvalidArgument)?;
        if let Some(p) = self.payments.get_mut(&a.id) {
            match a.executed_in_block {
                Some(b) => {
                    p.status = PaymentStatus::Pending;
                    self.record_payment(a.id, Some(b));
                }
                None => {
                    p.status = PaymentStatus::Pending;
                    p.created_at_time = now;
                }
            }
        }
        Ok(())
    }

    /// Up to `max` pending payments, oldest first, as the mints to ask the epochs canister for.
    pub fn pending_mints(&self, max: usize) -> Vec<(u64, DaoMint)> {
        self.payments
            .values()
            .filter(|p| p.status == PaymentStatus::Pending)
            .take(max)
            .map(|p| {
                (
                    p.id,
                    DaoMint {
                        pool: p.pool,
                        to: p.to,
                        amount_e8s: p.amount_e8s,
                        created_at_time: p.created_at_time,
                        memo: payment_memo(p.id),
                    },
                )
            })
            .collect()
    }

    /// The epochs canister's answer for payment `id`: `Some(block)` (minted, or a duplicate of
    /// the earlier mint), `None`: not minted, retried later with the same `created_at_time`
    /// and memo.
    pub fn record_payment(&mut self, id: u64, block: Option<u64>) {
        let Some(p) = self.payments.get_mut(&id) else {
            return;
        };
        if p.status != PaymentStatus::Pending {
            return;
        }
        if let Some(block) = block {
            p.status = PaymentStatus::Paid(block);
            match p.pool {
                DaoPool::DeveloperGrants => self.grants_paid += p.amount_e8s,
                DaoPool::Airdrop => self.airdrop_paid += p.amount_e8s,
            }
        }
    }

    // ------------------------------------------------------------------ governance

    /// `validate_set_governance`.
    pub fn validate_set_governance(&self, p: &Principal) -> Result<String, String> {
        if *p == Principal::anonymous() || *p == Principal::management_canister() {
            return Err(format!("{p} cannot be the governance principal"));
        }
        Ok(format!(
            "set the DAO canister's governance principal from {} to {p}",
            self.config.governance
        ))
    }

    /// `execute_set_governance` (governance only).
    pub fn execute_set_governance(
        &mut self,
        caller: Principal,
        p: &Principal,
    ) -> Result<(), DaoError> {
        self.only_governance(caller)?;
        self.validate_set_governance(p)
            .map_err(DaoError::InvalidArgument)?;
        self.config.governance = *p;
        Ok(())
    }

    // ------------------------------------------------------------------ queries

    /// An application.
    pub fn application(&self, id: u64) -> Option<Application> {
        self.applications.get(&id).cloned()
    }

    /// Applications with id above `after`, at most `limit`.
    pub fn applications(&self, after: u64, limit: usize) -> Vec<Application> {
        self.applications
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// A batch.
    pub fn batch(&self, id: u64) -> Option<AirdropBatch> {
        self.batches.get(&id).cloned()
    }

    /// A payment.
    pub fn payment(&self, id: u64) -> Option<Payment> {
        self.payments.get(&id).cloned()
    }

    /// Pool totals.
    pub fn stats(&self) -> Stats {
        Stats {
            grants_reserved_e8s: self.grants_reserved,
            grants_paid_e8s: self.grants_paid,
            airdrop_reserved_e8s: self.airdrop_reserved,
            airdrop_paid_e8s: self.airdrop_paid,
            applications: self.applications.len() as u64,
            batches: self.batches.len() as u64,
            pending_payments: self
                .payments
                .values()
                .filter(|p| p.status == PaymentStatus::Pending)
                .count() as u64,
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
