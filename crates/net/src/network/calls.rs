//! Streamed calls: one bidirectional stream per call, frames both ways until each side
//! finishes (a dApp's request body one way, the app's streamed response the other).
//!
//! The caller opens the stream with a first frame of the reserved kind [`KIND_CALL`] whose
//! payload is the application's kind (one byte) and the call's head; the peer's application
//! gets [`Event::Call`](super::Event::Call) with both halves of the stream. After that each
//! side writes frames of application-defined kinds ([`CallSender::send`], split at the peer's
//! frame cap) and reads the other's ([`CallReceiver::recv`], capped and counted against the
//! connection's byte budget like every incoming frame). A clean end is
//! [`CallSender::finish`]; dropping a sender that was not finished resets its stream with
//! [`RESET_CANCELLED`], and dropping a receiver before its end asks the peer to stop sending
//! (`STOP_SENDING`, same code): that is how a dApp's disconnect travels to the compute node.

use super::{code, stream_error, Inner, Live};
use crate::error::{NetError, RESET_CANCELLED};
use crate::frame::{encode_header, read_frame_within, FrameError, ReadError, HEADER_LEN};
use crate::metrics::{add, inc, Metrics};
use bytes::Bytes;
use quinn::{Connection, RecvStream, SendStream};
use std::fmt;
use std::sync::Arc;

/// Reserved kind: the first frame of a streamed call, `app kind(1) || head`.
pub const KIND_CALL: u8 = 0xF2;

/// The sending half of a call's stream.
pub struct CallSender {
    stream: SendStream,
    conn: Connection,
    /// The largest frame payload the peer accepts.
    max: usize,
    metrics: Arc<Metrics>,
    done: bool,
}

/// The receiving half of a call's stream.
pub struct CallReceiver {
    stream: RecvStream,
    live: Live,
    max: usize,
    metrics: Arc<Metrics>,
    done: bool,
}

/// Both halves of a call's stream.
pub struct Call {
    /// Writes frames to the peer.
    pub sender: CallSender,
    /// Reads the peer's frames.
    pub receiver: CallReceiver,
}

impl Call {
    pub(super) fn new(inner: &Inner, live: &Live, send: SendStream, recv: RecvStream) -> Call {
        let max = inner.config.max_frame_bytes;
        Call {
            sender: CallSender {
                stream: send,
                conn: live.conn.clone(),
                max: max.min(live.peer_max_frame),
                metrics: inner.metrics.clone(),
                done: false,
            },
            receiver: CallReceiver {
                stream: recv,
                live: live.clone(),
                max,
                metrics: inner.metrics.clone(),
                done: false,
            },
        }
    }
}

impl CallSender {
    /// Writes `payload` as frames of `kind`, split at the peer's frame cap (an empty payload
    /// is one empty frame). Waits while QUIC flow control holds the stream back.
    pub async fn send(&mut self, kind: u8, payload: Bytes) -> Result<(), NetError> {
        let mut rest = payload;
        loop {
            let part = rest.split_to(rest.len().min(self.max));
            let header = encode_header(kind, part.len(), self.max)?;
            let len = part.len();
            self.stream
                .write_all_chunks(&mut [Bytes::copy_from_slice(&header), part])
                .await
                .map_err(|e| stream_error(&self.conn, e))?;
            add(&self.metrics.bytes_out, (HEADER_LEN + len) as u64);
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Ends the stream cleanly: the peer reads the end after the last frame.
    pub fn finish(mut self) {
        self.done = true;
        let _ = self.stream.finish();
    }

    /// Abandons the call: resets the stream with [`RESET_CANCELLED`].
    pub fn cancel(self) {
        drop(self);
    }

    /// Waits until the peer stops reading (it dropped its receiver or the call ended).
    pub async fn stopped(&mut self) {
        let _ = self.stream.stopped().await;
    }
}

impl Drop for CallSender {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.stream.reset(code(RESET_CANCELLED));
        }
    }
}

impl CallReceiver {
    /// The next frame `(kind, payload)`, `Ok(None)` at the peer's clean finish. A reset, a
    /// lost connection or a malformed or oversized frame is an error (and ends the call).
    pub async fn recv(&mut self) -> Result<Option<(u8, Bytes)>, NetError> {
        if self.done {
            return Ok(None);
        }
        match read_frame_within(&mut self.stream, self.max, &self.live.budget).await {
            Ok(Some((f, _hold))) => {
                add(
                    &self.metrics.bytes_in,
                    (HEADER_LEN + f.payload.len()) as u64,
                );
                Ok(Some((f.kind, f.payload)))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(ReadError::Frame(e)) => {
                if matches!(e, FrameError::OverBudget { .. }) {
                    inc(&self.metrics.frames_over_budget);
                } else {
                    inc(&self.metrics.frames_refused_in);
                }
                self.done = true;
                let _ = self.stream.stop(code(RESET_CANCELLED));
                Err(e.into())
            }
            Err(ReadError::Io(e)) => {
                self.done = true;
                Err(stream_error(&self.live.conn, e))
            }
        }
    }
}

impl Drop for CallReceiver {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.stream.stop(code(RESET_CANCELLED));
        }
    }
}

impl fmt::Debug for CallSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSender")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CallReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallReceiver")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call").finish_non_exhaustive()
    }
}
