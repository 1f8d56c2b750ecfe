//! Base64: runs of at least 16 characters of the standard (`+/`) or URL-safe (`-_`)
//! alphabet, padded or not.
//!
//! A run is only tried when it mixes at least two of uppercase, lowercase and digits
//! (base64 of text always does; a long English word or an all-caps name does not), and
//! what it decodes to must then pass the decoder's printable-text check.

use base64::{
    Engine as _, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

/// Fewest characters, padding excluded.
pub(super) const MIN_LEN: usize = 16;

const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);

/// Which base64 alphabet a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alphabet {
    /// `+` and `/`.
    Standard,
    /// `-` and `_`.
    UrlSafe,
}

/// Whether `b` belongs to either alphabet (padding aside).
pub(super) fn is_alphabet(b: u8) -> bool {
    b.is_ascii_alphanumeric() || is_separator(b)
}

/// The characters that differ between the alphabets, and that also join words and paths.
pub(super) fn is_separator(b: u8) -> bool {
    matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// From `start`, the end of the run of alphabet characters plus up to two `=` of padding
/// (padding followed by more alphabet characters is a `key=value` separator, not padding).
pub(super) fn run_end(token: &[u8], start: usize) -> usize {
    let end = token
        .iter()
        .skip(start)
        .position(|&b| !is_alphabet(b))
        .map_or(token.len(), |n| start + n);
    let pad = token
        .iter()
        .skip(end)
        .take(2)
        .take_while(|&&b| b == b'=')
        .count();
    let after = token.get(end + pad).copied();
    if pad > 0 && after.is_some_and(is_alphabet) {
        end
    } else {
        end + pad
    }
}

/// The run's length without padding.
pub(super) fn body_len(run: &[u8]) -> usize {
    run.iter().rev().skip_while(|&&b| b == b'=').count()
}

/// The alphabet `run` would be decoded with, if it looks like base64 at all.
pub(super) fn plausible(run: &[u8]) -> Option<Alphabet> {
    if body_len(run) < MIN_LEN {
        return None;
    }
    let (mut upper, mut lower, mut digit, mut standard, mut url) =
        (false, false, false, false, false);
    for &b in run {
        upper |= b.is_ascii_uppercase();
        lower |= b.is_ascii_lowercase();
        digit |= b.is_ascii_digit();
        standard |= matches!(b, b'+' | b'/');
        url |= matches!(b, b'-' | b'_');
    }
    let mixed = u8::from(upper) + u8::from(lower) + u8::from(digit) >= 2;
    match (mixed, standard, url) {
        (false, _, _) | (_, true, true) => None,
        (true, false, true) => Some(Alphabet::UrlSafe),
        (true, _, false) => Some(Alphabet::Standard),
    }
}

/// Decodes `src` into `out`, at most `max` bytes; returns whether it stopped early. A
/// length that no encoder produces (one more than a multiple of four) loses its last
/// character; anything else malformed leaves `out` empty.
pub(super) fn decode(src: &str, alphabet: Alphabet, out: &mut Vec<u8>, max: usize) -> bool {
    let body = src.trim_end_matches('=');
    let mut usable = body.len() - usize::from(body.len() % 4 == 1);
    let limit = max / 3 * 4;
    let truncated = usable > limit;
    if truncated {
        usable = limit;
    }
    let Some(input) = body.get(..usable) else {
        return false;
    };
    let engine = match alphabet {
        Alphabet::Standard => &STANDARD,
        Alphabet::UrlSafe => &URL_SAFE,
    };
    if engine.decode_vec(input, out).is_err() {
        out.clear();
    }
    truncated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(src: &str, alphabet: Alphabet, max: usize) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let truncated = decode(src, alphabet, &mut out, max);
        (out, truncated)
    }

    #[test]
    fn decodes_padded_unpadded_and_url_safe() {
        assert_eq!(
            decoded("aGVsbG8gd29ybGQ=", Alphabet::Standard, 100).0,
            b"hello world"
        );
        assert_eq!(
            decoded("aGVsbG8gd29ybGQ", Alphabet::Standard, 100).0,
            b"hello world"
        );
        assert_eq!(decoded("Pz8_Pz8-", Alphabet::UrlSafe, 100).0, b"?????>");
        assert_eq!(
            decoded("aGVsbG8gd29ybGQx", Alphabet::Standard, 6),
            (b"hello ".to_vec(), true)
        );
        assert_eq!(
            decoded("aGVsbG8gd29ybGQxA", Alphabet::Standard, 100).0,
            b"hello world1",
            "stray char"
        );
        assert!(
            decoded("aGVs*G8gd29ybGQ=", Alphabet::Standard, 100)
                .0
                .is_empty()
        );
    }

    #[test]
    fn judges_runs() {
        assert_eq!(
            plausible(b"aGVsbG8gd29ybGQgaGVsbG8="),
            Some(Alphabet::Standard)
        );
        assert_eq!(
            plausible(b"aGVsbG8_d29ybGQgaGVsbG8"),
            Some(Alphabet::UrlSafe)
        );
        assert_eq!(plausible(b"internationalization"), None);
        assert_eq!(plausible(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), None);
        assert_eq!(
            plausible(b"aGVsbG8+d29y_bGQgaGVsbG8"),
            None,
            "both alphabets"
        );
        assert_eq!(plausible(b"aGVsbG8="), None, "short");
        assert_eq!(run_end(b"abc==", 0), 5);
        assert_eq!(run_end(b"key=value", 0), 3);
        assert_eq!(run_end(b"abc===", 0), 5);
    }
}
