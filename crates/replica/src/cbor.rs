//! A small, total CBOR codec (RFC 8949) for the IC's HTTP interface.
//!
//! The decoder reads untrusted request bodies. It is total: every input either decodes or
//! yields a [`CborError`], never a panic, and its work and memory are bounded by the input:
//! a declared length is checked against the bytes left before anything is allocated, nesting is
//! capped at [`MAX_DEPTH`], and the whole input must be consumed. What the IC's requests never
//! use is refused: indefinite lengths, floats, and simple values other than false, true, null.
//! Tags are kept ([`Value::Tag`]); the self-describe tag 55799 is how envelopes start.

use std::fmt;

/// Deepest nesting of arrays, maps and tags the decoder accepts (envelopes need 6).
pub const MAX_DEPTH: usize = 32;

/// A decoded CBOR data item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Uint(u64),
    /// A negative integer `-1 - n`, stored as `n`.
    Nint(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    /// Entries in the order they were written (keys need not be unique or sorted).
    Map(Vec<(Value, Value)>),
    Tag(u64, Box<Value>),
    Bool(bool),
    Null,
}

/// Why bytes are not a CBOR item this decoder accepts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    #[error("CBOR ends early at byte {0}")]
    Truncated(usize),
    #[error("{0} bytes follow the CBOR item")]
    TrailingBytes(usize),
    #[error("CBOR nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("unsupported CBOR at byte {at}: {what}")]
    Unsupported { at: usize, what: &'static str },
    #[error("CBOR text at byte {0} is not UTF-8")]
    InvalidUtf8(usize),
}

/// Decodes exactly one CBOR item that spans all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    let mut r = Reader { bytes, pos: 0 };
    let value = r.item(0)?;
    match bytes.len() - r.pos {
        0 => Ok(value),
        n => Err(CborError::TrailingBytes(n)),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CborError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(CborError::Truncated(self.pos))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// A length that must fit in what is left of the input (`min_item` bytes per element).
    fn length(&mut self, value: u64, min_item: usize) -> Result<usize, CborError> {
        usize::try_from(value)
            .ok()
            .filter(|&n| n.saturating_mul(min_item) <= self.remaining())
            .ok_or(CborError::Truncated(self.pos))
    }

    fn item(&mut self, depth: usize) -> Result<Value, CborError> {
        if depth > MAX_DEPTH {
            return Err(CborError::TooDeep);
        }
        let at = self.pos;
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        let unsupported = |what| CborError::Unsupported { at, what };
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes([self.take(1)?[0], self.take(1)?[0]])),
            26 => {
                let b = self.take(4)?;
                u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }
            27 => {
                let b = self.take(8)?;
                u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }
            31 => return Err(unsupported("indefinite length")),
            _ => return Err(unsupported("reserved additional information")),
        };
        Ok(match major {
            0 => Value::Uint(arg),
            1 => Value::Nint(arg),
            2 => {
                let n = self.length(arg, 1)?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            3 => {
                let n = self.length(arg, 1)?;
                let start = self.pos;
                let s = std::str::from_utf8(self.take(n)?)
                    .map_err(|_| CborError::InvalidUtf8(start))?;
                Value::Text(s.to_owned())
            }
            4 => {
                let n = self.length(arg, 1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Value::Array(items)
            }
            5 => {
                let n = self.length(arg, 2)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.item(depth + 1)?;
                    let v = self.item(depth + 1)?;
                    entries.push((k, v));
                }
                Value::Map(entries)
            }
            6 => Value::Tag(arg, Box::new(self.item(depth + 1)?)),
            _ => match info {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                22 => Value::Null,
                25..=27 => return Err(unsupported("floating-point number")),
                _ => return Err(unsupported("simple value")),
            },
        })
    }
}

impl Value {
    pub fn text(s: impl Into<String>) -> Self {
        Value::Text(s.into())
    }

