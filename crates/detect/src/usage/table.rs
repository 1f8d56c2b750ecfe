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
//! [`SubjectTable::accounted_bytes`] is the table's own figure for it.
//!
//! The per-event cost is cache misses (millions of subjects are gigabytes), so a lookup
//! touches as few places as it can: one 8-byte index entry, then the slot itself, whose
//! first cache line holds its fingerprint, its heat and the hot part of its state. The
//! index is open addressing with linear probing over `u64` entries (a 32-bit tag of the
//! keyed hash and the slot number), at most half full, with backward-shift deletion (no
//! tombstones); a tag match is confirmed against the slot's full fingerprint. The hash
//! is keyed per table with the standard library's per-process random keys, so no one can
//! choose subjects that collide in the index; that never shows in the output, because
//! eviction follows the slab, not the index.

use std::hash::{BuildHasher, RandomState};

use super::state::SubjectState;

/// The most sweeps an unused subject survives.
pub const MAX_HEAT: u8 = 7;

/// The most subjects one table tracks (the index's tags address up to 2^32 entries).
pub const MAX_CAP: usize = 1 << 30;

/// One tracked subject: its fingerprint and heat first, beside the hot part of its state,
/// so that confirming a lookup and warming the slot cost no extra miss.
#[derive(Debug, Clone)]
#[repr(C)]
struct Slot {
    fingerprint: u64,
    heat: u8,
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
    /// Open addressing: 0 = empty, else `tag << 32 | (slot + 1)`; a power of two long
    /// (or empty), at most half full.
    index: Vec<u64>,
    /// This table's key for the index's hash.
    key: u64,
    slots: Vec<Slot>,
    hand: usize,
    cap: usize,
    evictions: u64,
}

/// Where a fingerprint is, or where it would go.
enum Probe {
    Found(usize),
    Vacant,
}

impl SubjectTable {
    /// An empty table for at most `cap` subjects (at most [`MAX_CAP`]).
    pub fn new(cap: usize) -> Self {
        Self {
            index: Vec::new(),
            key: RandomState::new().hash_one(0x0062_756C_7761_726B_u64),
            slots: Vec::new(),
            hand: 0,
            cap: cap.min(MAX_CAP),
            evictions: 0,
        }
    }

    /// The 32-bit tag of a fingerprint under this table's key; its low bits are the
    /// home position.
    fn tag(&self, fingerprint: u64) -> u32 {
        let mut x = fingerprint ^ self.key;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        #[allow(clippy::cast_possible_truncation, reason = "the top half of the hash")]
        let tag = ((x ^ (x >> 31)) >> 32) as u32;
        tag
    }

    fn mask(&self) -> usize {
        self.index.len().wrapping_sub(1)
    }

    /// The slot of `fingerprint`, if it is tracked.
    fn find(&self, fingerprint: u64) -> Probe {
        if self.index.is_empty() {
            return Probe::Vacant;
        }
        let tag = self.tag(fingerprint);
        let mask = self.mask();
        let mut at = tag as usize & mask;
        // At most half full: an empty entry always ends the probe.
        for _ in 0..self.index.len() {
            let entry = self.index.get(at).copied().unwrap_or(0);
            if entry == 0 {
                return Probe::Vacant;
            }
            if (entry >> 32) as u32 == tag {
                let slot = (entry as u32 as usize).wrapping_sub(1);
                if self
                    .slots
                    .get(slot)
                    .is_some_and(|s| s.fingerprint == fingerprint)
                {
                    return Probe::Found(slot);
                }
            }
            at = (at + 1) & mask;
        }
        Probe::Vacant
    }

