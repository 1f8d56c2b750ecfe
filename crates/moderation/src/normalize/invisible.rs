//! Step: removal of invisible characters.
//!
//! Zero-width characters, bidi controls, tag characters, variation selectors and the other
//! *Default_Ignorable_Code_Point*s render as nothing, so they can split a word for a filter
//! while leaving it intact for a reader (`pass\u{200B}word`), reorder what a reader sees
//! (U+202E), or carry a hidden instruction (tag characters spell ASCII invisibly). They are
//! all removed before NFKC, so that what they separated composes as if they had never been
//! there, and each is counted.
//!
//! The set is Default_Ignorable_Code_Point from Unicode 18's `DerivedCoreProperties.txt`
//! (the same data `unicode-security` ships; a test checks the two agree on every code
//! point), plus the C0 and C1 control characters other than whitespace. One exception
//! keeps emoji readable: a ZERO WIDTH JOINER between two pictographs (`👩‍💻`) stays, since
//! it joins no letters and removing it would turn one emoji into two.

/// Why a character is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Invisible {
    /// A bidirectional formatting control (LRM, RLM, ALM, embeddings, overrides, isolates).
    Bidi,
    /// A tag character (U+E0000–U+E007F); the decoder reports what they spell.
    Tag,
    /// Any other default-ignorable or control character.
    Other,
}

/// Default_Ignorable_Code_Point, Unicode 18, as inclusive ranges.
const DEFAULT_IGNORABLE: &[(char, char)] = &[
    ('\u{ad}', '\u{ad}'),
    ('\u{34f}', '\u{34f}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{115f}', '\u{1160}'),
    ('\u{17b4}', '\u{17b5}'),
    ('\u{180b}', '\u{180f}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{206f}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{fe00}', '\u{fe0f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{ffa0}', '\u{ffa0}'),
    ('\u{fff0}', '\u{fff8}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0000}', '\u{e0fff}'),
];

pub(crate) const ZERO_WIDTH_JOINER: char = '\u{200d}';

/// Whether `c` is a Default_Ignorable_Code_Point.
pub(crate) fn is_default_ignorable(c: char) -> bool {
    if c < '\u{ad}' {
        return false;
    }
    let after = DEFAULT_IGNORABLE.partition_point(|&(_, hi)| hi < c);
    DEFAULT_IGNORABLE.get(after).is_some_and(|&(lo, _)| lo <= c)
}

/// Classifies `c` if it is to be removed. Whitespace is never removed here: it separates
/// words and is collapsed later.
pub(crate) fn classify(c: char) -> Option<Invisible> {
    if c.is_control() {
        return (!c.is_whitespace()).then_some(Invisible::Other);
    }
    if !is_default_ignorable(c) {
        return None;
    }
    Some(match c {
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            Invisible::Bidi
        }
        '\u{e0000}'..='\u{e007f}' => Invisible::Tag,
        _ => Invisible::Other,
    })
}

/// Whether `c` is a pictograph that a ZERO WIDTH JOINER may join (an approximation of
/// Extended_Pictographic that errs towards keeping the joiner: keeping it is harmless).
pub(crate) fn is_pictographic(c: char) -> bool {
    matches!(c,
        '\u{a9}' | '\u{ae}' | '\u{203c}' | '\u{2049}' | '\u{2122}' | '\u{2139}'
        | '\u{2194}'..='\u{21aa}'
        | '\u{231a}'..='\u{23ff}'
        | '\u{24c2}'
        | '\u{25aa}'..='\u{27bf}'
        | '\u{2934}'..='\u{2935}'
        | '\u{2b05}'..='\u{2b55}'
        | '\u{3030}' | '\u{303d}' | '\u{3297}' | '\u{3299}'
        | '\u{1f000}'..='\u{1faff}'
        | '\u{1fc00}'..='\u{1fffd}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_unicode_security_on_every_code_point() {
        // `skeleton` drops exactly the default-ignorable code points, so a character whose
        // skeleton is empty is one.
        for c in (0..=0x10_FFFF_u32).filter_map(char::from_u32) {
            let mut buf = [0; 4];
            let empty = unicode_security::skeleton(c.encode_utf8(&mut buf))
                .next()
                .is_none();
            assert_eq!(is_default_ignorable(c), empty, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn classifies_the_usual_suspects() {
        for c in [
            '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}', '\u{ad}',
        ] {
            assert_eq!(
                classify(c),
                Some(Invisible::Other),
                "U+{:04X}",
                u32::from(c)
            );
        }
        for c in ['\u{202e}', '\u{2066}', '\u{200f}', '\u{61c}'] {
            assert_eq!(classify(c), Some(Invisible::Bidi));
        }
        assert_eq!(classify('\u{e0041}'), Some(Invisible::Tag));
        assert_eq!(classify('\u{fe0f}'), Some(Invisible::Other));
        assert_eq!(classify('\u{180e}'), Some(Invisible::Other));
        assert_eq!(classify('\u{0}'), Some(Invisible::Other));
        assert_eq!(classify('\u{85}'), None, "NEL is whitespace");
        assert_eq!(classify('\n'), None);
        for c in ['a', 'é', 'ж', 'א', 'ب', '中', '👍', ' '] {
            assert_eq!(classify(c), None);
        }
    }
}
