//! Suite `embedded-ic`: how fast the embedded IC executes messages, whether its instruction
//! counts are stable, and what a rollback costs against the heap's size.

use anyhow::{anyhow, Context, Result};
use candid::{Decode, Encode};
use emc_embedded_ic::EmbeddedIc;
use serde_json::{json, Value};
use std::time::Instant;

/// Iterations of the test canister's fixed loop (`spin`) whose instructions are reported.
const LOOP_ITERATIONS: u64 = 100_000;

pub fn run() -> Result<Value> {
    let wasm = crate::canister_wasm("test-canister")?;
    let admin = emc_embedded_ic::user_principal(1);
    let mut ic = EmbeddedIc::new();
    let id = ic
        .install_canister(&wasm, Encode!(&None::<()>)?, vec![admin])
        .map_err(|e| anyhow!("install: {e}"))?;
    let call = |ic: &mut EmbeddedIc, method: &str, arg: Vec<u8>| {
        ic.update_call(id, admin, method, arg)
            .map_err(|e| anyhow!("{method}: {e}"))
    };

    // Trivial updates: `inc` decodes an empty argument, bumps a counter, encodes a nat64.
    for _ in 0..200 {
        call(&mut ic, "inc", Encode!()?)?;
    }
    let n = 5_000;
    let start = Instant::now();
    for _ in 0..n {
        call(&mut ic, "inc", Encode!()?)?;
    }
    let updates_per_s = n as f64 / start.elapsed().as_secs_f64();
    let trivial_update_instructions = ic.last_instructions();

    let start = Instant::now();
    for _ in 0..n {
        ic.query_call(id, admin, "get", Encode!()?)
            .map_err(|e| anyhow!("get: {e}"))?;
    }
    let queries_per_s = n as f64 / start.elapsed().as_secs_f64();

    // The fixed loop, twice on fresh instances: the count must not change.
    let loop_count = || -> Result<u64> {
        let mut ic = EmbeddedIc::new();
        let id = ic
            .install_canister(&wasm, Encode!(&None::<()>)?, vec![admin])
            .map_err(|e| anyhow!("install: {e}"))?;
        ic.update_call(id, admin, "spin", Encode!(&LOOP_ITERATIONS)?)
            .map_err(|e| anyhow!("spin: {e}"))?;
        Ok(ic.last_instructions())
    };
    let loop_instructions = loop_count()?;
    let loop_instructions_again = loop_count()?;
    let start = Instant::now();
    call(&mut ic, "spin", Encode!(&10_000_000u64)?)?;
    let spin_secs = start.elapsed().as_secs_f64();
    let instructions_per_s = ic.last_instructions() as f64 / spin_secs;

    // Rollback cost: a message that writes one byte and traps, with a small and a large heap.
    let rollback_us = |ic: &mut EmbeddedIc, heap_mib: u32| -> Result<(f64, u64)> {
        let reply = call(ic, "ballast", Encode!(&heap_mib)?)?;
        Decode!(&reply, u64).context("ballast reply")?;
        let runs = 200;
        let start = Instant::now();
        for _ in 0..runs {
            let _ = ic.update_call(id, admin, "touch_then_trap", Encode!()?);
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / runs as f64;
        Ok((us, ic.heap_size(id).unwrap_or(0)))
    };
    let (small_us, small_heap) = rollback_us(&mut ic, 1)?;
    let (large_us, large_heap) = rollback_us(&mut ic, 256)?;
    let start = Instant::now();
    for _ in 0..200 {
        let _ = ic.update_call(id, admin, "inc", Encode!()?);
    }
    let success_us = start.elapsed().as_secs_f64() * 1e6 / 200.0;

    Ok(json!({
        "suite": "embedded-ic",
        "trivial_updates_per_s": updates_per_s.round(),
        "trivial_update_instructions": trivial_update_instructions,
        "queries_per_s": queries_per_s.round(),
        "loop_iterations": LOOP_ITERATIONS,
        "loop_instructions": loop_instructions,
        "loop_instructions_stable": loop_instructions == loop_instructions_again,
        "interpreted_instructions_per_s": instructions_per_s.round(),
        "trapped_message_us_heap_small": (small_us * 10.0).round() / 10.0,
        "heap_small_bytes": small_heap,
        "trapped_message_us_heap_large": (large_us * 10.0).round() / 10.0,
        "heap_large_bytes": large_heap,
        "committed_message_us_heap_large": (success_us * 10.0).round() / 10.0,
    }))
}
