//! DFINITY's ICRC-1/ICRC-2 acceptance suite (icrc1-test-suite) through ic-agent against the
//! real ledger wasm on the replica: every request signed, every reply verified.

use crate::*;
use candid::utils::{ArgumentDecoder, ArgumentEncoder};
use std::cell::Cell;
use std::rc::Rc;
use std::time::SystemTime;

/// One ledger seen by one caller (its own key and agent); `fork` makes a fresh caller.
#[derive(Clone)]
struct AgentLedger {
    agent: Agent,
    url: String,
    root_key: Vec<u8>,
    ledger: Principal,
    caller: Principal,
    next_key: Rc<Cell<u8>>,
}

impl AgentLedger {
    fn new(
        url: String,
        root_key: Vec<u8>,
        ledger: Principal,
        key: u8,
        next_key: Rc<Cell<u8>>,
    ) -> Self {
        let identity = ed25519(key);
        let caller = principal_of(&identity);
        let agent = Agent::builder()
            .with_url(url.clone())
            .with_identity(identity)
            .build()
            .unwrap();
        agent.set_root_key(root_key.clone());
        AgentLedger {
            agent,
            url,
            root_key,
            ledger,
            caller,
            next_key,
        }
    }
}

#[async_trait::async_trait(?Send)]
impl icrc1_test_env::LedgerEnv for AgentLedger {
    fn fork(&self) -> Self {
        let key = self.next_key.get() + 1;
        self.next_key.set(key);
        AgentLedger::new(
            self.url.clone(),
            self.root_key.clone(),
            self.ledger,
            key,
            self.next_key.clone(),
        )
    }

    fn principal(&self) -> Principal {
        self.caller
    }

    async fn time(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn query<Input, Output>(&self, method: &str, input: Input) -> anyhow::Result<Output>
    where
        Input: ArgumentEncoder + std::fmt::Debug,
        Output: for<'a> ArgumentDecoder<'a>,
    {
        let reply = self
            .agent
            .query(&self.ledger, method)
            .with_arg(candid::encode_args(input)?)
            .call()
            .await?;
        Ok(candid::decode_args(&reply)?)
    }

    async fn update<Input, Output>(&self, method: &str, input: Input) -> anyhow::Result<Output>
    where
        Input: ArgumentEncoder + std::fmt::Debug,
        Output: for<'a> ArgumentDecoder<'a>,
    {
        let reply = self
            .agent
            .update(&self.ledger, method)
            .with_arg(candid::encode_args(input)?)
            .call_and_wait()
            .await?;
        Ok(candid::decode_args(&reply)?)
    }
}

#[test]
fn dfinity_icrc1_and_icrc2_acceptance_suites_pass_through_ic_agent() {
    let rt = runtime();
    let replica = rt.block_on(start(None));
    let holder = 2;
    let ledger = rt.block_on(async {
        let admin = agent(&replica, ed25519(1)).await;
        install_ledger(&admin, &[principal_of(&ed25519(holder))]).await
    });
    let env = AgentLedger::new(
        replica.url(),
        replica.root_key().to_vec(),
        ledger,
        holder,
        Rc::new(Cell::new(100)),
    );
    let tests = rt.block_on(icrc1_test_suite::test_suite(env));
    assert_eq!(tests.len(), 16, "ICRC-1 and ICRC-2: 8 tests each");
    let passed = rt.block_on(icrc1_test_suite::execute_tests(tests));
    assert!(
        passed,
        "the acceptance suite failed: see the TAP output above"
    );
    rt.block_on(replica.shutdown());
}
