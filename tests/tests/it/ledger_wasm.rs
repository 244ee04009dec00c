//! The ledger wasm on the embedded IC: an upgrade that carries 10,000 accounts with their
//! allowances and blocks, and bad input that must be refused without any state change.

use candid::{Decode, Encode, Nat, Principal};
use emc_embedded_ic::{certificate, user_principal, EmbeddedIc, RejectCode};
use emc_ledger::{InitArgs, LedgerArg, UpgradeArgs};
use icrc_ledger_types::icrc::generic_value::ICRC3Value;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use icrc_ledger_types::icrc2::allowance::{Allowance, AllowanceArgs};
use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
use icrc_ledger_types::icrc3::blocks::{GetBlocksRequest, GetBlocksResult, ICRC3DataCertificate};

const FEE: u64 = 10_000;

struct Fixture {
    ic: EmbeddedIc,
    ledger: Principal,
    admin: Principal,
    whale: Principal,
}

fn setup() -> Fixture {
    let admin = user_principal(1);
    let whale = user_principal(2);
    let mut ic = EmbeddedIc::new();
    let init = LedgerArg::Init(InitArgs::emc(
        Account::from(user_principal(3)),
        admin,
        FEE,
        vec![(Account::from(whale), 1_000_000_000_000_000)],
    ));
    let wasm = emc_test_env::canister_wasm("ledger");
    let ledger = ic
        .install_canister(&wasm, Encode!(&init).unwrap(), vec![admin])
        .unwrap();
    Fixture {
        ic,
        ledger,
        admin,
        whale,
    }
}

impl Fixture {
    fn transfer(
        &mut self,
        from: Principal,
        to: Account,
        amount: u64,
    ) -> Result<Nat, TransferError> {
        let arg = TransferArg {
            from_subaccount: None,
            to,
            fee: None,
            created_at_time: None,
            memo: None,
            amount: Nat::from(amount),
        };
        let reply =
            self.ic
                .update_call(self.ledger, from, "icrc1_transfer", Encode!(&arg).unwrap());
        Decode!(&reply.unwrap(), Result<Nat, TransferError>).unwrap()
    }

    fn approve(
        &mut self,
        from: Principal,
        spender: Principal,
        amount: u64,
    ) -> Result<Nat, ApproveError> {
        let arg = ApproveArgs {
            from_subaccount: None,
            spender: Account::from(spender),
            amount: Nat::from(amount),
            expected_allowance: None,
            expires_at: None,
            fee: None,
            memo: None,
            created_at_time: None,
        };
        let reply = self
            .ic
            .update_call(self.ledger, from, "icrc2_approve", Encode!(&arg).unwrap());
        Decode!(&reply.unwrap(), Result<Nat, ApproveError>).unwrap()
    }

    fn balance(&mut self, account: Account) -> Nat {
        let r = self.ic.query_call(
            self.ledger,
            self.admin,
            "icrc1_balance_of",
            Encode!(&account).unwrap(),
        );
        Decode!(&r.unwrap(), Nat).unwrap()
    }

    fn allowance(&mut self, account: Principal, spender: Principal) -> Allowance {
        let arg = AllowanceArgs {
            account: Account::from(account),
            spender: Account::from(spender),
        };
        let r = self.ic.query_call(
            self.ledger,
            self.admin,
            "icrc2_allowance",
            Encode!(&arg).unwrap(),
        );
        Decode!(&r.unwrap(), Allowance).unwrap()
    }

    fn blocks(&mut self, start: u64, length: u64) -> GetBlocksResult {
        let req = vec![GetBlocksRequest {
            start: Nat::from(start),
            length: Nat::from(length),
        }];
        let r = self.ic.query_call(
            self.ledger,
            self.admin,
            "icrc3_get_blocks",
            Encode!(&req).unwrap(),
        );
        Decode!(&r.unwrap(), GetBlocksResult).unwrap()
    }

