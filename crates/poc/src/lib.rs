//! Proof of computing (protocol sections 5 and 11.2): a validator measures a compute node's
//! speed E with a fresh, verifiable, GPU-friendly integer task.
//!
//! # The task
//! From a validator's fresh 32-byte seed and a matrix size `n`, both sides derive a 128-bit key
//! ([`TaskKey`], SHA-256 of the seed and `n`) and from it `n x n` matrices of `u32`: `A` and
//! `B_0, B_1, ...`. Entries come from a counter-based hash of `(key, matrix, row, column)`
//! (murmur3's finalizer, [`MatrixKey::entry`]), so a GPU generates its matrices itself and a
//! verifier generates only what it needs. The chain is
//!
//! `C_0 = A`, `C_{t+1} = mix_out(C_t x B_t)`, the result after `r` rounds = `C_r`,
//!
//! with wrapping `u32` multiply-adds (identical bits on every GPU vendor and on the CPU) and
//! `mix_out(x) = x ^ (x >> 16)` applied to every entry (not additive, so the chain cannot be
//! re-associated, and it keeps low bits from degenerating). Each row of the result depends
//! only on the same row of `A` and on the `B_t`: the verifier can recompute one row alone.
//!
//! # The commitment
//! The node commits to its result's rows with a Merkle tree ([`merkle`]): leaf =
//! `SHA-256(0x00 || row as LE u32s)`, node = `SHA-256(0x01 || left || right)`, odd nodes
//! promoted (RFC 6962 shape). It sends the root and the number of rounds `r` it completed.
//!
//! # The challenge ([`Verifier`], sans-IO): a fixed window, variable work
//! 1. The validator sends `(seed, n, max_rounds, window W)` ([`Challenge`]) and notes the time.
//!    `W` is the same for every challenge of a round (a validator setting).
//! 2. The node runs rounds of the chain until (its own estimate of) the window's end
//!    ([`WindowStop`]) and answers with `r`, the rounds it completed, and the root over `C_r`
//!    ([`Commitment`]). The validator times the commitment **on its own clock**: after `W`,
//!    or with `r = 0` or `r > max_rounds`, the challenge fails.
//! 3. Only now does the validator draw fresh randomness and pick `k` distinct rows
//!    ([`Verifier::rows_to_open`]); the node sends them with their proofs ([`Opening`]).
//! 4. The validator checks each proof against the root and recomputes the rows through `r`
//!    rounds on the CPU. A bad proof, a wrong row or a late answer fails; otherwise E is the
//!    work completed within the window:
//!    `E = 15000 ms x (r n^3 / work of the standard task) / W` ([`e_fixed`] of `(n, r)` over
//!    `W`), in fixed point with 4 decimals. The node's own elapsed time does not enter E.
//! 5. The [`Verdict`] becomes a state bit ([`Verdict::to_state_bit`]) that consensus agrees on
//!    and that feeds the checkpoint's PoC summary, which the epochs canister pays on.
//!
//! # Detection
//! The rows to open are unknown when the root is fixed, so a node that committed to wrong
//! values on a fraction `f` of its rows (garbage, a result for another seed, or rows it
//! skipped to save time) survives only if all `k` opened rows are among the right ones:
//! `P(caught) = 1 - (1 - f)^k` when each row is wrong independently with probability `f`
//! (distinct rows make it at least that for any fixed set of `f n` wrong rows). With
//! `k = 32` ([`STANDARD_K`]):
//!
//! | f (rows skipped) | time saved | P(caught) |
//! |---|---|---|
//! | 2 %  | 2 %  | 0.48 |
//! | 5 %  | 5 %  | 0.81 |
//! | 10 % | 10 % | 0.97 |
//! | 25 % | 25 % | 0.9999 |
//!
//! A caught node earns nothing and becomes inactive until it passes again, so skipping a
//! fraction `f` multiplies E by `1 / (1 - f)` when it passes and zeroes it when caught: the
//! expected E is `(1 - f)^(k - 1)` times the honest one, below 1 for every `f > 0`. Replacing a row by
//! anything other than the right value is caught with the same probability (a hash collision
//! aside); committing first and computing a row lazily later does not help because the root
//! is fixed before the rows are chosen.
//!
//! # Verifier cost
//! Recomputing one row needs that row of `A` and every `B_t`: the verifier generates each
//! `B_t` once, a row at a time (`r n^2` entries, never stored whole), and pushes all
//! `k` rows through it (`k r n^2` multiply-adds). The node does `r n^3`. So the
//! ratio is `(k + 1) / n` whatever `r`: `33 / 4096 = 0.0081` at the standard size
//! ([`TaskParams::verifier_to_prover_ratio`]). In absolute terms the verifier's work is
//! `k r n^2`, so `max_rounds` bounds it; the first opened row is recomputed alone, so a
//! garbage commitment claiming `max_rounds` costs one row (`r n^2`), not `k`.
//!
//! # Parameters
//! [`STANDARD`] (`n = 4096`, `rounds = 1024`) is the unit of work of E, and `k = 32`.
//! `n = 4096` makes the ratio < 1 % with `k = 32` while the node's memory stays at three
//! 64 MiB matrices and its output at 64 MiB to hash. One round is `1.37e11` int32 operations
//! (a multiply-add counts 2), so the standard task's 1024 rounds take ~8.4 s at half an H100's
//! int32 peak (E ~ 1.8) and ~35 s at 4 Tops/s (E ~ 0.43): the scale of the spec's examples.
//! The validator's defaults are `W = 15 s` (the reference time, so E is the work done in the
//! window counted in standard tasks: an H100 at 16.7 Tops/s completes ~1830 rounds, E ~ 1.79)
//! and `max_rounds = 4096` (E at most 4.0 at n = 4096 and W = 15 s, above an H200 at its full
//! int32 peak, ~3660 rounds; the verifier's work for an honest opening is then at most
//! `34 x 4096 x 4096^2 = 2.3e12` multiply-adds). A validator may use a smaller `n` (the
//! devnet does): E is normalized by work, so it stays comparable.
//!
//! # The window
//! The node's stopping rule ([`WindowStop`]): it learns nothing from the validator but `W`, so
//! it aims to send its commitment `margin` before `received + W` on its own clock (the margin,
//! its setting, covers the round trip), starts a round only if that round (at the measured
//! time per round) and its own estimate of the finish (reading back and hashing the result,
//! [`finish_estimate_ns`]) still fit, and commits at once on reaching `max_rounds`. It runs at
//! least one round when any time is left. An honest node so loses at most
//! `margin + finish + one round` (plus what precedes its first round) of the window: about 3 %
//! at the standard size on an H100 with `W = 15 s` (a 250 ms margin, ~0.2 s of hashing, 8 ms
//! rounds). The bound is on the validator's clock alone: whatever the node estimates, a
//! commitment after `W` fails and E counts only rounds the opened rows prove.
//!
//! # Simultaneous challenges
//! All compute nodes of a round are challenged at the same instant, each with its own seed
//! ([`round_seed`]) and the same window `W`. E is the work completed within `W`, so however a
//! device splits its time among `m` identities (one after another, round by round, in
//! parallel shares), the rounds all of them complete within `W` are at most its throughput
//! times `W`, and their E add up to at most the E of the whole device used for the whole
//! window, `E_true` (plus rounding). One honest identity alone measures `E_true` less the
//! honest loss above, so splitting gains at most that loss (~3 %) and only by committing with
//! no margin, at the risk of a late commitment and E = 0. Under the former scheme (a fixed task, E
//! from each node's own elapsed time, deadlines of 1.5x the time each identity's last E
//! predicted) serving the identities one after another passed every deadline and gave
//! `E_true (1 + 1/2 + ... + 1/m)`: 2.08 E for m = 4 (issue #21; the test
//! `simultaneous` in `tests/it` measures both: 2.083 then, at most 1.00 now, for a lone
//! identity that loses 4.5 % of its window).
//!
//! # Provers
//! [`CpuProver`] (std threads, AVX2 when present) and [`VulkanProver`] (vulkano, GLSL compiled
//! to SPIR-V by `glslc` at build time) compute identical bits, in two modes: a fixed number of
//! rounds ([`Prover::compute`], the benchmark's) and rounds while a budget allows, at most
//! `max_rounds` ([`Prover::compute_rounds`], a challenge's). [`ProverSession`] holds a result
//! with its tree and answers openings. An edge node's compute role is a thin shell: receive a
//! [`Challenge`], [`ProverSession::run_window`] with a [`WindowStop`] on its monotonic clock,
//! send [`ProverSession::commitment`], answer [`OpenRequest`]s with [`ProverSession::open`];
//! the four messages travel as their `encode`/`decode` bytes (versioned, total decoders).
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cpu;
pub mod merkle;
mod prover;
mod task;
mod verifier;
#[cfg(feature = "vulkan")]
#[allow(unsafe_code)]
pub mod vulkan;
mod window;

pub use cpu::CpuProver;
pub use merkle::{Proof, RowTree};
pub use prover::{
    Challenge, Commitment, Computed, OpenRequest, Opening, Prover, ProverError, ProverSession,
    RowOpening, WireError, MAX_PROOF_SIBLINGS, MAX_WIRE_ROWS, WIRE_VERSION,
};
pub use task::{
    fmix32, mix_out, MatrixKey, ParamsError, Task, TaskKey, TaskParams, MAX_N, MAX_ROUNDS,
    STANDARD, TASK_DOMAIN, TILE,
};
pub use verifier::{
    e_fixed, round_seed, select_rows, FailReason, Verdict, Verifier, VerifierConfig, VerifierError,
    DEFAULT_MAX_ROUNDS, DEFAULT_OPENING_TIMEOUT_NS, DEFAULT_WINDOW_NS, E_REFERENCE_NS, ROWS_DOMAIN,
    SEED_DOMAIN, STANDARD_K,
};
#[cfg(feature = "vulkan")]
pub use vulkan::{DeviceSelector, VulkanError, VulkanProver};
pub use window::{finish_estimate_ns, WindowStop, DEFAULT_FINISH_BYTES_PER_S};
