//! A bounded table of subjects: a slab of states, an index from fingerprint to slot, and
//! eviction of the coldest subject by GCLOCK when the table is full.
//!
//! GCLOCK (generalised CLOCK): every slot has a small counter that each access raises
//! (up to [`MAX_HEAT`]); to make room, a hand sweeps the slab, lowering counters, and
//! evicts the first slot it finds at zero. A new subject starts at zero, so a flood of
//! subjects seen once (minted keys, spoofed networks) evicts itself first, while a subject
//! in regular use survives up to `MAX_HEAT` sweeps without being seen. Each step of the
//! hand either evicts or undoes one earlier raise, so the cost is O(1) amortised per
//! access.
//!
//! Memory is fixed by the cap: the slab never holds more than `cap` slots and the index
//! never more than `cap` entries, whatever number of distinct subjects goes by.
//! [`SubjectTable::accounted_bytes`] is the table's own figure for it. The index hashes
//! fingerprints with the standard library's per-process random keys (so no one can choose
//! subjects that collide in it); that never shows in the output, because eviction follows
//! the slab, not the index.

use std::collections::HashMap;

use super::state::SubjectState;

/// The most sweeps an unused subject survives.
pub const MAX_HEAT: u8 = 7;

#[derive(Debug, Clone)]
struct Slot {
    fingerprint: u64,
    state: SubjectState,
}

/// Counters of a table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Subjects tracked now, and at most.
    pub len: usize,
    pub cap: usize,
    /// Subjects evicted to make room.
    pub evictions: u64,
    /// Bytes the table holds (slab and index).
    pub bytes: usize,
}

/// Subjects by 64-bit fingerprint, at most `cap` of them.
#[derive(Debug, Clone)]
pub struct SubjectTable {
    index: HashMap<u64, u32>,
    slots: Vec<Slot>,
    /// Each slot's heat, beside the slab so that a slot carries no padding for it.
    heat: Vec<u8>,
    hand: usize,
    cap: usize,
    evictions: u64,
}

impl SubjectTable {
    /// An empty table for at most `cap` subjects (at most `u32::MAX`).
    pub fn new(cap: usize) -> Self {
        Self {
            index: HashMap::new(),
            slots: Vec::new(),
            heat: Vec::new(),
            hand: 0,
            cap: cap.min(u32::MAX as usize),
            evictions: 0,
        }
    }

    /// The state of subject `fingerprint`, made by `init` if it is not tracked (evicting
    /// the coldest subject when the table is full). `None` only when the cap is 0.
    pub fn entry(
        &mut self,
        fingerprint: u64,
        init: impl FnOnce() -> SubjectState,
    ) -> Option<&mut SubjectState> {
        if let Some(&at) = self.index.get(&fingerprint) {
            if let Some(heat) = self.heat.get_mut(at as usize) {
                *heat = heat.saturating_add(1).min(MAX_HEAT);
            }
            return self.slots.get_mut(at as usize).map(|slot| &mut slot.state);
        }
        if self.cap == 0 {
            return None;
        }
        let slot = Slot {
            fingerprint,
            state: init(),
        };
        let at = if self.slots.len() < self.cap {
            if self.slots.len() == self.slots.capacity() {
                // Grow by doubling, but never past the cap.
                let target = (self.slots.capacity() * 2).clamp(16, self.cap);
                self.slots.reserve_exact(target - self.slots.len());
                self.heat.reserve_exact(target - self.heat.len());
            }
            self.slots.push(slot);
            self.heat.push(0);
            self.slots.len() - 1
        } else {
            let at = self.coldest();
            let old = self.slots.get_mut(at)?;
            self.index.remove(&old.fingerprint);
            *old = slot;
            if let Some(heat) = self.heat.get_mut(at) {
                *heat = 0;
            }
            self.evictions += 1;
            at
        };
        self.index.insert(fingerprint, u32::try_from(at).ok()?);
        self.slots.get_mut(at).map(|slot| &mut slot.state)
    }

