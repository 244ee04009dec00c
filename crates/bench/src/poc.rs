//! Suite `poc`: proof of computing. Times the CPU prover and the Vulkan prover at the standard
//! matrix size (n = 4096) for a few rounds, the commitment (row hashing + tree) and the
//! validator's check of k = 32 rows; extrapolates to the standard task (1024 rounds, time is
//! linear in rounds) and gives E from it; and, on a known GPU, the fraction of its int32 peak.
//!
//! Environment: `EMC_POC_DEVICE` (Vulkan device: `auto`, an index or a name substring),
//! `EMC_POC_N` (default 4096), `EMC_POC_ROUNDS_CPU` (default 1),
//! `EMC_POC_ROUNDS_VULKAN` (default 1 on a CPU Vulkan device such as lavapipe, 64 on a GPU).

use anyhow::{anyhow, Context, Result};
use emc_poc::{
    e_fixed, CpuProver, DeviceSelector, Prover, ProverSession, Task, TaskParams, VulkanProver,
    STANDARD, STANDARD_K,
};
use serde_json::{json, Value};
use std::time::Instant;

/// int32 peaks in ops/s, a multiply-add counting 2 (the way NVIDIA counts its TOPS): SMs x 64
/// INT32 lanes x 2 x boost clock. Matched by name substring, first match wins.
const INT32_PEAKS: &[(&str, f64)] = &[
    ("H100 PCIe", 25.6e12), // 114 SMs, 1.755 GHz
    ("H100", 33.5e12),      // SXM5: 132 SMs, 1.98 GHz
    ("H200", 33.5e12),      // same GH100 die and clocks as the H100 SXM5
    ("A100", 19.5e12),      // 108 SMs, 1.41 GHz
];

fn env_u32(name: &str, default: u32) -> Result<u32> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().with_context(|| format!("{name}={v}")),
        Err(_) => Ok(default),
    }
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// E (4 decimals) the standard task would give for a measured time of `ms_measured` at
/// `params`, assuming time linear in rounds.
fn e_estimate(params: &TaskParams, ms_measured: f64) -> f64 {
    let ns = (ms_measured * 1e6).max(1.0) as u64;
    e_fixed(params, ns) as f64 / 1e4
}

pub fn run() -> Result<Value> {
    let n = env_u32("EMC_POC_N", STANDARD.n)?;
    let seed = [0x42u8; 32];

    // CPU prover.
    let cpu = CpuProver::default();
    let cpu_params = TaskParams {
        n,
        rounds: env_u32("EMC_POC_ROUNDS_CPU", 1)?,
    };
    let cpu_task = Task {
        seed,
        params: cpu_params,
    };
    let start = Instant::now();
    let cpu_out = cpu
        .compute(&cpu_task)
        .map_err(|e| anyhow!("cpu prover: {e}"))?;
    let poc_ms_cpu = ms(start);
    let start = Instant::now();
    let session = ProverSession::from_output(&cpu_task, cpu_out.clone())
        .map_err(|e| anyhow!("commitment: {e}"))?;
    let commit_ms = ms(start);

    // Validator: recompute k rows (one thread, then all: `Verifier::with_threads`).
    let rows = emc_poc::select_rows(&[7; 32], &session.commitment().root, n, STANDARD_K);
    let start = Instant::now();
    let recomputed = cpu_task
        .compute_rows(&rows)
        .ok_or_else(|| anyhow!("rows out of range"))?;
    let verifier_ms = ms(start);
    let start = Instant::now();
    let threaded = cpu_task.compute_rows_threaded(&rows, 0);
    let verifier_ms_all_threads = ms(start);
    anyhow::ensure!(
        threaded.as_ref() == Some(&recomputed),
        "threaded verifier disagrees"
    );
    for (r, want) in rows.iter().zip(&recomputed) {
        anyhow::ensure!(
            session.row(*r) == Some(&want[..]),
            "row {r}: verifier disagrees"
        );
    }

    // Vulkan prover.
    let selector: DeviceSelector = std::env::var("EMC_POC_DEVICE")
        .unwrap_or_default()
        .parse()
        .unwrap_or_default();
    let vk = VulkanProver::new(&selector).map_err(|e| anyhow!("{e}"))?;
    let default_rounds = if vk.is_cpu_device() { 1 } else { 64 };
    let vk_params = TaskParams {
        n,
        rounds: env_u32("EMC_POC_ROUNDS_VULKAN", default_rounds)?,
    };
    let vk_task = Task {
        seed,
        params: vk_params,
    };
    // Warm-up (pipeline caches, allocations) on a small task.
    vk.compute(&Task {
        seed,
        params: TaskParams { n: 128, rounds: 1 },
    })
    .map_err(|e| anyhow!("vulkan warm-up: {e}"))?;
    let start = Instant::now();
    let vk_out = vk
        .compute(&vk_task)
        .map_err(|e| anyhow!("vulkan prover: {e}"))?;
    let poc_ms_vulkan = ms(start);
    let identical = if vk_params == cpu_params {
        Some(vk_out == cpu_out)
    } else {
        None
    };
    if identical == Some(false) {
        anyhow::bail!("Vulkan and CPU results differ");
    }

    let vk_ops = 2.0 * vk_params.prover_macs() as f64;
    let int32_ops_per_s = vk_ops / (poc_ms_vulkan / 1e3);
    let peak = INT32_PEAKS
        .iter()
        .find(|(name, _)| vk.device_name().contains(name));
    // The standard task's time, assuming time linear in work (rounds * n^3).
    let per_standard =
        |p: &TaskParams, t: f64| t * STANDARD.prover_macs() as f64 / p.prover_macs() as f64;

    Ok(json!({
        "device": vk.device_name(),
        "device_is_cpu": vk.is_cpu_device(),
        "n": n,
        "k": STANDARD_K,
        "standard": { "n": STANDARD.n, "rounds": STANDARD.rounds, "k": STANDARD_K },
        "cpu_threads": cpu.threads(),
        "rounds_cpu": cpu_params.rounds,
        "rounds_vulkan": vk_params.rounds,
        "poc_ms_cpu": poc_ms_cpu,
        "poc_ms_vulkan": poc_ms_vulkan,
        "commit_ms": commit_ms,
        "standard_task_ms_cpu_estimate": per_standard(&cpu_params, poc_ms_cpu),
        "standard_task_ms_vulkan_estimate": per_standard(&vk_params, poc_ms_vulkan),
        "e_cpu_estimate": e_estimate(&cpu_params, poc_ms_cpu + commit_ms),
        "e_vulkan_estimate": e_estimate(&vk_params, poc_ms_vulkan + commit_ms),
        "vulkan_equals_cpu": identical,
        "verifier_ms": verifier_ms,
        "verifier_ms_all_threads": verifier_ms_all_threads,
        "verifier_to_prover_ratio": STANDARD.verifier_to_prover_ratio(STANDARD_K),
        // Wall times on this machine: the verifier on one thread, the prover on cpu_threads.
        "verifier_to_prover_time_ratio_cpu": verifier_ms / poc_ms_cpu,
        "int32_ops_per_s": int32_ops_per_s,
        "int32_peak_ops_per_s": peak.map(|p| p.1),
        "int32_peak_fraction": peak.map(|p| int32_ops_per_s / p.1),
    }))
}
