//! The consensus crate's integration tests, one test binary (one link instead of three):
//! - `steps`: table-driven single steps, one protocol rule per case, exact effects expected;
//! - `props`: property tests (total decoders, codec round trips, no panic on mutated input);
//! - `simulation`: the seeded simulation (`sim` feature) across fault mixes and sizes;
//! - `lazy`: lazy and batch verification of votes (forgeries never count, copies verified once).
//!
//! `common` is the harness around one node under test with four ed25519 validators.

mod common;
mod lazy;
mod props;
mod simulation;
mod steps;
