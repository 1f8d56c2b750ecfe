//! The alert schema, version 1: what a detector found, one JSON object per line.
//!
//! An alert names the detector, the subject it is about (a key, an account, a tenant or a
//! client network), the tenant / account / key of the event that raised it, a severity and
//! a score, a one-line summary and an explanation made of numbers a person can check
//! (each feature's observed value, the value the subject's history led to expect, and the
//! deviation). Its id is derived from the triggering event, the detector and the subject,
//! so a replay of the same events writes the same alerts, byte for byte. The schema is
//! documented in `docs/alerts.md`; the same compatibility rules as events apply.

use std::fmt;

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{MapAccess, Visitor},
    ser::SerializeMap,
};

use crate::{AccountId, AlertId, EventId, KeyId, TenantId, Timestamp, entity::string_enum};

/// The alert schema version this crate writes and reads.
pub const ALERT_SCHEMA_VERSION: u32 = 1;

string_enum!(
    /// The `kind` of an alert line: always `alert` (so alerts and events can share a
    /// stream and still be told apart).
    AlertKind, "alert kind" {
        Alert => "alert",
    }
);

string_enum!(
    /// What an alert is about.
    SubjectType, "subject type" {
        /// An API key (`key_…`).
        Key => "key",
        /// An account (`acct_…`): all of its keys together.
        Account => "account",
        /// A tenant (`ten_…`): all of its accounts together.
        Tenant => "tenant",
        /// A client network: an IPv4 /24 or an IPv6 /48, e.g. `203.0.113.0/24`.
        Network => "network",
    }
);

string_enum!(
    /// How urgent an alert is. Ordered: `low < medium < high < critical`.
    Severity, "severity" {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

impl Severity {
    /// The severity of a score in [0, 1]: below 0.8 low, below 0.95 medium, below 0.99
    /// high, else critical. One mapping for every detector, so a score means the same
    /// wherever it comes from.
    pub fn of_score(score: f64) -> Self {
        if score >= 0.99 {
            Self::Critical
        } else if score >= 0.95 {
            Self::High
        } else if score >= 0.8 {
            Self::Medium
        } else {
            Self::Low
        }
    }
}

/// The subject of an alert: `{"type": "key", "id": "key_…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AlertSubject {
    #[serde(rename = "type")]
    pub kind: SubjectType,
    pub id: String,
}

impl fmt::Display for AlertSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// The tenant, account and key of the event that raised the alert (any may be null: an
/// unauthenticated request has none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Related {
    pub tenant: Option<TenantId>,
    pub account: Option<AccountId>,
    pub key: Option<KeyId>,
}

/// One feature of an explanation: what was seen, what was expected, by how much they
/// differ (in the detector's unit, given in `docs/alerts.md`), and the threshold the
/// observation crossed when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    pub observed: f64,
    pub expected: f64,
    pub deviation: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

impl Measure {
    /// A measure with every number made finite and rounded to six decimals, so that the
    /// text form is short and the same on every run.
    pub fn new(observed: f64, expected: f64, deviation: f64) -> Self {
        Self {
            observed: tidy(observed),
            expected: tidy(expected),
            deviation: tidy(deviation),
            threshold: None,
        }
    }

    /// The same measure with the threshold it crossed.
    pub fn with_threshold(self, threshold: f64) -> Self {
        Self {
            threshold: Some(tidy(threshold)),
            ..self
        }
    }
}

/// A finite number rounded to six decimals (non-finite numbers become 0: JSON has none).
pub fn tidy(x: f64) -> f64 {
    if x.is_finite() {
        let rounded = (x * 1e6).round() / 1e6;
        if rounded.is_finite() { rounded } else { x }
    } else {
        0.0
    }
}

/// The features behind an alert, in the order the detector gives them (a JSON object
/// whose keys keep that order whatever map type the reader uses).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explanation(pub Vec<(String, Measure)>);

impl Explanation {
    /// Adds one feature.
    pub fn push(&mut self, feature: impl Into<String>, measure: Measure) {
        self.0.push((feature.into(), measure));
    }

    /// The measure of `feature`, if the explanation has it.
    pub fn get(&self, feature: &str) -> Option<&Measure> {
        self.0
            .iter()
            .find(|(name, _)| name == feature)
            .map(|(_, m)| m)
    }
}

impl Serialize for Explanation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, measure) in &self.0 {
            map.serialize_entry(name, measure)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Explanation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Explanation;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of feature measures")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Explanation, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Measure>()? {
                    out.push(entry);
                }
                Ok(Explanation(out))
            }
        }
        d.deserialize_map(Ordered)
    }
}

