//! Prefixed, time-sortable identifiers (`ten_…`, `acct_…`, `key_…`, `evt_…`).
//!
//! The body is a lowercase ULID, so ids sort by creation time and carry no secret. Parsing
//! is strict about the prefix and the alphabet but not about the body's length, so that
//! ids minted by other tools (imports) are kept as they are.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An id string that does not have the expected prefix or alphabet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {kind} id `{value}`: expected `{prefix}` followed by 1 to 64 letters, digits, `_` or `-`"
)]
pub struct IdError {
    kind: &'static str,
    prefix: &'static str,
    value: String,
}

const MAX_BODY: usize = 64;

fn valid_body(body: &str) -> bool {
    !body.is_empty()
        && body.len() <= MAX_BODY
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `prefix` and the 128 bits as a ULID in lower-case Crockford base32 (26 digits, the
/// first holding the top 3 bits), in one allocation: an id is minted per request.
fn ulid_text(prefix: &str, bits: u128) -> String {
    const DIGITS: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut digits = [0; 26];
    for (n, digit) in digits.iter_mut().enumerate() {
        let shift = 5 * (25 - n);
        *digit = DIGITS
            .get(((bits >> shift) & 31) as usize)
            .copied()
            .unwrap_or(b'0');
    }
    let mut text = String::with_capacity(prefix.len() + digits.len());
    text.push_str(prefix);
    // Only base32 digits went in, all ASCII.
    text.push_str(std::str::from_utf8(&digits).unwrap_or_default());
    text
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// Mints a new, time-sortable id.
            pub fn generate() -> Self {
                Self(ulid_text($prefix, u128::from(ulid::Ulid::new())))
            }

            /// Parses and validates an id.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                match value.strip_prefix($prefix) {
                    Some(body) if valid_body(body) => Ok(Self(value.to_owned())),
                    _ => Err(IdError { kind: $kind, prefix: $prefix, value: value.to_owned() }),
                }
            }

            /// The id as text, prefix included.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// A tenant: the customer organisation that owns accounts.
    TenantId, "ten_", "tenant"
);
prefixed_id!(
    /// An account inside a tenant; accounts own API keys.
    AccountId, "acct_", "account"
);
prefixed_id!(
    /// The public id of an API key. Never the secret.
    KeyId, "key_", "key"
);
prefixed_id!(
    /// A usage or audit event.
    EventId, "evt_", "event"
);
prefixed_id!(
    /// An alert raised by a detector. Derived from the triggering event, the detector and
    /// the subject ([`AlertId::derive`]), never random, so a replay mints the same ids.
    AlertId, "alr_", "alert"
);

/// Marks a byte that is no Crockford base32 digit in [`CROCKFORD_DIGIT`].
const NOT_A_DIGIT: u8 = 0xff;

/// The value of every byte as a Crockford base32 digit, either case; [`NOT_A_DIGIT`] for
/// the others (`I`, `L`, `O` and `U` included: ids are minted without them).
#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time, where an index out of bounds fails the build"
)]
static CROCKFORD_DIGIT: [u8; 256] = {
    const DIGITS: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut table = [NOT_A_DIGIT; 256];
    let mut value = 0;
    while value < 32 {
        let upper = DIGITS[value];
        table[upper as usize] = value as u8;
        table[upper.to_ascii_lowercase() as usize] = value as u8;
        value += 1;
    }
    table
};

impl EventId {
    /// The 128 bits of the id's ULID body, when it is one (ids minted by Bulwark are);
    /// lets a detector remember an event in 16 bytes.
    pub fn ulid_bits(&self) -> Option<u128> {
        // Crockford base32, decoded by hand, a table lookup a digit: this runs once per
        // event in the detectors, and the ulid crate wants upper case (an allocation per
        // event).
        let body = self.0.strip_prefix(Self::PREFIX)?.as_bytes();
        if body.len() != 26 || body.first().is_none_or(|b| *b > b'7') {
            return None;
        }
        body.iter().try_fold(0_u128, |acc, &b| {
            let digit = CROCKFORD_DIGIT.get(usize::from(b)).copied()?;
            (digit != NOT_A_DIGIT).then(|| (acc << 5) | u128::from(digit))
        })
    }

    /// The id whose ULID body has these bits.
    pub fn from_ulid_bits(bits: u128) -> Self {
        Self(ulid_text(Self::PREFIX, bits))
    }
}

