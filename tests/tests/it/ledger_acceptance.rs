//! DFINITY's ICRC-1/ICRC-2 acceptance suite (crates icrc1-test-suite and icrc1-test-env) run
//! against the real ledger wasm on the embedded IC, through an implementation of its
//! `LedgerEnv` trait. Every test of both standards must pass.

use candid::utils::{ArgumentDecoder, ArgumentEncoder};
use candid::{Encode, Principal};
use emc_embedded_ic::EmbeddedIc;
use emc_ledger::{InitArgs, LedgerArg};
use icrc1_test_env::LedgerEnv;
use icrc_ledger_types::icrc1::account::Account;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// One ledger on one embedded IC, seen by one caller; `fork` gives a fresh caller.
#[derive(Clone)]
struct EmbeddedLedger {
    ic: Rc<RefCell<EmbeddedIc>>,
    ledger: Principal,
    caller: Principal,
    next_user: Rc<Cell<u64>>,
}

#[async_trait::async_trait(?Send)]
impl LedgerEnv for EmbeddedLedger {
    fn fork(&self) -> Self {
        let n = self.next_user.get() + 1;
        self.next_user.set(n);
        EmbeddedLedger {
            caller: emc_embedded_ic::user_principal(10_000 + n),
            ..self.clone()
        }
    }

    fn principal(&self) -> Principal {
        self.caller
    }

    async fn time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.ic.borrow().time())
    }

    async fn query<Input, Output>(&self, method: &str, input: Input) -> anyhow::Result<Output>
    where
        Input: ArgumentEncoder + std::fmt::Debug,
        Output: for<'a> ArgumentDecoder<'a>,
    {
        let arg = candid::encode_args(input)?;
        let reply = self
            .ic
            .borrow_mut()
            .query_call(self.ledger, self.caller, method, arg)?;
        Ok(candid::decode_args(&reply)?)
    }

    async fn update<Input, Output>(&self, method: &str, input: Input) -> anyhow::Result<Output>
    where
        Input: ArgumentEncoder + std::fmt::Debug,
        Output: for<'a> ArgumentDecoder<'a>,
    {
        let arg = candid::encode_args(input)?;
        let reply = self
            .ic
            .borrow_mut()
            .update_call(self.ledger, self.caller, method, arg)?;
        Ok(candid::decode_args(&reply)?)
    }
}

fn setup() -> EmbeddedLedger {
    let admin = emc_embedded_ic::user_principal(1);
    let holder = emc_embedded_ic::user_principal(2);
    let mut ic = EmbeddedIc::new();
    let init = LedgerArg::Init(InitArgs::emc(
        Account::from(emc_embedded_ic::user_principal(3)),
        admin,
        10_000,
        vec![(Account::from(holder), 1_000_000_000_000_000)],
    ));
    let wasm = emc_test_env::canister_wasm("ledger");
    let ledger = ic
        .install_canister(&wasm, Encode!(&init).unwrap(), vec![admin])
        .unwrap();
    EmbeddedLedger {
        ic: Rc::new(RefCell::new(ic)),
        ledger,
        caller: holder,
        next_user: Rc::new(Cell::new(0)),
    }
}

#[test]
fn dfinity_icrc1_and_icrc2_acceptance_suites_pass() {
    let env = setup();
    let tests = futures::executor::block_on(icrc1_test_suite::test_suite(env));
    assert_eq!(
        tests.len(),
        16,
        "the ledger must announce ICRC-1 and ICRC-2 (8 tests each)"
    );
    let passed = futures::executor::block_on(icrc1_test_suite::execute_tests(tests));
    assert!(
        passed,
        "the acceptance suite failed: see the TAP output above"
    );
}
