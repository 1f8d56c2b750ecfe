//! A small built-in list of common English words, for the two decisions that need to know
//! what English looks like: whether ROT13-decoding a stretch of text makes it markedly more
//! English, and whether an ambiguous leetspeak word (`$teal`, `4dmin`) is a real word.
//!
//! Words are packed into a `u64` (five bits a letter, up to twelve letters) and kept in an
//! open-addressing table, so a lookup is a multiply, a shift and usually one comparison.

/// The words: the most frequent English words, plus the vocabulary of the abuse this crate
/// looks for (a ROT13-wrapped jailbreak is made of these). Words that a leet fold could
/// produce by accident from a number or a version (`ist`, `sth`) are deliberately absent.
const WORDS: &str = "
a about above across act action actually add address after again against age ago agree ahead
all allow almost alone along already also although always am among an and anger animal another
answer any anyone anything appear apply are area arm around art as ask at attack attention
available avoid away back bad bank base be beautiful became because become bed been before began
begin behind being believe below best better between big bill bit black blood blue board body
book born both box boy break bring brother brought build building business but buy by call came
can cannot car card care carry case cat catch cause center certain chance change character check
child children choose city class clean clear close code cold color come common company complete
computer condition consider contain continue control cook copy correct cost could country course
cover create cross cut dark data day dead deal dear death decide deep describe design detail
develop did die different difficult direct do doctor does dog done door down draw dream drive
drop during each early earth easy eat economy effect eight either else email end enough enter
entire even evening event ever every everyone everything evil exactly example except expect
experience explain eye face fact fall family far fast father fear feel feet few field fight
figure file fill final find fine finish fire first fish five floor fly follow food foot for force
forget form forward found four free friend from front full fun game garden gave general get girl
give glass go god going gold gone good got government great green ground group grow guess gun
had hair half hand happen happy hard has hat have he head health hear heard heart heat held hello
help her here herself high him himself his history hit hold home hope horse hospital hot hour house
how however huge human hundred husband idea if imagine important in include increase indeed
information inside instead interest into is issue it its itself job join just keep key kid kill
kind king knew know known land language large last late later laugh law lay lead learn least
leave left leg less let letter level lie life light like line list listen little live local long
look lose lost lot love low machine made main make man manage many map mark market matter may
maybe me mean measure meet member memory men message method middle might mile mind minute miss
moment money month more morning most mother move much music must my myself name nation natural
near need never new news next nice night nine no none nor north not note nothing notice now number
of off offer office often oh ok old on once one only open or order other others our out outside
over own page paper parent part party pass past pay people perhaps period person pick picture piece
place plan plant play please point police poor position possible power practice prepare present
president pretty price private probably problem process produce product program provide public
pull purpose push put question quick quickly quite race rain raise ran rather reach read ready
real really reason receive recent record red remain remember report rest result return rich right
river road rock room round rule run safe said same save saw say school science sea season second
secret section see seem seen sell send sense sentence serious serve set seven several shall shape
share she ship short should show side sign similar simple since sing single sister sit six size
skill sleep slow small smile so social some someone something sometimes son song soon sorry sort
sound south space speak special spend spring stand star start state stay step still stock stop
story street strong student study subject such sudden suggest summer sun support sure surface
system table take talk task teach teacher team tell ten term test than thank that the their them
themselves then there these they thing think third this those though thought thousand three
through throw time to today together told too took top toward town travel tree trip trouble true
truth try turn two type under understand unit until up upon us use usual very view visit voice
wait walk wall want war warm was watch water way we weapon week well went were west what whatever
when where whether which while white who whole whom whose why wide wife will win window winter
wish with within without woman women wonder word work world worry would write wrong year yes yet
you young your yourself
access account admin answer assistant attacker auth backdoor bomb
bot botnet breach bypass card cheat cocaine command confidential cookie crack credential
credentials crypto cyber darknet decode decrypt delete destroy developer disable drug drugs
encrypt encryption evade execute exploit explosive fake filter forbidden fraud guideline guidelines
hack hacked hacker hacking harm harmful hidden hide ignore illegal inject injection instruction
instructions jailbreak keylogger launder leak login malicious malware mode override password
passwords payload persona phish phishing policy pretend previous prior prompt ransom ransomware
restriction restrictions reveal role root rules scam script shell spoof spyware steal stealer
stolen target token trojan unlock unrestricted user victim virus weapons worm
";

