//! Tenants, accounts and API keys: who may call the gateway.

use serde::{Deserialize, Serialize};

use crate::{AccountId, KeyId, TenantId, Timestamp};

/// A string that names no variant of a closed enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{value}`: expected one of {expected}")]
pub struct ParseEnumError {
    pub(crate) what: &'static str,
    pub(crate) value: String,
    pub(crate) expected: &'static str,
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every variant, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::ParseEnumError;
            fn from_str(s: &str) -> Result<Self, $crate::ParseEnumError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::ParseEnumError {
                        what: $what,
                        value: s.to_owned(),
                        expected: concat!($("`", $text, "` "),+),
                    }),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// How far an account's identity has been verified. Ordered: a higher level includes
    /// what the lower ones proved, so capabilities can require "at least" a level.
    Verification, "verification level" {
        /// Nothing verified.
        None => "none",
        /// A mailbox was proved.
        Email => "email",
        /// A phone number was proved.
        Phone => "phone",
        /// A legal organisation was proved.
        Organization => "organization",
    }
);

string_enum!(
    /// Whether a key may be used.
    KeyStatus, "key status" {
        /// Usable.
        Active => "active",
        /// Temporarily refused (403 `key_suspended`); can be resumed.
        Suspended => "suspended",
        /// Permanently refused (401); cannot be resumed.
        Revoked => "revoked",
    }
);

/// A customer organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
}

/// A user or service account inside a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub tenant: TenantId,
    pub name: Option<String>,
    pub verification: Verification,
    pub created_at: Timestamp,
}

/// An API key as the gateway and operators see it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: KeyId,
    pub tenant: TenantId,
    pub account: AccountId,
    pub name: Option<String>,
    /// The first characters of the secret (`bw-live-AbCd`), enough to recognise a key in a
    /// list and far too few to guess the rest.
    pub prefix: String,
    /// Model-name patterns this key may use (`gpt-4o`, `gpt-4o-*`); empty means any model.
    pub models: Vec<String>,
    /// Requests per minute; `None` means unlimited.
    pub rpm: Option<u32>,
    /// Tokens per minute; `None` means unlimited.
    pub tpm: Option<u32>,
    pub status: KeyStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Monotonic change counter across all keys; the gateway's key cache follows it.
    pub version: u64,
}

impl KeyRecord {
    /// Whether this key may call `model`. Patterns are exact names or end in `*`.
    pub fn allows_model(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|p| model_matches(p, model))
    }
}

/// The keyed hash (HMAC-SHA-256 under the server pepper) of an API key's secret: what the
/// store keeps instead of the secret. Useless without the pepper, but still not for logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

/// Matches a model name against a pattern: exact, `*`, or a prefix ending in `*`.
pub fn model_matches(pattern: &str, model: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => model.starts_with(prefix),
        None => pattern == model,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_levels_are_ordered() {
        assert!(Verification::None < Verification::Email);
        assert!(Verification::Phone < Verification::Organization);
        assert_eq!("phone".parse::<Verification>(), Ok(Verification::Phone));
        let err = "passport".parse::<Verification>().unwrap_err().to_string();
        assert!(err.contains("`organization`"), "{err}");
    }

    #[test]
    fn model_patterns() {
        assert!(model_matches("*", "gpt-4o"));
        assert!(model_matches("gpt-4o*", "gpt-4o-mini"));
        assert!(!model_matches("gpt-4o", "gpt-4o-mini"));
        assert!(model_matches("gpt-4o", "gpt-4o"));
    }
}
