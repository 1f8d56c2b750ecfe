//! What the simulated model says: a canned paragraph picked by a hash of the prompt (or the
//! prompt itself in echo mode), cut into stream-sized pieces.
//!
//! Determinism is the point: the same prompt always gets the same answer, so tests and
//! recorded demos are reproducible, while different prompts get visibly different answers.

/// Hand-written assistant answers of 40–120 words on general topics.
const PARAGRAPHS: [&str; 12] = [
    "Sourdough bread rises thanks to a starter: a living culture of wild yeast and lactic \
     acid bacteria kept alive with regular feedings of flour and water. The yeast produces \
     carbon dioxide that leavens the dough, while the bacteria contribute the characteristic \
     tang. For a reliable loaf, use the starter at its peak, when it has roughly doubled, \
     give the dough a long cool fermentation, and bake it in a preheated covered pot so the \
     trapped steam lets the crust expand before it sets.",
    "Photosynthesis is the process plants, algae and some bacteria use to turn light into \
     chemical energy. In the light-dependent reactions, chlorophyll absorbs sunlight and \
     splits water, releasing oxygen and producing ATP and NADPH. The Calvin cycle then uses \
     that energy to fix carbon dioxide from the air into sugars. Almost every food chain on \
     Earth depends on this process, and it is also responsible for the oxygen in the \
     atmosphere we breathe.",
    "Compound interest means you earn interest not only on your original deposit but also \
     on the interest already added. If you invest 1,000 dollars at 5% per year, you have \
     1,050 after one year, but about 1,629 after ten years rather than 1,500. The two levers \
     that matter most are time and rate, which is why starting early, even with small \
     amounts, usually beats contributing larger sums later. The same math works against you \
     on credit card debt.",
    "A TCP connection begins with a three-way handshake. The client sends a SYN segment with \
     an initial sequence number, the server replies with a SYN-ACK acknowledging it and \
     proposing its own sequence number, and the client completes the exchange with an ACK. \
     Only then does application data flow. The handshake lets both sides agree on sequence \
     numbers, window sizes and options such as selective acknowledgement, which TCP later \
     uses to deliver bytes reliably and in order.",
    "Good sleep is mostly about consistency. Try to go to bed and wake up at the same time \
     every day, including weekends, and get some daylight soon after waking to anchor your \
     body clock. Keep the bedroom cool, dark and quiet, and avoid caffeine in the afternoon \
     and heavy meals late in the evening. If you cannot fall asleep after twenty minutes or \
     so, get up and do something calm in dim light until you feel drowsy again.",
    "The printing press with movable metal type, developed by Johannes Gutenberg around \
     1450, made books dramatically cheaper and faster to produce. Within fifty years, \
     printing shops had spread to hundreds of European towns and millions of volumes were in \
     circulation. The technology accelerated the spread of literacy, standardized spelling \
     and grammar, helped fuel the Reformation and the Scientific Revolution, and changed how \
     knowledge was shared, argued over and preserved.",
    "To learn a new language efficiently, combine comprehensible input with regular \
     speaking practice. Listen to and read material slightly above your current level, such \
     as graded readers, podcasts for learners or shows with subtitles. Use spaced repetition \
     for vocabulary, but learn words in context rather than as isolated lists. Most \
     importantly, start speaking early, even imperfectly: short daily conversations with a \
     tutor or language partner build confidence faster than months of silent study.",
    "Plate tectonics explains how the Earth's outer shell is broken into large plates that \
     float on the hotter, softer mantle beneath them. They move a few centimetres a year, \
     about as fast as fingernails grow. Where plates pull apart, new crust forms at \
     mid-ocean ridges; where they collide, one may sink beneath the other, building mountain \
     ranges, volcanic arcs and deep trenches. Most earthquakes happen along these \
     boundaries.",
    "A useful code review focuses on correctness, clarity and risk rather than personal \
     style. Start by understanding what the change is meant to do, then check the tricky \
     paths: error handling, concurrency, input validation and anything touching security or \
     data migrations. Ask questions instead of issuing commands, point out what is done \
     well, and keep automated tools responsible for formatting. Small, focused pull requests \
     get better reviews, so it is worth splitting large changes into steps.",
    "Most houseplants die from too much care rather than too little. Water only when the \
     top few centimetres of soil are dry, and make sure the pot has drainage holes so roots \
     never sit in water. Match the plant to the light you have: snake plants and pothos \
     tolerate dim corners, while succulents and fiddle-leaf figs want bright light near a \
     window. Feed lightly during spring and summer, and repot only when roots start circling \
     the pot.",
    "A simple budget starts with tracking where your money actually goes for a month or two. \
     Then divide your take-home pay into needs, such as rent, groceries and utilities; \
     wants, such as dining out and subscriptions; and savings or debt repayment. A common \
     starting point is the 50/30/20 split, but the exact ratio matters less than paying \
     yourself first: set up an automatic transfer to savings on payday, and build an \
     emergency fund covering three to six months of expenses.",
    "Good coffee at home comes down to fresh beans, the right grind and the right ratio. Buy \
     whole beans roasted within the last few weeks and grind them just before brewing. A \
     good starting ratio is about 1 gram of coffee to 16 grams of water, with water just off \
     the boil, around 93 degrees Celsius. If the cup tastes sour, grind finer or brew \
     longer; if it tastes bitter or harsh, grind coarser or shorten the brew.",
];