/// Packs a lowercase ASCII word of up to twelve letters into a key (never zero).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Packer {
    key: u64,
    len: u8,
}

impl Packer {
    pub(crate) const MAX_LETTERS: u8 = 12;

    /// Adds a letter (`b'a'..=b'z'`); letters past the twelfth make the word unpackable.
    #[inline]
    pub(crate) fn push(&mut self, lowercase: u8) {
        self.len = self.len.saturating_add(1);
        if self.len <= Self::MAX_LETTERS {
            self.key =
                (self.key << 5) | u64::from(lowercase.wrapping_sub(b'a') & 31).wrapping_add(1);
        }
    }

    /// The key, or `None` for an empty or too long word.
    pub(crate) fn key(&self) -> Option<u64> {
        (self.len > 0 && self.len <= Self::MAX_LETTERS).then_some(self.key)
    }

    /// Packs a run of ASCII letters of either case, `len` of them, as `push` would pack
    /// them lowercased: a letter's code is its low five bits (`a` and `A` are both 1), so
    /// a caller walking the run adds each with `key << 5 | u64::from(letter & 31)` and
    /// asks here for the key (bits shifted out past the twelfth letter do not matter: such
    /// a word has none).
    #[inline]
    pub(crate) fn key_of_letters(key: u64, len: usize) -> Option<u64> {
        (len > 0 && len <= usize::from(Self::MAX_LETTERS)).then_some(key)
    }
}

/// The word list as a hash table of packed keys, each flagged with whether the word is in
/// the list ([`Hit::plain`]) and whether its ROT13 rotation is ([`Hit::rotated`]), so that
/// the ROT13 detector learns both from one lookup. A 1 KiB bit filter in front answers
/// most misses without touching the 32 KiB table, which matters on long inputs that push
/// the table out of the L1 cache.
#[derive(Debug)]
pub(crate) struct Dictionary {
    filter: Box<[u64]>,
    /// The same filter over the rotations alone, for [`Dictionary::rotated`].
    rotated_filter: Box<[u64]>,
    slots: Box<[u64]>,
}

/// What a lookup found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The word is in the list.
    pub(crate) plain: bool,
    /// The word's ROT13 rotation is in the list.
    pub(crate) rotated: bool,
}

const SLOT_BITS: u32 = 12;
/// Packed keys use the low 60 bits; the flags sit above them.
const KEY: u64 = (1 << 60) - 1;
const PLAIN: u64 = 1 << 60;
const ROTATED: u64 = 1 << 61;

const FILTER_BITS: u32 = 13;

fn slot_of(key: u64) -> usize {
    // Fibonacci hashing: the top bits of the product are well mixed.
    usize::try_from(key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOT_BITS)).unwrap_or(0)
}

/// The filter word and bit of a key (a different multiplier from the table's).
fn filter_bit(key: u64) -> (usize, u64) {
    let h = key.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> (64 - FILTER_BITS);
    (usize::try_from(h >> 6).unwrap_or(0), 1 << (h & 63))
}

fn rot13(b: u8) -> u8 {
    (b.wrapping_sub(b'a') + 13) % 26 + b'a'
}

impl Dictionary {
    pub(crate) fn new() -> Self {
        let mut dict = Self {
            filter: vec![0_u64; 1 << (FILTER_BITS - 6)].into_boxed_slice(),
            rotated_filter: vec![0_u64; 1 << (FILTER_BITS - 6)].into_boxed_slice(),
            slots: vec![0_u64; 1 << SLOT_BITS].into_boxed_slice(),
        };
        for word in WORDS.split_ascii_whitespace() {
            let (mut plain, mut rotated) = (Packer::default(), Packer::default());
            for b in word.bytes() {
                plain.push(b);
                rotated.push(rot13(b));
            }
            if let (Some(plain), Some(rotated)) = (plain.key(), rotated.key()) {
                dict.insert(plain, PLAIN);
                dict.insert(rotated, ROTATED);
            }
        }
        dict
    }

