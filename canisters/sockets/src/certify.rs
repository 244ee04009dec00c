//! The certified ICRC-3 tip: the IC hash tree (`last_block_hash`, `last_block_index`) the
//! ledger certifies too, from `emc_stable::certify`.

pub use emc_stable::certify::{tip_tree, HashTree};
