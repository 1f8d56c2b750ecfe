//! Step: folding leetspeak (`p4ssw0rd`, `m@lw@re`, `$teal`) back to letters, while numbers,
//! versions, units and identifiers (`2024`, `1st`, `3.14`, `v2`, `x86`, `sha256`) stay
//! as written.
//!
//! # The rule
//!
//! It works on *leet words*: maximal runs of `[a-z0-9@$!]` in the lowercased word, so that
//! `3.14` is the two numbers `3` and `14` and `h4ck-the-planet` is three words. Trailing
//! `!` are punctuation (`h4ck!!`) and leading `@` a mention (`@dm1n`); they are kept and
//! not folded. What remains, the *core*, is folded when all of these hold:
//!
//! 1. it has at least two letters and at least one digit or `@$!`, and at most 24 bytes
//!    (leetspeak spells words, not hashes or base64);
//! 2. every digit is one leetspeak uses for a letter (`0 1 3 4 5 7 8 9`): a `2` or a `6`
//!    marks a number or an identifier (`b2b`, `a1b2c3`, `x86`, `sha256`, `64bit`);
//! 3. it is not a known numeronym or tool name that looks like leet (`i18n`, `k8s`,
//!    `log4j`, `md5sum`…);
//! 4. and either a run of at most three substitutes sits **between letters**
//!    (`p4ssw0rd`, `l33t`, `m@lw@re`), which words with numbers do not do (`v2`, `mp3`,
//!    `1st`, `10kg`, `1080p`, `win10` have digits only at an end), **or** the substitutes
//!    are only at an end and the folded word is in the built-in English list (`$teal` →
//!    `steal`, `4dmin` → `admin`, `h3ll0`… while `1st` → `ist`, `0day` → `oday` are not
//!    words, so they stay).
//!
//! An e-mail address (one `@` followed by a `.`) is never folded. The substitutes are
//! `0→o 1→i 3→e 4→a 5→s 7→t 8→b 9→g @→a $→s !→i`; a run of two or more `1` reads as `l`
//! (`ski11s` → `skills`, while `k1ll` → `kill`).

use super::words::Dictionary;

/// Longest core considered.
const MAX_CORE: usize = 24;

/// Longest run of substitutes between letters.
const MAX_INNER_RUN: usize = 3;

/// Tokens with digits between letters that are not leetspeak.
const NOT_LEET: &[&[u8]] = &[
    b"a11y",
    b"c14n",
    b"g11n",
    b"i18n",
    b"l10n",
    b"k3s",
    b"k8s",
    b"k9s",
    b"log4j",
    b"log4shell",
    b"md4",
    b"md5sum",
    b"sha1sum",
    b"utf8mb4",
    b"w3c",
    b"w3m",
    b"mp3s",
    b"mp4s",
    b"s3cmd",
    b"h5py",
    b"i3wm",
    b"e2e",
    b"b4b",
];

fn is_leet_char(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'@' | b'$' | b'!')
}

/// The letter a substitute stands for; `None` for letters and for digits leetspeak does
/// not use.
fn letter_for(b: u8) -> Option<u8> {
    Some(match b {
        b'0' => b'o',
        b'1' | b'!' => b'i',
        b'3' => b'e',
        b'4' | b'@' => b'a',
        b'5' | b'$' => b's',
        b'7' => b't',
        b'8' => b'b',
        b'9' => b'g',
        _ => return None,
    })
}

/// Whether `word` may hold a leet word worth analysing: a letter and a substitute.
pub(crate) fn may_fold(has_letter: bool, has_substitute: bool) -> bool {
    has_letter && has_substitute
}

/// Writes `word` (lowercase) with its leet words folded to `out` and returns how many were
/// folded; when none was, `out` is left empty.
pub(crate) fn fold(word: &str, dict: &Dictionary, out: &mut String) -> u32 {
    out.clear();
    let bytes = word.as_bytes();
    if is_email(bytes) {
        return 0;
    }
    let mut folded = 0_u32;
    let mut i = 0;
    while i < bytes.len() {
        let leet = bytes.get(i).is_some_and(|&b| is_leet_char(b));
        let end = bytes
            .iter()
            .skip(i)
            .position(|&b| is_leet_char(b) != leet)
            .map_or(bytes.len(), |n| i + n);
        let part = word.get(i..end).unwrap_or("");
        if leet {
            folded = folded.saturating_add(fold_leet_word(part.as_bytes(), dict, out));
        } else {
            out.push_str(part);
        }
        i = end;
    }
    if folded == 0 {
        out.clear();
    }
    folded
}

fn is_email(word: &[u8]) -> bool {
    let mut ats = word.iter().enumerate().filter(|&(_, &b)| b == b'@');
    match (ats.next(), ats.next()) {
        (Some((at, _)), None) => at > 0 && word.iter().skip(at).any(|&b| b == b'.'),
        _ => false,
    }
}

