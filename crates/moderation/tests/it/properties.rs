//! Properties that hold for every input.

use bulwark_moderation::{Limits, Normalizer, Scratch};
use proptest::prelude::*;

use crate::common::assert_bounds;

/// Characters that exercise every step: invisibles, marks, look-alikes, leet, encodings.
const NASTY: &[char] = &[
    'a',
    'e',
    'o',
    'p',
    's',
    'x',
    'A',
    'Q',
    'Z',
    '0',
    '1',
    '3',
    '4',
    '5',
    '9',
    '@',
    '$',
    '!',
    '%',
    '\\',
    '=',
    '+',
    '/',
    '-',
    '_',
    '.',
    ':',
    ' ',
    '\n',
    '\t',
    '\u{200b}',
    '\u{200d}',
    '\u{202e}',
    '\u{feff}',
    '\u{ad}',
    '\u{301}',
    '\u{308}',
    '\u{338}',
    '\u{f73}',
    '\u{e0041}',
    '\u{e007f}',
    '\u{fe0f}',
    'а',
    'о',
    'р',
    'ο',
    'ρ',
    'І',
    'ɑ',
    'п',
    'ж',
    'ı',
    'İ',
    'ß',
    'ǅ',
    'ﬁ',
    '𝐀',
    'Ａ',
    '①',
    'ﷺ',
    '㌀',
    '👩',
    '💻',
    '🏴',
    '中',
    'ب',
    'ש',
    '\u{0}',
    '\u{85}',
    '\u{a0}',
    '\u{3000}',
    '×',
    '¡',
    'Б',
    'Н',
    'Ο',
    'Ι',
    'К',
    'з',
];

fn nasty_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(NASTY), 0..200)
        .prop_map(|cs| cs.into_iter().collect())
}

fn encoded_text() -> impl Strategy<Value = String> {
    use base64::Engine as _;
    (any::<String>(), nasty_text(), 0..4_u8).prop_map(|(a, b, how)| {
        let inner = format!("{a} {b}");
        match how {
            0 => base64::engine::general_purpose::STANDARD.encode(&inner),
            1 => inner.bytes().map(|b| format!("{b:02x}")).collect(),
            2 => inner.bytes().map(|b| format!("%{b:02x}")).collect(),
            _ => format!(
                "{b} {} {a}",
                base64::engine::general_purpose::URL_SAFE.encode(inner.as_bytes())
            ),
        }
    })
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), nasty_text(), encoded_text()]
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=100000 for a longer hunt.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn output_is_bounded(input in any_text()) {
        let normalizer = Normalizer::new();
        let mut scratch = Scratch::new();
        let out = normalizer.normalize(&input, &mut scratch);
        assert_bounds(&input, normalizer.limits(), &out);
    }

    #[test]
    fn tight_limits_are_respected(input in any_text(), segments in 0..4_usize, bytes in 0..64_usize, depth in 0..4_usize) {
        let limits = Limits { max_segments: segments, max_decoded_bytes: bytes, max_depth: depth };
        let normalizer = Normalizer::with_limits(limits);
        let mut scratch = Scratch::new();
        let out = normalizer.normalize(&input, &mut scratch);
        assert_bounds(&input, &limits, &out);
    }

    #[test]
    fn folding_is_idempotent(input in any_text()) {
        let normalizer = Normalizer::new();
        let mut scratch = Scratch::new();
        let folded = normalizer.normalize(&input, &mut scratch).folded().to_owned();
        let again = normalizer.normalize(&folded, &mut scratch).folded().to_owned();
        prop_assert_eq!(again, folded);
    }

    #[test]
    fn folded_text_is_clean(input in any_text()) {
        let normalizer = Normalizer::new();
        let mut scratch = Scratch::new();
        let out = normalizer.normalize(&input, &mut scratch);
        for text in out.texts() {
            prop_assert!(!text.starts_with(' ') && !text.ends_with(' ') && !text.contains("  "));
            prop_assert!(!text.chars().any(|c| c.is_whitespace() && c != ' '));
            let invisible = ['\u{200b}', '\u{202e}', '\u{feff}', '\u{e0041}'];
            prop_assert!(!text.chars().any(|c| invisible.contains(&c)), "invisible left in {:?}", text);
        }
    }
}
