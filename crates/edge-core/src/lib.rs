//! # emc-edge-core: the edge network's rules, pure
//!
//! Everything here is a deterministic function of its arguments: no IO, no clock, no OS
//! randomness, no async runtime. Time comes in as `now_ns` arguments, randomness as seed bytes,
//! and effects go out as values that the shells (`edge-node`, `router`) carry out. This is the
//! quinn-proto to their quinn, as `emc-consensus` is to the validator shell.
//!
//! - [`app`]: the validators' consensus application: block contents and validity, the tally
//!   of each epoch, and the per-node records (from the registry's snapshot of that epoch) whose
//!   header hash is the closing checkpoint's state root.
//! - [`protocol`]: frame kinds and payloads shared by edge nodes and routers.
//! - [`poc`]: proof-of-computing rounds drawn from committed blocks, the challenger of each
//!   compute node, the round's one window for every challenge, and the validator's challenge
//!   planner.
//! - [`dispatch`]: the router's dispatch policy: filter by app/model, health and capacity, then
//!   power of two choices over peak-EWMA latency × (load + 1), exploration of new nodes,
//!   session affinity, ejection of failing nodes, and a call's retry plan (up to 3 attempts
//!   before the first byte, only the succeeding one charged).
//! - [`sessions`]: the compute node's bounded, expiring table of results awaiting openings.
//! - [`settle`]: settlement of compute receipts: the validators' archive of recent periods'
//!   receipts trees (proofs for routers), the router's settler (held receipts, their proofs,
//!   what goes to the market's `settle_batch` once final) and its escrow book (admission
//!   against the market's escrow less the work served but not yet settled).
//! - [`anchor`]: the order and retries of a validator's calls to the epochs canister
//!   (checkpoints, epoch data, epoch close) as a step function.
//! - [`retention`]: which write-ahead log records a validator keeps.
//! - [`view`]: the live registry view (who may connect, whom to dial).
//! - [`pool`]: compute pools: membership, co-signed pool receipts, the split of a pool's
//!   income among its members by E (largest remainder in e8s).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod anchor;
pub mod app;
pub mod compute;
pub mod dispatch;
pub mod poc;
pub mod pool;
pub mod protocol;
pub mod receipts;
pub mod retention;
pub mod sessions;
pub mod settle;
pub mod view;

pub use emc_types::Role;

#[cfg(test)]
mod purity {
    /// The crate reads no clock, no OS randomness and does no IO (ARCHITECTURE invariant):
    /// none of its sources names them.
    #[test]
    fn no_clock_no_randomness_no_io() {
        let sources = [
            include_str!("anchor.rs"),
            include_str!("app/mod.rs"),
            include_str!("dispatch.rs"),
            include_str!("dispatch/sim.rs"),
            include_str!("dispatch/tests.rs"),
            include_str!("poc.rs"),
            include_str!("protocol/mod.rs"),
            include_str!("protocol/call.rs"),
            include_str!("compute.rs"),
            include_str!("retention.rs"),
            include_str!("sessions.rs"),
            include_str!("view.rs"),
        ];
        let forbidden = [
            "Instant",
            "SystemTime",
            "OsRng",
            "thread_rng",
            "tokio",
            "std::fs",
            "std::thread",
            "TcpStream",
            "UdpSocket",
        ];
        for src in sources {
            for word in forbidden {
                assert!(!src.contains(word), "`{word}` in emc-edge-core");
            }
        }
        let manifest = include_str!("../Cargo.toml");
        for dep in ["tokio", "quinn", "rand", "vulkano"] {
            assert!(
                !manifest.lines().any(|l| l.starts_with(&format!("{dep} ")) || l.starts_with(&format!("{dep}."))),
                "{dep} is a dependency of emc-edge-core"
            );
        }
    }
}
