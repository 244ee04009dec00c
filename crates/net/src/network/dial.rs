//! The dial loop of a listed peer: dial when no connection is up, redial after failures and
//! drops with jittered exponential backoff; the larger id of a pair gives the smaller a head
//! start.

use super::{wait_shutdown, Inner};
use crate::error::NetError;
use crate::metrics::inc;
use emc_types::NodeId;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::debug;

/// How often a dialer re-checks a connected peer even without a wake-up.
const DIAL_RECHECK: Duration = Duration::from_secs(1);
/// The larger node id of a pair waits this many `backoff_min` before its first dial.
const FIRST_DIAL_HEAD_START: u32 = 4;

fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

pub(super) async fn dial_loop(inner: Arc<Inner>, peer: NodeId, wake: Arc<Notify>) {
    let (min, max) = (inner.config.backoff_min, inner.config.backoff_max);
    let mut delay = min;
    let mut shutdown = inner.shutdown.subscribe();
    // When the connection we last saw came up.
    let mut seen_up: Option<Instant> = None;
    // When both sides list each other, the smaller id dials first and the larger one gives it
    // a head start, so that they rarely dial each other at once (which costs a duplicate).
    if inner.node_id > peer {
        tokio::select! {
            _ = tokio::time::sleep(jitter(min * FIRST_DIAL_HEAD_START)) => {}
            _ = wait_shutdown(&mut shutdown) => return,
        }
    }
    loop {
        if let Some(live) = inner.live(&peer) {
            seen_up = Some(live.since);
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(DIAL_RECHECK) => {}
                _ = wait_shutdown(&mut shutdown) => return,
            }
            continue;
        }
        let pause = match seen_up.take() {
            // The connection dropped: wait before redialing, briefly if it had lasted.
            Some(since) => {
                if since.elapsed() >= max {
                    delay = min;
                }
                true
            }
            None => false,
        };
        if !pause {
            let Some(addr) = inner.dial_addr(&peer) else {
                return;
            };
            let result = tokio::select! {
                r = inner.dial(peer, addr) => r,
                _ = wait_shutdown(&mut shutdown) => return,
            };
            match result {
                Ok(_) => {
                    seen_up = Some(Instant::now());
                    continue;
                }
                // Connected the other way round meanwhile.
                Err(NetError::Duplicate(_)) => continue,
                Err(e) => {
                    inc(&inner.metrics.dial_failures);
                    debug!(?peer, %addr, "dial failed: {e}; next attempt in about {delay:?}");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(jitter(delay)) => {}
            _ = wait_shutdown(&mut shutdown) => return,
        }
        delay = (delay * 2).min(max);
    }
}