impl AlertId {
    /// The id of the alert `detector` raises about `subject` on `event`: `alr_`, the
    /// event id's body (at most 26 characters: a ULID keeps alerts sorting by time), `_`
    /// and 16 hex digits of SHA-256 over the three. Same inputs, same id.
    pub fn derive(event: &EventId, detector: &str, subject: &str) -> Self {
        let body = event
            .as_str()
            .strip_prefix(EventId::PREFIX)
            .unwrap_or_default();
        let head: String = body.chars().take(26).collect();
        let digest = crate::sha256_hex(format!("{event}\n{detector}\n{subject}").as_bytes());
        let tail = digest.get(..16).unwrap_or_default();
        Self(format!("{}{head}_{tail}", Self::PREFIX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_sort_by_time() {
        let a = KeyId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = KeyId::generate();
        assert!(a.as_str().starts_with("key_"));
        assert_eq!(KeyId::parse(a.as_str()), Ok(a.clone()));
        assert!(a < b);
    }

    #[test]
    fn wrong_prefix_or_alphabet_is_rejected() {
        assert!(KeyId::parse("acct_01").is_err());
        assert!(KeyId::parse("key_").is_err());
        assert!(KeyId::parse("key_a b").is_err());
        assert!(KeyId::parse(&format!("key_{}", "a".repeat(65))).is_err());
        let err = TenantId::parse("x").unwrap_err().to_string();
        assert!(err.contains("`ten_`"), "{err}");
    }

    #[test]
    fn event_ids_round_trip_through_ulid_bits() {
        let id = EventId::generate();
        let bits = id.ulid_bits().unwrap();
        assert_eq!(EventId::from_ulid_bits(bits), id);
        let upper = id
            .as_str()
            .strip_prefix("evt_")
            .unwrap()
            .to_ascii_uppercase();
        assert_eq!(u128::from(ulid::Ulid::from_string(&upper).unwrap()), bits);
        for i in [
            0_u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
        ] {
            assert_eq!(EventId::from_ulid_bits(i).ulid_bits(), Some(i));
            // The hand-written encoder writes what the ulid crate writes, in lower case.
            let theirs = ulid::Ulid::from(i).to_string().to_ascii_lowercase();
            assert_eq!(EventId::from_ulid_bits(i).as_str(), format!("evt_{theirs}"));
        }
        assert_eq!(EventId::parse("evt_not-a-ulid").unwrap().ulid_bits(), None);
        for _ in 0..100 {
            let ulid = ulid::Ulid::new();
            let id = EventId::from_ulid_bits(u128::from(ulid));
            assert_eq!(
                id.as_str(),
                format!("evt_{}", ulid.to_string().to_lowercase())
            );
            assert_eq!(id.ulid_bits(), Some(u128::from(ulid)));
            // Either case reads the same.
            let upper = EventId::parse(&format!("evt_{ulid}")).unwrap();
            assert_eq!(upper.ulid_bits(), Some(u128::from(ulid)));
        }
        // Letters Crockford leaves out, a first digit above 7, a wrong length.
        for body in [
            "01m8mq2sa1aarkw82xfhrxh2si",
            "01m8mq2sa1aarkw82xfhrxh2sl",
            "01m8mq2sa1aarkw82xfhrxh2so",
            "01m8mq2sa1aarkw82xfhrxh2su",
            "81m8mq2sa1aarkw82xfhrxh2sf",
            "01m8mq2sa1aarkw82xfhrxh2s",
        ] {
            let id = EventId::parse(&format!("evt_{body}")).unwrap();
            assert_eq!(id.ulid_bits(), None, "{body}");
        }
    }

    #[test]
    fn alert_ids_are_derived_not_random() {
        let event = EventId::parse("evt_01jdx7k3m0000000000000000a").unwrap();
        let a = AlertId::derive(&event, "usage_spike", "key:key_1");
        assert_eq!(a, AlertId::derive(&event, "usage_spike", "key:key_1"));
        assert_ne!(a, AlertId::derive(&event, "usage_spike", "key:key_2"));
        assert_ne!(
            a,
            AlertId::derive(&event, "new_infrastructure", "key:key_1")
        );
        assert!(
            a.as_str().starts_with("alr_01jdx7k3m0000000000000000a_"),
            "{a}"
        );
        assert_eq!(AlertId::parse(a.as_str()), Ok(a.clone()));
        let long = EventId::parse(&format!("evt_{}", "x".repeat(64))).unwrap();
        let id = AlertId::derive(&long, "d", "s");
        assert!(AlertId::parse(id.as_str()).is_ok(), "{id}");
    }

    #[test]
    fn serde_round_trip_validates() {
        let id = AccountId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AccountId>("\"key_abc\"").is_err());
    }
}
