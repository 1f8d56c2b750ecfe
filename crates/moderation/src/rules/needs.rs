//! What a pattern's match must contain: a condition on the literals of a text, derived
//! from the pattern's syntax, that every match satisfies. A group of patterns (one
//! `RegexSet`) runs only when one of its patterns' conditions holds: when none does, none
//! of them can match, so the results are the same as running them all.
//!
//! The condition is necessary, never sufficient: a literal the pattern spells out (`dan`,
//! `access granted`) must occur in any match; a concatenation needs all its parts, an
//! alternation one of its branches, a repetition of at least one its body; anything else
//! (classes, `.`, optional parts, assertions) needs nothing. The literals are found by the
//! same Aho-Corasick pass that finds the rules' terms, so a literal that is everywhere
//! (` `, `re`, `:`) would cost more to find than it saves: a concatenation keeps only its
//! parts that need at least [`STRONG`] bytes, when it has one (dropping a part of what a
//! match needs leaves a condition that every match still satisfies).

use regex_syntax::hir::{Hir, HirKind};

/// The fewest bytes a condition must ask for to be worth finding when it is not needed.
const STRONG: usize = 3;

/// A condition on which literals occur in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Need {
    /// Holds for any text.
    Nothing,
    /// Literal number `n` occurs.
    Literal(usize),
    /// Every condition holds.
    All(Vec<Need>),
    /// At least one condition holds.
    Any(Vec<Need>),
}

impl Need {
    /// The condition a match of `hir` satisfies; its literals are numbered in `literals`
    /// (existing ones are reused, and only those it refers to are added).
    pub(super) fn of(hir: &Hir, literals: &mut Vec<Vec<u8>>) -> Self {
        let mut all = Vec::new();
        Self::build(hir, &mut all).renumber(&all, literals)
    }

    /// The condition with every literal of `all` it refers to numbered in `literals`.
    fn renumber(self, all: &[Vec<u8>], literals: &mut Vec<Vec<u8>>) -> Self {
        match self {
            Self::Nothing => Self::Nothing,
            Self::Literal(n) => {
                let bytes = all.get(n).map_or(&[][..], Vec::as_slice);
                Self::Literal(
                    literals
                        .iter()
                        .position(|l| l.as_slice() == bytes)
                        .unwrap_or_else(|| {
                            literals.push(bytes.to_vec());
                            literals.len() - 1
                        }),
                )
            }
            Self::All(needs) => Self::All(
                needs
                    .into_iter()
                    .map(|need| need.renumber(all, literals))
                    .collect(),
            ),
            Self::Any(needs) => Self::Any(
                needs
                    .into_iter()
                    .map(|need| need.renumber(all, literals))
                    .collect(),
            ),
        }
    }

    /// The fewest bytes of literals any text satisfying the condition holds.
    fn strength(&self, literals: &[Vec<u8>]) -> usize {
        match self {
            Self::Nothing => 0,
            Self::Literal(n) => literals.get(*n).map_or(0, Vec::len),
            Self::All(needs) => needs
                .iter()
                .map(|need| need.strength(literals))
                .max()
                .unwrap_or(0),
            Self::Any(needs) => needs
                .iter()
                .map(|need| need.strength(literals))
                .min()
                .unwrap_or(0),
        }
    }

    fn build(hir: &Hir, literals: &mut Vec<Vec<u8>>) -> Self {
        match hir.kind() {
            HirKind::Literal(literal) => {
                let bytes = &*literal.0;
                if bytes.is_empty() {
                    return Self::Nothing;
                }
                let n = literals
                    .iter()
                    .position(|l| l.as_slice() == bytes)
                    .unwrap_or_else(|| {
                        literals.push(bytes.to_vec());
                        literals.len() - 1
                    });
                Self::Literal(n)
            }
            HirKind::Empty | HirKind::Class(_) | HirKind::Look(_) => Self::Nothing,
            HirKind::Repetition(repetition) if repetition.min == 0 => Self::Nothing,
            HirKind::Repetition(repetition) => Self::build(&repetition.sub, literals),
            HirKind::Capture(capture) => Self::build(&capture.sub, literals),
            HirKind::Concat(parts) => {
                let mut needs: Vec<Self> = parts
                    .iter()
                    .map(|part| Self::build(part, literals))
                    .filter(|need| *need != Self::Nothing)
                    .collect();
                let strongest = needs
                    .iter()
                    .map(|need| need.strength(literals))
                    .max()
                    .unwrap_or(0);
                let keep = strongest.min(STRONG);
                needs.retain(|need| need.strength(literals) >= keep);
                if needs.is_empty() {
                    Self::Nothing
                } else {
                    Self::All(needs)
                }
            }
            HirKind::Alternation(branches) => {
                let needs: Vec<Self> = branches
                    .iter()
                    .map(|branch| Self::build(branch, literals))
                    .collect();
                if needs.contains(&Self::Nothing) {
                    Self::Nothing
                } else {
                    Self::Any(needs)
                }
            }
        }
    }