    fn all_blocks(&mut self) -> Vec<ICRC3Value> {
        let len = self.blocks(0, 0).log_length;
        let len = u64::try_from(len.0).unwrap();
        let mut out = Vec::new();
        while (out.len() as u64) < len {
            let page = self.blocks(out.len() as u64, 1_000);
            assert!(
                !page.blocks.is_empty(),
                "icrc3_get_blocks returned an empty page"
            );
            out.extend(page.blocks.into_iter().map(|b| b.block));
        }
        out
    }

    fn total_supply(&mut self) -> Nat {
        let r = self.ic.query_call(
            self.ledger,
            self.admin,
            "icrc1_total_supply",
            Encode!().unwrap(),
        );
        Decode!(&r.unwrap(), Nat).unwrap()
    }

    /// Checks the tip certificate against the last block: the certificate certifies the tree's
    /// root, and the tree holds the last block's index and hash.
    fn verify_tip_certificate(&mut self, last: &ICRC3Value, last_index: u64) {
        let r = self.ic.query_call(
            self.ledger,
            self.admin,
            "icrc3_get_tip_certificate",
            Encode!().unwrap(),
        );
        let tip = Decode!(&r.unwrap(), Option<ICRC3DataCertificate>)
            .unwrap()
            .expect("a tip certificate");
        let tree = certificate::decode_certificate_tree(&tip.certificate).expect("certificate");
        let certified = tree
            .lookup(&[b"canister", self.ledger.as_slice(), b"certified_data"])
            .expect("certified data in the certificate");
        let hash_tree = certificate::decode_hash_tree(&tip.hash_tree).expect("hash tree");
        assert_eq!(
            certified,
            &hash_tree.root_hash()[..],
            "certificate does not certify the tree"
        );
        let hash = hash_tree
            .lookup(&[b"last_block_hash"])
            .expect("last_block_hash");
        assert_eq!(
            hash,
            &last.clone().hash()[..],
            "tip hash is not the last block's hash"
        );
        let index = hash_tree
            .lookup(&[b"last_block_index"])
            .expect("last_block_index");
        assert_eq!(index, &certificate::leb128(last_index)[..]);
    }
}

fn phash(block: &ICRC3Value) -> Option<Vec<u8>> {
    match block {
        ICRC3Value::Map(m) => m.get("phash").and_then(|v| match v {
            ICRC3Value::Blob(b) => Some(b.to_vec()),
            _ => None,
        }),
        _ => None,
    }
}

#[test]
fn an_upgrade_keeps_10000_accounts_allowances_and_blocks() {
    let mut f = setup();
    let accounts: Vec<Principal> = (0..10_000).map(|i| user_principal(1_000_000 + i)).collect();
    for (i, a) in accounts.iter().enumerate() {
        f.transfer(f.whale, Account::from(*a), 1_000_000 + i as u64)
            .unwrap();
    }
    let spenders: Vec<Principal> = (0..5).map(|i| user_principal(2_000_000 + i)).collect();
    for (i, a) in accounts.iter().take(2_000).enumerate() {
        f.approve(*a, spenders[i % spenders.len()], 100 + i as u64)
            .unwrap();
    }
    let balances: Vec<Nat> = accounts
        .iter()
        .map(|a| f.balance(Account::from(*a)))
        .collect();
    let allowances: Vec<Allowance> = accounts
        .iter()
        .take(2_000)
        .enumerate()
        .map(|(i, a)| f.allowance(*a, spenders[i % spenders.len()]))
        .collect();
    let blocks = f.all_blocks();
    assert_eq!(blocks.len(), 1 + 10_000 + 2_000);
    let supply = f.total_supply();

    let wasm = emc_test_env::canister_wasm("ledger");
    let upgrade = LedgerArg::Upgrade(Some(UpgradeArgs::default()));
    f.ic.upgrade_canister(f.ledger, &wasm, Encode!(&upgrade).unwrap(), f.admin)
        .unwrap();

    for (a, before) in accounts.iter().zip(&balances) {
        assert_eq!(&f.balance(Account::from(*a)), before);
    }
    for (i, (a, before)) in accounts.iter().zip(&allowances).enumerate() {
        assert_eq!(&f.allowance(*a, spenders[i % spenders.len()]), before);
    }
    let after = f.all_blocks();
    assert_eq!(after, blocks);
    for pair in after.windows(2) {
        assert_eq!(
            phash(&pair[1]),
            Some(pair[0].clone().hash().to_vec()),
            "broken phash link"
        );
    }
    assert_eq!(f.total_supply(), supply);
    let last = after.last().unwrap().clone();
    f.verify_tip_certificate(&last, after.len() as u64 - 1);
    // And it keeps working.
    f.transfer(accounts[0], Account::from(accounts[1]), 1_000)
        .unwrap();
}