    pub fn bytes(b: impl Into<Vec<u8>>) -> Self {
        Value::Bytes(b.into())
    }

    /// A map with text keys.
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Self {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::Text(k.into()), v))
                .collect(),
        )
    }

    /// The value without any tags around it.
    pub fn untagged(&self) -> &Value {
        let mut v = self;
        while let Value::Tag(_, inner) = v {
            v = inner;
        }
        v
    }

    /// The value of text key `key` of a map (`None` for a missing key or a non-map).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self.untagged() {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k.untagged(), Value::Text(t) if t == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The CBOR encoding (definite lengths, shortest argument encodings).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// The CBOR encoding behind the self-describe tag 55799, as the IC writes its responses.
    pub fn encode_self_described(&self) -> Vec<u8> {
        let mut out = vec![0xd9, 0xd9, 0xf7];
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Uint(n) => head(out, 0, *n),
            Value::Nint(n) => head(out, 1, *n),
            Value::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend_from_slice(b);
            }
            Value::Text(s) => {
                head(out, 3, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            Value::Array(items) => {
                head(out, 4, items.len() as u64);
                for item in items {
                    item.encode_into(out);
                }
            }
            Value::Map(entries) => {
                head(out, 5, entries.len() as u64);
                for (k, v) in entries {
                    k.encode_into(out);
                    v.encode_into(out);
                }
            }
            Value::Tag(tag, inner) => {
                head(out, 6, *tag);
                inner.encode_into(out);
            }
            Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
            Value::Null => out.push(0xf6),
        }
    }
}

/// Writes a CBOR head: major type and argument, in the shortest form.
pub fn head(out: &mut Vec<u8>, major: u8, value: u64) {
    let m = major << 5;
    match value {
        0..=23 => out.push(m | value as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, value as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        let v = Value::Tag(
            55799,
            Box::new(Value::map([
                ("a", Value::Uint(0)),
                ("b", Value::Uint(u64::MAX)),
                ("c", Value::Nint(7)),
                ("d", Value::bytes(vec![1u8; 300])),
                ("e", Value::text("héllo")),
                (
                    "f",
                    Value::Array(vec![Value::Bool(true), Value::Bool(false), Value::Null]),
                ),
            ])),
        );
        assert_eq!(decode(&v.encode()), Ok(v));
    }

    #[test]
    fn known_encodings() {
        // RFC 8949 appendix A.
        assert_eq!(decode(&[0x18, 0x64]), Ok(Value::Uint(100)));
        assert_eq!(decode(&[0x38, 0x63]), Ok(Value::Nint(99)));
        assert_eq!(decode(&[0x43, 1, 2, 3]), Ok(Value::bytes([1, 2, 3])));
        assert_eq!(
            Value::Uint(1_000_000).encode(),
            vec![0x1a, 0, 0x0f, 0x42, 0x40]
        );
    }

    #[test]
    fn refuses_what_requests_never_hold() {
        let cases: &[&[u8]] = &[
            &[],                                                     // nothing
            &[0x5f, 0x41, 0, 0xff],                                  // indefinite byte string
            &[0xf9, 0x3c, 0],                                        // half float
            &[0xf7],                                                 // undefined
            &[0x1c],                                                 // reserved
            &[0x5a, 0xff, 0xff, 0xff, 0xff],                         // a 4 GiB string in 5 bytes
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // 2^64 items
            &[0x62, 0xff, 0xfe],                                     // text that is not UTF-8
            &[0x01, 0x02],                                           // trailing bytes
        ];
        for bytes in cases {
            assert!(decode(bytes).is_err(), "{bytes:02x?}");
        }
        let deep = [vec![0x81; MAX_DEPTH + 1], vec![0]].concat();
        assert_eq!(decode(&deep), Err(CborError::TooDeep));
        let ok = [vec![0x81; MAX_DEPTH], vec![0]].concat();
        assert!(decode(&ok).is_ok());
    }
}
