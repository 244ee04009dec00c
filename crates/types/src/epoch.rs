//! Heights and epochs: the one place the network's epoch arithmetic lives.
//!
//! Height 0 is the genesis (no block); block `h >= 1` is in epoch `(h - 1) / L` for epochs of
//! `L` blocks, so epoch `e` holds heights `e*L + 1 ..= (e+1)*L` and the block (and checkpoint)
//! at `(e+1)*L` closes it. The protocol's `L` is 43,200 (2 s blocks, 24 h); devnets use less.
//! Every function is total: a zero `L` counts as 1, overflow saturates or gives `None`.

/// The protocol's blocks per epoch (2 s blocks, 24 h).
pub const BLOCKS_PER_EPOCH: u64 = 43_200;

/// The epoch of height `h` (the genesis, height 0, counts as epoch 0).
pub fn epoch_of(height: u64, epoch_length: u64) -> u64 {
    height.saturating_sub(1) / epoch_length.max(1)
}

/// Whether block `h >= 1` is the last of its epoch (its checkpoint closes the epoch).
pub fn is_epoch_end(height: u64, epoch_length: u64) -> bool {
    height > 0 && height % epoch_length.max(1) == 0
}

/// The first height of `epoch`: `e*L + 1` (`None` on overflow).
pub fn first_height_of_epoch(epoch: u64, epoch_length: u64) -> Option<u64> {
    epoch.checked_mul(epoch_length.max(1))?.checked_add(1)
}

/// The last height of `epoch`, the closing block: `(e+1)*L` (`None` on overflow).
pub fn last_height_of_epoch(epoch: u64, epoch_length: u64) -> Option<u64> {
    epoch.checked_add(1)?.checked_mul(epoch_length.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_partition_the_heights() {
        for l in [1u64, 2, 30, 120, BLOCKS_PER_EPOCH] {
            assert_eq!(epoch_of(0, l), 0);
            for e in 0..5u64 {
                let first = first_height_of_epoch(e, l).unwrap();
                let last = last_height_of_epoch(e, l).unwrap();
                assert_eq!(last - first + 1, l);
                assert_eq!(epoch_of(first, l), e);
                assert_eq!(epoch_of(last, l), e);
                assert_eq!(epoch_of(last + 1, l), e + 1);
                assert!(is_epoch_end(last, l));
                assert!(l == 1 || !is_epoch_end(first, l));
            }
        }
        assert!(!is_epoch_end(0, 10));
        assert_eq!(epoch_of(5, 0), 4, "a zero length counts as 1");
        assert_eq!(last_height_of_epoch(u64::MAX, 2), None);
        assert_eq!(first_height_of_epoch(u64::MAX, 2), None);
        assert_eq!(last_height_of_epoch(1, BLOCKS_PER_EPOCH), Some(86_400));
    }
}
