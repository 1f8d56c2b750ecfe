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
                let ulid = ulid::Ulid::new().to_string().to_ascii_lowercase();
                Self(format!("{}{}", $prefix, ulid))
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
    fn serde_round_trip_validates() {
        let id = AccountId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AccountId>("\"key_abc\"").is_err());
    }
}