    /// Puts (`tag`, `slot`) in the first empty entry from its home position.
    fn place(index: &mut [u64], tag: u32, slot: usize) {
        let mask = index.len().wrapping_sub(1);
        let mut at = tag as usize & mask;
        for _ in 0..index.len() {
            if let Some(entry) = index.get_mut(at)
                && *entry == 0
            {
                *entry = (u64::from(tag) << 32) | (slot as u64 + 1);
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Removes the entry of `slot` (whose fingerprint has `tag`), shifting the entries
    /// after it back so that every probe still ends at an empty entry.
    fn unplace(&mut self, tag: u32, slot: usize) {
        let mask = self.mask();
        let wanted = (u64::from(tag) << 32) | (slot as u64 + 1);
        let mut hole = tag as usize & mask;
        let mut found = false;
        for _ in 0..self.index.len() {
            match self.index.get(hole).copied() {
                Some(entry) if entry == wanted => {
                    found = true;
                    break;
                }
                Some(0) | None => return,
                Some(_) => hole = (hole + 1) & mask,
            }
        }
        if !found {
            return;
        }
        let mut at = hole;
        for _ in 0..self.index.len() {
            at = (at + 1) & mask;
            let entry = self.index.get(at).copied().unwrap_or(0);
            if entry == 0 {
                break;
            }
            let home = (entry >> 32) as usize & mask;
            // The entry may fill the hole unless its home lies in (hole, at].
            if at.wrapping_sub(home) & mask >= at.wrapping_sub(hole) & mask {
                if let Some(h) = self.index.get_mut(hole) {
                    *h = entry;
                }
                hole = at;
            }
        }
        if let Some(h) = self.index.get_mut(hole) {
            *h = 0;
        }
    }

    /// Makes room in the index for `len` subjects (at most half full).
    fn reserve_index(&mut self, len: usize) {
        let wanted = (len * 2).next_power_of_two().max(16);
        if self.index.len() >= wanted {
            return;
        }
        let mut index = vec![0_u64; wanted];
        for entry in self.index.iter().copied().filter(|e| *e != 0) {
            let slot = (entry as u32 as usize).wrapping_sub(1);
            Self::place(&mut index, (entry >> 32) as u32, slot);
        }
        self.index = index;
    }

    /// The state of subject `fingerprint`, made by `init` if it is not tracked (evicting
    /// the coldest subject when the table is full). `None` only when the cap is 0.
    pub fn entry(
        &mut self,
        fingerprint: u64,
        init: impl FnOnce() -> SubjectState,
    ) -> Option<&mut SubjectState> {
        let found = self.locate(fingerprint);
        self.entry_located(fingerprint, found, init)
    }

    /// Where `fingerprint`'s state is, if it is tracked: the first half of
    /// [`SubjectTable::entry`]. An event's subjects live in different tables, so the
    /// engine locates all of them first: their cache misses then overlap instead of
    /// following one another.
    pub fn locate(&self, fingerprint: u64) -> Option<usize> {
        match self.find(fingerprint) {
            Probe::Found(at) => Some(at),
            Probe::Vacant => None,
        }
    }

    /// The second half of [`SubjectTable::entry`], given what [`SubjectTable::locate`]
    /// answered for `fingerprint` with no change to the table since.
    pub fn entry_located(
        &mut self,
        fingerprint: u64,
        located: Option<usize>,
        init: impl FnOnce() -> SubjectState,
    ) -> Option<&mut SubjectState> {
        if let Some(at) = located
            && self
                .slots
                .get(at)
                .is_some_and(|slot| slot.fingerprint == fingerprint)
        {
            let slot = self.slots.get_mut(at)?;
            slot.heat = slot.heat.saturating_add(1).min(MAX_HEAT);
            return Some(&mut slot.state);
        }
        if self.cap == 0 {
            return None;
        }
        let slot = Slot {
            fingerprint,
            heat: 0,
            state: init(),
        };
        let at = if self.slots.len() < self.cap {
            if self.slots.len() == self.slots.capacity() {
                // Grow by doubling, but never past the cap.
                let target = (self.slots.capacity() * 2).clamp(16, self.cap);
                self.slots.reserve_exact(target - self.slots.len());
            }
            self.reserve_index(self.slots.len() + 1);
            self.slots.push(slot);
            self.slots.len() - 1
        } else {
            let at = self.coldest();
            let old = self.slots.get(at)?.fingerprint;
            self.unplace(self.tag(old), at);
            *self.slots.get_mut(at)? = slot;
            self.evictions += 1;
            at
        };
        let tag = self.tag(fingerprint);
        Self::place(&mut self.index, tag, at);
        self.slots.get_mut(at).map(|slot| &mut slot.state)
    }

    /// Sweeps the hand to the first slot at zero heat, cooling the ones it passes.
    fn coldest(&mut self) -> usize {
        let len = self.slots.len().max(1);
        // Terminates: after MAX_HEAT + 1 full sweeps every slot is at zero.
        for _ in 0..(usize::from(MAX_HEAT) + 1) * len + 1 {
            let at = self.hand % len;
            self.hand = (at + 1) % len;
            match self.slots.get_mut(at).map(|s| &mut s.heat) {
                Some(0) => return at,
                Some(heat) => *heat -= 1,
                None => return 0,
            }
        }
        self.hand
    }

    /// Whether `fingerprint` is tracked.
    pub fn contains(&self, fingerprint: u64) -> bool {
        matches!(self.find(fingerprint), Probe::Found(_))
    }

    /// Subjects tracked now.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no subject is tracked.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Bytes held by the slab and the index.
    pub fn accounted_bytes(&self) -> usize {
        let slab = self.slots.capacity() * std::mem::size_of::<Slot>();
        let index = self.index.capacity() * std::mem::size_of::<u64>();
        std::mem::size_of::<Self>() + slab + index
    }

    /// Bytes per tracked subject at most: one slot, and the index's entries at their
    /// worst (at most half full, rounded up to a power of two: four 8-byte entries).
    pub const fn bytes_per_subject() -> usize {
        std::mem::size_of::<Slot>() + 4 * std::mem::size_of::<u64>()
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

    #[test]
    fn every_tracked_subject_stays_findable_through_evictions() {
        let f = features();
        let mut table = SubjectTable::new(1_000);
        let mut x = 1_u64;
        for step in 0..60_000_u64 {
            // A few hot subjects among many cold ones, in a scrambled order.
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let fingerprint = if step % 3 == 0 { x % 50 } else { x >> 20 };
            table.entry(fingerprint, || SubjectState::new(&f)).unwrap();
            assert!(table.contains(fingerprint));
            if step % 997 == 0 {
                assert_eq!(table.index.iter().filter(|e| **e != 0).count(), table.len());
                for slot in &table.slots {
                    assert!(table.contains(slot.fingerprint));
                }
            }
        }
        assert!(table.stats().evictions > 10_000);
    }
}
