//! The validator's write-ahead log on disk.
//!
//! File layout: a sequence of records `len_be32 || crc(4) || bytes`, where `bytes` is
//! [`emc_consensus::codec::encode_wal`] and `crc` the first four bytes of SHA-256 of `bytes`.
//! `append` writes a record and (unless `sync` is off) `fdatasync`s before returning, so the
//! consensus core's "persist before send" holds across crashes. `open` reads every complete
//! record and truncates a torn tail (a crash mid-write: a bad record with no valid record after
//! it), which loses at most the record being written: its message was never sent. A bad record
//! *followed by* a valid one is not a torn tail but damage in the middle of the log: cutting
//! there would drop votes that were logged and sent after it, so the node could sign a
//! conflicting vote after the restart. `open` then fails with [`WalError::Corrupt`] and leaves
//! the file untouched; the validator refuses to start and the operator decides.
//!
//! Compaction: `compact` rewrites the log with the records the caller keeps (the validator
//! sets and the committed blocks of the current and previous epoch, plus the current height's
//! votes), through a temporary file and an atomic rename.

use emc_consensus::codec::{decode_wal, encode_wal};
use emc_consensus::WalRecord;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Largest record accepted when reading the log back (a block of 10,000 bits is ~1 MiB).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// Why the log cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// File system error.
    #[error("write-ahead log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A bad record with valid records after it: not a torn tail, so not cut.
    #[error(
        "write-ahead log {path}: corrupt record at byte {offset}, followed by a valid record at \
         byte {next}; not cutting it (votes logged after it may have been sent, and a node \
         restarted without them could sign conflicting votes). The file is left as it is: \
         restore it from a backup, or move it aside to start from an empty log (only safe once \
         the heights it covers are decided)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// Where the first valid record after it starts.
        next: u64,
    },
}

/// An append-only log file.
#[derive(Debug)]
pub struct Wal {
    path: PathBuf,
    file: Option<File>,
    sync: bool,
    records: u64,
}

fn crc(bytes: &[u8]) -> [u8; 4] {
    let d = Sha256::digest(bytes);
    [d[0], d[1], d[2], d[3]]
}

