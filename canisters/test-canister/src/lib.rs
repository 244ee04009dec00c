//! A test-only canister: every endpoint exercises one feature of the host that runs it
//! (replies and rejects, traps and rollback, stable memory across upgrades, inter-canister
//! calls, timers, time, callers, instruction counting and limits, certified data). The
//! embedded IC's tests and its benchmark install it; it is never deployed.

#[cfg(feature = "bls")]
mod bls;

use candid::{CandidType, Principal};
use ic_cdk::call::Call;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::{DefaultMemoryImpl, StableBTreeMap, StableCell};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

type Memory = VirtualMemory<DefaultMemoryImpl>;

thread_local! {
    static MEMORY: MemoryManager<DefaultMemoryImpl> = MemoryManager::init(DefaultMemoryImpl::default());
    static STABLE_MAP: RefCell<StableBTreeMap<String, String, Memory>> =
        RefCell::new(StableBTreeMap::init(MEMORY.with(|m| m.get(MemoryId::new(0)))));
    static UPGRADES: RefCell<StableCell<u64, Memory>> =
        RefCell::new(StableCell::init(MEMORY.with(|m| m.get(MemoryId::new(1))), 0));
    static HEAP_MAP: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
    static COUNTER: RefCell<u64> = const { RefCell::new(0) };
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static TIMER_FIRES: RefCell<u64> = const { RefCell::new(0) };
    static BALLAST: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct InitArg {
    pub greeting: String,
}

thread_local! {
    static GREETING: RefCell<String> = RefCell::new(String::from("Hello"));
}

#[ic_cdk::init]
fn init(arg: Option<InitArg>) {
    if let Some(arg) = arg {
        if arg.greeting == "trap" {
            ic_cdk::trap("init or post_upgrade asked to trap");
        }
        GREETING.with(|g| *g.borrow_mut() = arg.greeting);
    }
}

#[ic_cdk::post_upgrade]
fn post_upgrade(arg: Option<InitArg>) {
    init(arg);
    UPGRADES.with(|u| {
        let mut u = u.borrow_mut();
        let n = *u.get() + 1;
        u.set(n);
    });
}

fn log(event: impl Into<String>) {
    LOG.with(|l| l.borrow_mut().push(event.into()));
}

// --- replies, rejects, traps -----------------------------------------------------------------

#[ic_cdk::query]
fn greet(name: String) -> String {
    GREETING.with(|g| format!("{}, {name}!", g.borrow()))
}

#[ic_cdk::update]
fn echo(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

#[ic_cdk::update]
fn inc() -> u64 {
    COUNTER.with(|c| {
        *c.borrow_mut() += 1;
        *c.borrow()
    })
}

#[ic_cdk::query]
fn get() -> u64 {
    COUNTER.with(|c| *c.borrow())
}

/// A query that writes: the write must not persist.
#[ic_cdk::query]
fn inc_in_query() -> u64 {
    inc()
}

/// Rejects the call with `message` (an explicit reject, not a trap).
#[ic_cdk::update(manual_reply = true)]
fn reject_with(message: String) {
    ic_cdk::api::msg_reject(message);
}

/// Writes to the heap, stable memory and certified data, then traps: nothing may persist.
#[ic_cdk::update]
fn write_then_trap(key: String, value: String) {
    COUNTER.with(|c| *c.borrow_mut() += 1000);
    HEAP_MAP.with(|m| m.borrow_mut().insert(key.clone(), value.clone()));
    STABLE_MAP.with(|m| m.borrow_mut().insert(key, value));
    ic_cdk::api::certified_data_set([7u8; 32]);
    ic_cdk::trap("deliberate trap after writing");
}

/// Grows the heap by `mib` MiB, touches it, then traps: the heap must shrink back.
#[ic_cdk::update]
fn grow_then_trap(mib: u32) {
    BALLAST.with(|b| b.borrow_mut().resize(mib as usize * 1024 * 1024, 1));
    ic_cdk::trap("deliberate trap after growing the heap");
}

/// Keeps `mib` MiB of heap allocated (to measure rollback cost against heap size).
#[ic_cdk::update]
fn ballast(mib: u32) -> u64 {
    BALLAST.with(|b| {
        let mut b = b.borrow_mut();
        b.resize(mib as usize * 1024 * 1024, 1);
        b.len() as u64
    })
}

/// Touches one byte of the ballast, then traps.
#[ic_cdk::update]
fn touch_then_trap() {
    BALLAST.with(|b| {
        if let Some(x) = b.borrow_mut().first_mut() {
            *x = x.wrapping_add(1);
        }
    });
    ic_cdk::trap("deliberate trap after a small write");
}

#[ic_cdk::query]
fn ballast_checksum() -> u64 {
    BALLAST.with(|b| b.borrow().iter().map(|&x| x as u64).sum())
}

/// Reads out of the heap's bounds.
#[ic_cdk::update]
fn out_of_bounds() -> u8 {
    let ptr = (u32::MAX - 16) as usize as *const u8;
    // SAFETY: none; the point is to fault. wasm turns the access into a trap.
    #[allow(unsafe_code)]
    unsafe {
        std::ptr::read_volatile(ptr)
    }
}

// --- maps on the heap and in stable memory ---------------------------------------------------

#[ic_cdk::update]
fn heap_put(key: String, value: String) {
    HEAP_MAP.with(|m| m.borrow_mut().insert(key, value));
}

#[ic_cdk::query]
fn heap_get(key: String) -> Option<String> {
    HEAP_MAP.with(|m| m.borrow().get(&key).cloned())
}

#[ic_cdk::update]
fn stable_put(key: String, value: String) {
    STABLE_MAP.with(|m| m.borrow_mut().insert(key, value));
}

#[ic_cdk::query]
fn stable_get(key: String) -> Option<String> {
    STABLE_MAP.with(|m| m.borrow().get(&key))
}

#[ic_cdk::query]
fn stable_len() -> u64 {
    STABLE_MAP.with(|m| m.borrow().len())
}

#[ic_cdk::query]
fn upgrades() -> u64 {
    UPGRADES.with(|u| *u.borrow().get())
}

// --- identity, time, cycles ------------------------------------------------------------------

#[ic_cdk::query]
fn whoami() -> Principal {
    ic_cdk::api::msg_caller()
}

#[ic_cdk::query]
fn self_id() -> Principal {
    ic_cdk::api::canister_self()
}

#[ic_cdk::query]
fn time() -> u64 {
    ic_cdk::api::time()
}

#[ic_cdk::query]
fn is_controller(p: Principal) -> bool {
    ic_cdk::api::is_controller(&p)
}

#[ic_cdk::query]
fn version() -> u64 {
    ic_cdk::api::canister_version()
}

// --- instructions ----------------------------------------------------------------------------

/// A fixed loop of `n` iterations; returns the instructions counted so far.
#[ic_cdk::update]
fn spin(n: u64) -> u64 {
    let mut x: u64 = 0;
    for i in 0..n {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    std::hint::black_box(x);
    ic_cdk::api::performance_counter(0)
}

#[ic_cdk::update]
fn loop_forever() {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(3));
    }
}

#[ic_cdk::query]
fn spin_query(n: u64) -> u64 {
    spin(n)
}

// --- certification ---------------------------------------------------------------------------

#[ic_cdk::update]
fn set_certified(data: Vec<u8>) {
    ic_cdk::api::certified_data_set(data);
}

#[ic_cdk::query]
fn certificate() -> Option<Vec<u8>> {
    ic_cdk::api::data_certificate()
}

#[ic_cdk::update]
fn certificate_in_update() -> Option<Vec<u8>> {
    ic_cdk::api::data_certificate()
}

// --- inter-canister calls --------------------------------------------------------------------

/// Logs an event; a callee for ordering tests.
#[ic_cdk::update]
fn record(event: String) {
    log(event);
}

#[ic_cdk::query]
fn events() -> Vec<String> {
    LOG.with(|l| l.borrow().clone())
}

/// Calls `echo` on `target` and returns its reply.
#[ic_cdk::update]
async fn call_echo(target: Principal, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    let reply = Call::unbounded_wait(target, "echo")
        .with_arg(bytes)
        .await
        .map_err(|e| e.to_string())?;
    reply.candid::<Vec<u8>>().map_err(|e| e.to_string())
}

/// Calls `method` on `target` with no argument and returns the reject code and message, if any.
#[ic_cdk::update]
async fn call_expect_reject(target: Principal, method: String) -> Option<(u32, String)> {
    match Call::bounded_wait(target, &method).await {
        Ok(_) => None,
        Err(ic_cdk::call::CallFailed::CallRejected(r)) => {
            Some((r.raw_reject_code(), r.reject_message().to_string()))
        }
        Err(e) => Some((0, e.to_string())),
    }
}

/// Calls `method` on `target` with the raw candid `arg` (e.g. the management canister's
/// `install_code`); returns the reply bytes or the reject code and message.
#[ic_cdk::update]
async fn call_raw(
    target: Principal,
    method: String,
    arg: Vec<u8>,
) -> Result<Vec<u8>, (u32, String)> {
    match Call::unbounded_wait(target, &method)
        .with_raw_args(&arg)
        .await
    {
        Ok(reply) => Ok(reply.into_bytes()),
        Err(ic_cdk::call::CallFailed::CallRejected(r)) => {
            Err((r.raw_reject_code(), r.reject_message().to_string()))
        }
        Err(e) => Err((0, e.to_string())),
    }
}

/// Relays `depth` through `chain` (each hop calls the next one's `chain`), logging entry and
/// exit at every hop; returns the hops' ids in the order their replies came back.
#[ic_cdk::update]
async fn chain(hops: Vec<Principal>, tag: String) -> Vec<String> {
    let me = ic_cdk::api::canister_self().to_text();
    log(format!("enter {tag} at {me}"));
    let mut seen = Vec::new();
    if let Some((next, rest)) = hops.split_first() {
        let reply = Call::unbounded_wait(*next, "chain")
            .with_args(&(rest.to_vec(), tag.clone()))
            .await;
        match reply.map(|r| r.candid::<Vec<String>>()) {
            Ok(Ok(inner)) => seen = inner,
            Ok(Err(e)) => ic_cdk::trap(e.to_string()),
            Err(e) => ic_cdk::trap(e.to_string()),
        }
    }
    log(format!("exit {tag} at {me}"));
    seen.push(me);
    seen
}

/// Sends `n` `record` calls to `target` in one message without awaiting them (all in flight
/// together). The target must receive them in the order they were sent.
#[ic_cdk::update]
fn send_many(target: Principal, n: u32) -> u32 {
    (0..n)
        .filter(|i| {
            Call::unbounded_wait(target, "record")
                .with_arg(format!("msg {i}"))
                .oneway()
                .is_ok()
        })
        .count() as u32
}

/// Increments the counter, calls `target`, then traps in the callback. The increment made
/// before the call persists (it was its own message); the callback's does not.
#[ic_cdk::update]
async fn trap_in_callback(target: Principal) {
    inc();
    let _ = Call::unbounded_wait(target, "echo")
        .with_arg(Vec::<u8>::new())
        .await;
    COUNTER.with(|c| *c.borrow_mut() += 1000);
    ic_cdk::trap("deliberate trap in a callback");
}

/// Calls itself (the pattern ic-cdk-timers relies on).
#[ic_cdk::update]
async fn self_call() -> u64 {
    let me = ic_cdk::api::canister_self();
    match Call::unbounded_wait(me, "inc").await {
        Ok(r) => r.candid::<u64>().unwrap_or(0),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
}

/// Randomness from the management canister.
#[ic_cdk::update]
async fn random() -> Vec<u8> {
    match Call::unbounded_wait(Principal::management_canister(), "raw_rand").await {
        Ok(r) => r.candid::<Vec<u8>>().unwrap_or_default(),
        Err(e) => ic_cdk::trap(e.to_string()),
    }
}

// --- timers ----------------------------------------------------------------------------------

#[ic_cdk::update]
fn set_timer(seconds: u64) {
    ic_cdk_timers::set_timer(Duration::from_secs(seconds), async {
        TIMER_FIRES.with(|t| *t.borrow_mut() += 1);
        log(format!("timer at {}", ic_cdk::api::time()));
    });
}

#[ic_cdk::update]
fn set_interval(seconds: u64) {
    ic_cdk_timers::set_timer_interval(Duration::from_secs(seconds), || async {
        TIMER_FIRES.with(|t| *t.borrow_mut() += 1);
    });
}

#[ic_cdk::query]
fn timer_fires() -> u64 {
    TIMER_FIRES.with(|t| *t.borrow())
}

// --- inspect_message -------------------------------------------------------------------------

#[ic_cdk::inspect_message]
fn inspect_message() {
    if ic_cdk::api::msg_method_name() != "blocked_by_inspect" {
        ic_cdk::api::accept_message();
    }
}

#[ic_cdk::update]
fn blocked_by_inspect() {}

ic_cdk::export_candid!();
