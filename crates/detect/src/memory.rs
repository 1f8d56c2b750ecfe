//! A fixed-size memory of contexts: which short sequences of quantised values the series
//! has produced before. One direct-mapped table of 32-bit fingerprints per context
//! length, so a noisy series that floods the long contexts cannot evict the short ones.
//! A collision overwrites the older entry (the series forgets its rarest, oldest
//! contexts first in practice); a false "seen" needs a 32-bit fingerprint collision.

/// Memory: `orders × slots × 4` bytes.
#[derive(Debug, Clone)]
pub(crate) struct ContextMemory {
    slots: usize,
    table: Box<[u32]>,
}

impl ContextMemory {
    /// `orders` tables of `slots` entries each; `slots` is rounded up to a power of two.
    pub(crate) fn new(orders: usize, slots: usize) -> Self {
        let slots = slots.max(1).next_power_of_two();
        Self {
            slots,
            table: vec![0; orders.max(1) * slots].into_boxed_slice(),
        }
    }

    pub(crate) fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + std::mem::size_of_val(&*self.table)
    }

    pub(crate) fn clear(&mut self) {
        self.table.fill(0);
    }

    /// Records the context (`order`, `symbols`) and says whether it was new.
    pub(crate) fn insert(&mut self, order: usize, symbols: impl Iterator<Item = i64>) -> bool {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325 ^ (order as u64);
        for s in symbols {
            h = (h ^ s.cast_unsigned()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h ^= h >> 29;
        }
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 31;
        #[allow(
            clippy::cast_possible_truncation,
            reason = "the fingerprint is the low half"
        )]
        let fingerprint = (h as u32) | 1;
        #[allow(clippy::cast_possible_truncation, reason = "masked to the table size")]
        let slot = order * self.slots + ((h >> 32) as usize & (self.slots - 1));
        match self.table.get_mut(slot) {
            Some(entry) if *entry == fingerprint => false,
            Some(entry) => {
                *entry = fingerprint;
                true
            }
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_new_once() {
        let mut m = ContextMemory::new(3, 64);
        assert!(m.insert(1, [1, 2].into_iter()));
        assert!(!m.insert(1, [1, 2].into_iter()));
        assert!(m.insert(2, [1, 2].into_iter()), "orders are separate");
        assert!(m.insert(1, [2, 1].into_iter()), "order of symbols matters");
        m.clear();
        assert!(m.insert(1, [1, 2].into_iter()));
        assert_eq!(
            m.state_bytes(),
            std::mem::size_of::<ContextMemory>() + 3 * 64 * 4
        );
    }
}
