//! Helpers shared by the test modules.

use bulwark_moderation::{Encoding, Limits, Normalized, Normalizer, Scratch};

/// What a normalisation produced, owned, so that tests can compare it freely.
#[derive(Debug)]
pub(crate) struct Owned {
    pub(crate) folded: String,
    pub(crate) segments: Vec<(Vec<Encoding>, std::ops::Range<usize>, String, bool)>,
    pub(crate) signals: bulwark_moderation::Signals,
}

impl Owned {
    pub(crate) fn of(n: &Normalized<'_>) -> Self {
        Self {
            folded: n.folded().to_owned(),
            segments: n
                .segments()
                .map(|s| {
                    (
                        s.encodings.as_slice().to_vec(),
                        s.range,
                        s.text.to_owned(),
                        s.truncated,
                    )
                })
                .collect(),
            signals: *n.signals(),
        }
    }

    /// The decoded texts.
    pub(crate) fn texts(&self) -> Vec<&str> {
        self.segments.iter().map(|s| s.2.as_str()).collect()
    }
}

pub(crate) fn normalize(input: &str) -> Owned {
    normalize_with(Limits::DEFAULT, input)
}

pub(crate) fn normalize_with(limits: Limits, input: &str) -> Owned {
    let normalizer = Normalizer::with_limits(limits);
    let mut scratch = Scratch::new();
    Owned::of(&normalizer.normalize(input, &mut scratch))
}

/// Checks the bounds every output must respect, whatever the input.
pub(crate) fn assert_bounds(input: &str, limits: &Limits, out: &Normalized<'_>) {
    assert!(
        out.folded().len() <= 11 * input.len(),
        "folded {} bytes from {}",
        out.folded().len(),
        input.len()
    );
    assert!(out.segments().len() <= limits.max_segments);
    let decoded: usize = out.segments().map(|s| s.text.len()).sum();
    assert!(
        decoded <= limits.max_decoded_bytes,
        "{decoded} decoded bytes"
    );
    for segment in out.segments() {
        assert!(segment.encodings.as_slice().len() <= limits.max_depth);
        assert!(
            input.get(segment.range.clone()).is_some(),
            "range {:?} of {} bytes",
            segment.range,
            input.len()
        );
        assert!(!segment.range.is_empty());
    }
}

pub(crate) fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

pub(crate) fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn rot13(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'a'..='m' | 'A'..='M' => char::from(c as u8 + 13),
            'n'..='z' | 'N'..='Z' => char::from(c as u8 - 13),
            _ => c,
        })
        .collect()
}