    /// Sweeps the hand to the first slot at zero heat, cooling the ones it passes.
    fn coldest(&mut self) -> usize {
        let len = self.slots.len().max(1);
        // Terminates: after MAX_HEAT + 1 full sweeps every slot is at zero.
        for _ in 0..(usize::from(MAX_HEAT) + 1) * len + 1 {
            let at = self.hand % len;
            self.hand = (at + 1) % len;
            match self.heat.get_mut(at) {
                Some(0) => return at,
                Some(heat) => *heat -= 1,
                None => return 0,
            }
        }
        self.hand
    }

    /// Whether `fingerprint` is tracked.
    pub fn contains(&self, fingerprint: u64) -> bool {
        self.index.contains_key(&fingerprint)
    }

    /// Subjects tracked now.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no subject is tracked.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Bytes held by the slab and the index (the index's figure is for the standard
    /// library's swiss table: a power-of-two number of buckets, each an entry and a
    /// control byte).
    pub fn accounted_bytes(&self) -> usize {
        let slab = self.slots.capacity() * std::mem::size_of::<Slot>() + self.heat.capacity();
        let entries = self.index.capacity();
        let buckets = if entries == 0 {
            0
        } else {
            (entries * 8).div_ceil(7).next_power_of_two()
        };
        let index = buckets * (std::mem::size_of::<(u64, u32)>() + 1);
        std::mem::size_of::<Self>() + slab + index
    }

    /// Bytes per tracked subject at most: one slot and its heat, and the index's buckets at their
    /// worst. The swiss table holds at most 7/8 of its buckets, rounds the bucket count
    /// up to a power of two (×2 at worst) and, once deletions have left tombstones in a
    /// table more than half full, doubles rather than rehashing in place (×2 again): at
    /// most 4 × 8/7 buckets of an entry and a control byte each per subject.
    pub const fn bytes_per_subject() -> usize {
        std::mem::size_of::<Slot>() + 1 + (std::mem::size_of::<(u64, u32)>() + 1) * 32 / 7
    }

    /// The table's counters.
    pub fn stats(&self) -> TableStats {
        TableStats {
            len: self.len(),
            cap: self.cap,
            evictions: self.evictions,
            bytes: self.accounted_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::features::Features;

    fn features() -> Features {
        Features {
            time_ms: 0,
            tokens: 0,
            spend_micros: 0,
            error: false,
            blocked: false,
            flagged: false,
            flagged_categories: 0,
            blocked_categories: 0,
            ip: None,
            ip_hash: None,
            prefix_hash: None,
            user_agent_hash: None,
            model_hash: None,
            asn: None,
            country: None,
        }
    }

    #[test]
    fn the_table_never_outgrows_its_cap_and_keeps_what_is_used() {
        let f = features();
        let mut table = SubjectTable::new(100);
        for hot in 0..10_u64 {
            table.entry(hot, || SubjectState::new(&f)).unwrap();
        }
        for minted in 0..100_000_u64 {
            table
                .entry(1_000_000 + minted, || SubjectState::new(&f))
                .unwrap();
            if minted % 50 == 0 {
                for hot in 0..10_u64 {
                    table.entry(hot, || SubjectState::new(&f)).unwrap();
                }
            }
            assert!(table.len() <= 100);
        }
        for hot in 0..10_u64 {
            assert!(table.contains(hot), "hot subject {hot} was evicted");
        }
        let stats = table.stats();
        assert_eq!(stats.len, 100);
        assert_eq!(stats.evictions, 100_000 + 10 - 100);
        assert!(
            stats.bytes <= 100 * SubjectTable::bytes_per_subject() + 4096,
            "{stats:?}"
        );
        assert!(
            SubjectTable::new(0)
                .entry(1, || SubjectState::new(&f))
                .is_none()
        );
    }
}
