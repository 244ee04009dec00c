//! Frames: `u32 BE length | u8 version | u8 kind | payload`.
//!
//! `length` counts the bytes after itself (version, kind and payload), so it is at least 2. The
//! payload is capped by a configured maximum ([`DEFAULT_MAX_FRAME_BYTES`] unless configured),
//! checked from the header alone, before anything is allocated. Every decoder here is total:
//! any input gives a frame, "need more bytes" or a [`FrameError`], never a panic.
//!
//! Kinds are opaque to the transport (the application defines them), except the ones at or
//! above [`FIRST_RESERVED_KIND`], which the transport uses for its own handshake.

use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The framing version this crate writes and the only one it reads.
pub const FRAME_VERSION: u8 = 1;
/// Bytes before the payload: length (4), version (1), kind (1).
pub const HEADER_LEN: usize = 6;
/// Default cap on a frame's payload: 8 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;
/// The largest payload any configuration may allow (the length field is a `u32` that also
/// counts the version and kind bytes).
pub const ABSOLUTE_MAX_FRAME_BYTES: usize = u32::MAX as usize - 2;
/// Kinds from this one up are reserved by the transport; applications use `0..0xF0`.
pub const FIRST_RESERVED_KIND: u8 = 0xF0;
/// Reserved kind: the dialer's hello (protocol version, claimed role, frame cap).
pub const KIND_HELLO: u8 = 0xF0;
/// Reserved kind: the acceptor's answer to a hello.
pub const KIND_HELLO_ACK: u8 = 0xF1;

/// Buffer reserved before a payload's bytes arrive; it grows with them up to the cap.
const INITIAL_READ_CAPACITY: usize = 64 * 1024;

/// Whether `kind` is reserved by the transport.
pub fn is_reserved(kind: u8) -> bool {
    kind >= FIRST_RESERVED_KIND
}

/// Why bytes are not a valid frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The payload is larger than the cap.
    #[error("frame payload of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Payload length (announced or attempted).
        len: u64,
        /// The cap in force.
        max: usize,
    },
    /// A framing version this crate does not speak.
    #[error("unsupported frame version {0}")]
    UnsupportedVersion(u8),
    /// The length field does not even cover the version and kind bytes.
    #[error("frame length {0} is shorter than the version and kind bytes")]
    ShortLength(u32),
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame")]
    Truncated,
    /// The frame's bytes would pass the byte budget its connection's streams share.
    #[error(
        "frame payload of {len} bytes exceeds the connection's buffer budget of {budget} bytes"
    )]
    OverBudget {
        /// Payload length announced.
        len: u64,
        /// The connection's budget.
        budget: usize,
    },
}

/// The bytes that frame buffers of one connection may hold together, shared by its streams
/// (clones share it). Bytes are taken as they arrive and given back when the frame's
/// [`BudgetHold`] is dropped (once the frame is handed over).
#[derive(Clone, Debug)]
pub struct ByteBudget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> ByteBudget {
        ByteBudget {
            used: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// No limit (a stream whose frames the caller bounds otherwise).
    pub fn unlimited() -> ByteBudget {
        ByteBudget::new(usize::MAX)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|t| *t <= self.limit)
            })
            .is_ok()
    }
}

/// Bytes of a [`ByteBudget`] held by one frame's buffer; given back on drop.
#[derive(Debug)]
pub struct BudgetHold {
    budget: ByteBudget,
    bytes: usize,
}

impl BudgetHold {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn grow(&mut self, n: usize) -> bool {
        let ok = self.budget.try_take(n);
        if ok {
            self.bytes += n;
        }
        ok
    }
}

impl Drop for BudgetHold {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Why reading a frame from a stream failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The bytes were not a valid frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream failed (connection lost, stream reset, ...).
    #[error("stream read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Application-defined kind.
    pub kind: u8,
    /// The payload.
    pub payload: Bytes,
}