/// One alert (`kind: "alert"`), schema v1. Field order is the order of the JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub v: u32,
    pub kind: AlertKind,
    pub id: AlertId,
    /// The event time of the event that raised it.
    pub ts: Timestamp,
    /// The detector's name, e.g. `usage_spike`.
    pub detector: String,
    pub subject: AlertSubject,
    pub related: Related,
    pub severity: Severity,
    /// In [0, 1]; the severity follows from it ([`Severity::of_score`]).
    pub score: f64,
    /// One line for a person: what deviated, by how much.
    pub summary: String,
    pub explanation: Explanation,
    /// Ids of the events behind the alert, the triggering event last.
    pub evidence: Vec<EventId>,
}

/// A line that is not an alert this build can read.
#[derive(Debug, thiserror::Error)]
pub enum AlertParseError {
    #[error("not a valid alert: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "unsupported alert schema version {0}: this build reads version {ALERT_SCHEMA_VERSION}"
    )]
    Version(u32),
}

impl Alert {
    /// Parses one JSON line, refusing versions this build does not know.
    pub fn from_json(line: &str) -> Result<Self, AlertParseError> {
        let alert: Alert = serde_json::from_str(line)?;
        if alert.v != ALERT_SCHEMA_VERSION {
            return Err(AlertParseError::Version(alert.v));
        }
        Ok(alert)
    }

    /// Serializes to one JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        // Strings, finite numbers and ordered maps with string keys: this cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        let event = EventId::parse("evt_01jdx7k3m0000000000000000a").unwrap();
        let subject = AlertSubject {
            kind: SubjectType::Key,
            id: "key_1".into(),
        };
        let mut explanation = Explanation::default();
        explanation.push(
            "requests_per_minute",
            Measure::new(120.0, 3.0, 39.0000001).with_threshold(15.0),
        );
        explanation.push("inter_arrival_s", Measure::new(0.5, f64::NAN, 1.0 / 3.0));
        Alert {
            v: ALERT_SCHEMA_VERSION,
            kind: AlertKind::Alert,
            id: AlertId::derive(&event, "usage_spike", &subject.to_string()),
            ts: Timestamp::parse("2026-11-28T10:00:00.123Z").unwrap(),
            detector: "usage_spike".into(),
            subject,
            related: Related {
                tenant: Some(TenantId::parse("ten_1").unwrap()),
                account: None,
                key: Some(KeyId::parse("key_1").unwrap()),
            },
            severity: Severity::of_score(0.975),
            score: 0.975,
            summary: "requests/min 40x the key's baseline".into(),
            explanation,
            evidence: vec![event],
        }
    }

    #[test]
    fn alerts_have_the_documented_shape_in_order() {
        let json = alert().to_json();
        let expected_start = r#"{"v":1,"kind":"alert","id":"alr_01jdx7k3m0000000000000000a_"#;
        assert!(json.starts_with(expected_start), "{json}");
        let order = [
            "\"v\"",
            "\"kind\"",
            "\"id\"",
            "\"ts\"",
            "\"detector\"",
            "\"subject\"",
            "\"related\"",
            "\"severity\"",
            "\"score\"",
            "\"summary\"",
            "\"explanation\"",
            "\"evidence\"",
        ];
        let positions: Vec<usize> = order.iter().map(|f| json.find(f).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert!(
            json.contains(r#""subject":{"type":"key","id":"key_1"}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""related":{"tenant":"ten_1","account":null,"key":"key_1"}"#),
            "{json}"
        );
        assert!(json.contains(r#""severity":"high""#), "{json}");
        assert!(
            json.contains(r#""explanation":{"requests_per_minute":{"observed":120.0,"expected":3.0,"deviation":39.0,"threshold":15.0},"inter_arrival_s":{"observed":0.5,"expected":0.0,"deviation":0.333333}}"#),
            "{json}"
        );
        assert!(json.ends_with(r#""evidence":["evt_01jdx7k3m0000000000000000a"]}"#));
    }

    #[test]
    fn alerts_round_trip_and_refuse_unknown_versions() {
        let a = alert();
        let back = Alert::from_json(&a.to_json()).unwrap();
        assert_eq!(back, a);
        assert_eq!(
            back.to_json(),
            a.to_json(),
            "byte-identical after a round trip"
        );
        let mut v: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
        v["v"] = 2.into();
        let err = Alert::from_json(&v.to_string()).unwrap_err().to_string();
        assert!(err.contains("version 2"), "{err}");
    }

    #[test]
    fn severity_follows_the_score() {
        assert_eq!(Severity::of_score(0.5), Severity::Low);
        assert_eq!(Severity::of_score(0.8), Severity::Medium);
        assert_eq!(Severity::of_score(0.96), Severity::High);
        assert_eq!(Severity::of_score(1.0), Severity::Critical);
        assert!(Severity::Low < Severity::Critical);
    }
}
