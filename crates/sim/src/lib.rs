//! The built-in simulated upstream: an OpenAI-compatible model server whose answers are
//! deterministic and realistic enough for the gateway's tests, the demo and the load
//! benchmarks. It speaks the OpenAI wire format exactly (chat and legacy completions,
//! embeddings, the Responses API, models, files and fine-tuning jobs, plain and streamed),
//! records what it receives, and misbehaves on request through `x-sim-*` headers
//! (latency, chunk pacing, echo, forced error statuses, dropped connections).
//!
//! It is not a model and not a mock framework: answers are canned paragraphs picked by a
//! hash of the prompt, token counts are an approximation, and stored files and jobs live in
//! bounded memory for the life of the process. Nothing here belongs in the gateway's
//! request path; the gateway only ever talks to it over HTTP, like any other upstream.

mod answers;
mod chat;
mod completions;
mod config;
mod control;
mod embeddings;
mod error;
mod files;
mod fine_tuning;
mod front;
mod log;
mod models;
mod overrides;
mod responses;
mod simulator;
mod sse;
mod tokens;
mod wire;

pub use crate::{
    config::SimConfig, log::LoggedRequest, simulator::Simulator, tokens::count_tokens,
};
