//! The moderation vocabulary: the categories Bulwark scores text in, the sides of a call,
//! and what a usage event records about moderation.
//!
//! The category ids are a public contract (events, `/v1/moderations`, `bulwark scan`,
//! configuration): extend, never rename. Their definitions, examples and ATT&CK / ATLAS
//! references are in `docs/moderation.md`.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::entity::ParseEnumError;

/// One category of abuse. [`Category::ALL`] lists them in their documented order; the
/// aggregate `cyber` is not a variant but is derived ([`Category::is_cyber`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// `cyber/phishing`: phishing, scam and impersonation messages, credential-harvesting
    /// pages.
    Phishing,
    /// `cyber/malware`: writing or improving malicious code.
    Malware,
    /// `cyber/intrusion`: attacking systems one does not own.
    Intrusion,
    /// `cyber/credentials`: password cracking, credential stuffing, MFA bypass.
    Credentials,
    /// `cyber/social_engineering`: pretexting, manipulation scripts, profiling a target.
    SocialEngineering,
    /// `jailbreak`: attempts to make the model drop its rules.
    Jailbreak,
    /// `prompt_injection`: instructions hidden in content to hijack the model; prompt
    /// extraction.
    PromptInjection,
    /// `illicit`: other clearly harmful intent (weapons, drugs, fraud, violence).
    Illicit,
}

/// The id of the aggregate category: any `cyber/*`.
pub const CYBER: &str = "cyber";

impl Category {
    /// Every category, in documented order; `Category::ALL[c.index()] == c`.
    pub const ALL: [Self; 8] = [
        Self::Phishing,
        Self::Malware,
        Self::Intrusion,
        Self::Credentials,
        Self::SocialEngineering,
        Self::Jailbreak,
        Self::PromptInjection,
        Self::Illicit,
    ];

    /// How many categories there are.
    pub const COUNT: usize = Self::ALL.len();

    /// The stable id, e.g. `cyber/phishing`.
    pub const fn id(self) -> &'static str {
        match self {
            Self::Phishing => "cyber/phishing",
            Self::Malware => "cyber/malware",
            Self::Intrusion => "cyber/intrusion",
            Self::Credentials => "cyber/credentials",
            Self::SocialEngineering => "cyber/social_engineering",
            Self::Jailbreak => "jailbreak",
            Self::PromptInjection => "prompt_injection",
            Self::Illicit => "illicit",
        }
    }

    /// The position in [`Category::ALL`], for per-category arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether this is one of the `cyber/*` categories.
    pub const fn is_cyber(self) -> bool {
        matches!(
            self,
            Self::Phishing
                | Self::Malware
                | Self::Intrusion
                | Self::Credentials
                | Self::SocialEngineering
        )
    }

    /// The category with this id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.id() == id)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Category {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_id(s).ok_or_else(|| ParseEnumError {
            what: "moderation category",
            value: s.to_owned(),
            expected: "`cyber/phishing` `cyber/malware` `cyber/intrusion` `cyber/credentials` \
                       `cyber/social_engineering` `jailbreak` `prompt_injection` `illicit` ",
        })
    }
}

impl Serialize for Category {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for Category {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        id.parse().map_err(serde::de::Error::custom)
    }
}

/// Which side of a call a text is on: the prompt or the completion. Thresholds and
/// policies differ per side (a completion that explains phishing is worse than a question
/// about it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Input,
    Output,
}

impl Side {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Side {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "input" => Ok(Self::Input),
            "output" => Ok(Self::Output),
            _ => Err(ParseEnumError {
                what: "side",
                value: s.to_owned(),
                expected: "`input` `output` ",
            }),
        }
    }
}

/// What an `api.request` event records about moderation (`moderation` field, extension of
/// schema v1). A side is absent when it was not checked (no text, or moderation off).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModerationRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<SideRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<SideRecord>,
    /// For `/v1/files` uploads with purpose `fine-tune` or `batch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadRecord>,
}

/// The verdict on one side of a call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SideRecord {
    /// Whether any category crossed its threshold.
    pub flagged: bool,
    /// The categories that crossed their threshold, in documented order.
    pub categories: Vec<Category>,
    /// The highest score of any category, in [0, 1].
    pub max_score: f32,
    /// What the gateway did: `allow`, `flag` or `block`; `skipped` when the scanner failed
    /// or ran out of time and the tenant's `fail_mode` decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// The verdict on an uploaded JSONL file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Lines scanned.
    pub lines: u64,
    /// Lines that crossed any threshold.
    pub flagged_lines: u64,
    /// Flagged lines per category id.
    pub categories: std::collections::BTreeMap<Category, u64>,
    /// Whether the upload was rejected.
    pub rejected: bool,
    /// The scan failed or ran out of time and `fail_mode` decided (extension).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_index_matches_order() {
        for (i, category) in Category::ALL.into_iter().enumerate() {
            assert_eq!(category.index(), i);
            assert_eq!(category.id().parse::<Category>().unwrap(), category);
            let json = serde_json::to_string(&category).unwrap();
            assert_eq!(json, format!("\"{}\"", category.id()));
        }
        assert!("cyber".parse::<Category>().is_err());
        assert_eq!(
            Category::ALL.iter().filter(|c| c.is_cyber()).count(),
            5,
            "five cyber/* categories"
        );
    }

    #[test]
    fn record_serializes_compactly() {
        let record = ModerationRecord {
            input: Some(SideRecord {
                flagged: true,
                categories: vec![Category::Phishing],
                max_score: 0.5,
                action: Some("block".into()),
            }),
            output: None,
            upload: None,
        };
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            r#"{"input":{"flagged":true,"categories":["cyber/phishing"],"max_score":0.5,"action":"block"}}"#
        );
    }
}
