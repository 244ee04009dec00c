//! Which write-ahead log records a validator keeps when it compacts its log at an epoch
//! boundary: the validator sets (whatever their height), and every record at or above the
//! first height of the previous epoch. Those are what a restart needs: the consensus state
//! of the current height, block sync for peers a little behind, and the committed blocks of
//! the previous and the current epoch, which the application replays to rebuild its tally
//! (the previous epoch's closing checkpoint may still be gathering signatures).

use emc_consensus::WalRecord;

/// Whether `record` survives a compaction at committed `height` for epochs of `epoch_length`.
pub fn keeps(record: &WalRecord, height: u64, epoch_length: u64) -> bool {
    keeps_height(record.height(), height, epoch_length)
}

/// [`keeps`] on a record's height (`None`: a record of no height, e.g. a validator set).
pub fn keeps_height(record_height: Option<u64>, height: u64, epoch_length: u64) -> bool {
    let l = epoch_length.max(1);
    let previous = emc_types::epoch::epoch_of(height, l).saturating_sub(1);
    let from = previous.saturating_mul(l);
    record_height.is_none_or(|h| h > from)
}

/// The records of `records` that survive a compaction at `height`.
pub fn keep_records(records: &[WalRecord], height: u64, epoch_length: u64) -> Vec<WalRecord> {
    records
        .iter()
        .filter(|r| keeps(r, height, epoch_length))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_and_current_epochs_and_every_set_are_kept() {
        const L: u64 = 10;
        // (record height, committed height, kept)
        let table = [
            (None, 95, true),      // a validator set: always
            (Some(80), 95, false), // epoch 7 (71..=80): two epochs back
            (Some(81), 95, true),  // epoch 8, the previous one
            (Some(90), 95, true),
            (Some(95), 95, true), // the current epoch
            (Some(96), 95, true), // votes of the next height
            (Some(1), 10, true),  // at the end of epoch 0 everything is kept
            (Some(10), 10, true),
            (Some(1), 20, true), // end of epoch 1: epoch 0 is the previous one
            (Some(10), 21, false),
            (Some(11), 21, true),
        ];
        for (record, height, kept) in table {
            assert_eq!(
                keeps_height(record, height, L),
                kept,
                "{record:?} at {height}"
            );
        }
        assert!(keeps_height(Some(5), 5, 0), "a zero length counts as 1");
    }
}