#[test]
fn bad_input_is_refused_without_state_change() {
    let mut f = setup();
    let alice = user_principal(500);
    f.transfer(f.whale, Account::from(alice), 10_000_000)
        .unwrap();
    let blocks_before = f.all_blocks();
    let supply = f.total_supply();
    let check_unchanged = |f: &mut Fixture| {
        assert_eq!(f.all_blocks(), blocks_before);
        assert_eq!(f.total_supply(), supply);
        assert_eq!(f.balance(Account::from(alice)), Nat::from(10_000_000u64));
    };

    // Malformed candid: rejected by the canister, nothing recorded.
    for method in ["icrc1_transfer", "icrc2_approve", "icrc2_transfer_from"] {
        let r =
            f.ic.update_call(f.ledger, alice, method, vec![0x44, 0x49, 0x44, 0x4c, 0xff]);
        let e = r.unwrap_err();
        assert!(
            matches!(
                e.code,
                RejectCode::CanisterError | RejectCode::CanisterReject
            ),
            "{e}"
        );
    }
    check_unchanged(&mut f);

    // Amounts past u64 and u128 limits.
    let huge = Nat::from(u128::MAX) * Nat::from(1_000u32);
    let arg = TransferArg {
        from_subaccount: None,
        to: Account::from(f.whale),
        fee: None,
        created_at_time: None,
        memo: None,
        amount: huge.clone(),
    };
    let r =
        f.ic.update_call(f.ledger, alice, "icrc1_transfer", Encode!(&arg).unwrap())
            .unwrap();
    assert!(Decode!(&r, Result<Nat, TransferError>).unwrap().is_err());
    check_unchanged(&mut f);

    // Wrong fee, timestamps too old and in the future.
    let now = f.ic.time();
    for (fee, created) in [
        (Some(Nat::from(1u8)), None),
        (None, Some(now - 25 * 3_600 * 1_000_000_000)),
        (None, Some(now + 120 * 1_000_000_000)),
    ] {
        let arg = TransferArg {
            from_subaccount: None,
            to: Account::from(f.whale),
            fee,
            created_at_time: created,
            memo: None,
            amount: Nat::from(1u8),
        };
        let r =
            f.ic.update_call(f.ledger, alice, "icrc1_transfer", Encode!(&arg).unwrap())
                .unwrap();
        let e = Decode!(&r, Result<Nat, TransferError>)
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                e,
                TransferError::BadFee { .. }
                    | TransferError::TooOld
                    | TransferError::CreatedInFuture { .. }
            ),
            "{e:?}"
        );
    }
    check_unchanged(&mut f);

    // Self-approval and the anonymous caller.
    let e = f.approve(alice, alice, 5).unwrap_err();
    assert!(matches!(e, ApproveError::GenericError { .. }), "{e:?}");
    assert!(f
        .transfer(Principal::anonymous(), Account::from(alice), 1)
        .is_err());
    check_unchanged(&mut f);

    // Subaccount None and all zeros are the same account.
    let zeros = Account {
        owner: alice,
        subaccount: Some([0; 32]),
    };
    assert_eq!(f.balance(zeros), f.balance(Account::from(alice)));
}
