//! The devnet's system tests, one test binary (every binary is a link on two cores):
//! `network` (commits, checkpoints, crashes, relays, partitions, registry changes within
//! epochs), `poc` (proof of computing in the network, rewards by E) and `compute` (dApp calls
//! through a router to compute nodes), `sockets` (a call through a transferred computing socket),
//! `processes` (the multi-process devnet: the replica and every node as its own process).

mod compute;
mod explorer;
mod network;
mod poc;
mod processes;
mod sockets;
mod uploads;

/// The clusters are heavy for 2 cores: one test at a time, across both modules.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
