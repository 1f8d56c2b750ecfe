//! The pretrained encoder (all-MiniLM-L6-v2) on the CPU with candle: contextual token
//! states for distillation and mean-pooled sentence embeddings for the cascade
//! measurement. Built only with the `encoder` feature; the gateway never runs it.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

use crate::encoder_files::{self, EncoderFilesError};

/// The encoder's hidden width.
pub const HIDDEN: usize = 384;

/// Why the encoder could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error(transparent)]
    Files(#[from] EncoderFilesError),
    #[error("encoder: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("encoder config: {0}")]
    Config(String),
}

/// The loaded encoder and its reference tokenizer.
pub struct Encoder {
    model: BertModel,
    tokenizer: tokenizers::Tokenizer,
    vocab: Vec<String>,
    device: Device,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("vocab", &self.vocab.len())
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// Loads the files `bulwark model fetch-encoder` put in `dir` (checking their digests).
    pub fn load(dir: &Path) -> Result<Self, EncoderError> {
        encoder_files::verify(dir)?;
        let device = Device::Cpu;
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| EncoderFilesError::Io { path, source })
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| EncoderError::Config(e.to_string()))?;
        let tensors = candle_core::safetensors::load_buffer(&read("model.safetensors")?, &device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let model = BertModel::load(vb, &config)?;
        let mut tokenizer = tokenizers::Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
        // The shipped tokenizer.json pads and truncates every text to 128 ids; lengths
        // are ours to decide (and padding ids must never be read as tokens).
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
        let vocab = String::from_utf8_lossy(&read("vocab.txt")?)
            .lines()
            .map(str::to_owned)
            .collect();
        Ok(Self {
            model,
            tokenizer,
            vocab,
            device,
        })
    }

    /// The vocabulary, in id order (`vocab.txt`).
    pub fn vocab(&self) -> &[String] {
        &self.vocab
    }

    /// The reference tokenizer's ids of `text` without `[CLS]`/`[SEP]`.
    pub fn reference_ids(&self, text: &str) -> Result<Vec<u32>, EncoderError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// `[CLS] ids… [SEP]`, the ids cut to `max_len - 2`.
    pub fn with_specials(&self, ids: &[u32], max_len: usize) -> Vec<u32> {
        let cls = self.id_of("[CLS]");
        let sep = self.id_of("[SEP]");
        let mut out = Vec::with_capacity(ids.len().min(max_len) + 2);
        out.push(cls);
        out.extend(ids.iter().take(max_len.saturating_sub(2)));
        out.push(sep);
        out
    }

    fn id_of(&self, token: &str) -> u32 {
        self.vocab.iter().position(|t| t == token).unwrap_or(0) as u32
    }

    /// The last layer's states of a batch of id sequences (each with its specials): per
    /// sequence, `len × HIDDEN` floats, row-major.
    pub fn hidden(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let width = batch.iter().map(Vec::len).max().unwrap_or(0);
        if width == 0 {
            return Ok(vec![Vec::new(); batch.len()]);
        }
        let mut ids = Vec::with_capacity(batch.len() * width);
        let mut mask = Vec::with_capacity(batch.len() * width);
        for seq in batch {
            for k in 0..width {
                let id = seq.get(k);
                ids.push(id.copied().unwrap_or(0));
                mask.push(u32::from(id.is_some()));
            }
        }
        let shape = (batch.len(), width);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let types = ids.zeros_like()?;
        let states = self.model.forward(&ids, &types, Some(&mask))?;
        let states: Vec<Vec<Vec<f32>>> = states.to_vec3()?;
        Ok(states
            .into_iter()
            .zip(batch)
            .map(|(rows, seq)| rows.into_iter().take(seq.len()).flatten().collect())
            .collect())
    }

    /// Sentence embeddings (mean of the last layer over the tokens, L2-normalised: the
    /// model's own pooling) of texts cut to `max_len` tokens.
    pub fn sentences(&self, texts: &[&str], max_len: usize) -> Result<Vec<Vec<f32>>, EncoderError> {
        let mut batch = Vec::with_capacity(texts.len());
        for text in texts {
            let ids = self.reference_ids(text)?;
            batch.push(self.with_specials(&ids, max_len));
        }
        let states = self.hidden(&batch)?;
        Ok(states
            .iter()
            .map(|flat| {
                let mut mean = vec![0f32; HIDDEN];
                let n = flat.len() / HIDDEN;
                for row in flat.chunks_exact(HIDDEN) {
                    for (m, v) in mean.iter_mut().zip(row) {
                        *m += v;
                    }
                }
                let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                let k = if n > 0 { 1.0 / norm } else { 0.0 };
                mean.iter_mut().for_each(|v| *v *= k);
                mean
            })
            .collect())
    }
}
