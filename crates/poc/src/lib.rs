//! Proof of computing (protocol sections 5 and 11.2): a validator measures a compute node's
//! speed E with a fresh, verifiable, GPU-friendly integer task.
//!
//! # The task
//! From a validator's fresh 32-byte seed and a size `(n, rounds)` ([`TaskParams`]), both sides
//! derive a 128-bit key ([`TaskKey`], SHA-256 of the seed and the size) and from it `n x n`
//! matrices of `u32`: `A` and `B_0 .. B_{rounds-1}`. Entries come from a counter-based hash of
//! `(key, matrix, row, column)` (murmur3's finalizer, [`MatrixKey::entry`]), so a GPU generates
//! its matrices itself and a verifier generates only what it needs. The result is
//!
//! `C_0 = A`, `C_{t+1} = mix_out(C_t x B_t)`, result = `C_rounds`,
//!
//! with wrapping `u32` multiply-adds (identical bits on every GPU vendor and on the CPU) and
//! `mix_out(x) = x ^ (x >> 16)` applied to every entry (not additive, so the chain cannot be
//! re-associated, and it keeps low bits from degenerating). Each row of the result depends
//! only on the same row of `A` and on the `B_t`: the verifier can recompute one row alone.
//!
//! # The commitment
//! The node commits to its result's rows with a Merkle tree ([`merkle`]): leaf =
//! `SHA-256(0x00 || row as LE u32s)`, node = `SHA-256(0x01 || left || right)`, odd nodes
//! promoted (RFC 6962 shape). It sends the root only.
//!
//! # The challenge ([`Verifier`], sans-IO)
//! 1. The validator sends `(seed, size, deadline)` ([`Challenge`]) and notes the time.
//! 2. The node answers with the root ([`Commitment`]). The validator measures the elapsed
//!    time **on its own clock**; after the deadline the challenge fails.
//! 3. Only now does the validator draw fresh randomness and pick `k` distinct rows
//!    ([`Verifier::rows_to_open`]); the node sends them with their proofs ([`Opening`]).
//! 4. The validator checks each proof against the root and recomputes the rows on the CPU.
//!    A bad proof, a wrong row or a late answer fails; otherwise
//!    `E = 15000 ms / elapsed` (scaled by the task's work relative to the standard size,
//!    [`e_fixed`]) in fixed point with 4 decimals.
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
//! `B_t` once, a row at a time (`rounds n^2` entries, never stored whole), and pushes all
//! `k` rows through it (`k rounds n^2` multiply-adds). The node does `rounds n^3`. So the
//! ratio is `(k + 1) / n` whatever `rounds`: `33 / 4096 = 0.0081` at the standard size
//! ([`TaskParams::verifier_to_prover_ratio`]).
//!
//! # Parameters
//! [`STANDARD`] is `n = 4096`, `rounds = 1024`, `k = 32`. `n = 4096` makes the ratio < 1 %
//! with `k = 32` while the node's memory stays at three 64 MiB matrices and its output at
//! 64 MiB to hash. `rounds` scales the work without more memory: one round is
//! `1.37e11` int32 operations (a multiply-add counts 2), so 1024 rounds take ~8.4 s at half
//! an H100's int32 peak (E ~ 1.8) and ~35 s at 4 Tops/s (E ~ 0.43): the scale of the spec's
//! examples. A validator may give a node a different `rounds` (fewer for CPU nodes, whose
//! standard task would take hours): E is normalized by work, so it stays comparable.
//!
//! # Simultaneous challenges
//! All compute nodes of a round are challenged at the same instant, each with its own seed
//! ([`round_seed`]). One GPU behind several identities must then compute all their tasks at
//! once: shared fairly, each identity measures `E_true / m` and the sum is `E_true`. Serving
//! them one after another would give `E_true (1 + 1/2 + ... + 1/m)`, so a validator sets each
//! deadline to a small multiple (e.g. 1.5x) of the time the node's last accepted E predicts
//! ([`expected_time_ns`]): the second identity served after the first is then late and fails.
//!
//! # Provers
//! [`CpuProver`] (std threads, AVX2 when present) and [`VulkanProver`] (vulkano, GLSL compiled
//! to SPIR-V by `glslc` at build time) compute identical bits; [`ProverSession`] holds a
//! result with its tree and answers openings. An edge node's compute role is a thin shell:
//! receive a [`Challenge`], [`ProverSession::run`], send [`ProverSession::commitment`], answer
//! [`OpenRequest`]s with [`ProverSession::open`]; the four messages travel as their
//! `encode`/`decode` bytes (versioned, total decoders).
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

pub use cpu::CpuProver;
pub use merkle::{Proof, RowTree};
pub use prover::{
    Challenge, Commitment, OpenRequest, Opening, Prover, ProverError, ProverSession, RowOpening,
    WireError, MAX_PROOF_SIBLINGS, MAX_WIRE_ROWS, WIRE_VERSION,
};
pub use task::{
    fmix32, mix_out, MatrixKey, ParamsError, Task, TaskKey, TaskParams, MAX_N, MAX_ROUNDS,
    STANDARD, TASK_DOMAIN, TILE,
};
pub use verifier::{
    e_fixed, expected_time_ns, round_seed, select_rows, FailReason, Verdict, Verifier,
    VerifierConfig, VerifierError, DEFAULT_OPENING_TIMEOUT_NS, E_REFERENCE_NS, ROWS_DOMAIN,
    SEED_DOMAIN, STANDARD_K,
};
#[cfg(feature = "vulkan")]
pub use vulkan::{DeviceSelector, VulkanError, VulkanProver};