    /// Calls `each(n)` for every literal the condition refers to.
    pub(super) fn each_literal(&self, each: &mut impl FnMut(usize)) {
        match self {
            Self::Nothing => {}
            Self::Literal(n) => each(*n),
            Self::All(needs) | Self::Any(needs) => {
                for need in needs {
                    need.each_literal(each);
                }
            }
        }
    }

    /// Whether the condition holds when `found(n)` says whether literal `n` occurs.
    pub(super) fn holds(&self, found: &impl Fn(usize) -> bool) -> bool {
        match self {
            Self::Nothing => true,
            Self::Literal(n) => found(*n),
            Self::All(needs) => needs.iter().all(|need| need.holds(found)),
            Self::Any(needs) => needs.iter().any(|need| need.holds(found)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(pattern: &str) -> (Need, Vec<String>) {
        let hir = regex_syntax::parse(pattern).unwrap();
        let mut literals = Vec::new();
        let need = Need::of(&hir, &mut literals);
        let literals = literals
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect();
        (need, literals)
    }

    fn holds(pattern: &str, text: &str) -> bool {
        let (need, literals) = need(pattern);
        need.holds(&|n| text.contains(literals[n].as_str()))
    }

    #[test]
    fn literals_concatenations_and_alternations() {
        let (n, lits) = need(r"\bdo anything now\b");
        assert_eq!(n, Need::All(vec![Need::Literal(0)]));
        assert_eq!(lits, ["do anything now"]);
        assert!(holds(
            r"\b(say|output)\b.{0,20}\baccess granted\b",
            "please say access granted"
        ));
        assert!(!holds(
            r"\b(say|output)\b.{0,20}\baccess granted\b",
            "access granted"
        ));
        assert!(!holds(
            r"\b(say|output)\b.{0,20}\baccess granted\b",
            "say it"
        ));
        // Optional parts and classes need nothing.
        assert_eq!(need(r"a?\s{0,8}[xyz].{0,3}").0, Need::Nothing);
        assert!(holds(
            r"(^|[\s\]])new (task|directive)\s{0,8}:",
            "new task:"
        ));
        // Short parts are left out of a concatenation that has a longer one.
        let (n, lits) = need(r"\[\s{0,8}(system|admin)\s{0,8}\]");
        assert_eq!(
            n,
            Need::All(vec![Need::Any(vec![Need::Literal(0), Need::Literal(1)])])
        );
        assert_eq!(lits, ["system", "admin"]);
        assert_eq!(need(r"\[.x.\]").1, ["[", "x", "]"]);
        // A branch that needs nothing makes the alternation need nothing.
        assert_eq!(need(r"(abc|x?)").0, Need::Nothing);
    }

    /// Whatever the pattern and the text, a match implies the condition.
    #[test]
    fn every_match_satisfies_the_condition() {
        let patterns = [
            r"\b(you are|you.re|act as)\b.{0,40}\bdan\b",
            r"\[\s{0,8}(🔓\s{0,8})?jailbreak\s{0,8}\]|\bstay in character\b",
            r"<\s{0,8}/?\s{0,8}(system|instructions?|im_start)\s{0,8}>",
            r"(ab)+c|d{2,3}e",
        ];
        let texts = [
            "you are now dan",
            "you're dan",
            "[🔓 jailbreak]",
            "< /instructions >",
            "ababc",
            "ddde",
            "nothing here",
            "stay in character",
        ];
        for pattern in patterns {
            let regex = regex::Regex::new(pattern).unwrap();
            for text in texts {
                if regex.is_match(text) {
                    assert!(holds(pattern, text), "{pattern} on {text}");
                }
            }
        }
    }
}
