//! The node's stopping rule within a challenge's window, pure: the node's clock comes in as
//! arguments (`now_ns`, any origin), so the shell feeds its monotonic clock and tests a
//! virtual one.
//!
//! # The rule
//! The node learns nothing from the validator but the window `W`. It received the challenge at
//! `received` on its own clock; the validator started timing a one-way trip earlier and will
//! stop at the commitment's arrival, a one-way trip after the node sends it. So the node aims
//! to send by `send_by = received + W - margin`, where `margin` (its configuration) covers the
//! round trip and scheduling noise. Between rounds it asks [`WindowStop::more`]: with `done`
//! rounds completed at `now`, it may start as many more rounds as fit before
//! `send_by - finish`, where `finish` is its own estimate of the time from the last round's end
//! to a commitment ready to send (reading the result back, hashing `n` rows of `n` words into
//! the tree: [`finish_estimate_ns`]), and a round takes what the last measured step took per
//! round. It never exceeds `max_rounds` (it commits at once on reaching it). The first round
//! is started whenever any time is left (there is no measure yet, unless a hint from an
//! earlier challenge is given).
//!
//! # What an honest node loses
//! It stops when the next round would not fit, so the time of the window it does not turn into
//! rounds is at most `margin + finish + t_round` plus what precedes the first round (generating
//! `A`, waiting for the device). Measured E is then at least
//! `E_true (1 - (margin + finish + t_round + t_start) / W)`. At the standard size on an H100
//! (`t_round` ~ 8 ms at 16.7 Tops/s, `finish` ~ 0.15-0.35 s to hash 64 MiB on a CPU, a
//! 250 ms margin) and `W = 15 s`: about 3 %. The loss is about the same for every node with
//! the same network and CPU, and it is never a gain: E counts only completed rounds.

/// Hashing rate assumed before a node has measured its own ([`finish_estimate_ns`]): 200 MB/s,
/// a CPU's SHA-256 without SHA extensions, with some room.
pub const DEFAULT_FINISH_BYTES_PER_S: u64 = 200_000_000;

/// The node's estimate of the time from its last round's end to a commitment ready to send:
/// the last such time it measured plus a quarter, or, before any measure, the `n * n * 4`
/// bytes of the result at [`DEFAULT_FINISH_BYTES_PER_S`] (1.3 ms at n = 256, 0.34 s at
/// n = 4096).
pub fn finish_estimate_ns(n: u32, last_measured_ns: Option<u64>) -> u64 {
    match last_measured_ns {
        Some(t) => t.saturating_add(t / 4),
        None => {
            let bytes = u128::from(n) * u128::from(n) * 4;
            let ns = bytes * 1_000_000_000 / u128::from(DEFAULT_FINISH_BYTES_PER_S);
            u64::try_from(ns).unwrap_or(u64::MAX)
        }
    }
}

/// One challenge's stopping rule (see the module docs): how many more rounds may start now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowStop {
    send_by_ns: u64,
    finish_ns: u64,
    max_rounds: u32,
    round_ns: Option<u64>,
    last: Option<(u32, u64)>,
    stopped_at_ns: Option<u64>,
}

impl WindowStop {
    /// The rule for a challenge received at `received_ns` (node clock) with window
    /// `window_ns`: send by `received + window - margin`, keeping `finish_ns` for what follows
    /// the last round, at most `max_rounds` rounds. `round_hint_ns`: a round's time from an
    /// earlier challenge of the same size, if any (used until this one measured its own).
    pub fn new(
        received_ns: u64,
        window_ns: u64,
        margin_ns: u64,
        finish_ns: u64,
        max_rounds: u32,
        round_hint_ns: Option<u64>,
    ) -> WindowStop {
        WindowStop {
            send_by_ns: received_ns
                .saturating_add(window_ns)
                .saturating_sub(margin_ns),
            finish_ns,
            max_rounds,
            round_ns: round_hint_ns.filter(|t| *t > 0),
            last: None,
            stopped_at_ns: None,
        }
    }

