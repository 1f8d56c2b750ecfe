//! The semantic model file (`.bsm`), version 1. Integers and floats little-endian.
//!
//! ```text
//! magic      8 bytes  "BWSEMTC\0"
//! version    u32      1
//! name       u16 length + UTF-8 (1..=128 bytes)
//! vocab      u32 byte length + UTF-8, tokens separated by '\n' (token id = line)
//! table      u32 rows, u16 dim, rows × f32 scale, rows × dim i8
//! pooling    u16 window, u16 hop, u16 norm floor
//! heads      u8 count (0, or one per category in documented order); per head:
//!            dim × f32 weights, f32 bias, platt_a, platt_b, threshold_input,
//!            threshold_output
//! fusion     u8 count (0, or one per category); per category: f32 ngram, semantic,
//!            bias, threshold_input, threshold_output
//! checksum   u64      FNV-1a of every byte before it
//! ```
//!
//! Every length is checked against what is left before anything is allocated.

use crate::{
    model::{Fusion, Head, MAX_DIM, Pooling, SemanticError, Table},
    wordpiece::MAX_VOCAB,
};

const MAGIC: &[u8; 8] = b"BWSEMTC\0";
const VERSION: u32 = 1;
const MAX_VOCAB_BYTES: usize = 16 << 20;

pub(crate) struct Parsed {
    pub(crate) name: String,
    pub(crate) vocab: Vec<String>,
    pub(crate) table: Table,
    pub(crate) pooling: Pooling,
    pub(crate) heads: Vec<Head>,
    pub(crate) fusion: Vec<Fusion>,
}

pub(crate) fn write(
    name: &str,
    vocab: &[String],
    table: &Table,
    pooling: Pooling,
    heads: &[Head],
    fusion: &[Fusion],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(table.values().len() + table.rows() * 4 + 300_000);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    let text = vocab.join("\n");
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&(table.rows() as u32).to_le_bytes());
    out.extend_from_slice(&(table.dim() as u16).to_le_bytes());
    for s in table.scales() {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.extend(table.values().iter().map(|v| v.to_le_bytes()[0]));
    for v in [
        pooling.window_tokens,
        pooling.hop_tokens,
        pooling.norm_floor,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.push(heads.len() as u8);
    for head in heads {
        for w in &head.weights {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for v in [
            head.bias,
            head.platt_a,
            head.platt_b,
            head.threshold_input,
            head.threshold_output,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.push(fusion.len() as u8);
    for f in fusion {
        for v in [
            f.ngram,
            f.semantic,
            f.bias,
            f.threshold_input,
            f.threshold_output,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SemanticError> {
        if n > self.bytes.len() {
            return Err(err("the file is truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SemanticError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, SemanticError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, SemanticError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, SemanticError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn f32(&mut self) -> Result<f32, SemanticError> {
        Ok(f32::from_le_bytes(self.array()?))
    }

    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, SemanticError> {
        let bytes = self.take(n.checked_mul(4).ok_or_else(|| err("too large"))?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| <[u8; 4]>::try_from(c).map_or(f32::NAN, f32::from_le_bytes))
            .collect())
    }
}

fn err(message: &str) -> SemanticError {
    SemanticError::Format(message.to_owned())
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, SemanticError> {
    let Some(body_len) = bytes.len().checked_sub(8) else {
        return Err(err("the file is truncated"));
    };
    let (body, sum) = bytes.split_at(body_len);
    let mut expected = [0u8; 8];
    expected.copy_from_slice(sum);
    if fnv1a(body) != u64::from_le_bytes(expected) {
        return Err(err("checksum mismatch"));
    }
    let mut r = Reader { bytes: body };
    if r.take(8)? != MAGIC {
        return Err(err("not a semantic model file"));
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(SemanticError::Format(format!("version {version}")));
    }
    let name_len = usize::from(r.u16()?);
    let name = std::str::from_utf8(r.take(name_len)?)
        .map_err(|_| err("the name is not UTF-8"))?
        .to_owned();
    let vocab_len = r.u32()? as usize;
    if vocab_len > MAX_VOCAB_BYTES {
        return Err(err("the vocabulary is too large"));
    }
    let vocab: Vec<String> = std::str::from_utf8(r.take(vocab_len)?)
        .map_err(|_| err("the vocabulary is not UTF-8"))?
        .split('\n')
        .map(str::to_owned)
        .collect();
    let rows = r.u32()? as usize;
    let dim = usize::from(r.u16()?);
    if rows > MAX_VOCAB || dim == 0 || dim > MAX_DIM || rows != vocab.len() {
        return Err(err("the table's shape is invalid"));
    }
    let scales = r.f32s(rows)?;
    let values: Vec<i8> = r
        .take(rows.checked_mul(dim).ok_or_else(|| err("too large"))?)?
        .iter()
        .map(|&b| i8::from_le_bytes([b]))
        .collect();
    let table = Table::from_parts(dim, scales, values)?;
    let pooling = Pooling {
        window_tokens: r.u16()?,
        hop_tokens: r.u16()?,
        norm_floor: r.u16()?,
    };
    let count = usize::from(r.u8()?);
    let mut heads = Vec::with_capacity(count.min(bulwark_core::Category::COUNT));
    for _ in 0..count {
        let weights = r.f32s(dim)?;
        heads.push(Head {
            weights,
            bias: r.f32()?,
            platt_a: r.f32()?,
            platt_b: r.f32()?,
            threshold_input: r.f32()?,
            threshold_output: r.f32()?,
        });
    }
    let count = usize::from(r.u8()?);
    let mut fusion = Vec::with_capacity(count.min(bulwark_core::Category::COUNT));
    for _ in 0..count {
        fusion.push(Fusion {
            ngram: r.f32()?,
            semantic: r.f32()?,
            bias: r.f32()?,
            threshold_input: r.f32()?,
            threshold_output: r.f32()?,
        });
    }
    if !r.bytes.is_empty() {
        return Err(err("trailing bytes"));
    }
    Ok(Parsed {
        name,
        vocab,
        table,
        pooling,
        heads,
        fusion,
    })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
