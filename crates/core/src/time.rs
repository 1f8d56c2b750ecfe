//! UTC timestamps with millisecond precision, written as RFC 3339 with a `Z` suffix.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, UTC, millisecond precision on the wire.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// Text that is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp `{0}`: expected RFC 3339, e.g. `2026-11-28T10:00:00.123Z`")]
pub struct TimestampError(String);

impl Timestamp {
    /// The current time, truncated to the millisecond so that it survives a round trip
    /// through its text form unchanged.
    pub fn now() -> Self {
        let now = Utc::now();
        Self(DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now))
    }

    /// Parses RFC 3339 with any offset; the result is UTC.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .and_then(|t| DateTime::from_timestamp_millis(t.timestamp_millis()))
            .map(Self)
            .ok_or_else(|| TimestampError(text.to_owned()))
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    /// The timestamp for milliseconds since the Unix epoch, if representable.
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        DateTime::from_timestamp_millis(millis).map(Self)
    }

    /// Seconds since the Unix epoch (OpenAI's `created` fields use these).
    pub fn unix_seconds(self) -> i64 {
        self.0.timestamp()
    }

    /// This timestamp moved by a signed duration (saturating at the representable range).
    pub fn offset(self, by: chrono::Duration) -> Self {
        Self(self.0.checked_add_signed(by).unwrap_or(self.0))
    }

    /// The underlying chrono value.
    pub fn as_datetime(self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, TimestampError> {
        Self::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_millis_with_z_and_reads_offsets() {
        let t = Timestamp::parse("2026-11-28T11:00:00.1234+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-28T10:00:00.123Z");
        assert_eq!(
            Timestamp::from_unix_millis(t.unix_millis())
                .unwrap()
                .to_string(),
            t.to_string()
        );
        assert!(Timestamp::parse("yesterday").is_err());
    }
}
