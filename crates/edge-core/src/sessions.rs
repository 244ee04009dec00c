//! The compute node's results between commitment and opening: a bounded, expiring table keyed
//! by (validator, seed). Pure: time is an argument (ns on the shell's monotonic clock).
//!
//! - A challenge reserves a *computing* slot; the result fills it, and it then waits for its
//!   opening at most `ttl` from the moment it was filled.
//! - When the table is full, the oldest *waiting* result is evicted for a new challenge;
//!   computing slots are never evicted, so when every slot computes, new challenges are
//!   refused ([`SessionError::Busy`]).
//! - The same (validator, seed) while its result is held is refused
//!   ([`SessionError::Duplicate`]): a validator cannot make a node compute one task twice.
//! - A result is opened once: [`Sessions::take`] removes it.

use emc_types::NodeId;
use std::collections::BTreeMap;

/// A result's key: the validator that sent the challenge, and the challenge's seed.
pub type SessionKey = (NodeId, [u8; 32]);

/// Why a challenge gets no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Every slot holds a computing task.
    #[error("busy: every result slot is computing")]
    Busy,
    /// The same validator sent the same seed while its result is still held.
    #[error("duplicate challenge")]
    Duplicate,
}

#[derive(Clone, Debug)]
struct Slot<T> {
    since_ns: u64,
    /// `None` while computing.
    result: Option<T>,
}

/// The table (see the module docs). `T` is the held result (the prover's session).
#[derive(Clone, Debug)]
pub struct Sessions<T> {
    cap: usize,
    ttl_ns: u64,
    map: BTreeMap<SessionKey, Slot<T>>,
}

impl<T> Sessions<T> {
    /// A table of at most `cap` slots (at least 1) whose results wait `ttl_ns` at most.
    pub fn new(cap: usize, ttl_ns: u64) -> Self {
        Sessions {
            cap: cap.max(1),
            ttl_ns,
            map: BTreeMap::new(),
        }
    }

    fn expire(&mut self, now_ns: u64) {
        let ttl = self.ttl_ns;
        self.map
            .retain(|_, s| s.result.is_none() || now_ns.saturating_sub(s.since_ns) <= ttl);
    }

    /// Reserves a computing slot for `key`, evicting the oldest waiting result if full.
    pub fn reserve(&mut self, key: SessionKey, now_ns: u64) -> Result<(), SessionError> {
        self.expire(now_ns);
        if self.map.contains_key(&key) {
            return Err(SessionError::Duplicate);
        }
        if self.map.len() >= self.cap {
            let oldest = self
                .map
                .iter()
                .filter(|(_, s)| s.result.is_some())
                .min_by_key(|(_, s)| s.since_ns)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    self.map.remove(&k);
                }
                None => return Err(SessionError::Busy),
            }
        }
        self.map.insert(
            key,
            Slot {
                since_ns: now_ns,
                result: None,
            },
        );
        Ok(())
    }

    /// Fills `key`'s computing slot with its result (nothing if the slot is gone).
    pub fn fill(&mut self, key: &SessionKey, result: T, now_ns: u64) {
        if let Some(slot) = self.map.get_mut(key) {
            slot.result = Some(result);
            slot.since_ns = now_ns;
        }
    }

    /// Frees `key`'s slot if it is still computing (the computation failed or was dropped).
    pub fn cancel(&mut self, key: &SessionKey) {
        if self.map.get(key).is_some_and(|s| s.result.is_none()) {
            self.map.remove(key);
        }
    }

    /// Takes a waiting result (it is opened once).
    pub fn take(&mut self, key: &SessionKey, now_ns: u64) -> Option<T> {
        self.expire(now_ns);
        self.map.get(key)?.result.as_ref()?;
        self.map.remove(key)?.result
    }

    /// Slots in use (computing or waiting).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no slot is in use.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Slots computing now (the node's running jobs).
    pub fn computing(&self) -> usize {
        self.map.values().filter(|s| s.result.is_none()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn k(i: u8) -> SessionKey {
        (NodeId([i; 32]), [i; 32])
    }

    #[test]
    fn computing_slots_are_never_evicted_and_waiting_ones_go_oldest_first() {
        let mut s: Sessions<&str> = Sessions::new(2, SEC);
        s.reserve(k(1), 0).unwrap();
        s.reserve(k(2), 0).unwrap();
        assert_eq!(s.computing(), 2);
        assert_eq!(s.reserve(k(3), 0), Err(SessionError::Busy));
        s.fill(&k(1), "one", 10);
        assert_eq!(s.computing(), 1);
        s.reserve(k(3), 20).unwrap();
        assert_eq!(s.take(&k(1), 20), None, "the waiting result made room");
        s.cancel(&k(3));
        assert_eq!(s.len(), 1);
        s.cancel(&k(3)); // twice: nothing
        s.fill(&k(2), "two", 30);
        s.cancel(&k(2));
        assert_eq!(s.len(), 1, "a filled slot is not cancelled");
    }

    #[test]
    fn results_are_taken_once_and_expire_after_the_ttl() {
        let mut s: Sessions<u32> = Sessions::new(4, SEC);
        s.reserve(k(1), 0).unwrap();
        assert_eq!(s.take(&k(1), 0), None, "still computing");
        s.fill(&k(1), 7, 5 * SEC);
        assert_eq!(s.take(&k(1), 6 * SEC), Some(7));
        assert_eq!(s.take(&k(1), 6 * SEC), None, "once");
        s.reserve(k(2), 0).unwrap();
        s.fill(&k(2), 8, 0);
        assert_eq!(s.take(&k(2), SEC + 1), None, "expired");
        assert!(s.is_empty());
        // A computing slot does not expire, however long it takes.
        s.reserve(k(3), 0).unwrap();
        s.reserve(k(4), 100 * SEC).unwrap();
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn duplicates_are_refused_while_held_and_a_fill_of_a_gone_slot_is_ignored() {
        let mut s: Sessions<u32> = Sessions::new(1, SEC);
        s.reserve(k(1), 0).unwrap();
        assert_eq!(s.reserve(k(1), 0), Err(SessionError::Duplicate));
        s.cancel(&k(1));
        s.fill(&k(1), 1, 0);
        assert!(s.is_empty());
        let mut zero: Sessions<u32> = Sessions::new(0, SEC);
        zero.reserve(k(1), 0).unwrap();
        assert_eq!(
            zero.reserve(k(2), 0),
            Err(SessionError::Busy),
            "cap 0 counts as 1"
        );
    }
}
