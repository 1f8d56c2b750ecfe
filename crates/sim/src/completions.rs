//! `POST /v1/completions`, the legacy text-completion endpoint, plain and streamed. An
//! array of prompts gets one choice per prompt, as OpenAI does.

use std::sync::Arc;

use axum::{
    Extension,
    extract::{State, rejection::BytesRejection},
    response::Response,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{
    answers,
    error::ApiError,
    overrides::Overrides,
    simulator::Shared,
    sse,
    tokens::{count_tokens, truncate},
    wire::{self, StreamOptions, Usage},
};

const FINGERPRINT: &str = "fp_bulwark_sim";

/// The most prompts one request may carry.
const MAX_PROMPTS: usize = 128;

#[derive(Debug, Deserialize)]
struct CompletionRequest {
    model: String,
    prompt: Prompt,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Prompt {
    One(String),
    Many(Vec<String>),
}

#[derive(Serialize)]
struct TextCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [Choice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct Choice<'a> {
    text: &'a str,
    index: u32,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// `POST /v1/completions`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(overrides): Extension<Overrides>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CompletionRequest = wire::parse_json(&wire::body(body)?)?;
    shared.check_model(&request.model)?;
    let prompts: Vec<&str> = match &request.prompt {
        Prompt::One(prompt) => vec![prompt.as_str()],
        Prompt::Many(prompts) => prompts.iter().map(String::as_str).collect(),
    };
    if prompts.is_empty() || prompts.len() > MAX_PROMPTS {
        return Err(ApiError::invalid_param(
            "prompt",
            format!("`prompt` must hold between 1 and {MAX_PROMPTS} prompts"),
        ));
    }

    let mut texts = Vec::with_capacity(prompts.len());
    let mut prompt_tokens = 0u32;
    let mut completion_tokens = 0u32;
    for (index, prompt) in (0u32..).zip(&prompts) {
        let full = answers::answer(prompt, overrides.echo);
        let (text, truncated) = match request.max_tokens {
            Some(max) => truncate(full, max),
            None => (full, false),
        };
        prompt_tokens = prompt_tokens.saturating_add(count_tokens(prompt));
        completion_tokens = completion_tokens.saturating_add(count_tokens(text));
        texts.push(Choice {
            text,
            index,
            logprobs: None,
            finish_reason: Some(wire::finish_reason(truncated)),
        });
    }
    let usage = Usage::new(prompt_tokens, completion_tokens);
    let first = prompts.first().copied().unwrap_or_default();
    let id = format!(
        "cmpl-{}",
        answers::id_hex(answers::hash(first.as_bytes()), shared.next_seq())
    );
    let created = wire::unix_now();
    let head = Head {
        id: &id,
        created,
        model: &request.model,
    };

    if !request.stream.unwrap_or(false) {
        return wire::json_response(&head.object(&texts, Some(usage)), &overrides);
    }
    let mut frames = Vec::new();
    for choice in &texts {
        for text in answers::stream_pieces(choice.text) {
            let piece = [Choice {
                text,
                index: choice.index,
                logprobs: None,
                finish_reason: None,
            }];
            frames.push(sse::data(&head.object(&piece, None))?);
        }
        let finish = [Choice {
            text: "",
            index: choice.index,
            logprobs: None,
            finish_reason: choice.finish_reason,
        }];
        frames.push(sse::data(&head.object(&finish, None))?);
    }
    if StreamOptions::include_usage(request.stream_options.as_ref()) {
        frames.push(sse::data(&head.object(&[], Some(usage)))?);
    }
    frames.push(sse::DONE);
    Ok(sse::response(frames, &overrides))
}

/// The fields every object of one answer shares.
struct Head<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
}

impl Head<'_> {
    fn object<'b>(&'b self, choices: &'b [Choice<'b>], usage: Option<Usage>) -> TextCompletion<'b> {
        TextCompletion {
            id: self.id,
            object: "text_completion",
            created: self.created,
            model: self.model,
            system_fingerprint: FINGERPRINT,
            choices,
            usage,
        }
    }
}