/// Whether `buf` starts with a complete, valid record (length, checksum and decoding).
fn valid_record_at(buf: &[u8]) -> bool {
    let Some(head) = buf.get(..8) else {
        return false;
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > MAX_RECORD_BYTES {
        return false;
    }
    let Some(bytes) = buf.get(8..8 + len) else {
        return false;
    };
    crc(bytes) == head[4..8] && decode_wal(bytes, MAX_RECORD_BYTES).is_ok()
}

/// The offset in `tail` (which starts with a bad record) of the first valid record after
/// its first byte, if any. A torn tail holds none; the scan then costs a checksum per
/// offset whose length field fits in what remains, at most one record's worth.
fn next_valid_record(tail: &[u8]) -> Option<usize> {
    (1..tail.len()).find(|&o| valid_record_at(&tail[o..]))
}

impl Wal {
    /// Opens (or creates) the log at `path`, returning it and the records it holds.
    pub fn open(path: &Path, sync: bool) -> Result<(Wal, Vec<WalRecord>), WalError> {
        let io = |source| WalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut records = Vec::new();
        let mut good_len = 0u64;
        if path.exists() {
            let mut r = BufReader::new(File::open(path).map_err(io)?);
            let mut head = [0u8; 8];
            loop {
                if r.read_exact(&mut head).is_err() {
                    break;
                }
                let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
                if len > MAX_RECORD_BYTES {
                    break;
                }
                let mut bytes = vec![0u8; len];
                if r.read_exact(&mut bytes).is_err() || crc(&bytes) != head[4..8] {
                    break;
                }
                match decode_wal(&bytes, MAX_RECORD_BYTES) {
                    Ok(rec) => records.push(rec),
                    Err(_) => break,
                }
                good_len += 8 + len as u64;
            }
        }
        if path.exists() && std::fs::metadata(path).map_err(io)?.len() > good_len {
            // A bad record at `good_len`: a torn tail only if no valid record follows it.
            let mut tail = Vec::new();
            let mut f = File::open(path).map_err(io)?;
            f.seek(SeekFrom::Start(good_len)).map_err(io)?;
            f.read_to_end(&mut tail).map_err(io)?;
            if let Some(at) = next_valid_record(&tail) {
                return Err(WalError::Corrupt {
                    path: path.to_path_buf(),
                    offset: good_len,
                    next: good_len + at as u64,
                });
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        if file.metadata().map_err(io)?.len() != good_len {
            tracing::warn!(path = %path.display(), good_len, "truncating a torn write-ahead log tail");
            file.set_len(good_len).map_err(io)?;
        }
        let n = records.len() as u64;
        Ok((
            Wal {
                path: path.to_path_buf(),
                file: Some(file),
                sync,
                records: n,
            },
            records,
        ))
    }

    /// A log kept in memory only (tests, benchmarks): nothing is written.
    pub fn in_memory() -> Wal {
        Wal {
            path: PathBuf::new(),
            file: None,
            sync: false,
            records: 0,
        }
    }

    /// Records appended since open (including those read back).
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Whether the log holds no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Appends a record, durably when `sync` is on.
    pub fn append(&mut self, record: &WalRecord) -> Result<(), WalError> {
        self.records += 1;
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let io = |source| WalError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = encode_wal(record);
        let mut buf = Vec::with_capacity(bytes.len() + 8);
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(&crc(&bytes));
        buf.extend_from_slice(&bytes);
        file.write_all(&buf).map_err(io)?;
        if self.sync {
            file.sync_data().map_err(io)?;
        }
        Ok(())
    }

    /// Keeps only the records for which `keep` is true (reads the file back and rewrites it
    /// like [`Wal::compact`]).
    pub fn retain(&mut self, keep: impl Fn(&WalRecord) -> bool) -> Result<(), WalError> {
        if self.file.is_none() {
            return Ok(());
        }
        let (_, records) = Wal::open(&self.path, false)?;
        let kept: Vec<WalRecord> = records.into_iter().filter(|r| keep(r)).collect();
        self.compact(&kept)
    }

    /// Replaces the log's content with `keep` (atomically: temporary file, sync, rename).
    pub fn compact(&mut self, keep: &[WalRecord]) -> Result<(), WalError> {
        self.records = keep.len() as u64;
        if self.file.is_none() {
            return Ok(());
        }
        let tmp = self.path.with_extension("compact");
        let io = |source| WalError::Io {
            path: tmp.clone(),
            source,
        };
        {
            let mut w = BufWriter::new(File::create(&tmp).map_err(io)?);
            for r in keep {
                let bytes = encode_wal(r);
                w.write_all(&(bytes.len() as u32).to_be_bytes())
                    .map_err(io)?;
                w.write_all(&crc(&bytes)).map_err(io)?;
                w.write_all(&bytes).map_err(io)?;
            }
            let f = w.into_inner().map_err(|e| io(e.into_error()))?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        self.file = Some(
            OpenOptions::new()
                .append(true)
                .open(&self.path)
                .map_err(|source| WalError::Io {
                    path: self.path.clone(),
                    source,
                })?,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emc_types::{NodeId, ValidatorSet};

    fn set(epoch: u64) -> WalRecord {
        WalRecord::ValidatorSet(ValidatorSet {
            epoch,
            members: vec![NodeId([epoch as u8; 32])],
        })
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = std::env::temp_dir().join(format!("emc-wal-{}", std::process::id()));
        let path = dir.join("wal.log");
        let _ = std::fs::remove_file(&path);
        {
            let (mut wal, old) = Wal::open(&path, true).unwrap();
            assert!(old.is_empty());
            for e in 0..3 {
                wal.append(&set(e)).unwrap();
            }
        }
        // A crash in the middle of a fourth record.
        let full = std::fs::metadata(&path).unwrap().len();
        {
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(&[0, 0, 0, 50, 1, 2, 3, 4, 9, 9]).unwrap();
        }
        let (mut wal, back) = Wal::open(&path, true).unwrap();
        assert_eq!(back, vec![set(0), set(1), set(2)]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), full, "tail cut");
        // A flipped byte inside a record ends the log there.
        wal.append(&set(3)).unwrap();
        drop(wal);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let (mut wal, back) = Wal::open(&path, true).unwrap();
        assert_eq!(back.len(), 3);
        wal.compact(&[set(7)]).unwrap();
        wal.append(&set(8)).unwrap();
        drop(wal);
        let (_, back) = Wal::open(&path, false).unwrap();
        assert_eq!(back, vec![set(7), set(8)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Writes `n` records to a fresh log in its own directory; returns the path and the byte
    /// offset of each record.
    fn log_of(name: &str, n: u64) -> (PathBuf, Vec<usize>) {
        let dir = std::env::temp_dir().join(format!("emc-wal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("wal.log");
        let mut offsets = Vec::new();
        let (mut wal, _) = Wal::open(&path, false).unwrap();
        for e in 0..n {
            offsets.push(std::fs::metadata(&path).unwrap().len() as usize);
            wal.append(&set(e)).unwrap();
        }
        (path, offsets)
    }

    /// Issue #21 (finding 9): a bad record followed by valid ones is not a torn tail. Cutting
    /// it would drop votes logged (and sent) after it, so the node could sign a conflicting
    /// vote after the restart: `open` must fail, leaving the file as it is.
    #[test]
    fn a_corrupt_record_followed_by_valid_records_refuses_to_open() {
        // A flipped payload byte in the second of four records.
        let (path, offsets) = log_of("mid-payload", 4);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[offsets[1] + 10] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let err = Wal::open(&path, true).expect_err("mid-log corruption must not be cut");
        let msg = err.to_string();
        assert!(msg.contains("corrupt"), "{msg}");
        assert!(msg.contains(&format!("byte {}", offsets[1])), "{msg}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "the log is left untouched"
        );

        // A flipped length (far too long, as a torn tail would look) in the second record.
        let (path, offsets) = log_of("mid-length", 4);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[offsets[1]] = 0x7f;
        std::fs::write(&path, &bytes).unwrap();
        assert!(Wal::open(&path, true).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);

        // A length a few bytes short: the record's remainder is garbage before the next one.
        let (path, offsets) = log_of("mid-short", 4);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[offsets[1] + 3] -= 3;
        std::fs::write(&path, &bytes).unwrap();
        assert!(Wal::open(&path, true).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);

        // The same damage to the last record is a torn tail: cut, the rest kept.
        let (path, offsets) = log_of("tail", 4);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[offsets[3] + 10] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (_, back) = Wal::open(&path, true).unwrap();
        assert_eq!(back, vec![set(0), set(1), set(2)]);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, offsets[3]);
        // A torn tail of zeros (a crash after the file grew, before its data landed).
        let (path, offsets) = log_of("zeros", 2);
        let end = std::fs::metadata(&path).unwrap().len() as usize;
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0u8; 300]).unwrap();
        drop(f);
        let (_, back) = Wal::open(&path, true).unwrap();
        assert_eq!(back, vec![set(0), set(1)]);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, end);
        assert!(offsets[1] < end);
        for name in ["mid-payload", "mid-length", "mid-short", "tail", "zeros"] {
            let dir = std::env::temp_dir().join(format!("emc-wal-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
