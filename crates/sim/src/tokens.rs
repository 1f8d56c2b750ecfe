//! A deterministic stand-in for a tokenizer.
//!
//! A token is a run of at most [`MAX_WORD_PIECE`] ASCII letters or digits, or any other
//! single non-whitespace character; whitespace belongs to no token. That is close enough
//! to real BPE counts for English prose (one token per short word, more for long words,
//! one per punctuation mark) while costing one pass over the text. Usage numbers and
//! `max_tokens` truncation both use this definition, so a truncated answer always counts
//! exactly the limit.

/// The longest run of ASCII letters and digits that still counts as one token.
const MAX_WORD_PIECE: usize = 8;

/// The byte ranges of the tokens of `text`, in order.
fn pieces(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        while let Some(&(start, c)) = chars.peek() {
            chars.next();
            if c.is_whitespace() {
                continue;
            }
            if !c.is_ascii_alphanumeric() {
                return Some((start, start + c.len_utf8()));
            }
            let mut end = start + 1;
            let mut len = 1;
            while len < MAX_WORD_PIECE {
                match chars.peek() {
                    Some(&(i, next)) if next.is_ascii_alphanumeric() => {
                        chars.next();
                        end = i + 1;
                        len += 1;
                    }
                    _ => break,
                }
            }
            return Some((start, end));
        }
        None
    })
}

/// How many tokens `text` counts as.
pub fn count_tokens(text: &str) -> u32 {
    u32::try_from(pieces(text).count()).unwrap_or(u32::MAX)
}

/// The longest prefix of `text` with at most `max` tokens, and whether anything was cut.
/// The prefix ends at the end of its last token, so trailing whitespace is dropped too.
pub(crate) fn truncate(text: &str, max: u32) -> (&str, bool) {
    if max == 0 {
        return ("", pieces(text).next().is_some());
    }
    let Ok(skip) = usize::try_from(max - 1) else {
        return (text, false);
    };
    let mut rest = pieces(text).skip(skip);
    match rest.next() {
        Some((_, end)) if rest.next().is_some() => (text.get(..end).unwrap_or(text), true),
        _ => (text, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words_and_punctuation() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("   \n\t"), 0);
        assert_eq!(count_tokens("Hello, world!"), 4);
        assert_eq!(count_tokens("don't"), 3);
        assert_eq!(count_tokens("a b  c"), 3);
    }

    #[test]
    fn long_words_count_as_several_tokens() {
        // 20 letters: 8 + 8 + 4.
        assert_eq!(count_tokens("internationalization"), 3);
        assert_eq!(count_tokens("12345678"), 1);
        assert_eq!(count_tokens("123456789"), 2);
    }

    #[test]
    fn non_ascii_characters_are_one_token_each() {
        assert_eq!(count_tokens("café"), 2);
        assert_eq!(count_tokens("你好世界"), 4);
    }

    #[test]
    fn truncation_keeps_exactly_the_limit() {
        let text = "The quick brown fox, it jumps over the lazy dog.";
        let total = count_tokens(text);
        assert_eq!(total, 12);
        for max in 0..total {
            let (cut, truncated) = truncate(text, max);
            assert!(truncated, "limit {max} should cut");
            assert_eq!(count_tokens(cut), max, "limit {max} gave {cut:?}");
            assert!(text.starts_with(cut));
            assert_eq!(cut, cut.trim_end());
        }
        assert_eq!(truncate(text, total), (text, false));
        assert_eq!(truncate(text, total + 5), (text, false));
        assert_eq!(truncate(text, 4), ("The quick brown fox", true));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let (cut, truncated) = truncate("héllo wörld", 2);
        assert!(truncated);
        assert_eq!(cut, "hé");
        assert_eq!(truncate("", 0), ("", false));
    }
}
