//! Obfuscation evidence counted while normalising.

use std::fmt;

use super::segment::Encoding;

/// What the normaliser had to undo. Each count is a feature a classifier can use and a fact
/// a person can check: plain prose scores zero everywhere, and jailbreaks hide in these.
///
/// Counts cover the surface text and the decoded segments, and saturate at `u32::MAX`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signals {
    /// Zero-width characters, variation selectors, other default-ignorables and control
    /// characters removed (bidi controls and tag characters are counted apart).
    pub invisible_removed: u32,
    /// Bidi controls removed (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069).
    pub bidi_controls_removed: u32,
    /// Tag characters removed (U+E0000–U+E007F); what they spell is a segment.
    pub tag_chars_removed: u32,
    /// Combining marks dropped because more than 30 were stacked on one character
    /// ("Zalgo" text; the cap is UAX #15's stream-safe limit).
    pub combining_marks_removed: u32,
    /// Look-alike characters folded to the ASCII letter or digit they imitate.
    pub confusables_folded: u32,
    /// Leetspeak words folded back to letters (`p4ssw0rd`).
    pub leet_words_folded: u32,
    /// Words whose letters come from more than one script (UTS #39 mixed-script), such as
    /// Latin with Cyrillic.
    pub mixed_script_words: u32,
    /// Decoded segments per encoding (a nested segment counts for every encoding in its
    /// chain).
    pub encoded_segments: EncodingCounts,
    /// Encoded runs that were not decoded because the segment or decoded-bytes cap was
    /// reached. Non-zero means the input holds more encoded text than was inspected.
    pub segments_skipped: u32,
}

/// Decoded segments per encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodingCounts {
    /// Base64 segments.
    pub base64: u32,
    /// Hex segments.
    pub hex: u32,
    /// Percent-encoded segments.
    pub url: u32,
    /// ROT13 segments.
    pub rot13: u32,
    /// Tag-character segments.
    pub tags: u32,
}

impl EncodingCounts {
    /// The count for `kind`.
    pub const fn get(&self, kind: Encoding) -> u32 {
        match kind {
            Encoding::Base64 => self.base64,
            Encoding::Hex => self.hex,
            Encoding::Url => self.url,
            Encoding::Rot13 => self.rot13,
            Encoding::Tags => self.tags,
        }
    }

    pub(crate) fn add(&mut self, kind: Encoding) {
        let count = match kind {
            Encoding::Base64 => &mut self.base64,
            Encoding::Hex => &mut self.hex,
            Encoding::Url => &mut self.url,
            Encoding::Rot13 => &mut self.rot13,
            Encoding::Tags => &mut self.tags,
        };
        *count = count.saturating_add(1);
    }
}

impl Signals {
    /// The number of features [`Signals::features`] yields.
    pub const FEATURES: usize = 13;

    /// Every count under a stable name (`invisible_removed`, …, `segments_base64`, …), in a
    /// fixed order, for feature vectors and logs.
    pub fn features(&self) -> [(&'static str, u32); Self::FEATURES] {
        let e = &self.encoded_segments;
        [
            ("invisible_removed", self.invisible_removed),
            ("bidi_controls_removed", self.bidi_controls_removed),
            ("tag_chars_removed", self.tag_chars_removed),
            ("combining_marks_removed", self.combining_marks_removed),
            ("confusables_folded", self.confusables_folded),
            ("leet_words_folded", self.leet_words_folded),
            ("mixed_script_words", self.mixed_script_words),
            ("segments_base64", e.base64),
            ("segments_hex", e.hex),
            ("segments_url", e.url),
            ("segments_rot13", e.rot13),
            ("segments_tags", e.tags),
            ("segments_skipped", self.segments_skipped),
        ]
    }

    /// Whether any obfuscation was found.
    pub fn any(&self) -> bool {
        self.features().iter().any(|&(_, n)| n > 0)
    }
}

/// The non-zero counts as `name=value` pairs, or `none`.
impl fmt::Display for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, n) in self.features().into_iter().filter(|&(_, n)| n > 0) {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{name}={n}")?;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// Adds one to a saturating counter.
pub(crate) fn bump(count: &mut u32) {
    *count = count.saturating_add(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_only_what_fired() {
        assert_eq!(Signals::default().to_string(), "none");
        let mut s = Signals {
            leet_words_folded: 2,
            ..Signals::default()
        };
        s.encoded_segments.add(Encoding::Hex);
        assert_eq!(s.to_string(), "leet_words_folded=2 segments_hex=1");
        assert!(s.any());
    }
}
