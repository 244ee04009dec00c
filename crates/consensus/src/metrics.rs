//! Counters kept by a [`crate::Node`]; the shell exports them.

/// What a node saw and did. Every dropped input is counted under exactly one reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Messages received (bytes inputs).
    pub received: u64,
    /// Dropped: bytes that do not decode.
    pub malformed: u64,
    /// Dropped: a signature (or seal) that does not verify.
    pub bad_signature: u64,
    /// Dropped: signed by a key outside the validator set.
    pub not_validator: u64,
    /// Dropped: well-formed and signed, but breaking a protocol rule.
    pub invalid: u64,
    /// Dropped: already had it.
    pub duplicate: u64,
    /// Dropped: about a past height or round (or arrived before start).
    pub stale: u64,
    /// Commit seals for the last decided block that arrived after it was decided (kept for
    /// the next proposal's parent commit).
    pub late_seals: u64,
    /// Kept for the next height.
    pub future_buffered: u64,
    /// Dropped: too far ahead, or the buffer for its signer is full.
    pub future_dropped: u64,
    /// Two different signed votes by one validator for the same height, round and kind.
    pub equivocations_seen: u64,
    /// Votes this node refused to sign because it had signed another value (never > 0
    /// unless the node was restarted mid-round and a proposer equivocated).
    pub votes_refused: u64,
    /// Proposals this node made.
    pub proposals_made: u64,
    /// Round changes this node sent.
    pub round_changes: u64,
    /// Blocks committed (from votes or from sync).
    pub blocks_committed: u64,
    /// Of which learned from block sync.
    pub blocks_synced: u64,
    /// Decided blocks sent to peers that were behind.
    pub sync_served: u64,
    /// Sync requests not answered: the requester is not a known validator, or asked again
    /// within the rate limit.
    pub sync_refused: u64,
    /// Checkpoints that gathered a quorum of signatures here.
    pub checkpoint_quorums: u64,
    /// Checkpoint certificates decided in the chain (anchored).
    pub checkpoints_ready: u64,
    /// Checkpoint signatures for a different checkpoint hash than ours (a fork or a bug).
    pub checkpoint_mismatches: u64,
    /// Consensus vote signatures verified, alone or in batches (checkpoint signatures aside).
    pub signatures_verified: u64,
    /// Signatures found already verified (the node's cache of verified votes).
    pub verify_cache_hits: u64,
    /// Votes dropped unverified because they could no longer change anything (prepares after
    /// this node's commit for their round).
    pub votes_not_needed: u64,
}
