//! A live connection's traffic: one writer for the peer's queued frames, a reader per
//! incoming frame stream, a task per incoming request stream.

use super::calls::{Call, KIND_CALL};
use super::queue::SendQueue;
use super::{code, lock, wait_shutdown, Event, Inner, Live, Responder};
use crate::error::{close_code, RESET_NO_RESPONSE};
use crate::frame::{
    encode_header, is_reserved, read_frame_within, BudgetHold, FrameError, ReadError,
    ABSOLUTE_MAX_FRAME_BYTES, HEADER_LEN,
};
use crate::metrics::{add, inc};
use bytes::Bytes;
use emc_types::NodeId;
use quinn::{Connection, RecvStream, SendStream};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tracing::Instrument as _;
use tracing::{debug, warn};

/// Runs one installed connection: its writer, one reader per incoming frame stream, one task
/// per incoming request; reports the peer down when the connection ends.
pub(super) async fn drive(inner: Arc<Inner>, peer: NodeId, live: Live) {
    let queue = lock(&inner.state).peers.get(&peer).map(|s| s.queue.clone());
    let writer = queue.map(|q| {
        inner
            .runtime
            .spawn(write_loop(inner.clone(), peer, live.conn.clone(), q).in_current_span())
    });
    let mut tasks = JoinSet::new();
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = wait_shutdown(&mut shutdown) => break,
            r = live.conn.accept_uni() => match r {
                Ok(recv) => {
                    tasks.spawn(read_loop(inner.clone(), peer, live.clone(), recv).in_current_span());
                }
                Err(e) => {
                    debug!(?peer, "connection ended: {e}");
                    break;
                }
            },
            r = live.conn.accept_bi() => match r {
                Ok((send, recv)) => {
                    tasks.spawn(serve_request(inner.clone(), peer, live.clone(), send, recv).in_current_span());
                }
                Err(e) => {
                    debug!(?peer, "connection ended: {e}");
                    break;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    if let Some(writer) = writer {
        writer.abort();
    }
    tasks.shutdown().await;
    inner.connection_ended(peer, &live).await;
}

/// Writes the peer's queued frames, in order, on one long-lived unidirectional stream.
pub(super) async fn write_loop(
    inner: Arc<Inner>,
    peer: NodeId,
    conn: Connection,
    queue: Arc<SendQueue>,
) {
    let mut stream = match conn.open_uni().await {
        Ok(s) => s,
        Err(e) => {
            debug!(?peer, "cannot open the frame stream: {e}");
            return;
        }
    };
    loop {
        let batch = tokio::select! {
            b = queue.next_batch() => b,
            _ = conn.closed() => return,
        };
        if !inner.is_current(&peer, &conn) {
            // Replaced by another connection to the peer: hand the frames to its writer.
            queue.requeue_front(batch);
            let _ = stream.finish();
            return;
        }
        for (kind, payload) in batch {
            if inner.is_blocked(&peer) {
                inc(&inner.metrics.dropped_blocked);
                continue;
            }
            let len = payload.len();
            // Sizes were checked when the frame was queued.
            let Ok(header) = encode_header(kind, len, ABSOLUTE_MAX_FRAME_BYTES) else {
                continue;
            };
            let mut chunks = [Bytes::copy_from_slice(&header), payload];
            if let Err(e) = stream.write_all_chunks(&mut chunks).await {
                debug!(?peer, "frame stream failed: {e}");
                conn.close(code(close_code::NORMAL), b"frame stream failed");
                return;
            }
            inc(&inner.metrics.frames_out);
            add(&inner.metrics.bytes_out, (HEADER_LEN + len) as u64);
        }
    }
}

/// Reads frames from one of the peer's frame streams. A malformed or oversized frame, or one
/// that would pass the connection's buffer budget, closes the connection (the peer broke the
/// protocol, or sends more at once than we hold for it); nothing here panics on its bytes. A
/// frame's bytes count against the budget until its event is handed to the application.
pub(super) async fn read_loop(inner: Arc<Inner>, peer: NodeId, live: Live, mut recv: RecvStream) {
    let max = inner.config.max_frame_bytes;
    loop {
        match read_frame_within(&mut recv, max, &live.budget).await {
            Ok(Some((f, _hold))) if is_reserved(f.kind) => {
                inc(&inner.metrics.frames_refused_in);
                warn!(
                    ?peer,
                    kind = f.kind,
                    "reserved frame kind after the hello: closing"
                );
                live.conn
                    .close(code(close_code::PROTOCOL_VIOLATION), b"reserved frame kind");
                return;
            }
            Ok(Some((f, _hold))) => {
                if inner.is_blocked(&peer) {
                    inc(&inner.metrics.dropped_blocked);
                    continue;
                }
                inc(&inner.metrics.frames_in);
                add(
                    &inner.metrics.bytes_in,
                    (HEADER_LEN + f.payload.len()) as u64,
                );
                let event = Event::Frame {
                    peer,
                    role: live.role,
                    kind: f.kind,
                    payload: f.payload,
                };
                if !inner.emit(event).await {
                    return;
                }
            }
            Ok(None) => return,
            Err(ReadError::Frame(e @ FrameError::OverBudget { .. })) => {
                inc(&inner.metrics.frames_over_budget);
                warn!(?peer, "refusing frame: {e}; closing");
                live.conn.close(
                    code(close_code::PROTOCOL_VIOLATION),
                    e.to_string().as_bytes(),
                );
                return;
            }
            Err(ReadError::Frame(e)) => {
                inc(&inner.metrics.frames_refused_in);
                warn!(?peer, "refusing frame: {e}; closing");
                live.conn.close(
                    code(close_code::PROTOCOL_VIOLATION),
                    e.to_string().as_bytes(),
                );
                return;
            }
            Err(ReadError::Io(e)) => {
                debug!(?peer, "frame stream ended: {e}");
                return;
            }
        }
    }
}

/// Serves one request stream: read the request frame, hand it to the application, write its
/// answer (same kind) and finish, or reset the stream if it gives none.
pub(super) async fn serve_request(
    inner: Arc<Inner>,
    peer: NodeId,
    live: Live,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    let max = inner.config.max_frame_bytes;
    let hold = inner.config.idle_timeout;
    let read = read_frame_within(&mut recv, max, &live.budget);
    // The request's bytes count against the connection's budget until it is handed over.
    let (frame, budget_hold) = match tokio::time::timeout(hold, read).await {
        Ok(Ok(Some((f, h)))) if f.kind == KIND_CALL => {
            serve_call(inner, peer, live, send, recv, f.payload, h).await;
            return;
        }
        Ok(Ok(Some((f, h)))) if !is_reserved(f.kind) => (f, h),
        Ok(Err(ReadError::Frame(e @ FrameError::OverBudget { .. }))) => {
            inc(&inner.metrics.frames_over_budget);
            debug!(?peer, "refusing request: {e}");
            let _ = send.reset(code(RESET_NO_RESPONSE));
            return;
        }
        Ok(Err(ReadError::Frame(e))) => {
            inc(&inner.metrics.frames_refused_in);
            warn!(?peer, "refusing request: {e}");
            let _ = send.reset(code(RESET_NO_RESPONSE));
            return;
        }
        _ => {
            let _ = send.reset(code(RESET_NO_RESPONSE));
            return;
        }
    };
    if inner.is_blocked(&peer) {
        inc(&inner.metrics.dropped_blocked);
        drop((frame, budget_hold));
        // Leave it unanswered, as a partition would, until the requester gives up.
        let _ = tokio::time::timeout(hold, send.stopped()).await;
        return;
    }
    inc(&inner.metrics.requests_in);
    add(
        &inner.metrics.bytes_in,
        (HEADER_LEN + frame.payload.len()) as u64,
    );
    let (tx, rx) = oneshot::channel();
    let responder = Responder {
        tx,
        max: max.min(live.peer_max_frame),
    };
    let event = Event::Request {
        peer,
        role: live.role,
        kind: frame.kind,
        payload: frame.payload,
        responder,
    };
    let emitted = inner.emit(event).await;
    drop(budget_hold);
    if !emitted {
        return;
    }
    let answer = tokio::select! {
        r = rx => r.ok(),
        _ = send.stopped() => return,
    };
    match answer {
        Some(payload) if !inner.is_blocked(&peer) => {
            let len = payload.len();
            let Ok(header) = encode_header(frame.kind, len, ABSOLUTE_MAX_FRAME_BYTES) else {
                let _ = send.reset(code(RESET_NO_RESPONSE));
                return;
            };
            let mut chunks = [Bytes::copy_from_slice(&header), payload];
            match send.write_all_chunks(&mut chunks).await {
                Ok(()) => {
                    let _ = send.finish();
                    add(&inner.metrics.bytes_out, (HEADER_LEN + len) as u64);
                }
                Err(e) => debug!(?peer, "writing an answer failed: {e}"),
            }
        }
        Some(_) => {
            inc(&inner.metrics.dropped_blocked);
            let _ = tokio::time::timeout(hold, send.stopped()).await;
        }
        None => {
            let _ = send.reset(code(RESET_NO_RESPONSE));
        }
    }
}

/// Hands a streamed call (its first frame read: `app kind || head`) to the application.
async fn serve_call(
    inner: Arc<Inner>,
    peer: NodeId,
    live: Live,
    mut send: SendStream,
    recv: RecvStream,
    first: Bytes,
    budget_hold: BudgetHold,
) {
    let Some((&kind, _)) = first.split_first() else {
        inc(&inner.metrics.frames_refused_in);
        let _ = send.reset(code(RESET_NO_RESPONSE));
        return;
    };
    if is_reserved(kind) {
        inc(&inner.metrics.frames_refused_in);
        let _ = send.reset(code(RESET_NO_RESPONSE));
        return;
    }
    if inner.is_blocked(&peer) {
        inc(&inner.metrics.dropped_blocked);
        let _ = tokio::time::timeout(inner.config.idle_timeout, send.stopped()).await;
        return;
    }
    inc(&inner.metrics.requests_in);
    add(&inner.metrics.bytes_in, (HEADER_LEN + first.len()) as u64);
    let call = Call::new(&inner, &live, send, recv);
    let event = Event::Call {
        peer,
        role: live.role,
        kind,
        head: first.slice(1..),
        call,
    };
    let _ = inner.emit(event).await;
    drop(budget_hold);
}
