use std::{
    fmt,
    io::{Read, Write},
    path::{Path, PathBuf},
};

use bulwark_core::KeyHash;
use hmac::{Hmac, Mac};
use rand::{Rng, distr::Alphanumeric};
use sha2::Sha256;

/// Every Bulwark key secret starts with this.
pub const SECRET_PREFIX: &str = "bw-live-";

/// 43 characters from a 62-letter alphabet carry 43 × log2(62) ≈ 256.03 bits.
const SECRET_CHARS: usize = 43;

/// Presented keys longer than this are refused without hashing.
pub const MAX_PRESENTED_KEY_LEN: usize = 256;

/// Characters of the secret kept in the clear (`bw-live-AbCd`) so operators can tell keys
/// apart in a list; 4 characters reveal about 24 of the 256 bits.
const VISIBLE_PREFIX_LEN: usize = SECRET_PREFIX.len() + 4;

const PEPPER_FILE: &str = "pepper";
const PEPPER_BYTES: usize = 32;

/// A freshly minted API key secret. Shown once to its owner, then dropped.
pub struct KeySecret(String);

impl KeySecret {
    /// Mints a secret with ≥ 256 bits of entropy from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let body: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(SECRET_CHARS)
            .map(char::from)
            .collect();
        Self(format!("{SECRET_PREFIX}{body}"))
    }

    /// The secret, to print exactly once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The visible prefix stored with the key record.
    pub fn visible_prefix(&self) -> String {
        self.0.chars().take(VISIBLE_PREFIX_LEN).collect()
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySecret(********)")
    }
}

/// Why the pepper could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum PepperError {
    #[error("cannot access the pepper file `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the pepper file `{0}` is damaged: expected {PEPPER_BYTES} bytes as hex; every key depends on it, restore it from backup"
    )]
    Damaged(PathBuf),
}

/// The server-side secret that keys are hashed under. Losing it invalidates every key;
/// leaking it together with the database allows offline guessing, which 256-bit secrets
/// make hopeless anyway.
#[derive(Clone)]
pub struct Pepper([u8; PEPPER_BYTES]);

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(********)")
    }
}

impl Pepper {
    /// Reads `DIR/pepper`, creating it (mode 0600, random) if it does not exist. Two
    /// processes racing to create it agree on one file.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, PepperError> {
        let path = data_dir.join(PEPPER_FILE);
        let io = |source| PepperError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let mut bytes = [0u8; PEPPER_BYTES];
        rand::rng().fill(&mut bytes);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())
                    .map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(Self(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(&path),
            Err(e) => Err(io(e)),
        }
    }

    fn load(path: &Path) -> Result<Self, PepperError> {
        let mut text = String::new();
        #[allow(clippy::disallowed_methods, reason = "bounded by take(256)")]
        std::fs::File::open(path)
            .and_then(|f| f.take(256).read_to_string(&mut text))
            .map_err(|source| PepperError::Io {
                path: path.to_owned(),
                source,
            })?;
        let mut bytes = [0u8; PEPPER_BYTES];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|_| PepperError::Damaged(path.to_owned()))?;
        Ok(Self(bytes))
    }

    /// A pepper from raw bytes (tests, and later a pepper shared by several gateways).
    pub fn from_bytes(bytes: [u8; PEPPER_BYTES]) -> Self {
        Self(bytes)
    }
}

/// Computes keyed hashes of presented secrets.
#[derive(Clone)]
pub struct KeyHasher {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher")
    }
}

impl KeyHasher {
    pub fn new(pepper: &Pepper) -> Self {
        // HMAC accepts keys of any length, so this cannot fail; the fallback keeps the
        // signature honest without a panic path.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&pepper.0)
            .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
        Self { mac }
    }

    /// HMAC-SHA-256 of `secret` under the pepper.
    pub fn hash(&self, secret: &str) -> KeyHash {
        let mut mac = self.mac.clone();
        mac.update(secret.as_bytes());
        KeyHash(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let a = KeySecret::generate();
        let b = KeySecret::generate();
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert_eq!(a.expose().len(), SECRET_PREFIX.len() + SECRET_CHARS);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.visible_prefix().len(), 12);
        assert!(!format!("{a:?}").contains(&a.expose()[8..]));
    }

    #[test]
    fn pepper_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p1 = Pepper::load_or_create(dir.path()).unwrap();
        let p2 = Pepper::load_or_create(dir.path()).unwrap();
        let h1 = KeyHasher::new(&p1).hash("bw-live-x");
        assert_eq!(h1, KeyHasher::new(&p2).hash("bw-live-x"));
        assert_ne!(
            h1,
            KeyHasher::new(&Pepper::from_bytes([7; 32])).hash("bw-live-x")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("pepper"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn damaged_pepper_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pepper"), "not hex").unwrap();
        assert!(matches!(
            Pepper::load_or_create(dir.path()),
            Err(PepperError::Damaged(_))
        ));
    }
}