/// How many words a streamed content chunk carries.
const WORDS_PER_CHUNK: usize = 3;

/// FNV-1a, 64 bits: stable across platforms and Rust versions, unlike `DefaultHasher`.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The answer to `prompt`: the prompt itself when echoing, else the canned paragraph its
/// hash picks.
pub(crate) fn answer(prompt: &str, echo: bool) -> &str {
    if echo {
        return prompt;
    }
    let len = PARAGRAPHS.len() as u64;
    let index = usize::try_from(hash(prompt.as_bytes()) % len).unwrap_or(0);
    PARAGRAPHS.get(index).copied().unwrap_or_default()
}

/// Splits `text` into stream deltas of a few words each. Whitespace before a word travels
/// with that word, like the deltas of real models (`"Hello"`, `" world"`), so the pieces
/// concatenate back to exactly `text`.
pub(crate) fn stream_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::with_capacity(text.len() / 16 + 1);
    let mut start = 0;
    let mut words = 0;
    let mut in_word = false;
    let mut gap_start = 0;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                gap_start = i;
            }
            in_word = false;
        } else if !in_word {
            in_word = true;
            if words == WORDS_PER_CHUNK {
                if let Some(piece) = text.get(start..gap_start) {
                    pieces.push(piece);
                }
                start = gap_start;
                words = 0;
            }
            words += 1;
        }
    }
    if let Some(piece) = text.get(start..)
        && !piece.is_empty()
    {
        pieces.push(piece);
    }
    pieces
}

/// A 24-hex-digit id body: the prompt hash, then a per-simulator sequence number, so ids are
/// reproducible for a given run yet unique within it.
pub(crate) fn id_hex(prompt_hash: u64, seq: u64) -> String {
    format!("{prompt_hash:016x}{:08x}", seq & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::count_tokens;

    #[test]
    fn paragraphs_are_40_to_120_words_and_distinct() {
        for (i, p) in PARAGRAPHS.iter().enumerate() {
            let words = p.split_whitespace().count();
            assert!(
                (40..=120).contains(&words),
                "paragraph {i} has {words} words"
            );
            assert!(!p.contains("  "), "paragraph {i} has a double space");
            assert!(count_tokens(p) > 40);
        }
        let mut sorted = PARAGRAPHS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), PARAGRAPHS.len());
    }

    #[test]
    fn answers_are_deterministic_and_vary_with_the_prompt() {
        assert_eq!(answer("What is TCP?", false), answer("What is TCP?", false));
        let prompts: Vec<String> = (0..50).map(|i| format!("question number {i}")).collect();
        let distinct: std::collections::HashSet<&str> =
            prompts.iter().map(|p| answer(p, false)).collect();
        assert!(
            distinct.len() >= 8,
            "only {} distinct answers",
            distinct.len()
        );
    }

    #[test]
    fn echo_returns_the_prompt() {
        assert_eq!(answer("repeat after me", true), "repeat after me");
    }

    #[test]
    fn stream_pieces_concatenate_back_and_carry_a_few_words() {
        for text in
            PARAGRAPHS
                .iter()
                .copied()
                .chain(["", "one", "  lead and trail  ", "a\n\nb c d e f g"])
        {
            let pieces = stream_pieces(text);
            assert_eq!(pieces.concat(), text);
            for piece in &pieces {
                assert!(
                    piece.split_whitespace().count() <= WORDS_PER_CHUNK,
                    "{piece:?}"
                );
            }
        }
        assert!(stream_pieces(PARAGRAPHS[0]).len() >= 5);
        assert_eq!(stream_pieces("a b c d e"), vec!["a b c", " d e"]);
    }

    #[test]
    fn ids_are_24_hex_digits() {
        let id = id_hex(hash(b"x"), 7);
        assert_eq!(id.len(), 24);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(id.ends_with("00000007"));
    }
}
