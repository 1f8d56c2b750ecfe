//! Hex: contiguous digits (at least 16, an even number, `0x` allowed in front), `\x41`
//! escapes (at least four in a row), and spaced byte pairs (`69 67 6e …` or
//! `0x69, 0x67, …`, at least eight in a row).

use std::ops::Range;

/// Fewest contiguous hex digits taken for a hex run.
pub(super) const MIN_DIGITS: usize = 16;
/// Fewest `\xHH` escapes in a row.
pub(super) const MIN_ESCAPES: usize = 4;
/// Fewest spaced byte pairs in a row.
pub(super) const MIN_PAIRS: usize = 8;

fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn byte(hi: u8, lo: u8) -> Option<u8> {
    Some((nibble(hi)? << 4) | nibble(lo)?)
}

/// The digits of `run` if it is a hex run: an optional `0x`, then only hex digits, at least
/// [`MIN_DIGITS`] of them, an even number.
pub(super) fn digits(run: &[u8]) -> Option<Range<usize>> {
    let skip = if matches!(run, [b'0', b'x' | b'X', ..]) {
        2
    } else {
        0
    };
    let digits = run.get(skip..)?;
    let ok = digits.len() >= MIN_DIGITS
        && digits.len() % 2 == 0
        && digits.iter().all(u8::is_ascii_hexdigit);
    ok.then_some(skip..run.len())
}

/// Decodes contiguous hex digits into `out`, at most `max` bytes; returns whether it
/// stopped early.
pub(super) fn decode_digits(src: &[u8], out: &mut Vec<u8>, max: usize) -> bool {
    for pair in src.chunks_exact(2) {
        if out.len() >= max {
            return true;
        }
        match pair {
            [hi, lo] => match byte(*hi, *lo) {
                Some(b) => out.push(b),
                None => {
                    out.clear();
                    return false;
                }
            },
            _ => return false,
        }
    }
    false
}

/// From a `\` at `start`, where the run of `\xHH` escapes ends and how many it holds.
pub(super) fn escape_run(token: &[u8], start: usize) -> (usize, usize) {
    let mut at = start;
    let mut count = 0;
    while let Some([b'\\', b'x' | b'X', hi, lo]) = token.get(at..at + 4) {
        if byte(*hi, *lo).is_none() {
            break;
        }
        at += 4;
        count += 1;
    }
    (at, count)
}

/// Decodes a run of `\xHH` escapes into `out`, at most `max` bytes.
pub(super) fn decode_escapes(src: &[u8], out: &mut Vec<u8>, max: usize) -> bool {
    for escape in src.chunks_exact(4) {
        if out.len() >= max {
            return true;
        }
        if let [_, _, hi, lo] = escape
            && let Some(b) = byte(*hi, *lo)
        {
            out.push(b);
        }
    }
    false
}

/// The byte a spaced pair token stands for: `41`, `0x41`, `\x41`, each with an optional
/// trailing comma.
fn pair(token: &[u8]) -> Option<u8> {
    let first = token.first().copied().unwrap_or(0);
    if token.len() > 5 || !(first.is_ascii_hexdigit() || first == b'\\') {
        return None;
    }
    let token = token.strip_suffix(b",").unwrap_or(token);
    let digits = match token {
        [b'0' | b'\\', b'x' | b'X', rest @ ..] => rest,
        _ => token,
    };
    match digits {
        [hi, lo] => byte(*hi, *lo),
        _ => None,
    }
}

/// Follows whitespace-separated tokens for runs of byte pairs.
#[derive(Debug, Default)]
pub(super) struct Pairs {
    start: usize,
    end: usize,
    count: usize,
}

impl Pairs {
    /// Feeds the next token; returns a finished run of pairs when this token ends one.
    #[inline]
    pub(super) fn token(&mut self, range: Range<usize>, token: &[u8]) -> Option<Range<usize>> {
        // A pair token has two to five bytes (`41`, `0x41,`): most words are turned away
        // here, without a look at their bytes.
        let first = token.first().copied().unwrap_or(0);
        if !(2..=5).contains(&token.len()) || !(first.is_ascii_hexdigit() || first == b'\\') {
            return self.finish();
        }
        if pair(token).is_some() {
            if self.count == 0 {
                self.start = range.start;
            }
            self.end = range.end;
            self.count += 1;
            None
        } else {
            self.finish()
        }
    }

    /// Ends the current run; returns it if it is long enough.
    #[inline]
    pub(super) fn finish(&mut self) -> Option<Range<usize>> {
        if self.count == 0 {
            return None;
        }
        let long = self.count >= MIN_PAIRS;
        self.count = 0;
        long.then_some(self.start..self.end)
    }
}

/// Decodes spaced byte pairs into `out`, at most `max` bytes.
pub(super) fn decode_pairs(src: &[u8], out: &mut Vec<u8>, max: usize) -> bool {
    for token in src.split(u8::is_ascii_whitespace).filter(|t| !t.is_empty()) {
        if out.len() >= max {
            return true;
        }
        match pair(token) {
            Some(b) => out.push(b),
            None => {
                out.clear();
                return false;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        decode: fn(&[u8], &mut Vec<u8>, usize) -> bool,
        src: &str,
        max: usize,
    ) -> (String, bool) {
        let mut out = Vec::new();
        let truncated = decode(src.as_bytes(), &mut out, max);
        (String::from_utf8(out).unwrap(), truncated)
    }

    #[test]
    fn decodes_the_three_forms() {
        assert_eq!(
            run(decode_digits, "68656c6c6f20776f726c64", 100),
            ("hello world".into(), false)
        );
        assert_eq!(run(decode_digits, "68656C6C6F", 3), ("hel".into(), true));
        assert_eq!(
            run(decode_escapes, r"\x68\x69\x21", 100),
            ("hi!".into(), false)
        );
        assert_eq!(
            run(decode_pairs, "68 69 0x21, \\x21", 100),
            ("hi!!".into(), false)
        );
    }

    #[test]
    fn recognises_runs() {
        assert_eq!(digits(b"0x68656c6c6f20776f726c64"), Some(2..24));
        assert_eq!(digits(b"68656c6c6f20776f726c6"), None, "odd");
        assert_eq!(digits(b"68656c6c6f"), None, "short");
        assert_eq!(digits(b"68656c6c6f20776f726g"), None);
        assert_eq!(escape_run(br"\x41\x42\x4g", 0), (8, 2));
        let mut pairs = Pairs::default();
        for (i, t) in ["41"; 8].iter().enumerate() {
            assert_eq!(pairs.token(i * 3..i * 3 + 2, t.as_bytes()), None);
        }
        assert_eq!(pairs.token(30..33, b"end"), Some(0..23));
        assert_eq!(pairs.finish(), None);
    }
}
