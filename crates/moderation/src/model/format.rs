//! The model file (`.bwm`), version 1. All integers and floats little-endian.
//!
//! ```text
//! magic         8 bytes  "BWMODEL\0"
//! version       u32      1
//! header_len    u32      bytes of the header that follows
//! header:
//!   name        u16 length + UTF-8 (1..=128 bytes)
//!   categories  u8 count, then per category u8 length + id (must be Category::ALL, in order)
//!   bucket_bits u8, char_min u8, char_max u8, max_token_bytes u8, flags u8 (bit 0: bigrams)
//!   window      u16 tokens, hop u16 tokens
//!   seed        u64
//!   norm_exp    f32, norm_floor u16
//!   per category: bias f32, scale f32, platt_a f32, platt_b f32,
//!                 threshold_input f32, threshold_output f32
//! weights       2^bucket_bits rows × categories i8 (row-major: one row per bucket)
//! checksum      u32      CRC-32 (IEEE) of every byte before it
//! ```
//!
//! A category's window logit is `bias + scale · Σ weights / norm(features)` (see
//! `FeatureConfig::norm`: `features^norm_exp`, shrunk further below `norm_floor`); its
//! score is
//! `sigmoid(platt_a · max_window_logit + platt_b)`.

use bulwark_core::Category;

use super::{
    Head, ModelError,
    features::{FeatureConfig, MAX_TOKEN_BYTES},
};

pub(crate) const MAGIC: &[u8; 8] = b"BWMODEL\0";
pub(crate) const VERSION: u32 = 1;
const MAX_NAME: usize = 128;
const FLAG_BIGRAMS: u8 = 1;

/// Everything a model file holds, parsed and validated.
pub(crate) struct Parsed {
    pub(crate) name: String,
    pub(crate) config: FeatureConfig,
    pub(crate) heads: [Head; Category::COUNT],
    pub(crate) weights: Vec<[i8; Category::COUNT]>,
}

