//! What the decoder reports: decoded segments and the encodings they were wrapped in.

use std::{fmt, ops::Range};

/// How many encodings deep a segment can be unwrapped (`base64(hex(url(text)))`).
pub const MAX_NESTING: usize = 3;

/// An encoding that can hide text from a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encoding {
    /// Base64, standard or URL-safe alphabet, with or without padding.
    Base64,
    /// Hex digits: a contiguous run, `\x41` escapes, or spaced byte pairs (`41 42`, `0x41,`).
    Hex,
    /// Percent-encoding (`%69%67%6E`), `+` read as a space.
    Url,
    /// ROT13, the letter rotation.
    Rot13,
    /// Unicode tag characters (U+E0020–U+E007E), which spell ASCII invisibly.
    Tags,
}

impl Encoding {
    /// Every encoding, in the order of [`EncodingCounts`](super::EncodingCounts).
    pub const ALL: [Self; 5] = [Self::Base64, Self::Hex, Self::Url, Self::Rot13, Self::Tags];

    /// A short stable name: `base64`, `hex`, `url`, `rot13`, `tags`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Base64 => "base64",
            Self::Hex => "hex",
            Self::Url => "url",
            Self::Rot13 => "rot13",
            Self::Tags => "tags",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The encodings a segment was wrapped in, outermost first: `base64>hex` is hex text that
/// was then base64-encoded. Never empty and at most [`MAX_NESTING`] long.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodingChain {
    kinds: [Encoding; MAX_NESTING],
    len: u8,
}

impl EncodingChain {
    pub(crate) const fn new(outermost: Encoding) -> Self {
        Self {
            kinds: [outermost; MAX_NESTING],
            len: 1,
        }
    }

    /// The chain with `inner` unwrapped inside it, or `None` past [`MAX_NESTING`].
    pub(crate) fn then(self, inner: Encoding) -> Option<Self> {
        let mut next = self;
        *next.kinds.get_mut(usize::from(self.len))? = inner;
        next.len = self.len.checked_add(1)?;
        Some(next)
    }

    /// The encodings, outermost first.
    pub fn as_slice(&self) -> &[Encoding] {
        self.kinds.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The encoding found in the text itself.
    pub fn outermost(&self) -> Encoding {
        self.kinds.first().copied().unwrap_or(Encoding::Base64)
    }

    /// The encoding whose decoding gave the segment's text.
    pub fn innermost(&self) -> Encoding {
        self.as_slice().last().copied().unwrap_or(Encoding::Base64)
    }

    /// Whether `kind` appears anywhere in the chain.
    pub fn contains(&self, kind: Encoding) -> bool {
        self.as_slice().contains(&kind)
    }
}

impl fmt::Debug for EncodingChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl fmt::Display for EncodingChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, kind) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(">")?;
            }
            f.write_str(kind.name())?;
        }
        Ok(())
    }
}

/// A decoded segment of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment<'s> {
    /// The encodings that were unwrapped, outermost first.
    pub encodings: EncodingChain,
    /// Byte range of the outermost encoded run in the original input (for a nested segment
    /// that is the range of the run it was found inside).
    pub range: Range<usize>,
    /// The decoded text, folded like the surface text.
    pub text: &'s str,
    /// Whether decoding stopped early because the decoded-bytes budget ran out.
    pub truncated: bool,
}

/// A segment as kept in the scratch space; its text lives in the scratch arena.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) encodings: EncodingChain,
    pub(crate) range: Range<usize>,
    pub(crate) text: Range<usize>,
    pub(crate) truncated: bool,
}

impl Record {
    pub(crate) fn view<'s>(&self, arena: &'s str) -> Segment<'s> {
        Segment {
            encodings: self.encodings,
            range: self.range.clone(),
            text: arena.get(self.text.clone()).unwrap_or(""),
            truncated: self.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_grows_to_the_cap_and_no_further() {
        let chain = EncodingChain::new(Encoding::Base64);
        let chain = chain
            .then(Encoding::Hex)
            .unwrap()
            .then(Encoding::Url)
            .unwrap();
        assert_eq!(
            chain.as_slice(),
            [Encoding::Base64, Encoding::Hex, Encoding::Url]
        );
        assert_eq!(chain.to_string(), "base64>hex>url");
        assert_eq!(chain.outermost(), Encoding::Base64);
        assert_eq!(chain.innermost(), Encoding::Url);
        assert!(chain.then(Encoding::Rot13).is_none());
    }
}