/// Appends the leet word `part` to `out`, folded if the rule says so; returns 1 if folded.
fn fold_leet_word(part: &[u8], dict: &Dictionary, out: &mut String) -> u32 {
    let lead = part.iter().take_while(|&&b| b == b'@').count();
    let trail = part.iter().rev().take_while(|&&b| b == b'!').count();
    let core = part
        .get(lead..part.len().saturating_sub(trail))
        .unwrap_or(&[]);
    let push = |out: &mut String, bytes: &[u8]| out.extend(bytes.iter().map(|&b| char::from(b)));
    match fold_core(core, dict) {
        Some((buf, len)) => {
            push(out, part.get(..lead).unwrap_or(&[]));
            push(out, buf.get(..len).unwrap_or(&[]));
            push(out, part.get(lead + core.len()..).unwrap_or(&[]));
            1
        }
        None => {
            push(out, part);
            0
        }
    }
}

/// The folded core, if the rule of the module documentation says to fold it.
fn fold_core(core: &[u8], dict: &Dictionary) -> Option<([u8; MAX_CORE], usize)> {
    if core.len() > MAX_CORE || core.len() < 3 {
        return None;
    }
    let letters = core.iter().filter(|b| b.is_ascii_lowercase()).count();
    if letters < 2 || letters == core.len() || NOT_LEET.contains(&core) {
        return None;
    }
    let mut buf = [0_u8; MAX_CORE];
    let mut inner = false;
    let mut longest_run = 0;
    let mut seen_letter = false;
    let mut i = 0;
    while i < core.len() {
        let Some(&b) = core.get(i) else { break };
        if b.is_ascii_lowercase() {
            *buf.get_mut(i)? = b;
            seen_letter = true;
            i += 1;
            continue;
        }
        let run = core
            .iter()
            .skip(i)
            .take_while(|b| !b.is_ascii_lowercase())
            .count();
        let ones = core.iter().skip(i).take(run).all(|&b| b == b'1');
        for (j, &s) in core.iter().enumerate().skip(i).take(run) {
            *buf.get_mut(j)? = if ones && run > 1 {
                b'l'
            } else {
                letter_for(s)?
            };
        }
        let letter_after = i + run < core.len();
        if seen_letter && letter_after {
            inner = true;
            longest_run = longest_run.max(run);
        }
        i += run;
    }
    let folded = buf.get(..core.len())?;
    let fold = (inner && longest_run <= MAX_INNER_RUN) || (!inner && dict.contains_word(folded));
    fold.then_some((buf, core.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leet(word: &str) -> String {
        let dict = Dictionary::new();
        let mut out = String::new();
        if fold(word, &dict, &mut out) == 0 {
            word.to_owned()
        } else {
            out
        }
    }

    #[test]
    fn folds_leetspeak() {
        for (from, to) in [
            ("p4ssw0rd", "password"),
            ("h4ck", "hack"),
            ("m@lw@re", "malware"),
            ("$teal", "steal"),
            ("l33t", "leet"),
            ("n00b", "noob"),
            ("r00t", "root"),
            ("h4x0r", "haxor"),
            ("h3ll0", "hello"),
            ("4dmin", "admin"),
            ("adm1n", "admin"),
            ("k1ll", "kill"),
            ("ski11s", "skills"),
            ("pa$$w0rd", "password"),
            ("r4ns0mw4r3", "ransomware"),
            ("k3ylogg3r", "keylogger"),
            ("expl01t", "exploit"),
            ("sh!t", "shit"),
            ("c0ffee", "coffee"),
            ("w1nd0ws", "windows"),
        ] {
            assert_eq!(leet(from), to, "{from}");
        }
    }

    #[test]
    fn keeps_punctuation_mentions_and_separators() {
        assert_eq!(leet("h4ck!!"), "hack!!");
        assert_eq!(leet("@dm1n"), "@dmin");
        assert_eq!(leet("h4ck-th3-pl4net"), "hack-the-planet");
        assert_eq!(leet("«p4ssw0rd»"), "«password»");
    }

    #[test]
    fn keeps_numbers_versions_units_and_identifiers() {
        for word in [
            "2024",
            "1st",
            "2nd",
            "3rd",
            "5th",
            "3.14",
            "v2",
            "v1.2.3",
            "x86",
            "x86_64",
            "sha256",
            "md5",
            "mp3",
            "64bit",
            "10kg",
            "1080p",
            "win10",
            "4x4",
            "b4",
            "$100",
            "us$100",
            "0day",
            "i18n",
            "k8s",
            "log4j",
            "a1b2c3",
            "utf8mb4",
            "ipv4",
            "0xdeadbeef",
            "hello!",
            "wow!!1",
            "@everyone",
            "me@example.com",
            "a@b.c",
            "h4",
            "2fa",
            "3d",
            "h2o",
            "e2e",
            "!!!",
        ] {
            assert_eq!(leet(word), word, "{word}");
        }
    }

    #[test]
    fn refolding_is_a_no_op() {
        for word in [
            "p4ssw0rd", "h4ck!!", "$teal", "2024", "x86", "@dm1n", "ski11s",
        ] {
            let once = leet(word);
            assert_eq!(leet(&once), once, "{word}");
        }
    }

    #[test]
    fn giant_words_are_left_alone_in_linear_time() {
        let giant = "p4ss".repeat(1 << 18);
        assert_eq!(leet(&giant), giant);
    }
}