/// A decoded header: what follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The frame's kind.
    pub kind: u8,
    /// Payload bytes that follow the header.
    pub payload_len: usize,
}

/// The header for a payload of `payload_len` bytes, or [`FrameError::TooLarge`] above `max`.
pub fn encode_header(
    kind: u8,
    payload_len: usize,
    max: usize,
) -> Result<[u8; HEADER_LEN], FrameError> {
    let max = max.min(ABSOLUTE_MAX_FRAME_BYTES);
    if payload_len > max {
        return Err(FrameError::TooLarge {
            len: payload_len as u64,
            max,
        });
    }
    // payload_len <= u32::MAX - 2, so the sum fits.
    let len = (payload_len as u32).saturating_add(2).to_be_bytes();
    Ok([len[0], len[1], len[2], len[3], FRAME_VERSION, kind])
}

/// Header and payload in one buffer.
pub fn encode(kind: u8, payload: &[u8], max: usize) -> Result<Vec<u8>, FrameError> {
    let header = encode_header(kind, payload.len(), max)?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    Ok(out)
}

/// Checks a header: version, minimum length and the payload cap.
pub fn decode_header(header: &[u8; HEADER_LEN], max: usize) -> Result<Header, FrameError> {
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if len < 2 {
        return Err(FrameError::ShortLength(len));
    }
    let payload_len = u64::from(len) - 2;
    let max = max.min(ABSOLUTE_MAX_FRAME_BYTES);
    if payload_len > max as u64 {
        return Err(FrameError::TooLarge {
            len: payload_len,
            max,
        });
    }
    if header[4] != FRAME_VERSION {
        return Err(FrameError::UnsupportedVersion(header[4]));
    }
    Ok(Header {
        kind: header[5],
        // payload_len <= max, which is a usize.
        payload_len: payload_len as usize,
    })
}

/// Decodes the first frame of `buf`: `Ok(Some((frame, bytes consumed)))`, `Ok(None)` when
/// `buf` holds only part of a (so far valid) frame, or the error. An oversized or malformed
/// header is refused as soon as its 6 bytes are there.
pub fn decode(buf: &[u8], max: usize) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let mut h = [0u8; HEADER_LEN];
    h.copy_from_slice(header);
    let header = decode_header(&h, max)?;
    let end = HEADER_LEN + header.payload_len;
    match buf.get(HEADER_LEN..end) {
        Some(payload) => Ok(Some((
            Frame {
                kind: header.kind,
                payload: Bytes::copy_from_slice(payload),
            },
            end,
        ))),
        None => Ok(None),
    }
}

/// Reads one frame from a stream. `Ok(None)` when the stream ends cleanly between frames;
/// [`FrameError::Truncated`] when it ends inside one. The payload buffer is allocated only
/// after the header passed [`decode_header`], so a peer cannot make us allocate more than
/// `max` bytes.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Frame>, ReadError> {
    let budget = ByteBudget::unlimited();
    Ok(read_frame_within(reader, max, &budget)
        .await?
        .map(|(frame, _)| frame))
}