    fn insert(&mut self, key: u64, flag: u64) {
        let (word, bit) = filter_bit(key);
        if let Some(w) = self.filter.get_mut(word) {
            *w |= bit;
        }
        if flag == ROTATED
            && let Some(w) = self.rotated_filter.get_mut(word)
        {
            *w |= bit;
        }
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = slot_of(key);
        // The table is less than half full, so a free slot is always near.
        while let Some(slot) = self.slots.get_mut(i) {
            if *slot == 0 || *slot & KEY == key {
                *slot |= key | flag;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Looks the packed word `key` up.
    #[inline]
    pub(crate) fn lookup(&self, key: u64) -> Hit {
        if !Self::may_hold(&self.filter, key) {
            return Hit::default();
        }
        let slot = self.slot(key);
        Hit {
            plain: slot & PLAIN != 0,
            rotated: slot & ROTATED != 0,
        }
    }

    /// Whether the ROT13 rotation of the packed word `key` is in the list ([`Hit::rotated`]),
    /// asked of every word the ROT13 detector meets: its filter holds the rotations alone, so
    /// that the listed English words, most of ordinary text, are turned away there.
    #[inline]
    pub(crate) fn rotated(&self, key: u64) -> bool {
        Self::may_hold(&self.rotated_filter, key) && self.slot(key) & ROTATED != 0
    }

    /// Whether `filter` lets `key` through.
    #[inline]
    fn may_hold(filter: &[u64], key: u64) -> bool {
        let (word, bit) = filter_bit(key);
        filter.get(word).is_some_and(|w| w & bit != 0)
    }

    /// The table's slot for `key` (its flags), or 0 if the key is not there.
    #[inline]
    fn slot(&self, key: u64) -> u64 {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = slot_of(key);
        while let Some(&slot) = self.slots.get(i) {
            if slot & KEY == key {
                return slot;
            }
            if slot == 0 {
                break;
            }
            i = (i + 1) & mask;
        }
        0
    }

    /// Whether the lowercase ASCII `word` is in the list.
    pub(crate) fn contains_word(&self, word: &[u8]) -> bool {
        let mut packer = Packer::default();
        for &b in word {
            if !b.is_ascii_lowercase() {
                return false;
            }
            packer.push(b);
        }
        packer.key().is_some_and(|key| self.lookup(key).plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listed_words_only() {
        let dict = Dictionary::new();
        for w in ["the", "a", "password", "instructions", "hello", "admin"] {
            assert!(dict.contains_word(w.as_bytes()), "{w}");
        }
        for w in [
            "ist",
            "sth",
            "zzz",
            "",
            "passwordpasswordx",
            "Hello",
            "mpe",
            "ussioo",
        ] {
            assert!(!dict.contains_word(w.as_bytes()), "{w}");
        }
    }

    #[test]
    fn knows_rotations() {
        let dict = Dictionary::new();
        let key = |w: &str| {
            let mut p = Packer::default();
            w.bytes().for_each(|b| p.push(b));
            p.key().unwrap()
        };
        assert_eq!(
            dict.lookup(key("uryyb")),
            Hit {
                plain: false,
                rotated: true
            }
        );
        assert_eq!(
            dict.lookup(key("hello")),
            Hit {
                plain: true,
                rotated: false
            }
        );
        // "be" and "or" are each other's rotation, and both words.
        assert_eq!(
            dict.lookup(key("or")),
            Hit {
                plain: true,
                rotated: true
            }
        );
        assert_eq!(dict.lookup(key("qwxz")), Hit::default());
    }

    #[test]
    fn letter_codes_pack_as_lowercase() {
        for word in [
            "a",
            "Hello",
            "PASSWORD",
            "abcdefghijkl",
            "abcdefghijklm",
            "zZ",
        ] {
            let mut packer = Packer::default();
            let mut key = 0_u64;
            for b in word.bytes() {
                packer.push(b.to_ascii_lowercase());
                key = (key << 5) | u64::from(b & 31);
            }
            assert_eq!(
                Packer::key_of_letters(key, word.len()),
                packer.key(),
                "{word}"
            );
        }
        assert_eq!(Packer::key_of_letters(0, 0), None);
    }

    #[test]
    fn table_has_room_and_words_fit() {
        let words = WORDS.split_ascii_whitespace().count();
        assert!(
            2 * words * 2 < 1 << SLOT_BITS,
            "{words} words and their rotations"
        );
        for w in WORDS.split_ascii_whitespace() {
            assert!(
                w.len() <= usize::from(Packer::MAX_LETTERS),
                "{w} too long to pack"
            );
            assert!(w.bytes().all(|b| b.is_ascii_lowercase()), "{w}");
        }
    }
}