    /// `done` rounds are completed at `now_ns`: how many more rounds may start now (0: stop
    /// and commit). A call after more rounds than the previous one measures a round's time as
    /// the time since that call over the rounds in between.
    pub fn more(&mut self, done: u32, now_ns: u64) -> u32 {
        if let Some((d0, t0)) = self.last {
            if done > d0 {
                let per = now_ns.saturating_sub(t0).div_ceil(u64::from(done - d0));
                self.round_ns = Some(per.max(1));
            }
        }
        self.last = Some((done, now_ns));
        let left = self.max_rounds.saturating_sub(done);
        let budget = self
            .send_by_ns
            .saturating_sub(self.finish_ns)
            .saturating_sub(now_ns);
        let fit = match self.round_ns {
            Some(t) => budget / t,
            None => u64::from(budget > 0),
        };
        let more = u32::try_from(fit).unwrap_or(u32::MAX).min(left);
        if more == 0 && self.stopped_at_ns.is_none() {
            self.stopped_at_ns = Some(now_ns);
        }
        more
    }

    /// When the rule first answered 0 (the last round's end, as the prover reported it):
    /// the shell measures the finish time from there ([`finish_estimate_ns`]).
    pub fn stopped_at_ns(&self) -> Option<u64> {
        self.stopped_at_ns
    }

    /// The local time by which the commitment should be sent.
    pub fn send_by_ns(&self) -> u64 {
        self.send_by_ns
    }

    /// The time of one round as last measured (or the hint).
    pub fn round_ns(&self) -> Option<u64> {
        self.round_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn rounds_run_while_the_next_one_and_the_finish_fit() {
        // Window 1 s, margin 100 ms, finish 50 ms: rounds must end by 850 ms.
        let mut w = WindowStop::new(0, 1_000 * MS, 100 * MS, 50 * MS, 1_000, None);
        assert_eq!(w.send_by_ns(), 900 * MS);
        assert_eq!(w.more(0, 0), 1, "no measure yet: one round");
        // A round took 100 ms: 7 more fit (100 + 7 * 100 = 800 <= 850), not 8.
        assert_eq!(w.more(1, 100 * MS), 7);
        assert_eq!(w.round_ns(), Some(100 * MS));
        // The prover ran 4 of them (a batch), slower: 110 ms each.
        assert_eq!(w.more(5, 540 * MS), 2);
        assert_eq!(w.more(7, 760 * MS), 0);
        assert_eq!(w.stopped_at_ns(), Some(760 * MS));
        assert_eq!(w.more(7, 770 * MS), 0);
        assert_eq!(w.stopped_at_ns(), Some(760 * MS), "the first stop is kept");
    }

    #[test]
    fn max_rounds_stops_early_and_no_time_means_no_round() {
        let mut w = WindowStop::new(0, 1_000 * MS, 0, 0, 3, Some(MS));
        assert_eq!(w.more(0, 0), 3, "the hint measures before the first round");
        assert_eq!(w.more(3, 3 * MS), 0);
        let mut late = WindowStop::new(0, 1_000 * MS, 100 * MS, 50 * MS, 10, None);
        assert_eq!(late.more(0, 850 * MS), 0);
        // A window shorter than the margin: nothing, no panic.
        let mut tiny = WindowStop::new(5, 10, 100, 100, 10, None);
        assert_eq!(tiny.more(0, 5), 0);
        let mut huge = WindowStop::new(u64::MAX - 1, u64::MAX, 0, 0, u32::MAX, Some(1));
        assert!(huge.more(0, 0) > 0);
    }

    #[test]
    fn the_finish_estimate_follows_the_size_then_the_measure() {
        assert_eq!(finish_estimate_ns(4096, None), 335_544_320);
        assert_eq!(finish_estimate_ns(256, None), 1_310_720);
        assert_eq!(finish_estimate_ns(4096, Some(100 * MS)), 125 * MS);
        assert_eq!(finish_estimate_ns(u32::MAX, Some(u64::MAX)), u64::MAX);
    }
}