/// [`read_frame`] within a byte budget shared with other streams: the payload buffer grows
/// as bytes arrive (doubling from 64 KiB, never past the announced length), and each growth
/// is taken from `budget` first; when it does not fit, [`FrameError::OverBudget`] (and every
/// byte taken is given back). The returned [`BudgetHold`] keeps the frame's bytes counted
/// until it is dropped.
pub async fn read_frame_within<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
    budget: &ByteBudget,
) -> Result<Option<(Frame, BudgetHold)>, ReadError> {
    let mut h = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        let n = reader.read(&mut h[filled..]).await?;
        if n == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated.into())
            };
        }
        filled += n;
    }
    let header = decode_header(&h, max)?;
    let len = header.payload_len;
    let mut hold = BudgetHold {
        budget: budget.clone(),
        bytes: 0,
    };
    // Grow the buffer as bytes arrive rather than trusting the announced length up front.
    let mut payload: Vec<u8> = Vec::new();
    while payload.len() < len {
        if payload.len() == payload.capacity() {
            let cap = payload.capacity();
            let new_cap = cap.saturating_mul(2).max(INITIAL_READ_CAPACITY).min(len);
            if !hold.grow(new_cap - cap) {
                return Err(FrameError::OverBudget {
                    len: len as u64,
                    budget: budget.limit(),
                }
                .into());
            }
            payload.reserve_exact(new_cap - cap);
        }
        let start = payload.len();
        let want = (payload.capacity() - start).min(len - start);
        payload.resize(start + want, 0);
        let n = reader.read(&mut payload[start..]).await?;
        payload.truncate(start + n);
        if n == 0 {
            return Err(FrameError::Truncated.into());
        }
    }
    Ok(Some((
        Frame {
            kind: header.kind,
            payload: payload.into(),
        },
        hold,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_layout() {
        let bytes = encode(7, b"abc", 16).unwrap();
        assert_eq!(bytes, [0, 0, 0, 5, FRAME_VERSION, 7, b'a', b'b', b'c']);
        let (frame, used) = decode(&bytes, 16).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(frame.kind, 7);
        assert_eq!(&frame.payload[..], b"abc");
        // Empty payload.
        let empty = encode(1, b"", 0).unwrap();
        assert_eq!(decode(&empty, 0).unwrap().unwrap().0.payload.len(), 0);
    }

    #[test]
    fn refusals() {
        assert_eq!(
            encode(1, &[0; 17], 16),
            Err(FrameError::TooLarge { len: 17, max: 16 })
        );
        // Oversized header refused before the payload arrives.
        let header = [0, 0, 0, 19, FRAME_VERSION, 1];
        assert_eq!(
            decode(&header, 16),
            Err(FrameError::TooLarge { len: 17, max: 16 })
        );
        assert_eq!(
            decode(&[0, 0, 0, 1, FRAME_VERSION, 1], 16),
            Err(FrameError::ShortLength(1))
        );
        assert_eq!(
            decode(&[0, 0, 0, 2, 9, 1], 16),
            Err(FrameError::UnsupportedVersion(9))
        );
        assert_eq!(decode(&[0, 0, 0, 4, FRAME_VERSION, 1, 0], 16), Ok(None));
        assert_eq!(decode(&[0, 0], 16), Ok(None));
        // u32::MAX length with an unlimited cap: refused, not allocated.
        assert!(decode(&[0xff; 6], usize::MAX).is_err());
    }

    #[tokio::test]
    async fn read_frame_from_stream() {
        let mut data = encode(3, b"hello", 64).unwrap();
        data.extend(encode(4, b"", 64).unwrap());
        let mut r = &data[..];
        assert_eq!(
            read_frame(&mut r, 64).await.unwrap().unwrap().payload,
            Bytes::from_static(b"hello")
        );
        assert_eq!(read_frame(&mut r, 64).await.unwrap().unwrap().kind, 4);
        assert!(read_frame(&mut r, 64).await.unwrap().is_none());

        let cut = &data[..8];
        let mut r = cut;
        assert!(matches!(
            read_frame(&mut r, 64).await,
            Err(ReadError::Frame(FrameError::Truncated))
        ));
        let mut r = &data[..3];
        assert!(matches!(
            read_frame(&mut r, 64).await,
            Err(ReadError::Frame(FrameError::Truncated))
        ));
        let mut r = &data[..];
        assert!(matches!(
            read_frame(&mut r, 4).await,
            Err(ReadError::Frame(FrameError::TooLarge { len: 5, max: 4 }))
        ));
    }

    /// Issue #21 (finding 9): frames on up to 4 + 64 streams of one connection could hold
    /// 68 x 8 MiB. A connection's streams share one byte budget; a frame that would pass it
    /// is refused (the caller closes the stream or the connection and counts it).
    #[tokio::test]
    async fn a_connections_streams_share_one_byte_budget() {
        let budget = ByteBudget::new(100);
        let frame = |n: usize| encode(1, &vec![7u8; n], 1_000).unwrap();
        // Two frames of 60 bytes on two streams: the first is held (not yet handed over),
        // so the second does not fit.
        let a = frame(60);
        let (fa, hold_a) = read_frame_within(&mut &a[..], 1_000, &budget)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fa.payload.len(), 60);
        assert_eq!(budget.used(), 60);
        let b = frame(60);
        assert!(matches!(
            read_frame_within(&mut &b[..], 1_000, &budget).await,
            Err(ReadError::Frame(FrameError::OverBudget { budget: 100, .. }))
        ));
        // A refused frame gives its bytes back at once.
        assert_eq!(budget.used(), 60);
        // Once the first frame is handed over, the second fits.
        drop(hold_a);
        assert_eq!(budget.used(), 0);
        let (fb, hold_b) = read_frame_within(&mut &b[..], 1_000, &budget)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fb.payload.len(), 60);
        assert_eq!(budget.used(), 60);
        drop(hold_b);
        // A frame within the cap but above the whole budget is refused too.
        let big = frame(101);
        assert!(matches!(
            read_frame_within(&mut &big[..], 1_000, &budget).await,
            Err(ReadError::Frame(FrameError::OverBudget { .. }))
        ));
        assert_eq!(budget.used(), 0);
    }

    /// Bytes are taken from the budget as they arrive, not as announced: a peer that
    /// announces large frames and sends little holds little.
    #[tokio::test]
    async fn the_budget_follows_arrived_bytes_not_announced_lengths() {
        let budget = ByteBudget::new(4 * 1024 * 1024);
        let (mut tx, mut rx) = tokio::io::duplex(1 << 20);
        let header = encode_header(1, 3 * 1024 * 1024, DEFAULT_MAX_FRAME_BYTES).unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut tx, &header)
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut tx, &[1u8; 1000])
            .await
            .unwrap();
        let b2 = budget.clone();
        let reading = tokio::spawn(async move {
            read_frame_within(&mut rx, DEFAULT_MAX_FRAME_BYTES, &b2)
                .await
                .map(|f| f.map(|(f, _)| f.payload.len()))
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let held = budget.used();
        assert!(
            (1000..=2 * INITIAL_READ_CAPACITY).contains(&held),
            "held {held}"
        );
        // The stream ends inside the frame: truncated, and every byte given back.
        drop(tx);
        assert!(matches!(
            reading.await.unwrap(),
            Err(ReadError::Frame(FrameError::Truncated))
        ));
        assert_eq!(budget.used(), 0);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                                    max in 0usize..40) {
            if let Ok(Some((frame, used))) = decode(&bytes, max) {
                prop_assert!(used <= bytes.len());
                prop_assert_eq!(used, HEADER_LEN + frame.payload.len());
                prop_assert!(frame.payload.len() <= max);
            }
        }

        #[test]
        fn round_trip(kind in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..300),
                      tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut bytes = encode(kind, &payload, 300).unwrap();
            let len = bytes.len();
            bytes.extend(&tail);
            let (frame, used) = decode(&bytes, 300).unwrap().unwrap();
            prop_assert_eq!(used, len);
            prop_assert_eq!(frame.kind, kind);
            prop_assert_eq!(&frame.payload[..], &payload[..]);
            // Every strict prefix asks for more bytes.
            for cut in 0..len {
                prop_assert_eq!(decode(&bytes[..cut], 300), Ok(None));
            }
        }

        #[test]
        fn streamed_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let mut r = &bytes[..];
                // Reads frames until the end or an error; never panics, never loops forever.
                for _ in 0..64 {
                    match read_frame(&mut r, 16).await {
                        Ok(Some(f)) => assert!(f.payload.len() <= 16),
                        Ok(None) | Err(_) => break,
                    }
                }
            });
        }
    }
}
