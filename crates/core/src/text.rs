//! Digests of prompt and completion text.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `text`.
pub fn sha256_hex(text: &[u8]) -> String {
    hex_lower(&Sha256::digest(text))
}

/// `bytes` as lowercase hex, two digits per byte.
///
/// Every request's event carries one or two digests; the `hex` crate's encoder goes
/// through an iterator of `char`s and costs about 25 times as much as this, and pushing
/// `char`s into a `String` about three times as much. Each byte's two digits are one
/// lookup, written into a buffer sized up front (pushing them grew-checked the buffer for
/// every byte).
pub fn hex_lower(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        // A `u8` indexes a 256-entry table: the fallback is never taken.
        pair.copy_from_slice(
            &HEX_PAIRS
                .get(usize::from(byte))
                .copied()
                .unwrap_or_default(),
        );
    }
    // Only ASCII digits went in.
    String::from_utf8(out).unwrap_or_default()
}

/// The two lowercase hex digits of every byte value.
#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time, where an index out of bounds fails the build"
)]
static HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 0x0f]];
        byte += 1;
    }
    pairs
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex_lower(&[]), "");
        assert_eq!(hex_lower(&[0x00, 0x09, 0x0a, 0xf0, 0xff]), "00090af0ff");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_lower(&all), hex::encode(&all));
    }

    #[test]
    fn digest_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
