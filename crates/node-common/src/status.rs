//! A value shared between a node's tasks, its status endpoint and its metrics.

use std::sync::{Arc, Mutex};

/// A value shared by a node's tasks (cheap to clone; short critical sections only).
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T: Clone> Shared<T> {
    /// Wraps a value.
    pub fn new(v: T) -> Self {
        Shared(Arc::new(Mutex::new(v)))
    }

    /// A copy of the value.
    pub fn get(&self) -> T {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Changes the value.
    pub fn update(&self, f: impl FnOnce(&mut T)) {
        match self.0.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// Counters and latency quantiles of served calls (a compute node's, or a router's per node).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct CallStats {
    /// Calls served in full.
    pub calls: u64,
    /// Calls that failed (refused, app error, timeout, reset) or were abandoned.
    pub errors: u64,
    /// Units metered over the served calls.
    pub units: u64,
    /// Median latency of the last [`Latencies::CAP`] served calls, µs (start to last byte).
    pub p50_us: u64,
    /// 99th percentile of the same, µs.
    pub p99_us: u64,
}

/// The latencies of the last [`Latencies::CAP`] calls, for quantiles.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    ring: std::collections::VecDeque<u64>,
}

impl Latencies {
    /// Calls kept.
    pub const CAP: usize = 4096;

    /// Records one latency, µs.
    pub fn record(&mut self, us: u64) {
        if self.ring.len() == Self::CAP {
            self.ring.pop_front();
        }
        self.ring.push_back(us);
    }

    /// The `q` quantile (0..=1, nearest rank), 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let mut v: Vec<u64> = self.ring.iter().copied().collect();
        if v.is_empty() {
            return 0;
        }
        v.sort_unstable();
        let rank = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }

    /// Sets `stats`' quantiles from the kept latencies.
    pub fn publish(&self, stats: &mut CallStats) {
        stats.p50_us = self.quantile(0.5);
        stats.p99_us = self.quantile(0.99);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_over_the_last_calls() {
        let mut l = Latencies::default();
        assert_eq!(l.quantile(0.5), 0);
        for us in 1..=100 {
            l.record(us);
        }
        assert_eq!(
            (l.quantile(0.5), l.quantile(0.99), l.quantile(1.0)),
            (50, 99, 100)
        );
        for _ in 0..Latencies::CAP {
            l.record(7);
        }
        assert_eq!(l.quantile(0.99), 7);
    }
}