/// Serialises a model. The inverse of [`parse`].
pub(crate) fn write(
    name: &str,
    config: &FeatureConfig,
    heads: &[Head; Category::COUNT],
    weights: &[[i8; Category::COUNT]],
) -> Vec<u8> {
    let mut header = Vec::with_capacity(512);
    let name = name.as_bytes();
    header.extend_from_slice(&(name.len() as u16).to_le_bytes());
    header.extend_from_slice(name);
    header.push(Category::COUNT as u8);
    for category in Category::ALL {
        header.push(category.id().len() as u8);
        header.extend_from_slice(category.id().as_bytes());
    }
    header.extend_from_slice(&[
        config.bucket_bits,
        config.char_min,
        config.char_max,
        config.max_token_bytes,
        if config.bigrams { FLAG_BIGRAMS } else { 0 },
    ]);
    header.extend_from_slice(&config.window_tokens.to_le_bytes());
    header.extend_from_slice(&config.hop_tokens.to_le_bytes());
    header.extend_from_slice(&config.seed.to_le_bytes());
    header.extend_from_slice(&config.norm_exponent.to_le_bytes());
    header.extend_from_slice(&config.norm_floor.to_le_bytes());
    for head in heads {
        for value in [
            head.bias,
            head.scale,
            head.platt_a,
            head.platt_b,
            head.threshold_input,
            head.threshold_output,
        ] {
            header.extend_from_slice(&value.to_le_bytes());
        }
    }

    let mut out = Vec::with_capacity(20 + header.len() + weights.len() * Category::COUNT);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    for row in weights {
        out.extend(row.iter().map(|&w| w.to_le_bytes()[0]));
    }
    let checksum = crc32(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// Parses and validates a model file; never panics, whatever the bytes.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ModelError> {
    let err = |message: &str| ModelError(message.to_owned());
    let (body, checksum) = bytes
        .split_last_chunk::<4>()
        .ok_or_else(|| err("too short"))?;
    let mut r = Reader(body);
    if r.take(8)? != MAGIC {
        return Err(err("not a Bulwark model (bad magic)"));
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(ModelError(format!(
            "version {version} is not supported (this build reads version {VERSION})"
        )));
    }
    if crc32(body) != u32::from_le_bytes(*checksum) {
        return Err(err("checksum mismatch (the file is corrupt or truncated)"));
    }
    let header_len = r.u32()? as usize;
    let mut h = Reader(r.take(header_len)?);
    let weights_bytes = r.0;

    let name_len = usize::from(h.u16()?);
    if name_len == 0 || name_len > MAX_NAME {
        return Err(ModelError(format!(
            "name of {name_len} bytes (1..={MAX_NAME})"
        )));
    }
    let name = std::str::from_utf8(h.take(name_len)?)
        .map_err(|_| err("name is not UTF-8"))?
        .to_owned();
    if name.chars().any(char::is_control) {
        return Err(err("name has control characters"));
    }
    if usize::from(h.u8()?) != Category::COUNT {
        return Err(err("category count does not match this build"));
    }
    for category in Category::ALL {
        let len = usize::from(h.u8()?);
        if h.take(len)? != category.id().as_bytes() {
            return Err(ModelError(format!(
                "categories differ from this build's (expected `{category}`)"
            )));
        }
    }
    let [bucket_bits, char_min, char_max, max_token_bytes, flags] = h.array::<5>()?;
    if flags & !FLAG_BIGRAMS != 0 {
        return Err(ModelError(format!("unknown feature flags {flags:#04x}")));
    }
    let config = FeatureConfig {
        bucket_bits,
        char_min,
        char_max,
        max_token_bytes,
        bigrams: flags & FLAG_BIGRAMS != 0,
        window_tokens: h.u16()?,
        hop_tokens: h.u16()?,
        seed: u64::from_le_bytes(h.array::<8>()?),
        norm_exponent: h.f32()?,
        norm_floor: h.u16()?,
    };
    config.validate().map_err(ModelError)?;
    debug_assert!(usize::from(config.max_token_bytes) <= MAX_TOKEN_BYTES);

    let mut heads = [Head::default(); Category::COUNT];
    for (head, category) in heads.iter_mut().zip(Category::ALL) {
        *head = Head {
            bias: h.f32()?,
            scale: h.f32()?,
            platt_a: h.f32()?,
            platt_b: h.f32()?,
            threshold_input: h.f32()?,
            threshold_output: h.f32()?,
        };
        head.validate()
            .map_err(|m| ModelError(format!("`{category}`: {m}")))?;
    }
    if !h.0.is_empty() {
        return Err(err("header has trailing bytes"));
    }

    let expected = config.buckets() * Category::COUNT;
    if weights_bytes.len() != expected {
        return Err(ModelError(format!(
            "weights are {} bytes, expected {expected}",
            weights_bytes.len()
        )));
    }
    let weights = weights_bytes
        .chunks_exact(Category::COUNT)
        .map(|row| {
            let mut out = [0i8; Category::COUNT];
            for (w, &b) in out.iter_mut().zip(row) {
                *w = i8::from_le_bytes([b]);
            }
            out
        })
        .collect();
    Ok(Parsed {
        name,
        config,
        heads,
        weights,
    })
}

/// A cursor over bytes whose every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        if n > self.0.len() {
            return Err(ModelError("truncated".to_owned()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ModelError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, ModelError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, ModelError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn f32(&mut self) -> Result<f32, ModelError> {
        Ok(f32::from_le_bytes(self.array()?))
    }
}

/// The CRC-32 (IEEE 802.3, reflected, as zlib and PNG) lookup table.
#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: a bad index fails the build, not a run"
)]
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE) of `bytes`.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |c, &b| {
        let index = usize::from((c as u8) ^ b);
        CRC_TABLE.get(index).copied().unwrap_or_default() ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
