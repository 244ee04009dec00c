//! A peer's outgoing frames: bounded, drop-oldest, handed over between connections.

use super::lock;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// A peer's outgoing frames: bounded, drop-oldest.
pub(super) struct SendQueue {
    frames: Mutex<VecDeque<(u8, Bytes)>>,
    notify: Notify,
    cap: usize,
}

impl SendQueue {
    pub(super) fn new(cap: usize) -> SendQueue {
        SendQueue {
            frames: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            cap,
        }
    }

    /// Queues a frame; returns whether the oldest frame was dropped to make room.
    pub(super) fn push(&self, kind: u8, payload: Bytes) -> bool {
        let dropped = {
            let mut q = lock(&self.frames);
            let dropped = q.len() >= self.cap && q.pop_front().is_some();
            q.push_back((kind, payload));
            dropped
        };
        self.notify.notify_one();
        dropped
    }

    /// Everything queued, waiting until there is something.
    pub(super) async fn next_batch(&self) -> Vec<(u8, Bytes)> {
        loop {
            {
                let mut q = lock(&self.frames);
                if !q.is_empty() {
                    return q.drain(..).collect();
                }
            }
            self.notify.notified().await;
        }
    }

    /// Puts frames taken by a retiring writer back at the head of the queue, in order.
    pub(super) fn requeue_front(&self, batch: Vec<(u8, Bytes)>) {
        {
            let mut q = lock(&self.frames);
            for frame in batch.into_iter().rev() {
                q.push_front(frame);
            }
        }
        self.notify.notify_one();
    }

    pub(super) fn clear(&self) -> usize {
        let mut q = lock(&self.frames);
        let n = q.len();
        q.clear();
        n
    }
}
