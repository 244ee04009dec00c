//! Typed configuration with defaults, validated once.

use crate::codec::DEFAULT_MAX_MESSAGE_BYTES;
use emc_types::{epoch, Hash, ValidatorSet, ValidatorSetError, ZERO_HASH};

/// Consensus parameters. Build with [`Config::new`] and adjust fields; [`crate::Node`] checks
/// them with [`Config::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The validator set of epoch 0.
    pub genesis_set: ValidatorSet,
    /// The parent hash of block 1.
    pub genesis_hash: Hash,
    /// Timestamp of the genesis, ns (block 1's timestamp may not be earlier).
    pub genesis_timestamp_ns: u64,
    /// Blocks per epoch (protocol: 43,200). Height `h >= 1` is in epoch `(h - 1) / epoch_length`.
    pub epoch_length: u64,
    /// A checkpoint is signed after every block whose height is a multiple of this (450).
    pub checkpoint_interval: u64,
    /// Target time between blocks: the proposer of round 0 waits until the parent's
    /// timestamp plus this before proposing (2 s).
    pub block_interval_ns: u64,
    /// How far ahead of the local clock a proposed block's timestamp may be (5 s): a proposal
    /// stamped later than `now + max_future_drift_ns` is refused, so a Byzantine proposer
    /// cannot push block time into the future (a timestamp near `u64::MAX` would freeze it,
    /// since no later block may be earlier). It must cover the validators' clock skew.
    pub max_future_drift_ns: u64,
    /// Timeout of round 0 after the block interval; round `r` waits `base * 2^r` (1 s).
    pub round_timeout_base_ns: u64,
    /// Upper bound of a round's timeout (60 s).
    pub round_timeout_cap_ns: u64,
    /// Largest encoded message accepted (4 MiB).
    pub max_message_bytes: usize,
    /// Largest number of state bits in a block (10,000).
    pub max_block_bits: usize,
    /// Rounds above the current one for which votes are kept (16); round changes for higher
    /// rounds only count for the "jump on F+1" rule.
    pub round_window: u32,
    /// Committed blocks kept in memory to serve block sync (512).
    pub recent_blocks: usize,
    /// Blocks sent in answer to one sync request (32).
    pub sync_batch: usize,
    /// At most one batch of blocks is served to one requester per this interval (500 ms):
    /// sync requests are unsigned, so serving is rate-limited per requester.
    pub sync_serve_interval_ns: u64,
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The genesis set is not a valid set.
    #[error("genesis set: {0}")]
    GenesisSet(#[from] ValidatorSetError),
    /// The genesis set must be the set of epoch 0.
    #[error("the genesis set is for epoch {0}, not 0")]
    GenesisEpoch(u64),
    /// A parameter that must be positive is zero.
    #[error("{0} must be positive")]
    Zero(&'static str),
    /// The cap is below the base.
    #[error("round timeout cap is below its base")]
    TimeoutCap,
}

impl Config {
    /// The protocol's defaults for a genesis validator set.
    pub fn new(genesis_set: ValidatorSet) -> Self {
        Config {
            genesis_set,
            genesis_hash: ZERO_HASH,
            genesis_timestamp_ns: 0,
            epoch_length: 43_200,
            checkpoint_interval: 450,
            block_interval_ns: 2_000_000_000,
            max_future_drift_ns: 5_000_000_000,
            round_timeout_base_ns: 1_000_000_000,
            round_timeout_cap_ns: 60_000_000_000,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_block_bits: 10_000,
            round_window: 16,
            recent_blocks: 512,
            sync_batch: 32,
            sync_serve_interval_ns: 500_000_000,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.genesis_set.check()?;
        if self.genesis_set.epoch != 0 {
            return Err(ConfigError::GenesisEpoch(self.genesis_set.epoch));
        }
        for (name, v) in [
            ("epoch_length", self.epoch_length),
            ("checkpoint_interval", self.checkpoint_interval),
            ("round_timeout_base_ns", self.round_timeout_base_ns),
            ("max_future_drift_ns", self.max_future_drift_ns),
            ("round_window", u64::from(self.round_window)),
            ("sync_batch", self.sync_batch as u64),
            ("recent_blocks", self.recent_blocks as u64),
            ("max_message_bytes", self.max_message_bytes as u64),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.round_timeout_cap_ns < self.round_timeout_base_ns {
            return Err(ConfigError::TimeoutCap);
        }
        Ok(())
    }

    /// The epoch of height `h` (height 0, the genesis, is in epoch 0): the network's shared
    /// arithmetic, [`emc_types::epoch::epoch_of`].
    pub fn epoch_of(&self, height: u64) -> u64 {
        epoch::epoch_of(height, self.epoch_length)
    }

    /// Whether a checkpoint is made after block `height` (a positive multiple of
    /// `checkpoint_interval`).
    pub(crate) fn is_checkpoint_height(&self, height: u64) -> bool {
        height > 0 && height % self.checkpoint_interval.max(1) == 0
    }

    /// The timeout of `round`: `base * 2^round`, at most the cap; round 0 adds the block
    /// interval (the proposer waits that long before proposing).
    pub fn round_timeout(&self, round: u32) -> u64 {
        let exp = if round >= 63 {
            u64::MAX
        } else {
            self.round_timeout_base_ns.saturating_mul(1u64 << round)
        };
        let t = exp.min(self.round_timeout_cap_ns);
        if round == 0 {
            t.saturating_add(self.block_interval_ns)
        } else {
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emc_types::NodeId;

    fn config(epoch_length: u64, checkpoint_interval: u64) -> Config {
        let set = ValidatorSet {
            epoch: 0,
            members: vec![NodeId([1; 32])],
        };
        let mut c = Config::new(set);
        c.epoch_length = epoch_length;
        c.checkpoint_interval = checkpoint_interval;
        c
    }

    #[test]
    fn epochs_and_checkpoint_heights() {
        let c = config(6, 3);
        let epochs: Vec<u64> = (0..=13).map(|h| c.epoch_of(h)).collect();
        assert_eq!(epochs, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2]);
        let cps: Vec<u64> = (0..=13).filter(|h| c.is_checkpoint_height(*h)).collect();
        assert_eq!(cps, [3, 6, 9, 12]);
        // The protocol's numbers: the checkpoint at 43,200 closes epoch 0.
        let c = Config::new(c.genesis_set.clone());
        assert_eq!(c.epoch_of(43_200), 0);
        assert_eq!(c.epoch_of(43_201), 1);
        assert!(c.is_checkpoint_height(43_200) && !c.is_checkpoint_height(43_201));
        // Unvalidated zero lengths count as 1 instead of dividing by zero.
        assert_eq!(config(0, 0).epoch_of(5), 4);
        assert!(config(0, 0).is_checkpoint_height(5));
    }
}
