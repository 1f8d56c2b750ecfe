//! `POST /v1/embeddings`: deterministic unit-length vectors derived from a hash of each
//! input, as floats or as base64 of little-endian `f32`s (what the Python client asks for).
//!
//! The vectors carry no meaning; they only need to be stable, well-formed and cheap.

use axum::{Extension, extract::rejection::BytesRejection, response::Response};
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{answers::hash, error::ApiError, overrides::Overrides, tokens::count_tokens, wire};

/// The most inputs one request may carry, as OpenAI allows.
const MAX_INPUTS: usize = 2048;
/// The most tokens one input may have.
const MAX_INPUT_TOKENS: u32 = 8192;
/// The largest `dimensions` accepted.
const MAX_DIMENSIONS: u32 = 8192;

#[derive(Debug, Deserialize)]
struct EmbeddingRequest {
    model: String,
    input: Input,
    #[serde(default)]
    dimensions: Option<u32>,
    #[serde(default)]
    encoding_format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: u32,
    embedding: Vector,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u32,
    total_tokens: u32,
}

/// One input, as the bytes its vector is derived from and its token count.
struct Item {
    seed: Vec<u8>,
    tokens: u32,
}

impl Item {
    fn text(text: &str) -> Self {
        Self {
            seed: text.as_bytes().to_vec(),
            tokens: count_tokens(text),
        }
    }

    fn tokens(ids: &[u32]) -> Self {
        let mut seed = Vec::with_capacity(7 + ids.len() * 4);
        seed.extend_from_slice(b"tokens:");
        for id in ids {
            seed.extend_from_slice(&id.to_le_bytes());
        }
        Self {
            seed,
            tokens: u32::try_from(ids.len()).unwrap_or(u32::MAX),
        }
    }
}

/// The native width of an embedding model's vectors.
fn default_dimensions(model: &str) -> u32 {
    match model {
        "text-embedding-3-small" | "text-embedding-ada-002" => 1536,
        "text-embedding-3-large" => 3072,
        _ => 256,
    }
}

/// SplitMix64: a tiny, high-quality generator for turning one hash into many numbers.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The unit-length vector of `seed` with `dimensions` components.
pub(crate) fn vector(seed: &[u8], dimensions: usize) -> Vec<f32> {
    let mut state = hash(seed);
    let raw: Vec<f64> = (0..dimensions)
        .map(|_| {
            // The top 53 bits as a fraction in [0, 1), moved to [-1, 1).
            let unit = (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
            unit * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm == 0.0 {
        let mut v = vec![0.0; dimensions];
        if let Some(first) = v.first_mut() {
            *first = 1.0;
        }
        return v;
    }
    raw.iter().map(|x| (x / norm) as f32).collect()
}

/// The little-endian bytes of `v`, base64-encoded as OpenAI's `encoding_format: base64`.
pub(crate) fn to_base64(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `POST /v1/embeddings`.
pub(crate) async fn create(
    Extension(overrides): Extension<Overrides>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: EmbeddingRequest = wire::parse_json(&wire::body(body)?)?;
    let items: Vec<Item> = match &request.input {
        Input::Text(text) => vec![Item::text(text)],
        Input::Texts(texts) => texts.iter().map(|t| Item::text(t)).collect(),
        Input::Tokens(ids) => vec![Item::tokens(ids)],
        Input::TokenLists(lists) => lists.iter().map(|ids| Item::tokens(ids)).collect(),
    };
    if items.is_empty() || items.len() > MAX_INPUTS {
        return Err(ApiError::invalid_param(
            "input",
            format!("`input` must hold between 1 and {MAX_INPUTS} items"),
        ));
    }
    if let Some(item) = items.iter().find(|i| i.tokens > MAX_INPUT_TOKENS) {
        return Err(ApiError::invalid_param(
            "input",
            format!(
                "This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you \
                 requested {} tokens in one input. Please reduce your prompt.",
                item.tokens
            ),
        ));
    }
    let dimensions = request
        .dimensions
        .unwrap_or_else(|| default_dimensions(&request.model));
    if dimensions == 0 || dimensions > MAX_DIMENSIONS {
        return Err(ApiError::invalid_param(
            "dimensions",
            format!("`dimensions` must be between 1 and {MAX_DIMENSIONS}"),
        ));
    }
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "encoding_format",
                format!("`{other}` is not one of ['float', 'base64'] - 'encoding_format'"),
            ));
        }
    };

    let dimensions = usize::try_from(dimensions).unwrap_or(usize::MAX);
    let prompt_tokens = items
        .iter()
        .fold(0u32, |sum, item| sum.saturating_add(item.tokens));
    let data = (0u32..)
        .zip(&items)
        .map(|(index, item)| {
            let v = vector(&item.seed, dimensions);
            let embedding = if base64 {
                Vector::Base64(to_base64(&v))
            } else {
                Vector::Float(v)
            };
            Embedding {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let list = EmbeddingList {
        object: "list",
        data,
        model: &request.model,
        usage: EmbeddingUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    };
    wire::json_response(&list, &overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: &[f32]) -> f64 {
        v.iter()
            .map(|x| f64::from(*x) * f64::from(*x))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn vectors_are_deterministic_and_unit_length() {
        for dims in [1, 3, 256, 1536, 3072] {
            let a = vector(b"hello world", dims);
            assert_eq!(a.len(), dims);
            assert_eq!(a, vector(b"hello world", dims));
            assert!((norm(&a) - 1.0).abs() < 1e-5, "norm {} at {dims}", norm(&a));
        }
    }

    #[test]
    fn different_texts_give_different_vectors() {
        let a = vector(b"hello world", 256);
        let b = vector(b"hello world!", 256);
        assert_ne!(a, b);
        let cosine: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        assert!(
            cosine.abs() < 0.5,
            "unrelated inputs should be far apart, cosine {cosine}"
        );
        assert_ne!(Item::tokens(&[1, 2]).seed, Item::tokens(&[2, 1]).seed);
    }

    #[test]
    fn base64_decodes_back_to_the_floats() {
        let v = vector(b"round trip", 64);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(to_base64(&v))
            .unwrap();
        assert_eq!(bytes.len(), 64 * 4);
        let back: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, v);
    }

    #[test]
    fn default_dimensions_follow_the_model() {
        assert_eq!(default_dimensions("text-embedding-3-small"), 1536);
        assert_eq!(default_dimensions("text-embedding-3-large"), 3072);
        assert_eq!(default_dimensions("bulwark-sim-1"), 256);
    }
}
