//! Proof of computing's integration tests, one test binary (one link) for all; each module was a
//! test binary of its own.
//!
//! * `protocol`: the challenge protocol end to end on the CPU prover.
//! * `vulkan`: the Vulkan prover against the CPU prover, bit for bit (lavapipe in CI; no Vulkan
//!   device is a failure, never a skip).

mod protocol;
mod simultaneous;
mod vulkan;
